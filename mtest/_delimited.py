"""CSV/TSV files for ``mtest adjust``: every field except the p column is kept byte for byte.

The file is scanned once by Numba kernels (``mtest._kernels``; a file under
``mtest._small.SMALL_TEXT_BYTES`` by their Python ports, which compile nothing) into records and
field ranges;
only the p column (and the ``--by`` columns, compared as text) are read. The output copies each
record's bytes — quoting, line terminators (LF or CRLF), a byte-order mark, a missing final
newline, blank lines — and inserts ``,p_adjusted,reject`` before the record's terminator.

Quoting follows RFC 4180: a field that starts with ``"`` is quoted, ``""`` inside it is one
quote, and separators and newlines inside it are data. Lines end with LF or CRLF.
"""
from __future__ import annotations

import mmap
from dataclasses import dataclass

import numpy as np

from . import _small
from ._lazy import kernels_module

_kernels = kernels_module()  # numba is imported when a kernel is first used

QUOTE = ord('"')


def _scanner(size: int):
    """The text kernels for ``size`` bytes: their Python ports (``mtest._small``) for a small
    file, so that it compiles and loads no kernel; else the Numba ones."""
    return _small if size < _small.SMALL_TEXT_BYTES else _kernels

#: spellings of a missing p-value (compared ignoring case and surrounding spaces/tabs): an empty
#: field, R's NA, Python's/numpy's nan, and the usual spreadsheet/database spellings
MISSING_SPELLINGS = ("", "NA", "NaN", "N/A", "#N/A", "NULL", "None")
_MISSING = frozenset(s.lower().encode() for s in MISSING_SPELLINGS)


class TextFormatError(ValueError):
    """The file does not parse as delimited text (unclosed quote, ragged rows, no header)."""


@dataclass
class TextTable:
    """A delimited text file as byte ranges: the header, the records after it, the data rows."""

    buf: np.ndarray          # the file's bytes (memory-mapped)
    sep: int                 # the separator byte
    header: tuple            # (first byte, end of content, first byte after the terminator)
    names: list              # header names (unquoted, BOM removed)
    starts: np.ndarray       # per record after the header: first byte
    ends: np.ndarray         # per record: end of content (before CR LF / LF)
    nexts: np.ndarray        # per record: first byte of the next record
    rows: np.ndarray         # record index of each data row (blank lines are not rows)
    columns: dict            # column index -> (a, b) raw byte ranges of that field per data row
    source: str

    def __len__(self) -> int:
        return int(self.rows.size)

    def line_at(self, offset: int) -> int:
        """1-based line number of byte ``offset``."""
        return int(np.count_nonzero(self.buf[:offset] == 10)) + 1


def _map(path):
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            return np.zeros(0, dtype=np.uint8)
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapped, dtype=np.uint8)


def _header_names(raw: bytes, sep: str) -> list:
    import csv
    import io

    text = raw.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    return next(csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"', doublequote=True,
                           strict=False), [""])


_NONE = np.zeros(0, dtype=np.int64)

#: records formatted and written per step (bounds the extra memory; the progress bar's step)
CHUNK_RECORDS = 1 << 20


def _find_header(buf, code: int, source: str):
    """(start, end, next) of the first non-blank record, scanning a growing prefix."""
    size = 1 << 16
    while True:
        part = buf[:size]
        starts, ends, nexts, _, _, error = _scanner(part.size).text_records(part, 0, code, QUOTE, _NONE)
        complete = part.size == buf.size
        if error >= 0 and complete:
            raise TextFormatError(f"{source}: a quoted field opened on line "
                                  f"{int(np.count_nonzero(buf[:error] == 10)) + 1} is never closed")
        content = np.flatnonzero(ends > starts)
        # a record is known complete when a later record starts inside the prefix
        usable = content[content < starts.size - 1] if not complete else content
        if error < 0 and usable.size:
            h = int(usable[0])
            return int(starts[h]), int(ends[h]), int(nexts[h])
        if complete:
            raise TextFormatError(f"INPUT {source!r} holds only blank lines: no header row")
        size *= 4


