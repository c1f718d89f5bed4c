"""The rows a model is fitted to: ``--let``, ``--where``, the prior weights and the NA policy.

Every entry point (fit, simulate, plan, effect, region, report) reads its table through one
:class:`Inputs` record and :func:`model_frame`, which derives the schema's names, defines, filters,
weighs and drops NA rows (R's ``na.omit``) keeping count of what it dropped. Every refusal is a
:class:`~powerlaw_stats.errors.PowerlawStatsError` whose message says what, where and what to do.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError, WeightsError
from ..options import NaPolicy, WeightType, check_option
from . import datasets
from .schema import with_schema_names
from .tables import read_table

# the functions a formula, --let, --where and a weights expression may call, besides the columns
FORMULA_FUNCTIONS = {
    "log": np.log, "log2": np.log2, "log10": np.log10, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs,
}

TableLike: TypeAlias = "str | Path | pd.DataFrame | None"
WeightsLike: TypeAlias = "str | Sequence[float] | np.ndarray | None"


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """What every entry point reads its rows with, checked once.

    ``data`` is a path, a frame or None (the bundled example); ``weights`` a column, an expression
    such as ``"1/trials"`` or an array; ``weight_type`` how M-estimation uses them (MASS's
    ``wt.method``); ``where`` a pandas query; ``let`` ``NAME=EXPR`` definitions in order; ``na``
    "drop" (R's na.omit) or "fail".

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

    def __post_init__(self) -> None:
        """Check the options and hold ``let`` as a tuple."""
        object.__setattr__(self, "let", tuple(self.let or ()))
        check_option(self.weight_type, WeightType, "weight type")
        check_option(self.na, NaPolicy, "na")

    def replace(self, **changes: Any) -> Inputs:
        """A copy with some fields changed (e.g. ``data`` once the table is read)."""
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------- expressions


def evaluate(expr: str, frame: pd.DataFrame, namespace: Mapping[str, object], what: str) -> Any:
    """Evaluate a Python expression over the table's columns, the formula functions and constants.

    Examples
    --------
    >>> evaluate("1/trials", pd.DataFrame({"trials": [1, 4]}), {}, "weights").tolist()
    [1.0, 0.25]
    """
    scope = {**FORMULA_FUNCTIONS, **namespace}
    for name in _names_in(expr, what):
        if name in frame.columns:
            scope[name] = frame[name].to_numpy()
        elif name not in scope:
            raise DataError(f"{what} {expr!r}: {missing_column_message(name, frame.columns)}")
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            return eval(compile(expr, f"<{what}>", "eval"), {"__builtins__": {}}, scope)  # noqa: S307
    except Exception as exc:  # the user's expression may raise anything; report it in one line
        raise DataError(f"{what} {expr!r} cannot be evaluated: {exc}") from None


def _names_in(expr: str, what: str) -> list[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise DataError(f"{what} {expr!r} is not a valid expression") from None
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})


def missing_column_message(name: str, columns: Sequence[str]) -> str:
    """'no column X' with the closest names, for every place a name can be unknown."""
    close = difflib.get_close_matches(name, [str(c) for c in columns], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; columns are {', '.join(map(str, columns))}"
    return f"no column {name!r} in the data{hint}"


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
    """Keep the rows where the pandas query ``where`` holds."""
    if not where:
        return frame
    try:
        kept = frame.query(where, local_dict=dict(namespace), global_dict=dict(FORMULA_FUNCTIONS))
    except Exception as exc:  # pandas raises many types for a bad query; all mean the same to a user
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"--where {where!r} cannot be applied: {msg}; use pandas query syntax, e.g. \"error > 0\"") from None
    if kept.empty:
        raise DataError(f"--where {where!r} keeps no rows of {len(frame)}; loosen the condition")
    return kept


# ----------------------------------------------------------------------------- weights


