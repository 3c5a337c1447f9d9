"""Adjust p-values stored in many files — a directory or glob of Parquet/CSV files — as one family
(or one family per ``by`` key, or per file), streaming with bounded memory.

Memory is O(chunk): the p-value column is read chunk by chunk in a few passes, never whole, and
no step holds more than a few chunks of values, whatever their distribution (ties included).

1. **Scan**: validate, count each family's m and NaN, and (when ranks are needed) build a
   histogram of the values.
2. **Count**: the counting engine of ``mtest._counting`` asks for F(t) = #{p <= t} at a few
   critical values; every pass answers all families' requests at once.
3. **Adjusted values that need ranks**: step-down keeps only the *head* below a cutoff (every
   other adjusted value is exactly 1) when it holds at most two chunks; step-up (and step-down
   otherwise) routes the values into value ranges spilled to disk, sorts one range at a time with
   a carry between ranges (a range larger than two chunks is refined by a histogram of its own
   key span; values that are all equal are taken a chunk at a time), and keeps each range's
   results as a step table (value at each change of the adjusted value, adjusted value) that
   the write pass looks values up in; a range whose table is no function of the value, or past
   ``_TABLE_MAX`` entries, spills its results by blocks of rows (12 bytes per row) instead,
   which the write pass reads back one block at a time.
4. **Write**: one Parquet file per input file, mirroring the input's folder layout, every input
   column kept as read (CSV columns as text) plus the adjusted value and the rejection; each is
   written to a temporary file and renamed, and removed on an error or SIGTERM.

Every value equals the in-memory ``mtest.adjust`` / ``mtest.reject`` result bit for bit
(docs/scale.md).
"""
from __future__ import annotations

import glob as _glob
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _repr
from ._lazy import kernels_module
from ._counting import (N_BUCKETS, bucket_of, finish, head_bound, ordered_key, plan_ranges,
                        rejections, segment_adjusted, step_table, stepdown_cutoff, table_lookup)
from ._stepwise import threshold as _threshold
from ._validation import ReadOnlyArrays, check_alpha, check_nan_policy, check_positive_int
from .registry import SpecialProcedure, get_procedure

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["FilesResult", "FamilySummary", "adjust_files"]

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
_NA_TEXT = {"", "NA", "NaN", "nan", "NULL", "null", "None"}


@dataclass(frozen=True)
class FamilySummary(ReadOnlyArrays):
    """One family's outcome: its key (``()`` for the whole set, the ``by`` values, or the file).

    Attributes
    ----------
    key : tuple
        ``()`` for the whole set, the ``by`` values, or the file.
    n_tests : int
        Hypotheses tested in the family.
    n_rejected : int
        Rejections.
    threshold : float
        Every p-value ``<= threshold`` of the family is rejected.
    """

    key: tuple
    n_tests: int
    n_rejected: int
    threshold: float


@dataclass(frozen=True)
class FilesResult(ReadOnlyArrays):
    """Outcome of ``adjust_files``.

    Attributes
    ----------
    families : tuple of FamilySummary
        Per family: key, tests, rejections and threshold (in the input's scale; every tested
        value ``<= threshold`` is rejected).
    outputs : tuple of str
        The Parquet files written, one per input file.
    method, alpha, k, log_p
        What ran.
    """

    families: tuple
    outputs: tuple
    method: str
    alpha: float
    k: int
    log_p: str | None

    @property
    def n_tests(self) -> int:
        return sum(f.n_tests for f in self.families)

    @property
    def n_rejected(self) -> int:
        return sum(f.n_rejected for f in self.families)


# ------------------------------------------------------------------------------ input

    def __repr__(self) -> str:
        return (f"FilesResult(method={self.method!r}, alpha={self.alpha}, k={self.k}, log_p={self.log_p!r}, "
                f"files={len(self.outputs)}, families={len(self.families)}, n_tests={self.n_tests}, "
                f"n_rejected={self.n_rejected})")


def _discover(source):
    """(files, root): a directory (searched recursively), a glob, a file or a list of files."""
    if isinstance(source, (list, tuple)):
        files = [Path(f) for f in source]
    else:
        path = Path(source)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in _FORMATS)
        elif path.is_file():
            files = [path]
        else:
            files = sorted(Path(f) for f in _glob.glob(str(source), recursive=True))
    files = [f for f in files if f.suffix.lower() in _FORMATS and f.is_file()]
    if not files:
        raise ValueError(f"source ({str(source)!r}) matches no Parquet or CSV files "
                         f"(extensions {', '.join(sorted(_FORMATS))})")
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        root = Path(source)
    else:
        root = Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
    return files, root.resolve()


def _parse_text(values, column, path, offset):
    """Floats from text (Python's correctly rounded parser); the NA spellings are NaN."""
    text = np.asarray(values, dtype=object)
    na = np.isin(text, list(_NA_TEXT))
    out = np.full(text.size, np.nan)
    try:
        out[~na] = np.asarray(text[~na], dtype=np.float64)
    except ValueError:
        for j in np.flatnonzero(~na):
            try:
                float(text[j])
            except ValueError:
                raise ValueError(f"column {column!r} in {path} is not numeric in data row "
                                 f"{offset + j + 1}: {text[j]!r}") from None
    return out


