"""Reading a learning-curve table from disk: CSV, TSV or Parquet, by extension (``.gz`` for text)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..errors import DataError, shown

# each reader takes the columns to read (None: all); pandas' C parser reads a column the same alone or with others
_READERS: dict[str, Callable[[Path, list[str] | None], pd.DataFrame]] = {
    ".csv": lambda p, cols: pd.read_csv(p, usecols=cols),
    ".tsv": lambda p, cols: pd.read_csv(p, sep="\t", usecols=cols),
    ".tab": lambda p, cols: pd.read_csv(p, sep="\t", usecols=cols),
    ".parquet": lambda p, cols: pd.read_parquet(p, columns=cols),
    ".pq": lambda p, cols: pd.read_parquet(p, columns=cols),
}


def table_kind(path: Path) -> tuple[str, str | None]:
    """The table's extension (``.gz`` looked through) and its text separator (None for Parquet)."""
    suffixes = [s.lower() for s in path.suffixes]
    ext = suffixes[-2] if suffixes[-1:] == [".gz"] and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    if ext not in _READERS:
        raise DataError(f"{path}: unknown file type {ext or '(none)'!r}; use .csv, .tsv or .parquet")
    return ext, _TEXT.get(ext)


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table (by extension; ``.gz`` allowed for text), all columns or ``columns``.

    ``columns`` must be names of the table's header (see :mod:`powerlaw_stats.data.pruning`,
    which decides when reading only some of them keeps every number and message).

    Examples
    --------
    >>> from powerlaw_stats.data.datasets import example_path
    >>> read_table(example_path()).shape[1] >= 12
    True
    >>> read_table(example_path(), columns=["train_size", "error"]).columns.tolist()
    ['train_size', 'error']
    """
    path = Path(path)
    ext, _ = table_kind(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a table; give the file inside it")
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path")
    try:
        frame = _READERS[ext](path, columns)
        if ext in _TEXT:
            _check_header(path, _TEXT[ext])
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header line and data rows") from None
    except (EOFError, zlib.error) as exc:  # a cut-off or corrupt .gz
        raise DataError(f"{path}: the compressed file is damaged or cut short ({_first_line(exc)}); "
                        "copy or download it again") from None
    except (OSError, ValueError, ImportError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot read it as {ext[1:]}: {_first_line(exc)}") from None
    if frame.empty:
        raise DataError(f"{path}: the table has a header but no data rows")
    return frame


_TEXT: dict[str, str] = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


def _check_header(path: Path, sep: str) -> None:
    """Refuse a header that names a column twice: pandas would silently rename the second ``x`` to ``x.1``."""
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str).iloc[0].tolist()
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}: the header names column {shown(name)} twice; rename one so each name is unique")
        seen.add(name)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return shown(lines[0], 200)[1:-1] if lines else type(exc).__name__

