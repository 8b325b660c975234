"""Reading and validating MNIST CSV files.

Accepted layout: one label column (0-9) then 784 pixel columns (integers 0-255), with a header
line (``label,1x1,...,28x28``, Kaggle's ``label,pixel0,...,pixel783`` or any other names) or
without one. Every violation raises DataError naming the file, line, column and value.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .fileio import read_head
from .splits import N_CLASSES, N_PIXELS

N_COLUMNS = N_PIXELS + 1


def read_mnist_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (pixels uint8 (n, 784) C-contiguous, labels uint8 (n,))."""
    pixels, labels = _read(Path(path), require_label=True)
    return pixels, labels


def read_pixel_csv(path: str | Path, data: bytes | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of 784 pixels, or of a label and 784 pixels: (pixels, labels or None). The rows are
    the file at ``path``, or ``data`` (a CSV piped in) named ``path`` in messages."""
    return _read(Path(path), require_label=False, data=data)


def _read(path: Path, require_label: bool, data: bytes | None = None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """Rows of a label and 784 pixels, or (unless ``require_label``) of 784 pixels only, from
    the file at ``path`` or from ``data``."""
    has_header = _sniff_header(read_head(path, 65536, DataError) if data is None
                               else data[:65536], path)
    try:
        # Only an empty field is missing: pandas' default would also read "nan", "NA" or
        # "null" as one, and call a line that ends in them truncated.
        frame = pd.read_csv(path if data is None else io.BytesIO(data),
                            header=0 if has_header else None, engine="c",
                            keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed CSV ({_parser_detail(exc)}); expected {N_COLUMNS} "
                        "fields per line: a label and 784 pixels") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: no data rows") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV text file ({exc})") from None
    first_line = 2 if has_header else 1
    with_label = frame.shape[1] == N_COLUMNS
    if not (with_label or (not require_label and frame.shape[1] == N_PIXELS)):
        hint = {N_PIXELS: " (a Kaggle test.csv has no label column and cannot be used)",
                1: " (fields must be separated by commas)"}.get(frame.shape[1], "")
        expected = f"{N_COLUMNS}: a label and {N_PIXELS} pixels" if require_label else \
            f"{N_PIXELS} pixels, or a label and {N_PIXELS} pixels"
        found = f"{frame.shape[1]} column{'s' * (frame.shape[1] != 1)}"
        raise DataError(f"{path}: {found}, expected {expected}{hint}")
    if len(frame) == 0:
        raise DataError(f"{path}: header only, no data rows")
    columns = [str(c) for c in frame.columns] if has_header else \
        ["label"] * with_label + [f"pixel{i}" for i in range(N_PIXELS)]
    values = _integer_values(frame, path, columns, first_line)
    labels = None
    if with_label:
        _check_range(values[:, 0], 0, N_CLASSES - 1, "label", path, frame, columns,
                     first_line, 0)
        labels = values[:, 0].astype(np.uint8)
    pixel_values = values[:, int(with_label):]
    _check_range(pixel_values, 0, 255, "pixel", path, frame, columns, first_line,
                 int(with_label))
    return np.ascontiguousarray(pixel_values, dtype=np.uint8), labels


def _sniff_header(head: bytes, path: Path) -> bool:
    """True when the first line of ``head`` (the file's first bytes) is a header: its first
    field is not a number."""
    if not head.strip():
        raise DataError(f"{path}: empty file")
    if b"\0" in head:
        raise DataError(f"{path}: binary data, not a CSV text file")
    try:
        first = head.split(b"\n", 1)[0].decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text, not a CSV file") from None
    field = first.split(",", 1)[0].strip().strip('"')
    try:
        float(field)
    except ValueError:
        return True
    return False


def _parser_detail(exc: Exception) -> str:
    text = str(exc).strip()
    return text.split("C error: ", 1)[-1]


def _integer_values(frame: pd.DataFrame, path: Path, columns: list[str],
                    first_line: int) -> np.ndarray:
    """All cells as numbers that are integers, or DataError at the first empty, non-numeric or
    fractional cell: int64 when pandas read every column as int64, else float64 (exact up to
    2**53, and any larger value is outside every range checked). Columns of other integer
    types hold values that int64 cannot (uint64, or Python ints in an object column)."""
    dtypes = frame.dtypes
    if all(t == np.int64 for t in dtypes):
        return frame.to_numpy()
    values = np.empty(frame.shape, np.float64)
    problems = []  # (row, column, what is wrong)
    for j, dtype in enumerate(dtypes):
        col = frame.iloc[:, j]
        if dtype == np.int64:
            values[:, j] = col.to_numpy()
            continue
        missing = col.isna().to_numpy()
        numbers = values[:, j]  # a view: filled in place
        numbers[:] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64,
                                                                  na_value=np.nan)
        finite = np.isfinite(numbers)
        not_numeric = ~finite & ~missing  # text, and "nan" or "inf", which parse as floats
        fractional = finite & (numbers != np.floor(numbers))
        for mask, what in ((missing, "empty cell"), (not_numeric, "not a number"),
                           (fractional, "not an integer")):
            rows = np.flatnonzero(mask)
            if rows.size:
                problems.append((int(rows[0]), j, what))
    if not problems:
        return values
    row, j, what = min(problems)
    line = first_line + row
    empty = frame.iloc[row].isna().to_numpy()
    if what == "empty cell" and empty[j:].all() and j > 0:
        raise DataError(f"{path}: line {line} has {j} fields, expected {frame.shape[1]} "
                        "(a truncated line?)")
    if what == "empty cell":
        raise DataError(f"{path}: line {line}, column {columns[j]!r}: empty cell; expected an "
                        "integer")
    raise DataError(f"{path}: line {line}, column {columns[j]!r}: {what} (value "
                    f"{_cell(frame, row, j)!r}); expected an integer")


def _cell(frame: pd.DataFrame, row: int, column: int) -> int | float | str:
    """A cell as read: a float that is an integer shown as one (300.0 as 300)."""
    value = frame.iat[row, column]
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def _check_range(values: np.ndarray, low: int, high: int, what: str, path: Path,
                 frame: pd.DataFrame, columns: list[str], first_line: int, column: int) -> None:
    """DataError at the first of ``values`` (frame's columns from ``column`` on) outside
    low-high."""
    bad = (values < low) | (values > high)
    if not bad.any():
        return
    flat = int(np.flatnonzero(bad.ravel())[0])
    row, offset = (flat, 0) if values.ndim == 1 else divmod(flat, values.shape[1])
    col = column + offset
    raise DataError(f"{path}: line {first_line + row}, column {columns[col]!r}: {what} "
                    f"{_cell(frame, row, col)} outside {low}-{high}")
