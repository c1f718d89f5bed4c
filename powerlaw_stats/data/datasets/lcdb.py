"""Learning curves from LCDB mapped onto the learning-curve schema.

LCDB is the Learning Curve Database 1.0 (Mohr, Viering, Loog, van Rijn, 2022; MIT licence).

LCDB's package ships rows ``openmlid, learner, size_train, size_test, outer_seed, inner_seed,
traintime, score_train, score_valid, score_test`` (scores are accuracies) for scikit-learn
learners on OpenML data sets. Each row is one trained model, so it becomes one schema row:
``error = 1 − score_test``; ``trials`` counts the (outer, inner) seed pairs at that learner and
size; the learner is kept as a factor column ``learner`` (short class name).

Zero errors. A learner can classify every test example correctly at large sizes, and the log of
zero is undefined. The rule, applied and reported by :func:`load_lcdb`:

- ``zero_error="floor"`` (default): replace an error of 0 by ``0.5 / size_test`` — half of one
  misclassified test example, the usual continuity correction — and mark the row in
  ``error_floored``;
- ``"drop"``: remove such rows;
- ``"keep"``: leave them, so that a fit refuses them with a message naming the rows.

The count and the rule are stored in ``frame.attrs["notes"]`` and said in a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ...errors import DataError, OptionError
from ..tables import read_table

ZeroRule = Literal["floor", "drop", "keep"]
LCDB_COLUMNS = ("openmlid", "learner", "size_train", "size_test", "outer_seed", "inner_seed", "score_test")


class LcdbZeroErrorWarning(UserWarning):
    """Some LCDB rows had zero test error and were handled by the stated rule."""


def load_lcdb(
    path_or_frame: str | Path | pd.DataFrame,
    openmlid: int | None = None,
    learners: Sequence[str] | None = None,
    zero_error: ZeroRule = "floor",
) -> pd.DataFrame:
    """LCDB rows as a learning-curve table (one row per trained model).

    Parameters
    ----------
    path_or_frame : a CSV (``.csv`` or ``.csv.gz``) of LCDB rows, or such a frame.
    openmlid : keep one OpenML data set (required when the table holds several).
    learners : keep these learners; full names (``sklearn.svm.SVC``) or short ones (``SVC``).
    zero_error : what to do with zero test errors: ``"floor"``, ``"drop"`` or ``"keep"``.

    Examples
    --------
    >>> from pathlib import Path
    >>> path = Path(__file__).parents[3] / "tests" / "data" / "lcdb_letter.csv.gz"
    >>> table = load_lcdb(path) if path.exists() else None
    >>> table is None or sorted(table.learner.unique()) == ["LogisticRegression", "MLPClassifier"]
    True
    """
    if zero_error not in ("floor", "drop", "keep"):
        raise OptionError(f"zero_error must be 'floor', 'drop' or 'keep', got {zero_error!r}")
    raw = path_or_frame if isinstance(path_or_frame, pd.DataFrame) else _read(Path(path_or_frame))
    missing = [c for c in LCDB_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"not an LCDB table: missing column(s) {', '.join(missing)}")
    rows = _select(raw, openmlid, learners)
    table = _to_schema(rows)
    return _apply_zero_rule(table, zero_error)


def _read(path: Path) -> pd.DataFrame:
    return read_table(path)


def _select(raw: pd.DataFrame, openmlid: int | None, learners: Sequence[str] | None) -> pd.DataFrame:
    ids = sorted(raw["openmlid"].unique())
    if openmlid is None and len(ids) > 1:
        raise OptionError(f"the table holds {len(ids)} OpenML data sets; choose one with openmlid= (e.g. {ids[0]})")
    rows = raw if openmlid is None else raw[raw["openmlid"] == openmlid]
    if rows.empty:
        raise DataError(f"no rows for openmlid {openmlid}; the table has {', '.join(map(str, ids[:10]))}")
    if learners:
        short = rows["learner"].str.rsplit(".", n=1).str[-1]
        keep = rows["learner"].isin(learners) | short.isin(learners)
        if not keep.any():
            raise DataError(f"none of the learners {list(learners)} is in the table; it has {sorted(short.unique())}")
        rows = rows[keep]
    return rows.reset_index(drop=True)


def _to_schema(rows: pd.DataFrame) -> pd.DataFrame:
    learner = rows["learner"].str.rsplit(".", n=1).str[-1]
    group = [learner, rows["size_train"]]
    trial = rows.groupby(group).cumcount()
    trials = rows.groupby(group)["size_train"].transform("size")
    name = f"openml{int(rows['openmlid'].iloc[0])}"
    return pd.DataFrame({
        "run_id": [f"{name}-{lr}-{s}-{o}-{i}" for lr, s, o, i in
                   zip(learner, rows["size_train"], rows["outer_seed"], rows["inner_seed"])],
        "train_set": name, "eval_set": name, "train_size": rows["size_train"].astype(int),
        "n_splits": 1, "split": 0, "trial": trial.astype(int), "trials": trials.astype(int),
        "width": pd.array([pd.NA] * len(rows), dtype="Int64"), "params": pd.array([pd.NA] * len(rows), dtype="Int64"),
        "mixup": 0, "error": 1.0 - rows["score_test"].astype(float), "learner": learner,
        "size_test": rows["size_test"].astype(int), "outer_seed": rows["outer_seed"], "inner_seed": rows["inner_seed"],
    })


def _apply_zero_rule(table: pd.DataFrame, rule: str) -> pd.DataFrame:
    zero = (table["error"] <= 0).to_numpy()
    count = int(zero.sum())
    note = _zero_note(rule, count)
    if rule == "floor":
        table = table.assign(error=np.where(zero, 0.5 / table["size_test"], table["error"]), error_floored=zero)
    elif rule == "drop":
        table = table.loc[~zero].reset_index(drop=True)
    table.attrs["notes"] = [note]
    if count:
        warnings.warn(note, LcdbZeroErrorWarning, stacklevel=3)
    return table


def _zero_note(rule: str, count: int) -> str:
    if count == 0:
        return "LCDB: no zero test errors"
    action = {
        "floor": "set to 0.5/size_test (half a misclassified test example); see column error_floored",
        "drop": "dropped",
        "keep": "kept as 0 (a fit of log error will refuse them)",
    }[rule]
    return f"LCDB: {count} rows with zero test error {action}"
