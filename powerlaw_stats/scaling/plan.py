"""The design planner: which study detects the effect with the power wanted, at the least cost?

From pilot data the planner takes the truth (the pilot's weighted least-squares coefficients, with
the effect term set to the smallest change worth detecting, ``delta``) and a residual model learned
from the pilot's residuals (:mod:`powerlaw_stats.simulation.residuals`, as :func:`powerlaw_stats.simulate`
does); the trials run on simulate's engine (:mod:`powerlaw_stats.simulation.engine`). Each candidate
design rebuilds the table in the schema's trial scheme: the pilot's configurations (training set,
evaluation set, width, mixup, …) at the sizes from ``smallest`` up, with ``max(n, K)`` runs at 1/n
of the pool (K the minimum number of trials), for the first ``n_groups`` experiment groups. Every
row's error keeps the variance of the pilot configuration it copies (the nearest pilot size for a
size the pilot lacks), exactly as :func:`powerlaw_stats.simulate` does for its rebuilt designs, so
only the estimator's rows and weights follow the design.

Power is the share of simulated studies whose ``level`` confidence interval for the effect excludes
0. Cost is the total number of training images processed (train size × epochs, summed over the
distinct training runs; an evaluation set costs nothing), or GPU-hours at ``rate`` images per second.
A candidate with a single run of a configuration at some size is flagged (:func:`size_flags`) and
never recommended: its test cannot hold its level when runs vary, which independent draws hide.

On a pilot with the schema's runs and splits the planner also simulates each candidate's size: the
same test at ``delta = 0`` with the dependence learned from the pilot (the run and split variances
of its mixed fit with ``(1|run_id) + (1|split_id)``, drawn as random intercepts per run and per
split of the candidate's rows, the residual model's draws scaled to the mixed fit's residual
variance). A candidate whose size exceeds ``1 - level`` by more than two Monte-Carlo SEs is
flagged (:func:`size_flag`) and never recommended.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datasets import EXAMPLE_EFFECT, EXAMPLE_FORMULA
from ..data.frame import Inputs, NaPolicy, WeightsLike, load, model_frame
from ..data.schema import configuration_columns, runs_per_size, split_of, with_split_id
from ..errors import DataError, OptionError, PowerlawStatsError
from ..estimation.least_squares import least_squares
from ..estimation.methods import Settings, batched, method, whiten_all
from ..formats import json_float
from ..formula import DesignMatrices, ParsedFormula, design_matrices, parse
from ..inference.tests import t_quantile
from ..options import DependenceMode, ResidualName, WeightType, check_count, check_level, check_option, check_seed
from ..simulation.designs import SimRows, noise_factor, rebuilt_rows
from ..simulation.engine import Draws, Progress, run_chunks
from ..simulation.residuals import RESIDUAL_MODELS, ResidualModel, residual_model, residual_source
from ..simulation.simulate import term_indices

DEFAULT_MIN_TRIALS: tuple[int, ...] = (1, 2, 4, 8)
# columns that change with the training size inside one configuration: a step-budget rule (the
# bundled example's) gives each size its own epochs, so keying on epochs would split every curve
SIZE_DEPENDENT: tuple[str, ...] = ("train_size", "n_splits", "epochs")
DEFAULT_GROUP_BY: tuple[str, ...] = ("train_set", "eval_set")
# A size with fewer runs than this per configuration cannot hold a test's level when runs vary: on
# null studies like the seed's (benchmarks/dependence_study.py designs, 1,000 each) one run at the
# full pool made bisquare with weights w reject 24-29 % at 5 %, and CR1 by run 12 %, with or without
# run effects (2 runs: 9-15 %; 4 runs: 5-10 %). plan's simulation draws rows independently, so it
# cannot see this; such candidates are flagged and never recommended (docs/inference.md).
MIN_RUNS_PER_SIZE = 2
CANDIDATE = "__plan_candidate__"  # marks the candidate's rows in the frame built with the pilot


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Design:
    """A candidate study: smallest size, minimum (and maximum) runs per size, number of groups (None: the pilot's)."""

    smallest: float | None = None
    min_trials: int | None = None
    n_groups: int | None = None
    max_trials: int | None = None  # a cap: fewer runs than parts at the smallest sizes

    @property
    def observed(self) -> bool:
        """Whether this is the pilot's own design."""
        return self.smallest is None and self.min_trials is None and self.n_groups is None and self.max_trials is None

    @property
    def runs_label(self) -> str:
        """The runs per size in words."""
        if self.min_trials is None:
            return "pilot runs/size" if self.max_trials is None else f"pilot runs/size, at most {self.max_trials}"
        if self.max_trials is None:
            return f"min {self.min_trials} runs/size"
        if self.max_trials == self.min_trials:
            return f"{self.min_trials} runs/size"
        return f"{self.min_trials}-{self.max_trials} runs/size"

    @property
    def label(self) -> str:
        """The candidate in words."""
        if self.observed:
            return "pilot design"
        parts = [f"sizes from {self.smallest:g}" if self.smallest is not None else "pilot sizes",
                 self.runs_label]
        parts += [f"{self.n_groups} groups"] if self.n_groups is not None else []
        return ", ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class DesignPower:
    """One candidate's simulated power and its cost.

    ``power_se`` is the Monte-Carlo standard error of ``power``; ``mean_se`` and ``sd_estimate`` the
    mean estimated SE of the effect and the SD of its estimates; ``images`` the training images
    processed (size × epochs over runs); ``gpu_hours`` that at the plan's rate (None without one).
    """

    design: Design
    sizes: tuple[float, ...]
    n_groups: int
    rows: int
    runs: int
    images: float
    gpu_hours: float | None
    power: float
    power_se: float
    mean_estimate: float
    mean_se: float
    sd_estimate: float
    failures: int
    reaches: bool
    flags: tuple[str, ...] = ()  # why the level of the test cannot be trusted on this design (never recommended)
    size: float | None = None  # the test's rejection rate at delta = 0 with the pilot's run and split variances
    size_se: float | None = None  # its Monte-Carlo SE at the nominal level

    @property
    def cost(self) -> float:
        """Training images, or GPU-hours when the plan has a rate."""
        return self.images if self.gpu_hours is None else self.gpu_hours

    def to_dict(self) -> dict:
        """The candidate as ``plan --format json`` lists it."""
        d = self.design
        return {"design": d.label, "smallest": d.smallest, "min_trials": d.min_trials,
                "max_trials": d.max_trials, "n_groups": self.n_groups,
                "sizes": list(self.sizes), "rows": self.rows, "runs": self.runs, "images": self.images,
                "gpu_hours": self.gpu_hours, "power": self.power, "power_se": self.power_se,
                "mean_estimate": json_float(self.mean_estimate), "mean_se": json_float(self.mean_se),
                "sd_estimate": json_float(self.sd_estimate), "failures": self.failures, "reaches_power": self.reaches,
                "flags": list(self.flags), "size": self.size, "size_se": self.size_se}


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanResult:
    """Every candidate's power and cost, and the cheapest unflagged one reaching the power wanted (or None)."""

    designs: tuple[DesignPower, ...]
    recommended: DesignPower | None
    formula: str
    effect: str
    delta: float
    pilot_estimate: float
    power_wanted: float
    level: float
    estimator: str
    residuals: str
    residuals_description: str
    n_trials: int
    seed: int
    rate: float | None

    @property
    def cost_unit(self) -> str:
        """What the costs count."""
        return "training images" if self.rate is None else "GPU-hours"

    def table(self) -> pd.DataFrame:
        """One row per candidate, cheapest first."""
        rows = [p.to_dict() for p in self.designs]
        return pd.DataFrame(rows).sort_values(["gpu_hours" if self.rate else "images", "power"],
                                              ascending=[True, False], kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict:
        """The JSON of ``powerlaw-stats plan --format json``."""
        return {"formula": self.formula, "effect": self.effect, "delta": self.delta, "pilot_estimate": self.pilot_estimate,
                "power_wanted": self.power_wanted, "level": self.level, "estimator": self.estimator,
                "residuals": self.residuals, "n_trials": self.n_trials, "seed": self.seed, "rate": self.rate,
                "cost_unit": self.cost_unit,
                "recommended": None if self.recommended is None else self.recommended.to_dict(),
                "designs": [p.to_dict() for p in self.designs]}


# ----------------------------------------------------------------------------- the pilot


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pilot:
    """The pilot's rows, design, truth, residual model and what candidates need from it."""

    raw: pd.DataFrame  # the rows the pilot fit used, as read
    design: DesignMatrices
    weights: np.ndarray | None
    beta: np.ndarray
    effect_index: int
    estimate: float  # the effect's weighted least-squares estimate on the pilot
    model: ResidualModel
    namespace_lets: tuple[str, ...]
    config: list[str]
    group_by: list[str]
    dependence: _Learned | None = None  # the pilot's run and split variances, when it has runs and splits


@dataclass(frozen=True, slots=True)
class _Learned:
    """Standard deviations of the run and split intercepts, and the factor scaling the residual model's draws."""

    run_sd: float
    split_sd: float
    row_scale: float  # sqrt(mixed residual variance / least squares' residual variance): the rest is runs and splits


def _pilot(raw: pd.DataFrame, inputs: Inputs, parsed: ParsedFormula, effect: str, delta: float, residuals: str,
           group_by, dependence: str = "none") -> _Pilot:
    mf = model_frame(inputs, parsed.variables)
    design = design_matrices(parsed, mf)
    wh = whiten_all(design.x, mf.weights)
    ols = least_squares(wh.xw, wh.response(design.y))
    if not ols.kept.all():
        aliased = [n for n, k in zip(design.column_names, ols.kept) if not k]
        raise DataError(f"the pilot's design is singular ({', '.join(aliased)} aliased); remove those terms")
    j = term_indices(design.column_names, effect)[0]
    beta = ols.coef.copy()
    source = residual_source(design.x, design.y, wh.root, ols.coef)  # as simulate learns it
    beta[j] = float(delta)
    pins = tuple(f"{k}={float(v)!r}" for k, v in mf.namespace.items() if k in ("IXMin", "IPMin"))
    used = raw.loc[mf.frame.index]
    config = [c for c in configuration_columns(used, parsed.regressors) if c not in SIZE_DEPENDENT]
    groups = [g for g in group_by if g in used.columns]
    s2 = float(ols.resid @ ols.resid) / max(int(np.count_nonzero(wh.root)) - int(ols.kept.sum()), 1)
    return _Pilot(raw=used, design=design, weights=mf.weights, beta=beta, effect_index=j, estimate=float(ols.coef[j]),
                  model=residual_model(residuals, source), namespace_lets=pins, config=config, group_by=groups,
                  dependence=_learn_dependence(parsed, raw, inputs, s2) if dependence == "auto" else None)


def _dependence_mode(dependence, raw: pd.DataFrame) -> str:
    """``auto`` or ``none``: None means auto where the pilot has runs and splits; an explicit auto insists."""
    from .effect import has_runs

    if dependence is None:
        return "auto" if has_runs(raw) else "none"
    mode = check_option(dependence, DependenceMode, "dependence")
    if mode == "auto" and not has_runs(raw):
        raise OptionError("dependence 'auto' needs the schema's run_id and train_set, n_splits, split (or split_id) columns")
    return mode


def _learn_dependence(parsed: ParsedFormula, raw: pd.DataFrame, inputs: Inputs, s2: float) -> _Learned | None:
    """The pilot's mixed fit with ``(1|run_id) + (1|split_id)``: its variances; None without runs and splits."""
    from ..mixed import variance_components  # only for a pilot with runs; its variances, not its tests
    from .effect import RUN_BARS, SPLIT_BAR

    try:
        vc = variance_components(parsed.text + RUN_BARS + SPLIT_BAR, raw, weights=inputs.weights, where=inputs.where,
                                 let=inputs.let, na=inputs.na)
    except PowerlawStatsError:  # e.g. one row per run: nothing to learn a run variance from
        return None
    return _Learned(run_sd=float(np.sqrt(vc["run_id"])), split_sd=float(np.sqrt(vc["split_id"])),
                    row_scale=float(np.sqrt(min(vc["Residual"] / s2, 1.0))) if s2 > 0 else 1.0)


# ----------------------------------------------------------------------------- candidate tables


def candidate_table(pilot: pd.DataFrame, design: Design, config: Sequence[str], group_by: Sequence[str]) -> pd.DataFrame:
    """The pilot's configurations rebuilt under ``design``; column ``__template__`` is the pilot row copied.

    Sizes: the pilot's sizes of each configuration from ``smallest`` up, extended by halving below
    the pilot's smallest; ``n_splits`` = pool / size; ``trials`` = max(n_splits, min_trials) (the
    pilot's count at a pilot size when ``min_trials`` is None), at most ``max_trials`` when given.

    Examples
    --------
    >>> p = pd.DataFrame({"train_set": "a", "train_size": [400, 200, 200], "n_splits": [1, 2, 2], "trials": [1, 2, 2],
    ...                   "error": [0.1, 0.2, 0.2]})
    >>> t = candidate_table(p, Design(100, 3), ["train_set"], [])
    >>> t[["train_size", "n_splits", "trials"]].drop_duplicates().values.tolist()
    [[100, 4, 4], [200, 2, 3], [400, 1, 3]]
    """
    for col in ("train_size", "n_splits", "trials"):
        if col not in pilot.columns:
            raise DataError(f"planning rebuilds the schema's trials, but the pilot lacks column {col!r}")
    rows = pilot.assign(__template__=np.arange(len(pilot)))
    rows = _first_groups(rows, group_by, design.n_groups)
    cells = (rows.groupby(list(config), sort=False, dropna=False).ngroup().to_numpy() if config
             else np.zeros(len(rows), dtype=np.int64))
    columns = _CellColumns.of(rows)
    # each configuration's picks, then the whole table in one pick: a DataFrame pick or column costs
    # milliseconds whatever its size, and a plan builds a table for every candidate
    picks = [_config_rows(columns.take(at), at, design) for at in _cell_positions(cells)]
    out = rows.iloc[np.concatenate([p.rows for p in picks])].reset_index(drop=True)
    for name in ("trial", "split", "train_size", "n_splits", "trials"):
        out[name] = np.concatenate([getattr(p, name) for p in picks])
    out = out.drop(columns=["run_id"], errors="ignore")  # new runs, no ids yet
    if "w" in pilot.columns and np.allclose(pilot["w"].to_numpy(float), 1.0 / pilot["trials"].to_numpy(float)):
        out["w"] = 1.0 / out["trials"]  # a stored schema weight follows the new trial counts
    return out


def _cell_positions(cells: np.ndarray) -> list[np.ndarray]:
    """The rows of each configuration (numbered in order of appearance), in table order."""
    order = np.argsort(cells, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(cells[order])) + 1)


def _first_groups(rows: pd.DataFrame, group_by: Sequence[str], n: int | None) -> pd.DataFrame:
    if n is None:
        return rows
    if not group_by:
        raise OptionError("n_groups needs group columns: none of the group_by columns is in the pilot; name them")
    keys = _joined(rows, group_by, "\x1f")
    order = list(dict.fromkeys(keys))
    if n < 1 or n > len(order):
        raise OptionError(f"n_groups {n} is outside 1..{len(order)} (the pilot's groups by {', '.join(group_by)})")
    return rows[keys.isin(order[:n]).to_numpy()]


@dataclass(frozen=True, slots=True)
class _Rebuilt:
    """One configuration's rebuilt rows: the table's rows they copy, and their new trial, split, size and counts."""

    rows: np.ndarray
    trial: np.ndarray
    split: np.ndarray
    train_size: np.ndarray
    n_splits: np.ndarray
    trials: np.ndarray


def _config_rows(cell: _CellColumns, at: np.ndarray, design: Design) -> _Rebuilt:
    """The configuration whose rows are ``at`` (its columns ``cell``), rebuilt under ``design``."""
    pool = float(np.nanmax(cell.train_size * cell.n_splits))  # as pandas takes it: missing values skipped
    sizes = np.sort(np.unique(cell.train_size).astype(float))
    smallest = sizes[0] if design.smallest is None else float(design.smallest)
    new = sizes[0] / 2.0 ** np.arange(1, 64)
    keep = np.concatenate([new[new >= smallest * (1 - 1e-9)][::-1], sizes[sizes >= smallest * (1 - 1e-9)]])
    if keep.size == 0:
        raise OptionError(f"smallest size {smallest:g} is above every pilot size of a configuration (largest {sizes[-1]:g})")
    picks = [_size_picks(cell, s, pool, design) for s in keep]
    counts = [len(p.rows) for p in picks]
    sizes_out = [p.size for p in picks]
    dtype = cell.train_size.dtype if all(isinstance(v, np.ndarray) for v in sizes_out) else np.dtype(float)
    return _Rebuilt(rows=at[np.concatenate([p.rows for p in picks])], trial=np.concatenate([p.trial for p in picks]),
                    split=np.concatenate([p.split for p in picks]),
                    train_size=np.repeat(np.array([float(v) for v in sizes_out]).astype(dtype), counts),
                    n_splits=np.repeat([p.n_splits for p in picks], counts),
                    trials=np.repeat([p.trials for p in picks], counts))


@dataclass(frozen=True, slots=True)
class _SizePicks:
    """One size's rebuilt runs: rows of the configuration's cell, their trial and split, and the size's counts."""

    rows: np.ndarray
    trial: np.ndarray
    split: np.ndarray
    size: np.ndarray | float  # an array of the pilot's size dtype when the size is a whole number
    n_splits: int
    trials: int


@dataclass(frozen=True, slots=True)
class _CellColumns:
    """The columns of a configuration's cell that every size reads, taken out of the frame once."""

    logs: np.ndarray
    train_size: np.ndarray
    n_splits: np.ndarray
    trials: np.ndarray
    trial: np.ndarray | None  # the trial column's values, None without the column
    trial_codes: np.ndarray | None  # trial values as codes in sorted order (-1: missing), None without the column

    @classmethod
    def of(cls, table: pd.DataFrame) -> _CellColumns:
        """The columns of ``table``; :meth:`take` gives a configuration's."""
        trial = table["trial"].to_numpy() if "trial" in table.columns else None
        return cls(logs=np.log2(table["train_size"].to_numpy(float)), train_size=table["train_size"].to_numpy(),
                   n_splits=table["n_splits"].to_numpy(), trials=table["trials"].to_numpy(), trial=trial, trial_codes=None)

    def take(self, at: np.ndarray) -> _CellColumns:
        """The rows ``at``, their trials coded in sorted order as that configuration's own."""
        trial = None if self.trial is None else self.trial[at]
        return _CellColumns(logs=self.logs[at], train_size=self.train_size[at], n_splits=self.n_splits[at],
                            trials=self.trials[at], trial=trial,
                            trial_codes=None if trial is None else pd.factorize(trial, sort=True)[0])


def _size_picks(cell: _CellColumns, size: float, pool: float, design: Design) -> _SizePicks:
    logs = cell.logs
    at = np.flatnonzero(np.isclose(logs, logs[np.argmin(np.abs(logs - math.log2(size)))]))
    n = max(1, int(round(pool / size)))
    observed = np.isclose(cell.train_size[at[0]], size)
    k = int(cell.trials[at[0]]) if design.min_trials is None and observed else int(runs_per_size(n, design.min_trials or 1))
    k = k if design.max_trials is None else min(k, design.max_trials)
    # one row per (run, evaluation row of the template): runs cycle over the template's runs, the
    # template's rows in sorted trial order (a row without a trial is no template)
    if cell.trial_codes is not None:
        codes = cell.trial_codes[at]
        templates = [at[codes == c] for c in np.unique(codes[codes >= 0])]
    else:
        templates = [at]
    chosen = [templates[j % len(templates)] for j in range(k)]
    counts = [len(rows) for rows in chosen]
    whole = np.asarray(size).astype(cell.train_size.dtype) if np.isclose(size, round(size)) else size
    return _SizePicks(rows=np.concatenate(chosen), trial=np.repeat(np.arange(k), counts),
                      split=np.repeat(split_of(np.arange(k), n), counts), size=whole, n_splits=n, trials=k)


# ----------------------------------------------------------------------------- cost


def training_cost(table: pd.DataFrame, run_columns: Sequence[str], epochs: float | None = None) -> tuple[int, float]:
    """Distinct training runs and the images they process (size × epochs, evaluation sets free).

    Examples
    --------
    >>> t = pd.DataFrame({"train_set": "a", "eval_set": ["a", "b", "a", "b"], "train_size": [100, 100, 200, 200],
    ...                   "trial": 0})
    >>> training_cost(t, ["train_set", "train_size", "trial"], epochs=10)
    (2, 3000.0)
    """
    runs = table.drop_duplicates(list(run_columns))
    per_run = runs["epochs"].to_numpy(float) if epochs is None and "epochs" in runs.columns else (epochs or 1.0)
    return len(runs), float(np.sum(runs["train_size"].to_numpy(float) * per_run))


def size_flags(table: pd.DataFrame, config: Sequence[str]) -> tuple[str, ...]:
    """Why a design's test may not hold its level: sizes with fewer than two runs of a configuration.

    A run's rows (one per evaluation set) move together, and runs on the same images too; with a
    single run at a size nothing in the table tells its run effect from the fixed effects, and the
    tests lean on it (see :data:`MIN_RUNS_PER_SIZE`).

    Examples
    --------
    >>> t = pd.DataFrame({"train_set": "a", "eval_set": ["a", "b"] * 3, "train_size": [200, 200, 100, 100, 100, 100],
    ...                   "trial": [0, 0, 0, 0, 1, 1]})
    >>> print(*size_flags(t, ["train_set"]))
    1 run per configuration at size 200: too few to hold the test's level when runs vary (at least 2 needed)
    """
    runs = _run_columns(table, config)
    keys = [c for c in config if c in table.columns and c != "eval_set"] + ["train_size"]
    per = table.drop_duplicates(list(dict.fromkeys([*keys, *runs]))).groupby(keys, dropna=False).size()
    low = per[per < MIN_RUNS_PER_SIZE]
    if low.empty:
        return ()
    sizes = sorted({float(k[-1] if isinstance(k, tuple) else k) for k in low.index})
    listed = ", ".join(f"{v:g}" for v in sizes)
    return (f"{int(low.min())} run per configuration at size{'s' if len(sizes) > 1 else ''} {listed}: too few to hold "
            f"the test's level when runs vary (at least {MIN_RUNS_PER_SIZE} needed)",)


def _run_columns(table: pd.DataFrame, config: Sequence[str]) -> list[str]:
    if "run_id" in table.columns:  # the pilot's own runs
        return ["run_id"]
    return [c for c in (*config, "train_size", "trial") if c in table.columns and c != "eval_set"]


# ----------------------------------------------------------------------------- power


@dataclass(frozen=True, slots=True, kw_only=True)
class _Sim:
    """What the trials need: settings shared by every candidate."""

    estimator: str
    settings: Settings
    n_trials: int
    seed: int
    level: float


def effect_power(rows: SimRows, x_fit: np.ndarray, j: int, beta: np.ndarray, model: ResidualModel, sim: _Sim,
                 progress: Progress | None = None,
                 dependence: tuple[_Learned, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimates, SEs and usable flags of coefficient ``j`` of ``x_fit`` over ``n_trials`` simulated studies.

    Responses are ``rows.x @ beta`` plus the residual model's whitened draws times ``rows.noise``
    (the 1/sqrt(w0) of the pilot row each row copies), drawn and fitted on simulate's engine, so
    the pilot design reproduces simulate's trials exactly. With ``dependence`` (the learned
    variances, each row's run and split index) the draws are scaled by its ``row_scale`` and every
    run and every split adds its own normal intercept, from a stream of their own.
    """
    total = sim.n_trials
    est, se, ok = np.full(total, np.nan), np.full(total, np.nan), np.zeros(total, bool)
    scale = 1.0 if dependence is None else dependence[0].row_scale
    draws = Draws(mean=rows.x @ beta, x=rows.x, noise=rows.noise * scale, model=model, seed=sim.seed)
    fit_many = batched(method(sim.estimator, "estimator"))

    def chunk(b: int, start: int, stop: int) -> None:
        y = draws.chunk(b, stop - start)
        if dependence is not None:
            y = y + _intercepts(dependence, sim.seed, b, stop - start)
        fit = fit_many(x_fit, y, rows.weights, sim.settings)
        good = np.asarray(fit.ok, bool)
        est[start:stop] = np.where(good, fit.coef[:, j], np.nan)
        se[start:stop] = np.where(good, fit.se[:, j], np.nan)
        ok[start:stop] = good

    run_chunks(total, chunk, progress)
    return est, se, ok


def _intercepts(dependence: tuple[_Learned, np.ndarray, np.ndarray], seed: int, b: int, n: int) -> np.ndarray:
    """``n`` draws (n × rows) of each row's run intercept plus its split intercept."""
    learned, run, split = dependence
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(b, 1)))  # apart from the residual draws' stream
    runs = rng.standard_normal((n, int(run.max()) + 1)) * learned.run_sd
    splits = rng.standard_normal((n, int(split.max()) + 1)) * learned.split_sd
    return runs[:, run] + splits[:, split]


def _joined(frame: pd.DataFrame, columns: Sequence[str], sep: str) -> pd.Series:
    """Each row's values in ``columns`` as one label, a missing value read as "NA".

    Built a column at a time: joining row by row (``agg(sep.join, axis=1)``) took ~80 ms per
    candidate design, and a missing value made it fail.
    """
    if not columns:
        return pd.Series("", index=frame.index)
    parts = [frame[c].astype(str).fillna("NA") for c in columns]
    return parts[0].str.cat(parts[1:], sep=sep) if len(parts) > 1 else parts[0]


def _run_and_split(table: pd.DataFrame, config: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's run and split as 0-based indices (runs: :func:`_run_columns`; splits: the schema's ``split_id``)."""
    run = _joined(table, _run_columns(table, config), "|")
    split = with_split_id(table)["split_id"]
    return pd.factorize(run)[0], pd.factorize(split)[0]


def size_flag(size: float, size_se: float, alpha: float) -> tuple[str, ...]:
    """A flag when the simulated size exceeds ``alpha`` by more than two Monte-Carlo SEs.

    Examples
    --------
    >>> size_flag(0.169, 0.0069, 0.05)[0].split(":")[0]
    "size 16.9% at delta = 0 with the pilot's run and split variances (5% wanted, Monte-Carlo SE 0.7%)"
    >>> size_flag(0.055, 0.0069, 0.05)
    ()
    """
    if not size > alpha + 2 * size_se:
        return ()
    return (f"size {size:.1%} at delta = 0 with the pilot's run and split variances ({alpha:.0%} wanted, Monte-Carlo SE "
            f"{size_se:.1%}): the test rejects a true null too often",)


def _design_power(pilot: _Pilot, design: Design, inputs: Inputs, parsed: ParsedFormula, sim: _Sim, rate, epochs,
                  power_wanted: float, progress: Progress | None) -> DesignPower:
    rows, table = _candidate_rows(pilot, design, inputs, parsed)
    wh = whiten_all(rows.x, rows.weights)
    kept = least_squares(wh.xw, np.zeros(len(rows.x))).kept
    if not kept[pilot.effect_index]:
        raise OptionError(f"design '{design.label}' cannot estimate {pilot.design.column_names[pilot.effect_index]}: "
                          "its column is zero or aliased there; keep the levels the effect needs")
    j = int(np.count_nonzero(kept[: pilot.effect_index]))
    est, se, ok = effect_power(rows, rows.x[:, kept], j, pilot.beta, pilot.model, sim, progress)
    df = int(np.count_nonzero(wh.root)) - int(kept.sum())
    reject = np.abs(est[ok]) > t_quantile(sim.level, df) * se[ok]
    power = float(reject.mean()) if ok.any() else float("nan")
    runs, images = training_cost(table, _run_columns(table, pilot.config), epochs)
    sizes = tuple(sorted(float(s) for s in table["train_size"].unique()))
    groups = table[pilot.group_by].drop_duplicates().shape[0] if pilot.group_by else 1
    flags = size_flags(table, pilot.config)
    size = size_se = None
    if pilot.dependence is not None:
        beta0 = pilot.beta.copy()
        beta0[pilot.effect_index] = 0.0
        est0, se0, ok0 = effect_power(rows, rows.x[:, kept], j, beta0, pilot.model, sim,
                                      dependence=(pilot.dependence, *_run_and_split(table, pilot.config)))
        size = float((np.abs(est0[ok0]) > t_quantile(sim.level, df) * se0[ok0]).mean()) if ok0.any() else float("nan")
        size_se = float(np.sqrt((1 - sim.level) * sim.level / max(int(ok0.sum()), 1)))
        flags += size_flag(size, size_se, 1 - sim.level)
    return DesignPower(size=size, size_se=size_se, flags=flags, design=design,
                       sizes=sizes, n_groups=int(groups), rows=len(rows.x), runs=runs, images=images,
                       gpu_hours=None if rate is None else images / rate / 3600.0, power=power,
                       power_se=float(np.sqrt(power * (1 - power) / max(int(ok.sum()), 1))),
                       mean_estimate=float(np.nanmean(est)), mean_se=float(np.nanmean(se)),
                       sd_estimate=float(np.nanstd(est, ddof=1)), failures=int((~ok).sum()), reaches=bool(power >= power_wanted))


def _candidate_rows(pilot: _Pilot, design: Design, inputs: Inputs, parsed: ParsedFormula) -> tuple[SimRows, pd.DataFrame]:
    if design.observed:
        w = pilot.weights
        rows = SimRows(x=pilot.design.x, weights=w, noise=noise_factor(w, len(pilot.design.x)), frame=pilot.raw)
        return rows, pilot.raw
    table = candidate_table(pilot.raw, design, pilot.config, pilot.group_by)
    both = pd.concat([pilot.raw.assign(**{CANDIDATE: False}), table.assign(**{CANDIDATE: True})], ignore_index=True)
    both = both.drop(columns="__template__")
    # with the pilot's rows, every factor keeps all its levels
    mf = model_frame(inputs.replace(data=both, let=(*inputs.let, *pilot.namespace_lets)), parsed.variables,
                     extra_columns=[CANDIDATE])
    dm = design_matrices(parsed, mf)
    keep = mf.frame[CANDIDATE].to_numpy(bool)
    if keep.sum() != len(table):
        raise DataError(f"design '{design.label}': {len(table) - int(keep.sum())} rebuilt rows were dropped by --where or NA")
    template = np.concatenate([np.full(len(pilot.raw), -1), table["__template__"].to_numpy()])[mf.frame.index]
    return rebuilt_rows(mf, dm.x, keep, template, pilot.weights), table


# ----------------------------------------------------------------------------- plan


def candidate_designs(pilot: pd.DataFrame, smallest: Sequence[float] | None, min_trials: Sequence[int] | None,
                      n_groups: Sequence[int] | None, include_pilot: bool = True,
                      max_trials: Sequence[int] | None = None) -> list[Design]:
    """The grid of candidates: every (smallest size, min trials, max trials, groups), the pilot's own design first.

    Default sizes: each pilot size with at least two larger pilot sizes (three sizes in all); default minimum trials
    1, 2, 4, 8; no cap on the runs per size. Pairs with a cap below the minimum are skipped.
    """
    if smallest is None:
        sizes = np.sort(pilot["train_size"].unique().astype(float))
        smallest = sizes[: max(len(sizes) - 2, 1)].tolist()
    ks = DEFAULT_MIN_TRIALS if min_trials is None else tuple(min_trials)
    caps = (None,) if max_trials is None else tuple(max_trials)
    for k in (*ks, *(c for c in caps if c is not None)):
        if int(k) != k or k < 1:
            raise OptionError(f"min and max trials must be integers of at least 1, got {k!r}")
    for s in smallest:
        if not s > 0:
            raise OptionError(f"smallest sizes must be positive, got {s!r}")
    groups = [None] if n_groups is None else list(n_groups)
    grid = [Design(float(s), int(k), g, None if c is None else int(c))
            for g in groups for s in smallest for k in ks for c in caps if c is None or c >= k]
    return ([Design()] if include_pilot else []) + grid


def plan(
    data: str | Path | pd.DataFrame | None = None,
    *,
    delta: float,
    formula: str | None = None,
    effect: str | None = None,
    weights: WeightsLike = None,
    weight_type: WeightType = "inv.var",
    power: float = 0.8,
    level: float = 0.95,
    estimator: str = "ols",
    residuals: ResidualName = "normal",
    smallest: Sequence[float] | None = None,
    min_trials: Sequence[int] | None = None,
    max_trials: Sequence[int] | None = None,
    n_groups: Sequence[int] | None = None,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    include_pilot: bool = True,
    n_trials: int = 1000,
    seed: int = 0,
    rate: float | None = None,
    epochs: float | None = None,
    where: str | None = None,
    let: Sequence[str] = (),
    na: NaPolicy = "drop",
    progress: Progress | None = None,
    dependence: DependenceMode | str | None = None,
) -> PlanResult:
    """Simulated power of candidate designs for detecting ``delta`` in ``effect``; the cheapest that reaches ``power``.

    Parameters
    ----------
    data : the pilot (a learning-curve table or frame); ``None`` uses the bundled example.
    delta : the smallest change worth detecting: the effect's true value in the simulation.
    formula, effect : the model and its effect term (default: the seed's formula and mixup's change
        to the slope); ``weights``, ``weight_type``: as for :func:`powerlaw_stats.fit`.
    power, level : the power wanted, and the confidence level whose interval must exclude 0.
    estimator : "ols", "huber", "bisquare" or "mm", as in :func:`powerlaw_stats.simulate`.
    residuals : "normal", "empirical" or "skewed-hetero": the residual model learned from the pilot.
    smallest, min_trials, max_trials, n_groups : the grid (see :func:`candidate_designs`); ``group_by`` the columns
        whose combinations are the groups counted by ``n_groups``.
    include_pilot : also simulate the pilot's own design.
    n_trials, seed : simulated studies per candidate and the seed (each candidate uses the same streams).
    rate : training throughput in images per second; the cost is then in GPU-hours.
    epochs : epochs per run when the pilot has no ``epochs`` column (default 1).
    dependence : "auto" (None: where the pilot has the schema's runs and splits) simulates each
        candidate's size at ``delta = 0`` with the pilot's run and split variances and flags a size
        above ``1 - level`` by more than two Monte-Carlo SEs; "none" draws rows independently only.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> res = ps.plan(delta=-0.03, weights="w", min_trials=[4], n_trials=100)
    >>> res.designs[0].design.label, res.recommended is None or res.recommended.power >= 0.8
    ('pilot design', True)
    """
    sim = _check(power, level, estimator, residuals, weight_type, n_trials, seed, rate)
    inputs = Inputs(data=data, weights=weights, weight_type=weight_type, where=where, let=tuple(let), na=na)
    formula = formula or EXAMPLE_FORMULA
    effect = effect or EXAMPLE_EFFECT
    parsed = parse(formula)
    raw = load(data).reset_index(drop=True)
    inputs = inputs.replace(data=raw)
    pilot = _pilot(raw, inputs, parsed, effect, delta, residuals, group_by, _dependence_mode(dependence, raw))
    designs = candidate_designs(pilot.raw, smallest, min_trials, n_groups, include_pilot, max_trials)
    results = tuple(_design_power(pilot, d, inputs, parsed, sim, rate, epochs, power,
                                  _progress_of(progress, i * sim.n_trials, len(designs) * sim.n_trials))
                    for i, d in enumerate(designs))
    reaching = [r for r in results if r.reaches and not r.flags]
    best = min(reaching, key=lambda r: (r.cost, -r.power)) if reaching else None
    return PlanResult(designs=results, recommended=best, formula=formula,
                      effect=pilot.design.column_names[pilot.effect_index], delta=float(delta),
                      pilot_estimate=pilot.estimate, power_wanted=float(power), level=sim.level, estimator=estimator,
                      residuals=residuals, residuals_description=pilot.model.description, n_trials=sim.n_trials,
                      seed=sim.seed, rate=rate)


def _progress_of(progress: Progress | None, before: int, total: int) -> Progress | None:
    """One candidate's ``progress(done, of)`` as trials done of every candidate's trials."""
    if progress is None:
        return None
    return lambda done, of: progress(before + done, total)


def _check(power, level, estimator, residuals, weight_type, n_trials, seed, rate) -> _Sim:
    if not 0 < power < 1:
        raise OptionError(f"power must be strictly between 0 and 1, got {power!r}")
    level = check_level(level)
    batched(method(estimator, "estimator"))
    check_option(residuals, RESIDUAL_MODELS, "residual model")
    check_option(weight_type, WeightType, "weight type")
    n_trials, seed = check_count(n_trials, "n_trials", 2), check_seed(seed)
    if rate is not None and not rate > 0:
        raise OptionError(f"rate (images per second) must be positive, got {rate!r}")
    return _Sim(estimator=estimator, settings=Settings(weight_type=weight_type), n_trials=n_trials, seed=seed, level=level)
