"""A small column table for the power study and the benchmark: numpy columns, CSV out, no pandas.

``Table`` keeps the rows it was built from; ``table["col"]`` is a numpy array, ``to_csv``
writes what ``pandas.DataFrame.from_records(rows).to_csv(path, index=False)`` writes (the same
columns, the same text: tests/test_light.py compares the two), and ``to_pandas`` gives the
DataFrame when the ``frames`` extra is installed.
"""
from __future__ import annotations

import csv
import io
import numbers

import numpy as np


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and np.isnan(v))


def _column_kind(values) -> str:
    """pandas' inference for a column of Python/numpy scalars: bool, int, float or object."""
    present = [v for v in values if not _is_missing(v)]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present) and len(present) == len(values):
        return "bool"
    if any(isinstance(v, (bool, np.bool_)) for v in present):
        return "object"
    if all(isinstance(v, numbers.Integral) for v in present) and len(present) == len(values):
        return "int"
    if all(isinstance(v, numbers.Real) for v in present):
        return "float"
    return "object"


class Table:
    """Rows of named values (one ``dict`` per row) with numpy column access.

    Examples
    --------
    >>> from mtest._records import Table
    >>> t = Table([dict(method="holm", x=0.0, rate=1.0), dict(method="bon", x=0.1, rate=float("nan"))])
    >>> t
    Table(2 rows: method, x, rate)
    >>> t["rate"]
    array([ 1., nan])
    >>> t["x"][t["method"] == "bon"]
    array([0.1])
    >>> print(t.to_csv(), end="")
    method,x,rate
    holm,0.0,1.0
    bon,0.1,
    """

    def __init__(self, rows):
        self.rows = [dict(r) for r in rows]
        columns: dict[str, None] = {}
        for r in self.rows:
            columns.update(dict.fromkeys(r))
        self.columns = list(columns)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __repr__(self) -> str:
        cols = ", ".join(self.columns[:12]) + (", ..." if len(self.columns) > 12 else "")
        return f"Table({len(self.rows)} rows: {cols})"

    def _values(self, column: str) -> list:
        if column not in self.columns:
            raise KeyError(f"no column {column!r}; the columns are {self.columns}")
        return [r.get(column) for r in self.rows]

    def __getitem__(self, column: str) -> np.ndarray:
        values = self._values(column)
        kind = _column_kind(values)
        if kind == "bool":
            return np.array(values, dtype=bool)
        if kind == "int":
            return np.array([int(v) for v in values], dtype=np.int64)
        if kind == "float":
            return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    def _text(self, column: str) -> list[str]:
        values = self._values(column)
        kind = _column_kind(values)
        if kind == "float":
            arr = self[column]
            text = arr.astype(str)  # numpy's shortest round-trip repr, as pandas writes floats
            return ["" if np.isnan(v) else t for v, t in zip(arr, text)]
        if kind == "int":
            return [str(int(v)) for v in values]
        if kind == "bool":
            return [str(bool(v)) for v in values]
        return ["" if _is_missing(v) else str(v) for v in values]

    def to_csv(self, path=None) -> str | None:
        """Write the table as CSV (a header line, then one line per row); the text when ``path``
        is None. Missing values (None, NaN) are empty fields."""
        text = [self._text(c) for c in self.columns]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        w.writerows(zip(*text))
        if path is None:
            return buf.getvalue()
        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write(buf.getvalue())
        return None

    def to_pandas(self):
        """The table as a ``pandas.DataFrame`` (needs the ``frames`` extra)."""
        from ._optional import require

        pd = require("pandas", "Table.to_pandas")
        return pd.DataFrame.from_records(self.rows, columns=self.columns)