def read_text(path, sep: str, wanted) -> TextTable:
    """Scan ``path`` once, keeping the byte ranges of the columns named in ``wanted``.

    ``wanted(names)`` gets the header names and returns the column indices to keep. Raises
    ``TextFormatError`` for an empty file, ragged rows or an unclosed quote.
    """
    buf = _map(path)
    source = str(path)
    if buf.size == 0:
        raise TextFormatError(f"INPUT {source!r} is empty: no header row and no data")
    code = ord(sep)
    header = _find_header(buf, code, source)
    raw_header = bytes(buf[header[0]:header[1]])
    if b"\r" in raw_header:
        raise TextFormatError(f"{source}: lines end with a bare CR (old Mac style); only LF and CR LF "
                              "line endings are read — convert the file first")
    names = _header_names(raw_header, sep)
    columns = np.array(sorted(set(wanted(names))), dtype=np.int64)
    starts, ends, nexts, fields, ranges, error = _scanner(buf.size).text_records(buf, header[2], code, QUOTE,
                                                                                 columns)
    if error >= 0:
        raise TextFormatError(f"{source}: a quoted field opened on line "
                              f"{int(np.count_nonzero(buf[:error] == 10)) + 1} is never closed")
    rows = np.flatnonzero(ends > starts)
    pick = (lambda x: x) if rows.size == starts.size else (lambda x: x[rows])  # no blank line: views
    table = TextTable(buf, code, header, names, starts, ends, nexts, rows,
                      {int(c): (pick(ranges[0, w]), pick(ranges[1, w])) for w, c in enumerate(columns)},
                      source)
    ragged = rows[fields[rows] != len(names)]
    if ragged.size:
        r = int(ragged[0])
        raise TextFormatError(f"{source}: line {table.line_at(int(starts[r]))} has {int(fields[r])} "
                              f"fields; the header has {len(names)} ({ragged.size} such lines)")
    return table


def column_bytes(table: TextTable, column: int, strip: bool = False):
    """(bytes, offsets) of one column's unquoted values over the data rows."""
    if column not in table.columns:  # not scanned with the table: one more pass
        wanted = np.array([column], dtype=np.int64)
        _, _, _, _, ranges, _ = _scanner(table.buf.size).text_records(table.buf, table.header[2], table.sep,
                                                                      QUOTE, wanted)
        table.columns[column] = (ranges[0, 0][table.rows], ranges[1, 0][table.rows])
    a, b = table.columns[column]
    out = np.empty(int((b - a).sum()), dtype=np.uint8)
    offsets = np.empty(len(table) + 1, dtype=np.int64)
    used = _scanner(table.buf.size).gather_fields(table.buf, a, b, QUOTE, strip, out, offsets)
    return out[:used], offsets


def _have_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _binary_array(data, offsets, valid=None, kind="binary"):
    import pyarrow as pa

    n = offsets.size - 1
    validity = None
    if valid is not None:
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    typ = pa.large_binary() if kind == "binary" else pa.large_string()
    return pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)])


def parse_pvalues(data, offsets):
    """(p as float64 with NaN where missing, missing mask, non-numeric mask) of the p column.

    A value is missing when it is one of ``MISSING_SPELLINGS`` (ignoring case); a number is
    ``[+-]digits[.digits][(e|E)[+-]digits]`` (or ``.digits``), parsed correctly rounded.
    """
    n = offsets.size - 1
    status = np.empty(n, dtype=np.int8)
    _scanner(data.size).number_syntax(data, offsets, status)
    missing = status == 1
    other = np.flatnonzero(status == 2)
    if other.size:
        spelled = np.fromiter((bytes(data[offsets[r]:offsets[r + 1]]).lower() in _MISSING for r in other),
                              dtype=bool, count=other.size)
        missing[other[spelled]] = True
    bad = status == 2
    bad[missing] = False
    numeric = status == 0
    p = np.full(n, np.nan)
    if _have_pyarrow():
        import pyarrow as pa
        import pyarrow.compute as pc

        values = pc.cast(_binary_array(data, offsets, numeric, kind="string"), pa.float64())
        p[numeric] = values.drop_null().to_numpy()
    else:
        rows = np.flatnonzero(numeric)
        p[rows] = [float(bytes(data[offsets[r]:offsets[r + 1]])) for r in rows]
    return p, missing, bad


def field_text(data, offsets, row: int) -> str:
    return bytes(data[offsets[row]:offsets[row + 1]]).decode("utf-8", errors="replace")


