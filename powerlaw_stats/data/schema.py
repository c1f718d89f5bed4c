"""The learning-curve schema's derived names and its trial rule (docs/schema.md).

A table in the schema (``train_size``, ``error``, ``mixup``, ``train_set``, ``eval_set``,
``n_splits``, ``trials``, ...) gets the names the seed study's formulas use (``TS``, ``log_err``,
``mix``, ``CinicTr``, ``CinicEv``, ``w``, ``IXMin``, ...) without any flag. The trial rule is how
the schema lays out runs: a configuration trained on 1/n of the pool has n parts; with at least K
trials per size it gets ``max(n, K)`` runs, and run t trains on part ``t mod n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError

# the schema's columns that say how a configuration's runs are laid out
TRIAL_COLUMNS: tuple[str, ...] = ("train_size", "n_splits", "trials")
# the schema's columns that say which experiment a row belongs to (not which run of it)
CONFIG_COLUMNS: tuple[str, ...] = (
    "train_set", "eval_set", "train_size", "n_splits", "width", "params", "mixup", "mixup_alpha", "epochs", "loss_name",
)
PER_RUN_COLUMNS: frozenset[str] = frozenset({"run_id", "split", "trial", "trials", "seed", "error", "loss", "split_id"})
# raw schema column -> the derived factor the schema gives it (see SCHEMA_COLUMNS)
SCHEMA_FACTORS: dict[str, str] = {"mixup": "mix", "train_set": "TrainSet", "eval_set": "EvalSet"}


def _factor01(values: pd.Series) -> pd.Categorical:
    """A 0/1 column as a factor with levels 0 and 1; a missing value stays missing (R's na.omit drops its row)."""
    if pd.api.types.is_bool_dtype(values) or (pd.api.types.is_integer_dtype(values) and values.isin([0, 1]).all()):
        return pd.Categorical(values.astype(int), categories=[0, 1])
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna().to_numpy() & ~numeric.isin([0, 1]).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"column {values.name!r}, row {row + 1}: {values.iloc[row]!r} is not 0 or 1 (the schema's "
                        f"{values.name} is 0 for off, 1 for on); fix the value, or rename the column if it is not the schema's")
    codes = numeric.fillna(-1).to_numpy(dtype=int)  # -1: missing
    return pd.Categorical.from_codes(codes, categories=[0, 1])


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
    "split_id": (("train_set", "n_splits", "split"), lambda d: split_ids(d)),
}
SCHEMA_SCALARS: dict[str, tuple[str, str]] = {"IXMin": ("TS", "train_size"), "IPMin": ("param", "params")}


def _derive(frame: pd.DataFrame, name: str, needs: tuple[str, ...], make: Callable[[pd.DataFrame], object]) -> object:
    """One derived column; a schema column whose values cannot make it is refused in one line, naming it."""
    try:
        return make(frame)
    except (TypeError, ValueError) as exc:  # e.g. text in `trials`: 1 / "three"
        cols = ", ".join(repr(c) for c in needs)
        raise DataError(f"the schema's {name!r} cannot be derived from column {cols}: {exc}; fix the column, or rename "
                        "it if it is not the schema's") from None


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
        name: _derive(frame, name, needs, make)
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


def split_ids(frame: pd.DataFrame) -> pd.Series:
    """The images a run trained on: training set, n_splits and split joined (the schema's ``split_id``).

    Runs with the same ``split_id`` share their training images: mixup on and off, both widths,
    and the repeated initialisations that reuse a part.

    Examples
    --------
    >>> split_ids(pd.DataFrame({"train_set": ["a", "a"], "n_splits": [2, 2], "split": [0, 1]})).tolist()
    ['a:2:0', 'a:2:1']
    """
    parts = [frame[c].astype(str) for c in ("train_set", "n_splits", "split")]
    return parts[0] + ":" + parts[1] + ":" + parts[2]


def with_split_id(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the schema's ``split_id`` when it lacks one and has the columns to derive it."""
    needs = SCHEMA_COLUMNS["split_id"][0]
    if "split_id" in frame.columns or not all(c in frame.columns for c in needs):
        return frame
    return frame.assign(split_id=split_ids(frame))


# ----------------------------------------------------------------------------- the trial rule


def runs_per_size(n_splits: Any, min_trials: int) -> Any:
    """Runs of a configuration with ``n_splits`` parts when every size gets at least ``min_trials``.

    Works on one count or a column of them.

    Examples
    --------
    >>> int(runs_per_size(8, 4)), int(runs_per_size(1, 4)), runs_per_size(pd.Series([1, 8]), 4).tolist()
    (8, 4, [4, 8])
    """
    return np.maximum(n_splits, min_trials)


def split_of(trial: np.ndarray | int, n_splits: int) -> np.ndarray | int:
    """The part of the pool run ``trial`` trains on: parts are reused in turn.

    Examples
    --------
    >>> split_of(np.arange(5), 2).tolist()
    [0, 1, 0, 1, 0]
    """
    return trial % n_splits


def configuration_columns(frame: pd.DataFrame, variables: Sequence[str]) -> list[str]:
    """Columns that identify an experiment configuration: the schema's plus raw columns among ``variables``.

    Pass the formula's regressors, never its response: a response column varies from run to run, so
    keying on it would make every run a configuration of its own.
    """
    cols = [c for c in CONFIG_COLUMNS if c in frame.columns]
    cols += [v for v in variables if v in frame.columns and v not in cols and v not in PER_RUN_COLUMNS]
    return cols
