"""The rows a model is fitted to: ``--let``, ``--where``, the prior weights and the NA policy.

Every entry point (fit, simulate, plan, effect, region, report) reads its table through one
:class:`Inputs` record and :func:`model_frame`, which derives the schema's names, defines, filters,
weighs and drops NA rows (R's ``na.omit``) keeping count of what it dropped. Every refusal is a
:class:`~powerlaw_stats.errors.PowerlawStatsError` whose message says what, where and what to do.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from .. import expressions
from ..errors import DataError, OptionError, WeightsError, shown
from ..options import ColumnsRead, NaPolicy, WeightType, check_option
from . import datasets
from .pruning import columns_to_read, names_read
from .schema import with_schema_names
from .tables import read_table

TableLike: TypeAlias = "str | Path | pd.DataFrame | None"
WeightsLike: TypeAlias = "str | Sequence[float] | np.ndarray | None"
ROWS_SHOWN = 5  # data rows a message lists


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """What every entry point reads its rows with, checked once.

    ``data`` is a path, a frame or None (the bundled example); ``weights`` a column, an expression
    such as ``"1/trials"`` or an array; ``weight_type`` how M-estimation uses them (MASS's
    ``wt.method``); ``where`` a pandas query; ``let`` ``NAME=EXPR`` definitions in order; ``na``
    "drop" (R's na.omit) or "fail"; ``columns`` "all" reads every column of a table file, "used"
    only those the analysis reads (the model frame then holds only those and the names derived
    from them; see :mod:`powerlaw_stats.data.pruning`). A DataFrame is used as given.

    Examples
    --------
    >>> Inputs(weights="w", let=["IXMin=log2(3125)"]).let
    ('IXMin=log2(3125)',)
    """

    data: TableLike = None
    weights: WeightsLike = None
    weight_type: WeightType = "inv.var"
    where: str | None = None
    let: tuple[str, ...] = ()
    na: NaPolicy = "drop"
    columns: ColumnsRead = "all"

    def __post_init__(self) -> None:
        """Check the options and hold ``let`` as a tuple."""
        object.__setattr__(self, "let", tuple(self.let or ()))
        check_option(self.weight_type, WeightType, "weight type")
        check_option(self.na, NaPolicy, "na")
        check_option(self.columns, ColumnsRead, "columns")

    def replace(self, **changes: Any) -> Inputs:
        """A copy with some fields changed (e.g. ``data`` once the table is read)."""
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------- expressions


def evaluate(expr: str, frame: pd.DataFrame, namespace: Mapping[str, object], what: str) -> Any:
    """Evaluate a user expression over the table's columns, the value functions and constants.

    The expression is checked against :mod:`powerlaw_stats.expressions`' allow-list first and
    then computed by walking its syntax tree: no Python ``eval`` runs. ``what`` names it in
    messages (``"--weights"``, ``"--let IXMin"``, ``"response"``).

    Examples
    --------
    >>> evaluate("1/trials^2", pd.DataFrame({"trials": [1, 2]}), {}, "--weights").tolist()
    [1.0, 0.25]
    """
    context = what if what in expressions.CONTEXTS else ("--where" if what.startswith("--where") else
                                                         "--weights" if "weights" in what else "--let")
    return expressions.evaluate(expr, frame, namespace, context=context, label=what)


def missing_column_message(name: str, columns: Sequence[str]) -> str:
    """'no column X' with the closest names, for every place a name can be unknown (long names cut short)."""
    close = difflib.get_close_matches(name[:200], [str(c) for c in columns], n=3, cutoff=0.6)
    listed = ", ".join(map(str, columns))
    listed = listed if len(listed) <= 300 else listed[:297] + "..."
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; columns are {listed}"
    return f"no column {shown(name)} in the data{hint}"


def row_numbers(index: pd.Index, mask: np.ndarray) -> str:
    """The 1-based data row numbers of the first rows where ``mask`` holds, for a message.

    ``index`` holds the rows' 0-based positions in the table as read (the model frame's index).

    Examples
    --------
    >>> row_numbers(pd.Index([0, 2, 5]), np.array([False, True, True]))
    '3, 6'
    """
    rows = np.asarray(index)[np.asarray(mask, dtype=bool)]
    text = ", ".join(str(int(r) + 1) for r in rows[:ROWS_SHOWN])
    return text + (", ..." if len(rows) > ROWS_SHOWN else "")


def apply_lets(frame: pd.DataFrame, lets: Sequence[str], namespace: dict) -> tuple[pd.DataFrame, dict]:
    """Apply ``NAME=EXPR`` definitions in order: a scalar joins the namespace, a vector the table."""
    namespace = dict(namespace)
    for item in lets:
        name, sep, expr = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not expr.strip():
            raise OptionError(f"--let {item!r}: write it as NAME=EXPR, e.g. --let IXMin=log2(3125)")
        value = evaluate(expr.strip(), frame, namespace, f"--let {name}")
        if np.ndim(value) == 0:
            namespace[name] = value
        elif len(value) == len(frame):
            frame = frame.assign(**{name: np.asarray(value)})
        else:
            raise OptionError(f"--let {name}: gives {len(value)} values for {len(frame)} rows")
    return frame, namespace


def apply_where(frame: pd.DataFrame, where: str | None, namespace: Mapping[str, object]) -> pd.DataFrame:
    """Keep the rows where the ``where`` query holds (pandas' query syntax, checked and computed without eval).

    Examples
    --------
    >>> apply_where(pd.DataFrame({"TS": [500, 2000]}), "TS > 1000", {}).index.tolist()
    [1]
    """
    if not where:
        return frame
    kept = frame.loc[expressions.query_mask(where, frame, namespace)]
    if kept.empty:
        raise DataError(f"--where {where!r} keeps no rows of {len(frame)}; loosen the condition")
    return kept


# ----------------------------------------------------------------------------- weights


def check_weights(values: object, expr: str, n: int, index: pd.Index | None = None) -> np.ndarray:
    """Validate prior weights: one numeric value per row, finite, non-negative, not all zero.

    ``index`` holds the rows' 0-based positions in the table, so messages give 1-based data rows.

    Examples
    --------
    >>> check_weights([1.0, 0.5], "w", 2).tolist()
    [1.0, 0.5]
    """
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.ndim != 1:
        raise WeightsError(f"weights {shown(expr)} have shape {arr.shape}; give one weight per row (a column, "
                           "an expression or a 1-D array)")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise WeightsError(f"weights {shown(expr)} are not numeric (dtype {arr.dtype}); give a numeric column or expression")
    arr = arr.astype(float)
    if len(arr) != n:
        raise WeightsError(f"weights {shown(expr)} give {len(arr)} values for {n} rows")
    index = pd.RangeIndex(n) if index is None else index
    checks = [
        (~np.isfinite(arr), "are infinite" if not np.isnan(arr).any() else "are NaN or infinite"),
        (arr < 0, "are negative"),
    ]
    for bad, what in checks:
        if bad.any():
            raise WeightsError(f"weights {shown(expr)}: {int(bad.sum())} values {what} (data rows "
                               f"{row_numbers(index, bad)}); weights must be finite and >= 0")
    if not (arr > 0).any():
        raise WeightsError(f"weights {shown(expr)} are all zero; at least some rows need positive weight")
    return arr


# ----------------------------------------------------------------------------- model frame


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFrame:
    """The rows a model is fitted to, with everything needed to evaluate its formula.

    ``frame``'s index holds each row's 0-based position in the table as read (so a message's
    data row is ``index + 1``); ``labels`` the table's own index labels of those rows (the
    index a result's residuals carry); ``dropped`` the reasons rows were left out, each with
    its count (a row missing two values counts under both; ``dropped_rows`` counts rows).
    """

    frame: pd.DataFrame
    namespace: dict
    weights: np.ndarray | None
    weights_expr: str | None
    weight_type: WeightType = "inv.var"
    dropped: dict[str, int] = field(default_factory=dict)
    source_rows: int = 0
    labels: pd.Index | None = None
    na: NaPolicy = "drop"  # what the formula's own NaN (log of a negative) meets: dropped, or refused

    @property
    def dropped_rows(self) -> int:
        """How many rows of the table were left out, for any reason (each row once)."""
        return max(self.source_rows - len(self.frame), 0) if self.source_rows else sum(self.dropped.values())

    @property
    def index(self) -> pd.Index:
        """The table's index labels of the rows used (positions when the table had none of its own)."""
        return self.frame.index if self.labels is None else self.labels

    def keep(self, rows: np.ndarray, reason: str) -> ModelFrame:
        """The same model frame without the rows where ``rows`` is False, counted under ``reason``."""
        rows = np.asarray(rows, dtype=bool)
        if rows.all():
            return self
        dropped = {**self.dropped, reason: self.dropped.get(reason, 0) + int((~rows).sum())}
        return dataclasses.replace(self, frame=self.frame.loc[rows], dropped=dropped,
                                   weights=None if self.weights is None else self.weights[rows],
                                   labels=None if self.labels is None else self.labels[rows])


def load(data: TableLike) -> pd.DataFrame:
    """A DataFrame as given, a table read from a path, or the bundled example for ``None``.

    Examples
    --------
    >>> load(42)
    Traceback (most recent call last):
    ...
    powerlaw_stats.errors.DataError: data must be a path to a table, a pandas DataFrame or None (the bundled example), got int
    """
    if data is None:
        return datasets.load_example()
    if isinstance(data, pd.DataFrame):
        return _checked_frame(data)
    if isinstance(data, (str, Path)):
        return read_table(data)
    raise DataError(f"data must be a path to a table, a pandas DataFrame or None (the bundled example), "
                    f"got {type(data).__name__}")


def _checked_frame(data: pd.DataFrame) -> pd.DataFrame:
    if data.empty:
        raise DataError("the data frame has no rows")
    if isinstance(data.columns, pd.MultiIndex):
        raise DataError("the data frame has MultiIndex columns; flatten them to single names first, "
                        "e.g. frame.columns = ['_'.join(map(str, c)) for c in frame.columns]")
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        raise DataError(f"the data has two or more columns named {shown(dup[0])}; rename them so each name is unique")
    return data


def model_frame(inputs: Inputs, variables: Sequence[str], extra_columns: Sequence[str] = ()) -> ModelFrame:
    """Read, derive, define, filter, weigh and drop NA rows, keeping count of what was dropped.

    ``variables`` are the names the formula reads; ``extra_columns`` others that must be present
    and complete (a cluster column, say). A row with NA in any of them, or an NA weight, is
    dropped (R's ``na.omit``) or refused (``na="fail"``).
    """
    raw = _read(inputs, variables, extra_columns)
    _check_numbers_in_text(raw, names_read(raw.columns, inputs, variables, extra_columns))
    frame, namespace = with_schema_names(raw.reset_index(drop=True))
    frame, namespace = apply_lets(frame, list(inputs.let), namespace)
    kept = apply_where(frame, inputs.where, namespace)
    dropped = {"excluded by --where": len(frame) - len(kept)} if len(kept) < len(frame) else {}
    _check_names(variables, kept, namespace, extra_columns)
    weights = inputs.weights
    w = _weights(weights, kept, namespace, raw.index)
    used = list(dict.fromkeys([v for v in variables if v in kept.columns] + list(extra_columns)))
    kept, w, na_dropped = _drop_na(kept, used, w, inputs.na)
    dropped.update(na_dropped)
    expr = weights if isinstance(weights, str) else "given"
    if w is not None:
        w = check_weights(w, expr, len(kept), kept.index)
    kept = _drop_unused_levels(kept)
    labels = None if isinstance(raw.index, pd.RangeIndex) and raw.index.equals(pd.RangeIndex(len(raw))) \
        else raw.index[kept.index.to_numpy()]
    return ModelFrame(frame=kept, namespace=namespace, weights=w, weights_expr=weights if isinstance(weights, str) else None,
                      weight_type=inputs.weight_type, dropped=dropped, source_rows=len(raw), labels=labels, na=inputs.na)


def _read(inputs: Inputs, variables: Sequence[str], extra: Sequence[str]) -> pd.DataFrame:
    """The table, with only the columns the analysis reads when ``inputs.columns`` is "used" and they can be told."""
    if inputs.columns == "used" and isinstance(inputs.data, (str, Path)) and Path(inputs.data).is_file():
        return read_table(inputs.data, columns_to_read(Path(inputs.data), inputs, variables, extra))
    return load(inputs.data)


def _check_numbers_in_text(raw: pd.DataFrame, columns: Sequence[str]) -> None:
    """Refuse a column of numbers with a few values that are not: a typo ("5,0") would make it a factor.

    A column is read as text when any of its values is not a number; if most of its values are
    numbers, the others are almost surely mistakes, and fitting it as a factor would be a silent
    wrong answer.
    """
    for name in columns:
        col = raw[name]
        if not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue  # numbers, booleans, categories: read as such
        # each distinct value is judged once: a million rows of a few labels cost a few conversions
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        present = codes >= 0
        numeric = np.append(pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").notna().to_numpy(), False)[codes]
        bad = present & ~numeric
        if bad.any() and numeric.sum() >= bad.sum():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(f"column {shown(name)} holds numbers except {shown(col.iloc[first], 30)} in data row "
                            f"{first + 1} ({int(bad.sum())} of {int(present.sum())} values are not numbers); "
                            "fix the value (a decimal comma? a note in a number column?) or drop the row")


def _check_names(variables, frame, namespace, extra_columns) -> None:
    for name in list(variables) + list(extra_columns):
        if name not in frame.columns and name not in namespace:
            raise DataError(missing_column_message(name, frame.columns))


def _weights(weights, frame: pd.DataFrame, namespace, table_index: pd.Index) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        values = frame[weights].to_numpy() if weights in frame.columns else evaluate(weights, frame, namespace, "--weights")
    elif isinstance(weights, pd.Series):
        if len(weights) != len(table_index) or not weights.index.equals(table_index):
            raise WeightsError("the weights Series has another index than the data; pass weights.to_numpy() to use "
                               "them in row order, or reindex them like the data")
        values = weights.to_numpy()[frame.index.to_numpy()]
    else:
        values = weights
        arr = np.asarray(values)
        if arr.ndim == 1 and len(arr) == len(table_index):  # given for every row of the table: keep the rows kept
            values = arr[frame.index.to_numpy()]
    arr = np.asarray(values)
    return np.full(len(frame), arr) if arr.ndim == 0 else arr  # judged once NA rows are gone


def _drop_na(frame: pd.DataFrame, used: list[str], w, na) -> tuple[pd.DataFrame, np.ndarray | None, dict[str, int]]:
    missing = frame[used].isna()
    for name in used:
        if len(frame) and missing[name].all():
            raise DataError(f"column {shown(name)} is NA in every row used ({len(frame)} of {len(frame)}); "
                            "it cannot be fitted: fill it in, or leave it out of the formula")
    w_na = _na_weights(w, len(frame))
    bad = missing.any(axis=1).to_numpy() | w_na
    if not bad.any():
        return frame, w, {}
    counts = {f"NA in {c}": int(missing[c].sum()) for c in used if missing[c].any()}
    if w_na.any():
        counts["NA in the weights"] = int(w_na.sum())
    if na == "fail":
        detail = ", ".join(f"{k[6:]} ({v})" for k, v in counts.items())
        n_bad = int(bad.sum())
        raise DataError(f"{n_bad} row{'s have' if n_bad > 1 else ' has'} missing values in {detail}, first data rows "
                        f"{row_numbers(frame.index, bad)}; use --na drop to omit them or fill them in")
    if bad.all():
        detail = ", ".join(f"{k[6:]} ({v})" for k, v in counts.items())
        raise DataError(f"every row misses a value the model needs ({detail}); no rows are left to fit")
    return frame.loc[~bad], (None if w is None else np.asarray(w)[~bad]), counts


def _na_weights(w, n: int) -> np.ndarray:
    # R's lm drops a row whose weight is NA; an infinite weight is still an error (check_weights)
    if w is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(w)
    if arr.ndim != 1 or len(arr) != n or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        return np.zeros(n, dtype=bool)  # check_weights refuses it with its own message
    return np.isnan(arr.astype(float))


def _drop_unused_levels(frame: pd.DataFrame) -> pd.DataFrame:
    """The categorical columns without the levels no row kept has (only they change: the others are not copied)."""
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return frame
    out = frame.copy(deep=False)
    for c in cats:
        out[c] = frame[c].cat.remove_unused_categories()
    return out
