"""From a table on disk to the rows and names a formula is evaluated on.

Reading (CSV, TSV, Parquet), the schema's derived names (TS, log_err, mix, …), ``--let`` and
``--where``, the weights expression, and R's ``na.omit`` with its bookkeeping. Every refusal is a
:class:`~powerlaw_stats.errors.PowerlawStatsError` whose message says what, where and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError, WeightsError
from ..formula import FORMULA_FUNCTIONS

NaPolicy = Literal["drop", "fail"]

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


# ----------------------------------------------------------------------------- schema names


def _factor01(values: pd.Series) -> pd.Categorical:
    return pd.Categorical(values.astype(int), categories=[0, 1])


def _log2_error(d):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log2(d["error"].astype(float))


# name: (columns it needs, how to compute it). A column of that name in the data wins.
SCHEMA_COLUMNS: dict[str, tuple[tuple[str, ...], Callable[[pd.DataFrame], object]]] = {
    "TS": (("train_size",), lambda d: d["train_size"]),
    "log_err": (("error",), _log2_error),
    "mix": (("mixup",), lambda d: _factor01(d["mixup"])),
    "CinicTr": (("train_set",), lambda d: _factor01(d["train_set"] == "cinic10")),
    "CinicEv": (("eval_set",), lambda d: _factor01(d["eval_set"] == "cinic10")),
    "TrainSet": (("train_set",), lambda d: pd.Categorical(d["train_set"].astype(str))),
    "EvalSet": (("eval_set",), lambda d: pd.Categorical(d["eval_set"].astype(str))),
    "param": (("params",), lambda d: d["params"]),
    "w": (("trials",), lambda d: 1.0 / d["trials"]),
}
SCHEMA_SCALARS: dict[str, tuple[str, str]] = {"IXMin": ("TS", "train_size"), "IPMin": ("param", "params")}


def with_schema_names(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Add the schema's derived columns the data lacks; return them with the derived scalars.

    Examples
    --------
    >>> d = pd.DataFrame({"train_size": [100, 200], "error": [0.5, 0.25]})
    >>> out, scalars = with_schema_names(d)
    >>> out["log_err"].tolist(), scalars["IXMin"]
    ([-1.0, -2.0], 6.643856189774724)
    """
    added = {
        name: make(frame)
        for name, (needs, make) in SCHEMA_COLUMNS.items()
        if name not in frame.columns and all(c in frame.columns for c in needs)
    }
    out = frame.assign(**added) if added else frame
    scalars = {}
    for name, (derived, source) in SCHEMA_SCALARS.items():
        col = derived if derived in out.columns else source
        if name not in out.columns and col in out.columns and pd.api.types.is_numeric_dtype(out[col]):
            smallest = out[col].min()  # NA when the column is empty, as LCDB's params are
            if not pd.isna(smallest):
                with np.errstate(divide="ignore", invalid="ignore"):
                    scalars[name] = float(np.log2(smallest))
    return out, scalars


# ----------------------------------------------------------------------------- expressions


def evaluate(expr: str, frame: pd.DataFrame, namespace: Mapping[str, object], what: str) -> object:
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
    import ast

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


@dataclass(frozen=True)
class ModelFrame:
    """The rows a model is fitted to, with everything needed to evaluate its formula."""

    frame: pd.DataFrame
    namespace: dict
    weights: np.ndarray | None
    weights_expr: str | None
    dropped: dict[str, int] = field(default_factory=dict)
    source_rows: int = 0

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped.values())


def load(data: str | Path | pd.DataFrame | None) -> pd.DataFrame:
    """A DataFrame as given, a table read from a path, or the bundled example for ``None``."""
    if data is None:
        from .datasets import load_example

        return load_example()
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("the data frame has no rows")
        return data
    return read_table(data)


def model_frame(
    data: str | Path | pd.DataFrame | None,
    variables: Sequence[str],
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    where: str | None = None,
    let: Sequence[str] = (),
    na: NaPolicy = "drop",
    extra_columns: Sequence[str] = (),
) -> ModelFrame:
    """Read, derive, define, filter, weigh and drop NA rows, keeping count of what was dropped.

    ``variables`` are the names the formula reads; ``extra_columns`` others that must be present
    and complete (a cluster column, say).
    """
    if na not in ("drop", "fail"):
        raise OptionError(f"na must be 'drop' or 'fail', got {na!r}")
    raw = load(data)
    frame, namespace = with_schema_names(raw.reset_index(drop=True))
    frame, namespace = apply_lets(frame, list(let), namespace)
    kept = apply_where(frame, where, namespace)
    dropped = {"excluded by --where": len(frame) - len(kept)} if len(kept) < len(frame) else {}
    _check_names(variables, kept, namespace, extra_columns)
    w = _weights(weights, kept, namespace)
    used = [v for v in variables if v in kept.columns] + list(extra_columns)
    kept, w, na_dropped = _drop_na(kept, used, w, na)
    dropped.update(na_dropped)
    if w is not None:
        w = check_weights(w, weights if isinstance(weights, str) else "given", len(kept))
    kept = kept.apply(_drop_unused_levels)
    return ModelFrame(kept, namespace, w, weights if isinstance(weights, str) else None, dropped, len(raw))


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
