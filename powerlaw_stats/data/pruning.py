"""Reading only the table columns a model uses (``Inputs(columns="used")``).

A wide table costs time and memory for columns no formula reads. The names an analysis reads
are collected up front from the formula's variables, the cluster columns, the ``--weights``,
``--where`` and ``--let`` expressions (parsed by :mod:`powerlaw_stats.expressions`, nothing
evaluated) and the schema's derived names (``TS`` needs ``train_size``, ``CinicTr``
``train_set``, ``IXMin`` ``TS``...). When every name resolves to a column of the header, a name
the schema derives from such columns or an earlier ``--let``, only those columns are read;
otherwise the whole table is read, as before.

The numbers cannot move: pandas' C parser infers each column on its own, so a column read
alone is the column read with the others, bit for bit. What could move is what is *refused*,
and three rules keep that as it was:

- a text file is read in part only when a scan finds no line with more fields than its header
  and no bytes that are not UTF-8 (pandas refuses both when it reads every column, but not in
  columns it skips), and no quote character or lone carriage return (then fields cannot be
  counted by separators); otherwise it is read whole;
- a duplicated or empty header name sends the read to the whole table (which refuses or names it);
- :func:`whole_table_on_refusal` runs a build again on the whole table when it refuses the
  pruned one, so every message (a misspelled column listing what exists, say) is the one the
  whole table gives.
"""

from __future__ import annotations

import codecs
import gzip
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from .. import expressions
from ..errors import PowerlawStatsError
from .schema import SCHEMA_COLUMNS, SCHEMA_SCALARS
from .tables import table_kind

T = TypeVar("T")


