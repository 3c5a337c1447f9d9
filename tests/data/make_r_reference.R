# Reference outputs of R's stats::p.adjust for tests/test_r_reference.py.
# Driven by make_r_reference.py (which makes the p-vectors); not needed in CI.
#
# Input  (argument 1): one case a line, "<id>\t<n or empty>\t<comma-separated C99 hex doubles>"
#                      ("NaN" for a missing value).
# Output (argument 2): one line per case and method, "<id>\t<method>\t<comma-separated %a doubles>".
# Doubles cross the boundary as C99 hex (sprintf("%a")), so the round trip is exact.
args <- commandArgs(trailingOnly = TRUE)
lines <- readLines(args[1])
out <- file(args[2], open = "w")
methods <- p.adjust.methods  # holm hochberg hommel bonferroni BH BY fdr none
methods <- setdiff(methods, "fdr")  # "fdr" is an alias of "BH"
hex <- function(x) ifelse(is.na(x), "NaN", sprintf("%a", x))
for (line in lines) {
    f <- strsplit(line, "\t", fixed = TRUE)[[1]]
    id <- f[1]
    p <- as.numeric(strsplit(f[3], ",", fixed = TRUE)[[1]])
    writeLines(paste(id, "input", paste(hex(p), collapse = ","), sep = "\t"), out)  # round-trip check
    for (method in methods) {
        adj <- if (nzchar(f[2])) p.adjust(p, method, n = as.integer(f[2])) else p.adjust(p, method)
        writeLines(paste(id, method, paste(hex(adj), collapse = ","), sep = "\t"), out)
    }
}
close(out)
writeLines(R.version.string)