class _File:
    def __init__(self, path: Path, number: int, column: str, by):
        self.path, self.number = path, number
        self.format = _FORMATS[path.suffix.lower()]
        self.column, self.by = column, list(by)
        from ._optional import require

        if self.format == "parquet":
            pq = require("pyarrow.parquet", "adjust_files on Parquet files")
            names = pq.read_schema(path).names
        else:
            pd = require("pandas", "adjust_files on CSV/TSV files")
            names = list(pd.read_csv(path, nrows=0, sep=self._sep).columns)
        self.names = names
        for col in [column, *self.by]:
            if col not in names:
                raise ValueError(f"column {col!r} not found in {path}; the columns are {names}")
        self.n_rows = 0

    @property
    def _sep(self):
        return "\t" if self.format == "tsv" else ","

    def chunks(self, chunk_rows, all_columns=False):
        """Yield (row offset, p-values float64, by-columns frame or None, whole chunk or None)."""
        columns = None if all_columns else [self.column, *self.by]
        offset = 0
        if self.format == "parquet":
            from ._optional import require

            pa = require("pyarrow", "adjust_files on Parquet files")
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(self.path)
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
                col = batch.column(self.column)
                if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
                    raise ValueError(f"column {self.column!r} in {self.path} must be numeric; got "
                                     f"type {col.type}")
                if col.type != pa.float64():
                    col = pc.cast(col, pa.float64()) if col.null_count == 0 else col
                if col.null_count == 0:
                    values = col.to_numpy(zero_copy_only=False)
                else:
                    values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
                    values = np.where(pc.is_null(col).to_numpy(zero_copy_only=False), np.nan,
                                      values)
                keys = batch.select(self.by).to_pandas() if self.by else None
                yield offset, values, keys, (batch if all_columns else None)
                offset += batch.num_rows
            return
        from ._optional import require

        pd = require("pandas", "adjust_files on CSV/TSV files")
        reader = pd.read_csv(self.path, sep=self._sep, usecols=columns, dtype=str,
                             keep_default_na=False, na_filter=False, chunksize=chunk_rows)
        for frame in reader:
            values = _parse_text(frame[self.column].to_numpy(), self.column, self.path, offset)
            keys = frame[self.by] if self.by else None
            yield offset, values, keys, (frame if all_columns else None)
            offset += len(frame)


class _Families:
    """Family codes per row: one family, one per ``by`` key, or one per file."""

    def __init__(self, by, per_file):
        self.by, self.per_file = list(by), per_file
        self.keys: list = [] if (self.by or per_file) else [()]
        self._index: dict = {}

    def codes(self, file, keys_frame, n):
        if self.per_file:
            key = (str(file.path),)
            if key not in self._index:
                self._index[key] = len(self.keys)
                self.keys.append(key)
            return np.full(n, self._index[key], dtype=np.int64)
        if not self.by:
            return np.zeros(n, dtype=np.int64)
        from ._optional import require

        pd = require("pandas", "adjust_files with by= (families from key columns)")
        # missing keys form their own family, as in adjust_frame (groupby dropna=False)
        local, uniques = pd.factorize(pd.MultiIndex.from_frame(keys_frame), use_na_sentinel=False)
        lookup = np.empty(len(uniques), dtype=np.int64)
        for j, key in enumerate(uniques):
            key = tuple(None if pd.isna(x) else x for x in key)
            if key not in self._index:
                self._index[key] = len(self.keys)
                self.keys.append(key)
            lookup[j] = self._index[key]
        return lookup[local]

    @property
    def size(self):
        return len(self.keys)


# ------------------------------------------------------------------------------ passes


def _progress(iterable, desc, total, enabled, unit="file"):
    from ._optional import progress

    return progress(iterable, desc=desc, total=total, unit=unit, delay=2.0, disable=not enabled,
                leave=False)