def _factorize(values: np.ndarray):
    """(codes, number of distinct values), codes numbered in order of first appearance (as
    ``pandas.factorize`` numbers them), without pandas."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    uniques, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    rank = np.empty(uniques.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(uniques.size)
    return rank[inverse.reshape(-1)], int(uniques.size)


def group_codes(table: TextTable, columns):
    """(family code per data row, number of families): rows with the same text in ``columns``."""
    codes = np.zeros(len(table), dtype=np.int64)
    n_groups = 1 if len(table) else 0
    for position, column in enumerate(columns):
        data, offsets = column_bytes(table, column)
        if _have_pyarrow():
            import pyarrow.compute as pc

            encoded = pc.dictionary_encode(_binary_array(data, offsets))
            these = encoded.indices.to_numpy().astype(np.int64)
            n_these = len(encoded.dictionary)
        else:
            values = [bytes(data[offsets[r]:offsets[r + 1]]) for r in range(len(table))]
            these, n_these = _factorize(np.array(values, dtype=object))
        if position == 0:
            codes, n_groups = these, n_these
            continue
        codes, n_groups = _factorize(codes * max(n_these, 1) + these)
    return codes, n_groups


def format_floats(values):
    """(bytes, offsets) of shortest round-trip decimal strings; an empty string for NaN."""
    if _have_pyarrow():
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(values, mask=np.isnan(values), type=pa.float64())
        text = pc.fill_null(pc.cast(arr, pa.large_string()), "")
        _, offs, data = text.buffers()
        offsets = np.frombuffer(offs, dtype=np.int64)[text.offset:text.offset + len(text) + 1]
        data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        return data, offsets
    strings = ["" if v != v else repr(v) for v in values.tolist()]
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8), offsets


def write_passthrough(f, table: TextTable, adjusted, reject, names=("p_adjusted", "reject"),
                      chunk: int | None = None, progress=None):
    """Write ``table``'s bytes with two columns added, ``chunk`` records at a time."""
    chunk = chunk or CHUNK_RECORDS
    sep = bytes([table.sep])
    start, end, after = table.header
    buf = table.buf
    f.write(buf[:start].tobytes())  # blank lines before the header
    f.write(buf[start:end].tobytes())
    f.write(sep + sep.join(n.encode() for n in names))
    f.write(buf[end:after].tobytes())
    row_of = np.full(table.starts.size, -1, dtype=np.int64)
    row_of[table.rows] = np.arange(len(table), dtype=np.int64)
    reject = np.ascontiguousarray(reject, dtype=np.bool_)
    for first in range(0, table.starts.size, chunk):
        last = min(first + chunk, table.starts.size)
        rows = row_of[first:last]
        present = rows[rows >= 0]
        lo = int(present[0]) if present.size else 0
        hi = int(present[-1]) + 1 if present.size else 0
        data, offsets = format_floats(adjusted[lo:hi])
        local = np.where(rows >= 0, rows - lo, -1)
        size = int(table.nexts[last - 1] - table.starts[first]) + data.size + 7 * (hi - lo)
        out = np.empty(size, dtype=np.uint8)
        used = _scanner(buf.size).assemble_records(buf, table.starts[first:last], table.ends[first:last],
                                         table.nexts[first:last], local, data, offsets, reject[lo:hi],
                                         table.sep, out)
        f.write(memoryview(out)[:used])
        if progress is not None:
            progress(hi - lo)


def to_arrow(table: TextTable, p, p_column: int, keep_p_text: bool):
    """An Arrow table of the text columns (UTF-8 strings); the p column as float64 unless
    ``keep_p_text``. Raises ``TextFormatError`` for bytes that are not UTF-8."""
    import pyarrow as pa

    arrays = []
    for j in range(len(table.names)):
        if j == p_column and not keep_p_text:
            arrays.append(pa.array(p, mask=np.isnan(p), type=pa.float64()))
            continue
        data, offsets = column_bytes(table, j)
        arr = _binary_array(data, offsets, kind="string")
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise TextFormatError(f"{table.source}: column {table.names[j]!r} is not UTF-8 text; "
                                  "convert the file to UTF-8 or keep the same format") from exc
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(table.names))
