# Reference outputs of Bioconductor's qvalue for tests/test_qvalue.py; driven by
# make_qvalue_reference.py. Not needed in CI.
# Input  (argument 1): one vector a line, "<id>\t<comma-separated C99 hex doubles>" ("NaN" = NA).
# Configs (argument 2): one a line, "<name>\t<extra R arguments to qvalue()>".
# Output (argument 3): "<id>\t<config>\t<field>\t<comma-separated %a doubles>", or "\terror\t<message>".
suppressPackageStartupMessages(library(qvalue))
args <- commandArgs(trailingOnly = TRUE)
vectors <- readLines(args[1])
configs <- strsplit(readLines(args[2]), "\t", fixed = TRUE)
out <- file(args[3], open = "w")
hex <- function(x) if (is.null(x)) "" else paste(ifelse(is.na(x), "NaN", sprintf("%a", as.double(x))), collapse = ",")
for (line in vectors) {
    f <- strsplit(line, "\t", fixed = TRUE)[[1]]
    p <- as.numeric(strsplit(f[2], ",", fixed = TRUE)[[1]])
    writeLines(paste(f[1], "", "input", hex(p), sep = "\t"), out)
    for (cfg in configs) {
        extra <- if (length(cfg) > 1 && nzchar(cfg[2])) paste0(", ", cfg[2]) else ""
        call <- paste0("qvalue(p, lfdr.out = FALSE", extra, ")")
        res <- tryCatch(eval(parse(text = call)), error = function(e) conditionMessage(e))
        if (is.character(res)) {
            writeLines(paste(f[1], cfg[1], "error", gsub("[\t\n]", " ", res), sep = "\t"), out)
            next
        }
        for (field in c("pi0", "qvalues", "pi0.lambda", "lambda", "pi0.smooth", "significant"))
            writeLines(paste(f[1], cfg[1], field, hex(res[[field]]), sep = "\t"), out)
    }
}
close(out)
writeLines(paste0(R.version.string, ", qvalue ", packageVersion("qvalue")))
