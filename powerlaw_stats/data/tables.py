"""Reading a learning-curve table from disk: CSV, TSV or Parquet, by extension (``.gz`` for text)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..errors import DataError

_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".tab": lambda p: pd.read_csv(p, sep="\t"),
    ".parquet": lambda p: pd.read_parquet(p),
    ".pq": lambda p: pd.read_parquet(p),
}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table (by extension; ``.gz`` allowed for text).

    Examples
    --------
    >>> from powerlaw_stats.data.datasets import example_path
    >>> read_table(example_path()).shape[1] >= 12
    True
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    ext = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if ext not in _READERS:
        raise DataError(f"{path}: unknown file type {ext or '(none)'!r}; use .csv, .tsv or .parquet")
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path")
    try:
        frame = _READERS[ext](path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header line and data rows") from None
    except (OSError, ValueError, ImportError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read it as {ext[1:]}: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise DataError(f"{path}: the table has a header but no data rows")
    return frame

