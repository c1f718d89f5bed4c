"""The report's simulation check: ``powerlaw_stats.simulate`` over residual models × designs.

Each scenario simulates the effect term under one residual model and one trial design and keeps
the summary row of every estimator; the panels come from :mod:`powerlaw_stats.plots.simulation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..data.frame import TableLike
from ..data.schema import runs_per_size
from ..errors import PowerlawStatsError
from ..formats import jsonable
from ..options import ResidualName
from ..simulation.designs import design_spec
from ..simulation.simulate import SimulationResult, Simulator

RESIDUAL_MODELS: tuple[ResidualName, ...] = ("normal", "skewed-hetero")
DESIGNS: tuple[str, ...] = ("n", "min4")
REALISTIC: str = "skewed-hetero"  # the residual model built to look like the data's
DESIGN_NAMES = {"observed": "the observed design", "n": "n trials at 1/n of the pool",
                "min4": "at least 4 trials at every size"}
SUMMARY_FIELDS = ("truth", "mean_estimate", "bias", "sd_estimate", "mean_se", "se_ratio", "coverage", "rmse", "failures")

Progress = Callable[[str, int, int], None]  # (what is running, trials done, trials in all scenarios)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One residual model × design: the effect term's summary row per estimator."""

    residuals: str
    design: str
    description: str
    rows: tuple[dict, ...]
    result: SimulationResult = field(repr=False, compare=False)  # for its panels

    @property
    def name(self) -> str:
        """The scenario in words."""
        return f"{self.residuals} residuals, {DESIGN_NAMES.get(self.design, self.design)}"

    @property
    def key(self) -> str:
        """The scenario's key: ``residuals/design``."""
        return f"{self.residuals}/{self.design}"

    def to_dict(self) -> dict:
        """The scenario as results.json holds it."""
        return {"residuals": self.residuals, "design": self.design, "description": self.description, "rows": list(self.rows)}


@dataclass(frozen=True, kw_only=True)
class SimulationCheck:
    """All scenarios of the check, the designs used, and why a design was replaced, if it was."""

    n_trials: int
    seed: int
    term: str
    scenarios: tuple[Scenario, ...]
    notes: tuple[str, ...]
    data_design: str | None = None  # the simulated design the data's own trials follow, if one does

    @property
    def judged(self) -> tuple[str, ...]:
        """Scenarios the verdict rests on: those with the data's design (all when it matches none)."""
        return tuple(s.key for s in self.scenarios if self.data_design in (None, s.design))

    def to_dict(self) -> dict:
        """The check as results.json holds it."""
        return {"n_trials": self.n_trials, "seed": self.seed, "term": self.term, "notes": list(self.notes),
                "data_design": self.data_design, "judged": list(self.judged),
                "scenarios": [s.to_dict() for s in self.scenarios]}