def check_weights(values: object, expr: str, n: int) -> np.ndarray:
    """Validate prior weights: numeric, finite, non-negative, not all zero."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise WeightsError(f"weights {expr!r} are not numeric (dtype {arr.dtype}); give a numeric column or expression")
    arr = arr.astype(float)
    if len(arr) != n:
        raise WeightsError(f"weights {expr!r} give {len(arr)} values for {n} rows")
    checks = [
        (~np.isfinite(arr), "are NaN or infinite"),
        (arr < 0, "are negative"),
    ]
    for bad, what in checks:
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise WeightsError(f"weights {expr!r}: {int(bad.sum())} values {what} (rows {rows}); weights must be finite and >= 0")
    if not (arr > 0).any():
        raise WeightsError(f"weights {expr!r} are all zero; at least some rows need positive weight")
    return arr


# ----------------------------------------------------------------------------- model frame


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFrame:
    """The rows a model is fitted to, with everything needed to evaluate its formula."""

    frame: pd.DataFrame
    namespace: dict
    weights: np.ndarray | None
    weights_expr: str | None
    weight_type: WeightType = "inv.var"
    dropped: dict[str, int] = field(default_factory=dict)
    source_rows: int = 0

    @property
    def dropped_rows(self) -> int:
        """How many rows of the table were left out, for any reason."""
        return sum(self.dropped.values())


def load(data: TableLike) -> pd.DataFrame:
    """A DataFrame as given, a table read from a path, or the bundled example for ``None``."""
    if data is None:
        return datasets.load_example()
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("the data frame has no rows")
        return data
    return read_table(data)


def model_frame(inputs: Inputs, variables: Sequence[str], extra_columns: Sequence[str] = ()) -> ModelFrame:
    """Read, derive, define, filter, weigh and drop NA rows, keeping count of what was dropped.

    ``variables`` are the names the formula reads; ``extra_columns`` others that must be present
    and complete (a cluster column, say).
    """
    raw = load(inputs.data)
    frame, namespace = with_schema_names(raw.reset_index(drop=True))
    frame, namespace = apply_lets(frame, list(inputs.let), namespace)
    kept = apply_where(frame, inputs.where, namespace)
    dropped = {"excluded by --where": len(frame) - len(kept)} if len(kept) < len(frame) else {}
    _check_names(variables, kept, namespace, extra_columns)
    weights = inputs.weights
    w = _weights(weights, kept, namespace)
    used = [v for v in variables if v in kept.columns] + list(extra_columns)
    kept, w, na_dropped = _drop_na(kept, used, w, inputs.na)
    dropped.update(na_dropped)
    if w is not None:
        w = check_weights(w, weights if isinstance(weights, str) else "given", len(kept))
    kept = kept.apply(_drop_unused_levels)
    return ModelFrame(frame=kept, namespace=namespace, weights=w, weights_expr=weights if isinstance(weights, str) else None,
                      weight_type=inputs.weight_type, dropped=dropped, source_rows=len(raw))


def _check_names(variables, frame, namespace, extra_columns) -> None:
    for name in list(variables) + list(extra_columns):
        if name not in frame.columns and name not in namespace:
            raise DataError(missing_column_message(name, frame.columns))


def _weights(weights, frame, namespace) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        values = frame[weights].to_numpy() if weights in frame.columns else evaluate(weights, frame, namespace, "weights")
    else:
        values = weights
    arr = np.asarray(values)
    return np.full(len(frame), arr) if arr.ndim == 0 else arr  # judged once NA rows are gone


def _drop_na(frame, used, w, na) -> tuple[pd.DataFrame, np.ndarray | None, dict[str, int]]:
    missing = frame[used].isna()
    bad = missing.any(axis=1).to_numpy()
    if not bad.any():
        return frame, w, {}
    counts = {f"NA in {c}": int(missing[c].sum()) for c in used if missing[c].any()}
    if na == "fail":
        rows = np.flatnonzero(bad)[:5].tolist()
        detail = ", ".join(f"{k[6:]} ({v})" for k, v in counts.items())
        raise DataError(f"{int(bad.sum())} rows have missing values in {detail}, first rows {rows}; "
                        "use --na drop to omit them or fill them in")
    return frame.loc[~bad], (None if w is None else w[~bad]), counts


def _drop_unused_levels(col: pd.Series) -> pd.Series:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.remove_unused_categories()
    return col