class _Job:
    def __init__(self, files, families, chunk_rows, scale, progress):
        self.files, self.families, self.chunk_rows = files, families, chunk_rows
        self.scale, self.progress = scale, progress

    def each_chunk(self, desc, all_columns=False):
        """(file, offset, values, family codes, chunk) over every file, in order."""
        for file in _progress(self.files, desc, len(self.files), self.progress):
            for offset, values, keys, chunk in file.chunks(self.chunk_rows, all_columns):
                codes = self.families.codes(file, keys, values.size)
                yield file, offset, values, codes, chunk

    def scan(self, nan_policy, with_histogram):
        """Validate; per family (m, n_nan); the histogram as sparse (family*N_BUCKETS + bucket, count)
        pairs (kept dense while the families are few, sparse per chunk otherwise)."""
        log = self.scale.name is not None
        sizes = np.zeros(0, dtype=np.int64)
        nans = np.zeros(0, dtype=np.int64)
        hist_keys, hist_counts = [], []
        dense = None
        for file, offset, values, codes, _ in self.each_chunk("scan"):
            bad = (values > 0) if log else ((values < 0) | (values > 1) | np.isinf(values))
            if bad.any():
                j = int(np.flatnonzero(bad)[0])
                what = "log p-values <= 0" if log else "p-values in [0, 1]"
                raise ValueError(f"column {file.column!r} in {file.path} must hold {what}; got "
                                 f"{float(values[j])!r} in data row {offset + j + 1}")
            nan = np.isnan(values)
            if nan_policy == "raise" and nan.any():
                j = int(np.flatnonzero(nan)[0])
                raise ValueError(f"column {file.column!r} in {file.path} is NaN/empty in data row "
                                 f"{offset + j + 1} ({int(nan.sum())} in this chunk); pass "
                                 "nan_policy='omit' to leave NaN untested")
            g = self.families.size
            sizes = np.pad(sizes, (0, g - sizes.size))
            nans = np.pad(nans, (0, g - nans.size))
            sizes += np.bincount(codes, minlength=g)
            nans += np.bincount(codes[nan], minlength=g)
            file.n_rows = offset + values.size
            if with_histogram:
                keys = codes[~nan] * N_BUCKETS + bucket_of(values[~nan])
                if g * N_BUCKETS <= _DENSE_HIST_MAX:  # few families: one dense bincount
                    if dense is None:
                        dense = np.zeros(g * N_BUCKETS, dtype=np.int64)
                    elif dense.size < g * N_BUCKETS:  # a by= key first seen in this chunk
                        dense = np.pad(dense, (0, g * N_BUCKETS - dense.size))
                    dense += np.bincount(keys, minlength=dense.size)
                else:
                    k, c = np.unique(keys, return_counts=True)
                    hist_keys.append(k)
                    hist_counts.append(c)
        self.m = sizes - nans
        self.n_nan = nans
        if with_histogram:
            if dense is not None:
                nonzero = np.flatnonzero(dense)
                hist_keys.append(nonzero)
                hist_counts.append(dense[nonzero])
            keys = np.concatenate(hist_keys) if hist_keys else np.empty(0, np.int64)
            counts = np.concatenate(hist_counts) if hist_counts else np.empty(0, np.int64)
            keys, inverse = np.unique(keys, return_inverse=True)
            self.histogram = (keys, np.bincount(inverse, weights=counts).astype(np.int64))

    def drive_all(self, generators, desc):
        """Run one request generator per family; each pass answers every family's request."""
        g = self.families.size
        results = [None] * g
        requests = {}
        for f, gen in enumerate(generators):
            if gen is None:
                continue
            try:
                requests[f] = (gen, next(gen))
            except StopIteration as stop:
                results[f] = stop.value
        n_pass = 0
        while requests:
            n_pass += 1
            count_at = np.full(g, np.nan)
            lo = np.full(g, -np.inf)
            hi = np.full(g, np.nan)
            no_lo = np.zeros(g, dtype=bool)
            for f, (_, req) in requests.items():
                if req[0] == "count":
                    count_at[f] = req[1]
                else:
                    hi[f] = req[2]
                    no_lo[f] = req[1] is None
                    lo[f] = -np.inf if req[1] is None else req[1]
            counts = np.zeros(g, dtype=np.int64)
            gathered_v, gathered_c = [], []
            for _, _, values, codes, _ in self.each_chunk(f"{desc} pass {n_pass}"):
                counts += np.bincount(codes[values <= count_at[codes]], minlength=g)
                if not np.isnan(hi).all():
                    keep = (values <= hi[codes]) & ((values > lo[codes]) | no_lo[codes])
                    gathered_v.append(values[keep])
                    gathered_c.append(codes[keep])
            gv = np.concatenate(gathered_v) if gathered_v else np.empty(0)
            gc = np.concatenate(gathered_c) if gathered_c else np.empty(0, np.int64)
            for f, (gen, req) in list(requests.items()):
                answer = int(counts[f]) if req[0] == "count" else np.sort(gv[gc == f])
                try:
                    requests[f] = (gen, gen.send(answer))
                except StopIteration as stop:
                    results[f] = stop.value
                    del requests[f]
        return results


# ------------------------------------------------------------------------------ adjusted values


def _head_adjusted(job, proc, k, cuts):
    """Per file: (rows, adjusted) of every family's head, sorted by row."""
    g = job.families.size
    bound = np.full(g, np.nan)
    for f, cut in enumerate(cuts):
        if cut is not None:
            bound[f] = head_bound(cut[0], job.scale)
    parts = []
    for file, offset, values, codes, _ in job.each_chunk("head"):
        keep = np.flatnonzero(values <= bound[codes])
        parts.append((np.full(keep.size, file.number), offset + keep, values[keep], codes[keep]))
    numbers = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    rows = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    values = np.concatenate([p[2] for p in parts]) if parts else np.empty(0)
    codes = np.concatenate([p[3] for p in parts]) if parts else np.empty(0, np.int64)
    adjusted = np.empty(values.size)
    for f, cut in enumerate(cuts):
        if cut is None:
            continue
        sel = np.flatnonzero(codes == f)
        if sel.size != cut[1]:
            raise ValueError(f"the files changed while being read ({sel.size} values below the "
                             f"cutoff, {cut[1]} counted before)")
        order = sel[np.argsort(values[sel], kind="stable")]
        adjusted[order] = finish(segment_adjusted(values[order], 1, proc, int(job.m[f]), k,
                                                  job.scale), -np.inf, "down", job.scale.one)
    out = {}
    order = np.lexsort((rows, numbers))
    numbers, rows, adjusted = numbers[order], rows[order], adjusted[order]
    bounds = np.searchsorted(numbers, np.arange(len(job.files) + 1))
    for file in job.files:
        a, b = bounds[file.number], bounds[file.number + 1]
        out[file.number] = (rows[a:b], adjusted[a:b])
    return out