class Inputs(Protocol):
    """What this module reads of :class:`powerlaw_stats.data.frame.Inputs` (named so, without importing it)."""

    @property
    def data(self) -> object: ...  # noqa: D102 - the fields are Inputs' own
    @property
    def weights(self) -> object: ...  # noqa: D102
    @property
    def where(self) -> str | None: ...  # noqa: D102
    @property
    def let(self) -> tuple[str, ...]: ...  # noqa: D102
    @property
    def columns(self) -> str: ...  # noqa: D102

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed."""


In = TypeVar("In", bound=Inputs)
_BLOCK = 1 << 23  # bytes scanned at a time: the scan's memory stays a few times this
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def whole_table_on_refusal(inputs: In, build: Callable[[In], T]) -> T:
    """``build(inputs)``; when it refuses a table read in part, ``build`` again on the whole table.

    A refusal's message may list the table's columns or look at a row's other values; read
    whole, the table gives the message it always gave. Success costs nothing extra.
    """
    if inputs.columns == "all" or not isinstance(inputs.data, (str, Path)):
        return build(inputs)
    try:
        return build(inputs)
    except PowerlawStatsError:
        return build(inputs.replace(columns="all"))


def columns_to_read(path: Path, inputs: Inputs, variables: Sequence[str], extra: Sequence[str]) -> list[str] | None:
    """The columns of the table at ``path`` an analysis reads, in file order; None to read it whole.

    Examples
    --------
    >>> from powerlaw_stats.data.datasets import example_path
    >>> from powerlaw_stats.data import frame
    >>> columns_to_read(example_path(), frame.Inputs(weights="w", columns="used"), ["log_err", "TS", "IXMin"], [])
    ['train_size', 'trials', 'error']
    """
    header = header_names(path)
    if header is None:
        return None
    wanted = _wanted(set(header), inputs, variables, extra)
    if wanted is None:
        return None
    wanted |= {c for c in header if c in SCHEMA_COLUMNS or c in SCHEMA_SCALARS}  # derived names the data gives itself
    wanted |= set(names_read(header, inputs, variables, extra))  # the columns checked for stray text
    if wanted >= set(header):
        return None
    sep = table_kind(path)[1]
    if sep is not None and not text_lines_are_regular(path, sep):  # the scan runs only when it can pay
        return None
    return [c for c in header if c in wanted]


def names_read(columns: Iterable[object], inputs: Inputs, variables: Sequence[str], extra: Sequence[str]) -> list[str]:
    """The table's columns an analysis reads: the formula's, the schema's sources of them, and any an option names.

    Words are taken from the option texts as they stand (a string constant's word included), so
    the list may hold more than the expressions read; it is the set of columns checked for text
    among numbers.
    """
    names = set(variables) | set(extra)
    names |= {need for name in list(names) if name in SCHEMA_COLUMNS for need in SCHEMA_COLUMNS[name][0]}
    texts = [t for t in (inputs.where, *inputs.let, inputs.weights if isinstance(inputs.weights, str) else None) if t]
    words = {w for t in texts for w in _WORD.findall(t)}
    names |= words | {need for w in words if w in SCHEMA_COLUMNS for need in SCHEMA_COLUMNS[w][0]}
    return [c for c in columns if isinstance(c, str) and c in names]


def _wanted(header: set[str], inputs: Inputs, variables: Sequence[str], extra: Sequence[str]) -> set[str] | None:
    """The header's columns the names resolve to, or None when one of them does not resolve."""
    wanted: set[str] = set()
    defined: set[str] = set()

    def resolve(name: str) -> bool:
        if name in header:
            wanted.add(name)
            return True
        if name in defined:
            return True
        if name in SCHEMA_COLUMNS and all(s in header for s in SCHEMA_COLUMNS[name][0]):
            wanted.update(SCHEMA_COLUMNS[name][0])
            return True
        if name in SCHEMA_SCALARS:
            derived, source = SCHEMA_SCALARS[name]
            return resolve(derived) or resolve(source)
        return False

    try:
        for item in inputs.let:
            name, sep, expr = item.partition("=")
            if not sep or not all(map(resolve, _expression_names(expr.strip(), "--let"))):
                return None
            defined.add(name.strip())
        if inputs.where and not all(map(resolve, _expression_names(inputs.where, "--where"))):
            return None
        w = inputs.weights
        if isinstance(w, str) and not resolve(w) and not all(map(resolve, _expression_names(w, "--weights"))):
            return None
    except PowerlawStatsError:  # an expression that does not parse: the whole table's read refuses it as always
        return None
    return wanted if all(map(resolve, [*variables, *extra])) else None


def _expression_names(text: str, context: str) -> frozenset[str]:
    checked = (expressions.check_query(text, allowed_names=None) if context == "--where"
               else expressions.check_expression(text, allowed_names=None, context=context))
    return checked.names | checked.columns


# ----------------------------------------------------------------------------- the header and the scan


def header_names(path: Path) -> list[str] | None:
    """The table's column names (its first line, or a Parquet file's schema); None when they cannot serve.

    None when the header cannot be read, or names a column twice or not at all: the whole
    table's read then refuses the file or names the column as it always did. A text table
    must also pass :func:`text_lines_are_regular` before only some of its columns are read.
    """
    try:
        sep = table_kind(path)[1]
        if sep is None:
            import pyarrow.parquet as pq  # pandas' Parquet engine (the "parquet" extra); without it, no Parquet at all

            names = list(pq.read_schema(path).names)
        else:
            names = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    except Exception:  # noqa: BLE001 - whatever fails here, the whole table's read meets it and says so
        return None
    if any(not isinstance(n, str) or not n for n in names) or len(set(names)) < len(names):
        return None
    return names


def text_lines_are_regular(path: Path, sep: str) -> bool:
    r"""True when no line has more ``sep`` than the header, every byte is UTF-8, and no quote or lone CR occurs.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes(b"y,x\n1,2\n3,4,5\n")
    >>> text_lines_are_regular(p, ",")
    False
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    sep_byte, fields = ord(sep), None
    try:
        for block in _line_blocks(path):
            decoder.decode(block)  # raises on bytes that are not UTF-8
            if b'"' in block or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n")):
                return False  # quoted fields hide separators; a lone CR ends a line for pandas
            buf = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero(buf == ord("\n"))
            bounds = np.concatenate(([0], ends + 1, [] if len(ends) and ends[-1] == len(buf) - 1 else [len(buf)]))
            per_line = np.diff(np.searchsorted(np.flatnonzero(buf == sep_byte), bounds))
            fields = int(per_line[0]) if fields is None else fields
            if (per_line > fields).any():
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _line_blocks(path: Path) -> Iterator[bytes]:
    """The file's bytes (decompressed for ``.gz``) in blocks that end at a line end (the last one as it ends)."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    rest = b""
    with opener(path, "rb") as fh:
        while chunk := fh.read(_BLOCK):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                rest = chunk
                continue
            rest = chunk[cut:]
            yield chunk[:cut]
    if rest:
        yield rest
