"""Is a grid's step budget long enough? Rerun both ends of the curve with more steps and compare.

The learning curve is fitted as log error against log training size. A budget that is short at the
large end (30 passes over 50,000 images may not train to convergence, least of all with mixup)
inflates the errors of the large parts, flattens the curve and biases the slope and the mixup x
slope term. ``powerlaw-train budget-check`` reruns the runs at the largest and the smallest part of
a grid (the first ``max_trials`` trials of each training set, width and mixup) with ``factor`` times
the steps (``epochs`` and ``min_steps`` both multiplied) and compares, per (training set, width,
mixup, size, evaluation set):

- ``change``: the mean over trials of the paired change in error, the longer run minus the same run
  (same seed, same part) at the grid's budget;
- ``spread``: the standard deviation of the trials' errors at the grid's budget (n - 1 in the
  denominator; undefined with one trial).

A cell whose ``|change|`` exceeds its ``spread`` has moved by more than the trial-to-trial noise:
there the grid's budget is short (or, with a positive change, long enough to overfit), and its
errors measure the schedule as much as the data.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from trainers.config import RunConfig
from trainers.errors import ResultsError

Key = tuple[str, str]  # (run_id, eval_set)


@dataclass(frozen=True, kw_only=True)
class BudgetCell:
    """One (training set, width, mixup, size, evaluation set) cell of a budget check."""

    train_set: str
    width: int
    mixup: bool
    train_size: int
    eval_set: str
    trials: int
    steps: int
    steps_longer: int
    error: float
    error_longer: float
    change: float
    spread: float

    @property
    def moved(self) -> bool:
        """Whether the error moved by more than the spread between trials (never, without a spread)."""
        return not math.isnan(self.spread) and abs(self.change) > self.spread

    @property
    def verdict(self) -> str:
        """``moved``, ``within spread`` or ``no spread (1 trial)``."""
        if math.isnan(self.spread):
            return "no spread (1 trial)"
        return "moved" if self.moved else "within spread"


def budget_runs(runs: Sequence[RunConfig], factor: float = 2.0, max_trials: int = 4) -> tuple[list[RunConfig], list[RunConfig]]:
    """Select the runs to compare: a grid's runs at its largest and smallest part, and their longer twins.

    Parameters
    ----------
    runs : sequence of RunConfig
        The grid's runs (:func:`trainers.grid.expand`).
    factor : float
        How many times the steps the longer runs get (``epochs`` and ``min_steps`` multiplied).
    max_trials : int
        Use the first ``max_trials`` trials of each training set, width, mixup and size.

    Returns
    -------
    tuple of list of RunConfig
        The grid's runs and their longer twins, in the same order.

    Examples
    --------
    >>> from trainers.config import RunConfig
    >>> runs = [RunConfig("c", ("c",), n, t % n, t, max(n, 2), 16, False, epochs=30, min_steps=400)
    ...         for n in (1, 2, 4) for t in range(max(n, 2))]
    >>> base, longer = budget_runs(runs, factor=2, max_trials=2)
    >>> [(r.n_splits, r.trial) for r in base], {(r.epochs, r.min_steps) for r in longer}
    ([(1, 0), (1, 1), (4, 0), (4, 1)], {(60.0, 800)})
    """
    if factor <= 1:
        raise ValueError(f"factor must be above 1, got {factor}")
    sizes = {r.n_splits for r in runs}
    ends = {min(sizes), max(sizes)}
    base = [r for r in runs if r.n_splits in ends and r.trial < max_trials]
    longer = [r.replace(epochs=r.epochs * factor, min_steps=math.ceil(r.min_steps * factor)) for r in base]
    return base, longer


def read_rows(path: str | Path) -> dict[Key, dict[str, str]]:
    """Read a learning-curve table's rows by ``(run_id, eval_set)``; a missing file is an error.

    Examples
    --------
    >>> read_rows("/no/such/table.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    trainers.errors.ResultsError: results file not found: /no/such/table.csv
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"results file not found: {path}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"run_id", "eval_set", "error"} <= set(reader.fieldnames):
            raise ResultsError(f"{path} is not a learning-curve table (no run_id/eval_set/error columns)")
        return {(r["run_id"], r["eval_set"]): r for r in reader}


def compare(rows: Mapping[Key, Mapping[str, object]], base: Sequence[RunConfig], longer: Sequence[RunConfig]) -> list[BudgetCell]:
    """Pair every run with its longer twin and summarise each cell (see the module docstring).

    Parameters
    ----------
    rows : mapping
        Rows by ``(run_id, eval_set)`` holding at least ``error``, ``train_size`` and ``steps``.
    base, longer : sequence of RunConfig
        From :func:`budget_runs`.

    Returns
    -------
    list of BudgetCell
        One per cell, in the order of ``base``.
    """
    cells: dict[tuple, list[tuple[Mapping, Mapping]]] = {}
    for run, twin in zip(base, longer, strict=True):
        for ev in run.eval_sets:
            pair = (rows.get((run.run_id, ev)), rows.get((twin.run_id, ev)))
            if None in pair:
                raise ResultsError(f"no row for run {run.run_id if pair[0] is None else twin.run_id} on {ev}; "
                                   f"rerun budget-check to train it")
            cells.setdefault((run.train_set, run.width, run.mixup, run.n_splits, ev), []).append(pair)
    return [_cell(key, pairs) for key, pairs in cells.items()]


def _cell(key: tuple, pairs: list[tuple[Mapping, Mapping]]) -> BudgetCell:
    train_set, width, mixup, _, eval_set = key
    short = [float(a["error"]) for a, _ in pairs]
    long = [float(b["error"]) for _, b in pairs]
    first, twin = pairs[0]
    return BudgetCell(
        train_set=train_set, width=width, mixup=mixup, train_size=int(first["train_size"]), eval_set=eval_set,
        trials=len(pairs), steps=int(first["steps"]), steps_longer=int(twin["steps"]),
        error=statistics.fmean(short), error_longer=statistics.fmean(long),
        change=statistics.fmean(b - a for a, b in zip(short, long, strict=True)),
        spread=statistics.stdev(short) if len(short) > 1 else math.nan,
    )


def summary(cells: Sequence[BudgetCell]) -> str:
    """One sentence: whether any cell moved by more than the spread between its trials.

    Examples
    --------
    >>> c = BudgetCell(train_set="c", width=16, mixup=True, train_size=50000, eval_set="c", trials=4, steps=10,
    ...                steps_longer=20, error=0.2, error_longer=0.15, change=-0.05, spread=0.01)
    >>> summary([c])  # doctest: +ELLIPSIS
    'the budget looks short: 1 of 1 cells moved ... (largest: c, width 16, mixup, 50000 images, on c: -0.0500 vs 0.0100)'
    """
    moved = [c for c in cells if c.moved]
    if not moved:
        return f"the budget looks long enough: none of {len(cells)} cells moved by more than the spread between trials"
    worst = max(moved, key=lambda c: abs(c.change) / c.spread)
    return (f"the budget looks short: {len(moved)} of {len(cells)} cells moved by more than the spread between trials "
            f"(largest: {worst.train_set}, width {worst.width}, {'mixup' if worst.mixup else 'no mixup'}, "
            f"{worst.train_size} images, on {worst.eval_set}: {worst.change:+.4f} vs {worst.spread:.4f})")