#: a routed value and its row over all files (file offsets + row): 16 bytes, which numpy gathers
#: ten times faster than a 24-byte record
_RECORD = np.dtype([("value", "f8"), ("row", "i8")])
_BLOCK_RECORD = np.dtype([("row", "<i4"), ("value", "<f8")])  # packed: 12 bytes per row
_MAX_OPEN = 4096  # spill files open at once (ranges, sub-ranges or row blocks)
_TABLE_MAX = 1 << 24  # step-table entries per family (16 bytes each); beyond, rows are spilled
_DENSE_LUT_MAX = 1 << 24  # bucket -> range tables up to 64 MB (16 families); beyond, a search
_DENSE_HIST_MAX = 1 << 24  # dense scan histograms up to 128 MB (16 families); beyond, sparse


class _RowBlocks:
    """Adjusted values spilled by blocks of consecutive rows (rows of all files, in file order).

    A range holds values from anywhere in the files, so its results are appended to the file of
    each row's block; the write pass, which goes through the rows in order, loads one block at a
    time. Memory O(block), whatever the order of the values (a memory map over all rows would be
    touched all over by every range).
    """

    def __init__(self, folder: Path, n_rows: int, size: int):
        self.size = max(int(size), -(-int(n_rows) // _MAX_OPEN), 1)
        n_blocks = max(-(-int(n_rows) // self.size), 1)
        self.paths = [folder / f"block{b}.bin" for b in range(n_blocks)]
        self.handles = {}  # opened on a block's first row: with step tables most stay unused
        self.loaded = {}

    def put(self, rows, adjusted):
        block = rows // self.size
        order = np.argsort(block.astype(np.int16) if len(self.paths) < 1 << 15 else block,
                           kind="stable")
        block, rows, adjusted = block[order], rows[order], adjusted[order]
        cuts = np.flatnonzero(np.diff(block)) + 1
        for a, b in zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [block.size]))):
            if a == b:
                continue
            rec = np.empty(b - a, dtype=_BLOCK_RECORD)
            rec["row"] = rows[a:b] - block[a] * self.size
            rec["value"] = adjusted[a:b]
            b = int(block[a])
            if b not in self.handles:
                self.handles[b] = open(self.paths[b], "wb")
            rec.tofile(self.handles[b])

    def close(self):
        for h in self.handles.values():
            h.close()

    def get(self, start: int, count: int):
        """Adjusted values of rows [start, start + count) (NaN where none was stored); rows
        must be asked for in increasing order: a block is dropped once passed."""
        out = np.full(count, np.nan)
        first, last = start // self.size, (start + count - 1) // self.size if count else -1
        for b in [b for b in self.loaded if b < first]:
            del self.loaded[b]
        for b in range(first, last + 1):
            if b not in self.loaded:
                dense = np.full(self.size, np.nan)
                if b in self.handles:  # a block no row was spilled to has no file
                    rec = np.fromfile(self.paths[b], dtype=_BLOCK_RECORD)
                    os.unlink(self.paths[b])
                    dense[rec["row"]] = rec["value"]
                self.loaded[b] = dense
            lo, hi = max(start, b * self.size), min(start + count, (b + 1) * self.size)
            out[lo - start:hi - start] = self.loaded[b][lo - b * self.size:hi - b * self.size]
        return out


def _split(hist, budget: int):
    """Like ``plan_ranges``, but a bucket of more than ``budget`` values is a range of its
    own: every range is one such bucket (a narrower key span) or at most ``2 * budget`` values."""
    hist = np.asarray(hist, dtype=np.int64)
    before = np.cumsum(hist) - hist
    big = hist > budget
    new = (np.diff(before // max(int(budget), 1)) != 0) | big[1:] | big[:-1]
    lut = np.concatenate(([0], np.cumsum(new))).astype(np.int64)
    sizes = np.bincount(lut, weights=hist, minlength=int(lut[-1]) + 1).astype(np.int64)
    return lut, 1 + np.cumsum(sizes) - sizes


def _append_by_range(rec, rid, handles):
    """Append each range's records (``rid``: range of each record) to its file, in stored order
    within a range (a stable sort by range: numpy's radix sort when the ids fit int16)."""
    if len(handles) < 1 << 15:
        rid = rid.astype(np.int16)
    order = np.argsort(rid, kind="stable")
    rec, rid = rec[order], rid[order]
    bounds = np.searchsorted(rid, np.arange(len(handles) + 1))
    for j in np.flatnonzero(np.diff(bounds)):
        rec[bounds[j]:bounds[j + 1]].tofile(handles[j])


def _read_records(path: Path, start: int, count: int):
    with open(path, "rb") as fh:
        fh.seek(start * _RECORD.itemsize)
        return np.fromfile(fh, dtype=_RECORD, count=count)


def _record_chunks(path: Path, n: int, size: int):
    with open(path, "rb") as fh:
        for _ in range(0, n, size):
            yield np.fromfile(fh, dtype=_RECORD, count=size)


def stable_order(values):
    """Stable argsort of float64 values (ties keep their order), no NaN.

    Each value's ordered key minus the smallest, cut to its top ``64 - index bits`` bits, sits
    above the element's index in one uint64; numpy's vectorized integer sort orders those, and
    an insertion pass (strict, so ties keep their order) fixes the runs whose cut keys tie — ~8x
    faster than a stable float argsort on a range of a million values. The stable argsort is
    the fallback when that pass would need more than 8 moves per element.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    n = values.size
    if n < 2:
        return np.arange(n)
    key = ordered_key(values)
    span = (key - key.min()).view(np.uint64)  # exact: keys of non-NaN doubles span < 2**63
    index_bits = int(n - 1).bit_length()
    drop = max(0, int(span.max()).bit_length() - (64 - index_bits))
    packed = ((span >> np.uint64(drop)) << np.uint64(index_bits)) | np.arange(n, dtype=np.uint64)
    packed.sort()
    order = (packed & np.uint64((1 << index_bits) - 1)).view(np.int64)
    if drop:
        ordered = values[order]
        if not _kernels.insertion_fix(ordered, order, 8 * n):
            return np.argsort(values, kind="stable")
    return order


class _StepTables:
    """Per family, the adjusted values of ranges kept as a step table instead of spilled rows.

    A sorted range's adjusted values are nondecreasing in the value and change at few points
    (``_counting.step_table``: ~1.5·10⁴ for BH over 10⁷ uniform p-values), so a range is kept as
    (value at the end of each constant stretch, adjusted value) pairs, and the write pass looks
    each value up; only ranges whose table would not be a function of the value, and every
    range once a family's table passes ``_TABLE_MAX`` entries, spill their rows (12 bytes
    each) to the row blocks. A row the row blocks do not hold is looked up in its family's table.
    """

    def __init__(self, step):
        self.ascending = step == "down"  # ranges come in step order: up the values, or down
        self.parts: dict = {}
        self.size: dict = {}
        self.edge: dict = {}  # the value nearest the next segment, and its adjusted value

    def add(self, f, values, adjusted) -> bool:
        """Keep a sorted segment's finished adjusted values; False: spill its rows instead."""
        if self.size.get(f, 0) > _TABLE_MAX:
            return False
        table = step_table(values, adjusted)
        if table is None:
            return False
        ends, fins = table
        if not ends.size:
            return True
        near = 0 if self.ascending else -1  # this segment's end next to the previous segment
        if f in self.edge and ends[near] == self.edge[f][0]:  # a tie group over two chunks
            if fins[near] != self.edge[f][1]:
                return False
            keep = slice(1, None) if self.ascending else slice(None, -1)
            ends, fins = ends[keep], fins[keep]
        if self.size.get(f, 0) + ends.size > _TABLE_MAX:
            self.size[f] = _TABLE_MAX + 1  # from now on this family spills its rows
            return False
        far = -1 if self.ascending else 0
        if ends.size:
            self.parts.setdefault(f, []).append((ends, fins))
            self.size[f] = self.size.get(f, 0) + ends.size
            self.edge[f] = (ends[far], fins[far])
        return True

    def table(self, f):
        parts = self.parts.get(f, [])
        if not self.ascending:
            parts = parts[::-1]
        if not parts:
            return np.empty(0), np.empty(0)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class _RangeSorter:
    """Adjusted values of one family's spilled value ranges, one range at a time with a carry.

    A range of at most ``2 * budget`` records is sorted in memory. A larger one (a histogram
    bucket holding more than a chunk: a dense cluster of values, or ties) is split again by a
    histogram of its ordered keys over the key span it covers, routed into sub-range files and
    handled recursively; each level narrows the span 2**20-fold, so values that still share a
    range past that are all equal (the key is exact), and are adjusted chunk by chunk in their
    stored order, which is the rank order of ties in a stable sort.
    """

    def __init__(self, job, proc, k, f, budget, store, tables):
        self.job, self.proc, self.k, self.f, self.m = job, proc, k, f, int(job.m[f])
        self.budget, self.store, self.tables = budget, store, tables
        self.step, self.one = proc.step, job.scale.one

    def _finish(self, values, first_rank, carry):
        """(finished adjusted values of a sorted run, the carry after it)."""
        acc = segment_adjusted(values, first_rank, self.proc, self.m, self.k, self.job.scale)
        out = finish(acc, carry, self.step, self.one)
        if not acc.size:  # the carry: running max of raw values from below, or min from above
            return out, carry
        return out, (max(carry, acc[-1]) if self.step == "down" else min(carry, acc[0]))

    def _emit_range(self, rec, first_rank, carry):
        """A whole range (records in stored order): a step table if it can be, else rows."""
        values = np.sort(rec["value"])  # numpy's vectorized sort; no order needed for a table
        out, after = self._finish(values, first_rank, carry)
        if self.tables.add(self.f, values, out):
            return after
        order = stable_order(rec["value"])
        out, after = self._finish(rec["value"][order], first_rank, carry)
        self.store.put(rec["row"][order], out)
        return after

    def _emit_stored(self, rec, first_rank, carry):
        """Records already in rank order (a chunk of one tie group)."""
        out, after = self._finish(rec["value"], first_rank, carry)
        if not self.tables.add(self.f, rec["value"], out):
            self.store.put(rec["row"], out)
        return after

    def run(self, path: Path, first_rank: int, carry: float) -> float:
        n = path.stat().st_size // _RECORD.itemsize if path.exists() else 0
        if n <= 2 * self.budget:
            rec = np.fromfile(path, dtype=_RECORD) if n else np.empty(0, _RECORD)
            if path.exists():
                os.unlink(path)
            return self._emit_range(rec, first_rank, carry)
        lo, hi = None, None
        for rec in _record_chunks(path, n, self.budget):
            key = ordered_key(rec["value"])
            lo = int(key.min()) if lo is None else min(lo, int(key.min()))
            hi = int(key.max()) if hi is None else max(hi, int(key.max()))
        if lo == hi:  # all equal: ranks in stored order, a chunk at a time
            starts = range(0, n, self.budget)
            for s in (starts if self.step == "down" else reversed(starts)):
                rec = _read_records(path, s, self.budget)
                carry = self._emit_stored(rec, first_rank + s, carry)
            os.unlink(path)
            return carry
        shift = max((hi - lo).bit_length() - 20, 0)
        hist = np.zeros(((hi - lo) >> shift) + 1, dtype=np.int64)
        for rec in _record_chunks(path, n, self.budget):
            hist += np.bincount((ordered_key(rec["value"]) - lo) >> shift, minlength=hist.size)
        lut, ranks = _split(hist, self.budget)
        paths = [path.with_name(f"{path.stem}.{j}.bin") for j in range(ranks.size)]
        handles = [open(p, "wb") for p in paths]
        try:
            for rec in _record_chunks(path, n, self.budget):
                _append_by_range(rec, lut[(ordered_key(rec["value"]) - lo) >> shift], handles)
        finally:
            for h in handles:
                h.close()
        os.unlink(path)
        order = range(ranks.size) if self.step == "down" else range(ranks.size - 1, -1, -1)
        for j in order:
            carry = self.run(paths[j], first_rank + int(ranks[j]) - 1, carry)
        return carry


def _range_adjusted(job, proc, k, families, spill_dir, budget):
    """Adjusted values of ``families`` through value ranges spilled to disk; returns a
    ``_RowBlocks`` that the write pass reads in row order."""
    keys, counts = job.histogram
    fam_of_key = keys // N_BUCKETS
    starts, first_ranks, range_family = [], [], []
    for f in families:
        sel = fam_of_key == f
        dense = np.zeros(N_BUCKETS, dtype=np.int64)
        dense[keys[sel] % N_BUCKETS] = counts[sel]
        lut, ranks = plan_ranges(dense, budget)
        first_bucket = np.searchsorted(lut, np.arange(ranks.size))
        starts.append(f * N_BUCKETS + first_bucket)
        first_ranks.append(ranks)
        range_family.append(np.full(ranks.size, f))
    starts = np.concatenate(starts)
    first_ranks = np.concatenate(first_ranks)
    range_family = np.concatenate(range_family)
    wanted = np.zeros(job.families.size, dtype=bool)
    wanted[list(families)] = True
    # bucket -> range: a dense table when it is small (one gather per value), else a search
    dense_lut = None
    if job.families.size * N_BUCKETS <= _DENSE_LUT_MAX:
        dense_lut = np.full(job.families.size * N_BUCKETS, -1, dtype=np.int32)
        bounds = np.append(starts, job.families.size * N_BUCKETS)
        for r in range(starts.size):
            dense_lut[bounds[r]:bounds[r + 1]] = r
    offsets = np.cumsum([0] + [file.n_rows for file in job.files])
    paths = [spill_dir / f"range{r}.bin" for r in range(starts.size)]
    handles = [open(p, "wb") for p in paths]
    try:
        for file, offset, values, codes, _ in job.each_chunk("route"):
            keep = np.flatnonzero(~np.isnan(values) & wanted[codes])
            key = codes[keep] * N_BUCKETS + bucket_of(values[keep])
            if dense_lut is not None:
                rid = dense_lut[key]
            else:
                rid = np.searchsorted(starts, key, side="right") - 1
            rec = np.empty(keep.size, dtype=_RECORD)  # rows ascending
            rec["value"] = values[keep]
            rec["row"] = keep + (int(offsets[file.number]) + offset)
            _append_by_range(rec, rid, handles)
    finally:
        for h in handles:
            h.close()
    store = _RowBlocks(spill_dir, int(offsets[-1]), budget)
    try:
        tables = _StepTables(proc.step)
        sorters = {f: _RangeSorter(job, proc, k, f, budget, store, tables) for f in families}
        running = {f: (-np.inf if proc.step == "down" else np.inf) for f in families}
        sequence = range(starts.size) if proc.step == "down" else range(starts.size - 1, -1, -1)
        for r in _progress(sequence, "ranges", starts.size, job.progress, unit="range"):
            f = int(range_family[r])
            running[f] = sorters[f].run(paths[r], int(first_ranks[r]), running[f])
    finally:
        store.close()
    store.offsets = offsets
    store.tables = {f: tables.table(f) for f in families}
    return store


# ------------------------------------------------------------------------------ output


@contextmanager
def _sigterm_as_exit():
    """SIGTERM raises SystemExit in the main thread, so that temporary files are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _dictionary_columns(schema, adjusted_column):
    """Columns to dictionary-encode: all but the input's floating-point ones (p-values, effect
    sizes: nearly all distinct, so Parquet builds a dictionary, gives up and starts over — 2.5x
    the write time for a larger file); the adjusted values keep it (few distinct values)."""
    import pyarrow as pa

    if any(pa.types.is_nested(f.type) for f in schema):
        return True
    return [f.name for f in schema if not pa.types.is_floating(f.type) or f.name == adjusted_column]


def _write(job, file, target, proc, k, thresholds, head, store, adjusted_column, reject_column):
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.part"
    writer = None
    scale = job.scale
    try:
        for _, offset, values, codes, chunk in _chunks_of(job, file):
            if proc.step == "single":
                adjusted = np.full(values.size, np.nan)
                for f in np.unique(codes):
                    sel = codes == f
                    adjusted[sel] = np.minimum(scale.raw(proc, values[sel], None, int(job.m[f]), k),
                                               scale.one)
            else:
                adjusted = np.where(np.isnan(values), np.nan, scale.one)
                if store is not None:
                    part = store.get(int(store.offsets[file.number]) + offset, values.size)
                    routed = ~np.isnan(values) & job.ranged[codes]
                    adjusted[routed] = part[routed]
                    looked = np.flatnonzero(routed & np.isnan(part))  # kept in step tables
                    for f in np.unique(codes[looked]):
                        sel = looked[codes[looked] == f]
                        ends, fins = store.tables[int(f)]
                        if not ends.size or values[sel].max() > ends[-1]:
                            raise ValueError("the files changed while being read (a value above "
                                             "every value counted before)")
                        adjusted[sel] = table_lookup(values[sel], ends, fins)
                if head is not None:
                    rows, adj = head[file.number]
                    a, b = np.searchsorted(rows, [offset, offset + values.size])
                    adjusted[rows[a:b] - offset] = adj[a:b]
            reject = values <= thresholds[codes]
            if file.format == "parquet":
                table = pa.Table.from_batches([chunk])
            else:
                table = pa.Table.from_pandas(chunk, preserve_index=False)
            for name in (adjusted_column, reject_column):
                if name in table.column_names:
                    raise ValueError(f"output column {name!r} already exists in {file.path}; "
                                     "choose another name")
            table = table.append_column(adjusted_column, pa.array(adjusted, pa.float64()))
            table = table.append_column(reject_column, pa.array(reject, pa.bool_()))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema,
                                          use_dictionary=_dictionary_columns(table.schema,
                                                                             adjusted_column))
            writer.write_table(table)
        if writer is None:  # an empty file: keep its columns
            from ._optional import require

            pd = require("pandas", "adjust_files writing an empty Parquet file")

            empty = pd.DataFrame({n: [] for n in file.names})
            empty[adjusted_column] = np.empty(0)
            empty[reject_column] = np.empty(0, bool)
            pq.write_table(pa.Table.from_pandas(empty, preserve_index=False), tmp)
        else:
            writer.close()
            writer = None
        os.replace(tmp, target)
    except BaseException:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
        raise


def _chunks_of(job, file):
    for offset, values, keys, chunk in file.chunks(job.chunk_rows, all_columns=True):
        yield file, offset, values, job.families.codes(file, keys, values.size), chunk


# ------------------------------------------------------------------------------ public


def adjust_files(source, output_dir, *, column: str = "p", method: str = "holm",
                 alpha: float = 0.05, k: int = 1, by=None, per_file: bool = False,
                 log_p: str | None = None, nan_policy: str = "raise",
                 chunk_rows: int = 1 << 20, adjusted_column: str = "p_adjusted",
                 reject_column: str = "reject", progress: bool = True,
                 spill_dir=None) -> FilesResult:
    """Adjust a p-value column over many Parquet/CSV files as one family, streaming.

    Reads ``column`` chunk by chunk in a few passes (memory O(``chunk_rows``), not O(rows),
    ties and dense clusters of values included), and writes one Parquet file per input file under ``output_dir``, at the same
    relative path (``.parquet`` suffix), with every input column as read (CSV columns as text)
    plus ``adjusted_column`` and ``reject_column``. Each output is written to a temporary file
    and renamed; on an error or SIGTERM the temporary file is removed. Values are the in-memory
    ``mtest.adjust`` / ``mtest.reject`` results bit for bit.

    Parameters
    ----------
    source : str, path or list of paths
        A directory (searched recursively for .parquet/.pq/.csv/.tsv), a glob, or files.
    output_dir : str or path
        Where the outputs go (created); no input file is ever overwritten.
    column : str
        The p-value column (ln p or log10 p with ``log_p``).
    method, alpha, k, nan_policy
        As in ``mtest.reject``. Hommel's procedure is refused (it is not a per-rank
        transform and needs every value at once). k larger than a family's number of tested
        p-values is refused after the first read, naming the family, before anything is written.
    by : str or list of str, optional
        Columns whose values define the families (e.g. ``"phenotype"``); all files together.
    per_file : bool
        Each file is its own family (e.g. one chromosome per file, if that is the family).
    log_p : {None, 'ln', 'log10'}
        The column holds ln p or log10 p; adjusted values are written in the same scale.
    adjusted_column, reject_column : str
        Names of the two columns added to every output file (adjusted p-values, rejections);
        they must not already exist in the input.
    chunk_rows : int
        Rows per chunk read; also the size of a value range sorted in memory and of a block of
        spilled results (raised to N / 4096 for N values, so that at most 4096 spill files are
        open at once).
    progress : bool
        tqdm bars on stderr for passes that take more than 2 s.
    spill_dir : path, optional
        Where value ranges and results are spilled (default: a temporary folder inside
        ``output_dir``); needs about 16 bytes per value for step-up methods (28 where rows are spilled).

    Returns
    -------
    FilesResult

    Examples
    --------
    >>> import tempfile, pathlib, pandas as pd, mtest
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for chrom, p in [(1, [1e-9, 0.2, 0.03]), (2, [0.5, 2e-8])]:
    ...     (folder / "in").mkdir(exist_ok=True)
    ...     pd.DataFrame({"snp": [f"{chrom}:{i}" for i in range(len(p))], "p": p}).to_parquet(
    ...         folder / "in" / f"chr{chrom}.parquet")
    >>> res = mtest.adjust_files(folder / "in", folder / "out", method="holm", progress=False)
    >>> res.n_tests, res.n_rejected
    (5, 2)
    >>> pd.read_parquet(folder / "out" / "chr2.parquet")
       snp             p    p_adjusted  reject
    0  2:0  5.000000e-01  5.000000e-01   False
    1  2:1  2.000000e-08  8.000000e-08    True
    """
    from ._logscale import scale_for
    from .multitest import check_k_for, check_k_within

    scale = scale_for(log_p)
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    check_nan_policy(nan_policy)
    chunk_rows = check_positive_int("chunk_rows", chunk_rows)
    if isinstance(proc, SpecialProcedure):
        raise ValueError(f"method {proc.name!r} cannot stream over files: its adjusted p-values "
                         "are not a per-rank transform and need all m values in memory; use a "
                         "stepwise method ('hochberg' has the same guarantee)")
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if by and per_file:
        raise ValueError("pass by or per_file=True, not both")
    paths, root = _discover(source)
    output_dir = Path(output_dir)
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir() and \
            output_dir.resolve().is_relative_to(root):
        raise ValueError(f"output_dir ({str(output_dir)!r}) lies inside the input folder "
                         f"{str(source)!r}: a later run would read the outputs as inputs")
    targets = []
    inputs = {p.resolve() for p in paths}
    for path in paths:
        rel = path.resolve().relative_to(root)
        target = (output_dir / rel).with_suffix(".parquet")
        if target.resolve() in inputs:
            raise ValueError(f"output {str(target)!r} would overwrite an input file; choose "
                             "another output_dir")
        targets.append(target)
    if len(set(targets)) != len(targets):
        raise ValueError("two inputs map to the same output (e.g. a.csv and a.parquet); "
                         "rename one")
    files = [_File(p, j, column, by) for j, p in enumerate(paths)]
    families = _Families(by, per_file)
    job = _Job(files, families, chunk_rows, scale, progress)
    output_dir.mkdir(parents=True, exist_ok=True)
    spill_root = Path(spill_dir) if spill_dir is not None else output_dir
    with _sigterm_as_exit():
        spill = Path(tempfile.mkdtemp(prefix=".mtest-spill-", dir=spill_root))
        try:
            job.scan(nan_policy, with_histogram=proc.step != "single")
            g = families.size
            m = [int(x) for x in job.m]
            check_k_within(k, m[0] if families.keys == [()] else np.asarray(m, dtype=np.int64),
                           names=lambda f: repr(families.keys[f]))
            r = job.drive_all([rejections(proc, m[f], k, alpha, scale) for f in range(g)],
                              "count")
            thresholds = np.full(g, np.nan)
            for f in range(g):
                if m[f]:
                    thresholds[f] = scale.le_bound(_threshold(proc, r[f], m[f], k, alpha))
            head, store = None, None
            job.ranged = np.zeros(g, dtype=bool)
            if proc.step != "single":
                cuts = [None] * g
                if proc.step == "down":
                    cuts = job.drive_all([stepdown_cutoff(proc, m[f], k, scale) if m[f] else None
                                          for f in range(g)], "cutoff")
                    # a head of more than two chunks goes through the ranges: memory O(chunk)
                    cuts = [c if c is None or c[1] <= 2 * chunk_rows else None for c in cuts]
                    if any(c is not None for c in cuts):
                        head = _head_adjusted(job, proc, k, cuts)
                ranged = [f for f in range(g) if m[f] and cuts[f] is None]
                job.ranged[ranged] = True
                if ranged:
                    # ranges of about a chunk, but at most _MAX_OPEN spill files open at once
                    budget = max(chunk_rows, -(-int(sum(m[f] for f in ranged)) // _MAX_OPEN))
                    store = _range_adjusted(job, proc, k, ranged, spill, budget)
            for file, target in _progress(list(zip(files, targets)), "write", len(files), progress):
                _write(job, file, target, proc, k, thresholds, head, store, adjusted_column,
                       reject_column)
        finally:
            store = None
            shutil.rmtree(spill, ignore_errors=True)
    summaries = tuple(FamilySummary(families.keys[f], m[f], int(r[f]), float(thresholds[f]))
                      for f in range(g))
    return FilesResult(summaries, tuple(str(t) for t in targets), proc.name, alpha, k, log_p)