def designs_for(frame: pd.DataFrame, formula: str, weights: str | None, term: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The seed's two designs when the table has the schema's trial columns, else the observed one."""
    need = ("train_size", "n_splits", "trials")
    missing = [c for c in need if c not in frame.columns]
    if missing:
        return ("observed",), (f"the table lacks {', '.join(missing)}, so the trial designs cannot be rebuilt; "
                               "the simulation uses the observed design only",)
    return DESIGNS, ()


def data_design(frame: pd.DataFrame) -> str | None:
    """Which simulated design the data's own trials follow (``trials`` against ``n_splits``), if any.

    Examples
    --------
    >>> data_design(pd.DataFrame({"n_splits": [1, 2, 8], "trials": [4, 4, 8]}))
    'min4'
    >>> data_design(pd.DataFrame({"n_splits": [1, 2, 8], "trials": [1, 2, 8]}))
    'n'
    >>> data_design(pd.DataFrame({"n_splits": [1, 2], "trials": [3, 3]})) is None
    True
    """
    if not {"n_splits", "trials"} <= set(frame.columns):
        return None
    follows = (d for d in DESIGNS
               if (runs_per_size(frame["n_splits"], design_spec(d, None).min_trials or 1) == frame["trials"]).all())
    return next(follows, None)


@dataclass(frozen=True, kw_only=True)
class CheckPlan:
    """The check's scenarios (residual model, design) and the :class:`Simulator` they share, before any trial."""

    simulator: Simulator = field(repr=False)
    scenarios: tuple[tuple[ResidualName, str], ...]
    n_trials: int
    seed: int
    term: str
    notes: tuple[str, ...]
    data_design: str | None


def run_check(formula: str, data: TableLike, frame: pd.DataFrame, *, weights: str | None, where: str | None,
              let: Sequence[str], term: str, n_trials: int, seed: int, level: float, estimators: Sequence[str],
              progress: Progress | None = None, cluster: Sequence[str] = (), vcov: str | None = None) -> SimulationCheck:
    """Simulate ``term`` under every residual model × design; ``progress`` hears of every batch of trials.

    With ``cluster`` every estimator's classic SE and its ``vcov`` (CR1 or CR3) clustered SE are
    checked side by side: simulate's rows "ols", "ols+CR1", ...

    ``data`` (with ``where`` and ``let``) is what the user gave, so the simulation reads the table as
    ``powerlaw-stats simulate`` would; ``frame`` is the model's rows, to see which designs apply.
    Scenario ``i`` uses seed ``seed + i``, so scenarios are independent of each other and each is
    reproducible on its own with ``powerlaw-stats simulate --seed``. The same as
    ``run_plan(plan_check(...), progress)``.
    """
    return run_plan(plan_check(formula, data, frame, weights=weights, where=where, let=let, term=term, n_trials=n_trials,
                               seed=seed, level=level, estimators=estimators, cluster=cluster, vcov=vcov), progress)


def plan_check(formula: str, data: TableLike, frame: pd.DataFrame, *, weights: str | None, where: str | None,
               let: Sequence[str], term: str, n_trials: int, seed: int, level: float, estimators: Sequence[str],
               cluster: Sequence[str] = (), vcov: str | None = None) -> CheckPlan:
    """The scenarios of :func:`run_check` and their shared parts, built now (table, model frame, truth, designs' rows).

    Built once, they serve every scenario's trials in :func:`run_plan` (which the report runs in a
    forked process or a thread of its own). An error is left for the scenario that meets it in
    :func:`run_plan`, so it reads as before, with that scenario's name.
    """
    designs, notes = designs_for(frame, formula, weights, term)
    simulator = Simulator(formula, data, weights=weights, where=where, let=list(let), terms=[term], level=level,
                          estimators=tuple(estimators), n_trials=n_trials, **_covariances(cluster, vcov))
    for design in designs:
        try:
            simulator.prepare(design)
        except PowerlawStatsError:
            break
    return CheckPlan(simulator=simulator, scenarios=tuple((r, d) for d in designs for r in RESIDUAL_MODELS),
                     n_trials=n_trials, seed=seed, term=term, notes=notes,
                     data_design=data_design(frame) if designs == DESIGNS else None)


def run_plan(plan: CheckPlan, progress: Progress | None = None,
             finished: Callable[[Scenario], object] | None = None) -> SimulationCheck:
    """Run the trials of every scenario of ``plan``: scenario ``i`` with seed ``plan.seed + i``.

    ``finished`` hears of each scenario as soon as it is done (the report draws its panels then).
    """
    n_trials = plan.n_trials
    total = len(plan.scenarios) * n_trials
    scenarios = []
    for i, (residuals, design) in enumerate(plan.scenarios):
        tick = _ticker(progress, f"simulating {residuals} residuals, design {design}", i * n_trials, total)
        tick(0, n_trials)
        scenarios.append(_scenario(plan.simulator, residuals, design, plan.seed + i, tick))
        if finished is not None:
            finished(scenarios[-1])
    if progress:
        progress("simulation done", total, total)
    return SimulationCheck(n_trials=n_trials, seed=plan.seed, term=plan.term, scenarios=tuple(scenarios), notes=plan.notes,
                           data_design=plan.data_design)


def _covariances(cluster: Sequence[str], vcov: str | None) -> dict:
    """Simulate's ``vcov``/``cluster``: nothing without a cluster (classic SEs only), else classic beside ``vcov``."""
    return {"vcov": ("classic", vcov or "CR1"), "cluster": list(cluster)} if cluster else {}


def _ticker(progress: Progress | None, what: str, before: int, total: int) -> Callable[[int, int], None]:
    """Simulate's ``progress(done, of)`` for one scenario, as trials done of all scenarios' trials."""
    if progress is None:
        return lambda done, of: None
    return lambda done, of: progress(what, before + int(done), total)


def _scenario(simulator: Simulator, residuals: ResidualName, design: str, seed: int, tick) -> Scenario:
    try:
        sim = simulator.run(residuals, design, seed=seed, progress=tick)
    except PowerlawStatsError as exc:
        raise type(exc)(f"simulation ({residuals} residuals, design {design}): {exc}") from None
    summary = sim.summary
    rows = tuple({"estimator": r["estimator"], "term": r["term"], **{k: jsonable(r[k]) for k in SUMMARY_FIELDS}}
                 for r in summary.to_dict("records"))
    return Scenario(residuals=residuals, design=design, description=_description(sim), rows=rows, result=sim)


def _description(sim) -> str:
    parts = [getattr(sim, name, None) for name in ("residuals_description", "design_description")]
    return " ".join(p for p in parts if p)
