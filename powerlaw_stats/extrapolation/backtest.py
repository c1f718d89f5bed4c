"""How far can a learning curve be trusted? Fit on the smallest sizes, forecast the held-out larger ones.

The protocol is LCDB's (Mohr, Viering et al. 2022): for each curve and each *cutoff* (the fraction
of its anchors, i.e. distinct sizes, that the fit may see: 5, 10, 20, 40, 80 %), every law is
fitted to the anchors seen and forecasts every larger anchor; the laws are ranked within each
(curve, cutoff) block by the squared error of their forecast at the curve's last anchor, and the
mean ranks compared with Friedman's test and Nemenyi's critical difference
(:mod:`~powerlaw_stats.extrapolation.ranking`). Beyond LCDB, each forecast carries a prediction
interval for one new run, and the backtest reports how often the held-out runs fall inside.

Each (curve, law, cutoff) is one task; its rows are appended to a results file (JSON lines) as
soon as it finishes, so a killed run restarted with the same file skips what is done and gives
every task exactly once. Tasks run in this process, in a pool of worker processes or as Ray tasks
(:mod:`~powerlaw_stats.extrapolation.backends`); the numbers do not depend on which.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError, PowerlawStatsError
from ..options import check_level, check_option
from .backends import Backend, map_tasks
from .intervals import forecast_curve
from .ranking import RankTest, friedman_nemenyi

CUTOFFS = (0.05, 0.1, 0.2, 0.4, 0.8)  # LCDB's buckets of the curve seen
DEFAULT_LAWS = ("loglinear", "saturating", "pow3", "pow4", "mmf4", "wbl4", "exp3", "vap3", "log2", "last1")
LCDB_GROUPS = ("train_set", "learner", "outer_seed", "inner_seed")
COLUMNS = ["curve", "law", "cutoff", "size", "observed", "predicted", "pi_low", "pi_high", "covered", "runs",
           "converged"]


@dataclass(frozen=True)
class Curve:
    """One learning curve: its label, every run's size and error."""

    label: str
    sizes: np.ndarray
    error: np.ndarray


@dataclass(frozen=True, kw_only=True)
class BacktestResult:
    """The backtest's predictions, scores, mean ranks, coverage and rank tests.

    ``predictions``: one row per curve, law, cutoff, held-out size; ``scores``: one row per
    (curve, law, cutoff); ``ranks`` (mean rank per law and cutoff, lower is better;
    column ``all`` over every block) and per-cutoff Friedman/Nemenyi tests in ``tests``.
    """

    predictions: pd.DataFrame
    scores: pd.DataFrame
    ranks: pd.DataFrame
    coverage: pd.DataFrame
    tests: dict[str, RankTest]
    level: float
    laws: tuple[str, ...]
    cutoffs: tuple[float, ...]
    n_curves: int


def table_curves(frame: pd.DataFrame, groups: Sequence[str], size: str = "TS", error: str = "error") -> list[Curve]:
    """One :class:`Curve` per group of a learning-curve table (rows with a positive, finite error).

    Examples
    --------
    >>> t = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "TS": [10, 20, 40] * 2, "error": [.5, .4, .3, .6, .5, .45]})
    >>> [(c.label, c.sizes.tolist()) for c in table_curves(t, ["g"])]
    [('g=a', [10.0, 20.0, 40.0]), ('g=b', [10.0, 20.0, 40.0])]
    """
    for col in (size, error, *groups):
        if col not in frame.columns:
            raise DataError(f"backtest needs column {col!r}; the table has {', '.join(map(str, frame.columns))}")
    err = pd.to_numeric(frame[error], errors="coerce").to_numpy(dtype=float)
    ts = pd.to_numeric(frame[size], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(err) & (err > 0) & np.isfinite(ts) & (ts > 0)
    kept = frame.loc[keep].assign(_ts=ts[keep], _err=err[keep])
    if not groups:
        return [Curve("all rows", kept["_ts"].to_numpy(), kept["_err"].to_numpy())]
    out = []
    for key, part in kept.groupby(list(groups), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{g}={v}" for g, v in zip(groups, key))
        out.append(Curve(label, part["_ts"].to_numpy(), part["_err"].to_numpy()))
    return out


def _split(curve: Curve, cutoff: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Anchors seen (the smallest ``ceil(cutoff·n)``, at least 2) and held out; None if none is left to hold out."""
    anchors = np.unique(curve.sizes)
    n_seen = max(2, math.ceil(cutoff * len(anchors) - 1e-9))
    if n_seen >= len(anchors):
        return None
    return anchors[:n_seen], anchors[n_seen:]


def run_task(curve: Curve, law: str, cutoff: float, level: float) -> list[dict]:
    """One law on one curve at one cutoff: a row per held-out anchor (NaN forecasts when the fit fails)."""
    split = _split(curve, cutoff)
    if split is None:
        return []
    seen, held = split
    mask = curve.sizes <= seen[-1]
    try:
        f = forecast_curve(law, curve.sizes[mask], curve.error[mask], held, level=level)
        predicted, low, high, converged = f.predicted, f.pi_low, f.pi_high, f.converged
        if not converged:  # LCDB keeps the last iterate's forecast; its covariance means nothing
            low = high = np.full(len(held), np.nan)
    except PowerlawStatsError:  # too few points for this law's parameters, a singular start, ...
        predicted = low = high = np.full(len(held), np.nan)
        converged = False
    rows = []
    for j, ts in enumerate(held):
        runs = curve.error[curve.sizes == ts]
        inside = (low[j] <= runs) & (runs <= high[j])
        rows.append({"curve": curve.label, "law": law, "cutoff": cutoff, "size": float(ts),
                     "observed": float(runs.mean()), "predicted": _num(predicted[j]), "pi_low": _num(low[j]),
                     "pi_high": _num(high[j]), "covered": float(inside.mean()) if np.isfinite(low[j]) else None,
                     "runs": int(len(runs)), "converged": bool(converged)})
    return rows


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def curve_tasks(args: tuple[Curve, Sequence[str], Sequence[float], float, set]) -> list[tuple[tuple, list[dict]]]:
    """Every (law, cutoff) task of one curve not in the set of done keys: ``[(key, rows), ...]``."""
    curve, laws, cutoffs, level, done = args
    return [((curve.label, law, cutoff), run_task(curve, law, cutoff, level))
            for law in laws for cutoff in cutoffs if (curve.label, law, cutoff) not in done]


def read_results(path: Path) -> dict[tuple, list[dict]]:
    """The tasks a results file holds (a torn last line from a killed run is ignored)."""
    done: dict[tuple, list[dict]] = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        done.setdefault((rec["curve"], rec["law"], float(rec["cutoff"])), rec["rows"])
    return done


def _append(handle, key: tuple, rows: list[dict]) -> None:
    handle.write(json.dumps({"curve": key[0], "law": key[1], "cutoff": key[2], "rows": rows}) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def run_tasks(curves: list[Curve], laws: Sequence[str], cutoffs: Sequence[float], level: float, *,
              backend: Backend = "serial", jobs: int | None = None, address: str | None = None,
              results: Path | None = None,
              progress: Callable[[int, int], None] | None = None) -> dict[tuple, list[dict]]:
    """Every (curve, law, cutoff) task not already in ``results``, appended there as each finishes."""
    done = read_results(results) if results is not None else {}
    total = len(curves) * len(laws) * len(cutoffs)
    done_of: dict[str, set] = {}
    for key in done:  # each curve's job carries its own done keys, not the whole file's
        if key[1] in laws and key[2] in cutoffs:
            done_of.setdefault(key[0], set()).add(key)
    todo = [(c, tuple(laws), tuple(cutoffs), level, done_of.get(c.label, set())) for c in curves]
    todo = [t for t in todo if len(t[4]) < len(laws) * len(cutoffs)]
    batches = map_tasks(backend, curve_tasks, todo, jobs=jobs, address=address)  # a Ray cluster is reached here
    handle = open(results, "a") if results is not None else None  # noqa: SIM115  (closed below)
    try:
        if results is not None and handle is not None and handle.tell() > 0:
            _repair_tail(results, handle)
        for batch in batches:
            for key, rows in batch:
                if key in done:
                    continue
                done[key] = rows
                if handle is not None:
                    _append(handle, key, rows)
            if progress is not None:
                progress(len(done), total)
    finally:
        if handle is not None:
            handle.close()
    return done


def _repair_tail(path: Path, handle) -> None:
    # a run killed mid-line leaves a line without its newline: end it, so the next record starts clean
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            handle.write("\n")
            handle.flush()


def summarize(done: dict[tuple, list[dict]], laws: Sequence[str], cutoffs: Sequence[float], level: float,
              n_curves: int) -> BacktestResult:
    """Predictions, per-task scores, mean ranks, Friedman/Nemenyi and interval coverage from the tasks' rows."""
    rows = [r for key in sorted(done, key=lambda k: (k[0], list(laws).index(k[1]), k[2])) for r in done[key]
            if key[1] in laws and key[2] in cutoffs]
    pred = pd.DataFrame(rows, columns=COLUMNS).astype({"predicted": float, "pi_low": float, "pi_high": float,
                                                       "covered": float})
    if pred.empty:
        raise DataError("no curve has an anchor left to hold out at these cutoffs (each needs 3 distinct sizes or more)")
    with np.errstate(divide="ignore", invalid="ignore"):
        pred_log = np.log(pred["predicted"].where(pred["predicted"] > 0))
    sq = (pred["predicted"] - pred["observed"]) ** 2
    sq_log = (pred_log - np.log(pred["observed"])) ** 2
    last = pred.groupby(["curve", "cutoff"])["size"].transform("max") == pred["size"]
    scores = (pred.assign(sq=sq, sq_log=sq_log, sq_last=sq.where(last))
              .groupby(["curve", "law", "cutoff"], sort=False)
              .agg(mse=("sq", lambda s: s.mean(skipna=False)), mse_log=("sq_log", lambda s: s.mean(skipna=False)),
                   last_sq_error=("sq_last", "max"), coverage=("covered", "mean"), held_out=("size", "size"))
              .reset_index())
    tests, ranks = {}, {}
    for cutoff in [*cutoffs, "all"]:
        part = scores if cutoff == "all" else scores[scores.cutoff == cutoff]
        wide = part.pivot_table(index=["curve", "cutoff"], columns="law", values="last_sq_error", dropna=False)
        wide = wide.reindex(columns=list(laws))
        if len(wide) == 0:
            continue
        test = friedman_nemenyi(wide)
        tests[str(cutoff)] = test
        ranks[str(cutoff)] = test.mean_ranks.reindex(list(laws))
    coverage = pred.pivot_table(index="law", columns="cutoff", values="covered", aggfunc="mean").reindex(list(laws))
    return BacktestResult(predictions=pred, scores=scores, ranks=pd.DataFrame(ranks), coverage=coverage, tests=tests,
                          level=level, laws=tuple(laws), cutoffs=tuple(cutoffs), n_curves=n_curves)


def backtest(data: str | Path | pd.DataFrame | None = None, *, laws: Sequence[str] = DEFAULT_LAWS,
             cutoffs: Sequence[float] = CUTOFFS, level: float = 0.95, groups: Sequence[str] | None = None,
             size: str = "TS", error: str = "error", backend: Backend = "serial", jobs: int | None = None,
             address: str | None = None, results: str | Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Fit each law on the smallest sizes of each curve, forecast the larger ones, rank the laws.

    Parameters
    ----------
    data : a learning-curve table (path or frame) or None for the bundled example.
    laws : names in the law registry (a law must model error or log2 error of one size input).
    cutoffs : fractions of each curve's anchors the fit sees.
    level : coverage of the prediction intervals.
    groups : columns that tell curves apart (default: those of train_set, eval_set, width, mixup,
        learner, outer_seed, inner_seed that vary).
    size, error : the size and error columns.
    backend : "serial" (this process), "processes" (``jobs`` worker processes, all cores by default)
        or "ray" (one Ray task per curve: on the cluster at ``address``, else on a local Ray of ``jobs``
        CPUs, all cores by default, started and stopped here). The numbers do not depend on it.
    address : a Ray cluster's address (``host:port``, ``ray://host:port`` or ``auto``); backend "ray" only.
    results : a JSON-lines file the tasks are appended to; rerunning with it resumes.
    progress : called with (tasks done, tasks in all) as curves finish.

    Examples
    --------
    >>> res = backtest(laws=("loglinear", "saturating", "last1"), cutoffs=(0.8,))
    >>> res.ranks.index.tolist(), res.n_curves
    (['loglinear', 'saturating', 'last1'], 16)
    """
    from ..data import datasets
    from ..data.schema import with_schema_names
    from ..data.tables import read_table
    from ..laws.registry import get_law
    from .intervals import response_scale

    level = check_level(level)
    check_option(backend, Backend, "backend")
    laws = tuple(laws)
    for name in laws:
        response_scale(get_law(name))
    cutoffs = tuple(float(c) for c in cutoffs)
    if not cutoffs or any(not 0 < c < 1 for c in cutoffs):
        raise OptionError("cutoffs are fractions of a curve's sizes, each between 0 and 1 (e.g. 0.2,0.4,0.8)")
    raw = read_table(datasets.example_path()) if data is None else (data if isinstance(data, pd.DataFrame)
                                                                    else read_table(data))
    frame, _ = with_schema_names(raw.reset_index(drop=True))
    if groups is None:
        candidates = ("train_set", "eval_set", "width", "mixup", "learner", "outer_seed", "inner_seed")
        groups = [c for c in candidates if c in frame.columns and frame[c].nunique() > 1]
    curves = table_curves(frame, list(groups), size, error)
    path = None if results is None else Path(results)
    if path is not None and not path.parent.exists():
        raise OptionError(f"results file {path}: folder {path.parent} does not exist")
    done = run_tasks(curves, laws, cutoffs, level, backend=backend, jobs=jobs, address=address, results=path,
                     progress=progress)
    return summarize(done, laws, cutoffs, level, len(curves))
