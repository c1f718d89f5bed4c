"""Simulated studies from a law fitted to real data: do its intervals hold here, and which design has the power?

``simulate_law`` is ``simulate`` for a law: the truth is the law fitted to the data (least
squares, the law's bounds), each simulated study draws every row's log2 error as the law at the
truth plus normal noise of SD ``σ/√w`` (σ the fit's residual scale, w the row's prior weight:
the variance model the fit assumes, ``varFixed(~1/w)``), and refits it from scratch with the law's
own starts. Per term it reports what ``simulate`` reports (bias, SD of the estimates, mean SE,
SE ratio, coverage of the Wald t interval), plus the share of studies whose interval excludes zero
(the power, or the size at a zero truth), the share with a floor at its bound, and optionally the
coverage of the profile-likelihood interval.

``plan_law`` is ``plan`` for a law: the pilot's law fit is the truth with the effect term set to
``delta``, and each candidate design of :func:`powerlaw_stats.scaling.plan.candidate_designs` is
rebuilt by :func:`~powerlaw_stats.scaling.plan.candidate_table`; every rebuilt row keeps the noise
of the pilot row it copies, as ``plan`` does. It returns a :class:`~powerlaw_stats.scaling.plan.PlanResult`.

Each study is one nonlinear fit (tens of milliseconds), so these run far fewer studies per second
than the batched linear simulations: 200 studies by default, not 1000.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data.frame import Inputs, load, model_frame
from ..data.schema import configuration_columns
from ..errors import ConvergenceWarning, IdentificationWarning, OptionError, PowerlawStatsError
from ..formats import jsonable
from ..options import check_count, check_level, check_seed
from ..simulation.designs import noise_factor
from ..simulation.engine import Progress
from .coverage import _one_study, _summary
from .design import formula_variables, parse_params
from .fit import fit_law, prepare
from .problem import LawProblem
from .registry import get_law

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..scaling.plan import PlanResult
    from .result import LawFit

DEFAULT_STUDIES = 200
SUMMARY_COLUMNS = ("estimator", "term", "truth", "mean_estimate", "bias", "sd_estimate", "mean_se", "se_ratio",
                   "coverage", "rmse", "failures", "rejects", "bound_active", "profile_coverage", "mc_se")


@dataclass(frozen=True, kw_only=True)
class LawSimulation:
    """Per-term summary of the simulated studies (``simulate``'s columns and more), and the studies themselves."""

    summary: pd.DataFrame
    studies: pd.DataFrame = field(repr=False)
    law: str
    formulas: dict[str, str]
    truth: pd.Series
    sigma: float
    n_trials: int
    seed: int
    level: float
    rows: int

    def to_dict(self) -> dict:
        """The JSON of ``simulate --law``: what was simulated and one row per term."""
        rows = [{k: jsonable(v) for k, v in r.items()} for r in self.summary.to_dict("records")]
        return {"law": self.law, "formulas": self.formulas, "n_trials": self.n_trials, "seed": self.seed,
                "level": self.level, "sigma": self.sigma, "rows": self.rows,
                "truth": {k: float(v) for k, v in self.truth.items()}, "results": rows}


def _pilot_fit(data, law: str, params, weights, where, let, na):
    with warnings.catch_warnings():  # the pilot's identification is the fit's business, not the simulation's
        warnings.simplefilter("ignore", IdentificationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit_law(data, law, params, weights=weights, where=where, let=let, na=na, profile=False, compare=False)


def _truth(fit, overrides: Mapping[str, float] | None) -> pd.Series:
    truth = fit.params.astype(float).copy()
    unknown = set(overrides or {}) - set(truth.index)
    if unknown:
        raise OptionError(f"truth names unknown coefficients {', '.join(sorted(unknown))}; the law's are "
                          f"{', '.join(truth.index)}")
    for name, value in (overrides or {}).items():
        truth[name] = float(value)
    return truth


def _terms(names: Sequence[str], terms: Sequence[str] | None) -> list[str]:
    chosen = list(names) if not terms else list(terms)
    unknown = [t for t in chosen if t not in names]
    if unknown:
        raise OptionError(f"unknown terms {', '.join(unknown)}; the law's coefficients are {', '.join(names)}")
    return chosen


def run_studies(problem: LawProblem, truth: np.ndarray, noise: np.ndarray, terms: Sequence[str], names: Sequence[str],
                *, n_trials: int, seed: int, level: float, profile: bool,
                progress: Progress | None = None) -> pd.DataFrame:
    """``n_trials`` studies: the law at ``truth`` plus ``noise``-scaled normal draws, each refitted; one row per term.

    Examples
    --------
    >>> import warnings
    >>> fit = fit_law(None, "saturating", {"E": "EvalSet", "b": "mix + EvalSet"}, weights="w", profile=False,
    ...               compare=False)
    >>> rows = run_studies(fit.problem, fit.params.to_numpy(), fit.scale / np.sqrt(fit.problem.weights), ["b.mix1"],
    ...                    list(fit.params.index), n_trials=3, seed=1, level=0.95, profile=False)
    >>> len(rows), bool(rows["ok"].all())
    (3, True)
    """
    mean = problem.fitted(truth)
    if not np.all(np.isfinite(mean)):
        raise OptionError("the true coefficients give a non-finite mean somewhere in the design")
    idx = [list(names).index(t) for t in terms]
    rng = np.random.default_rng(seed)
    out = []
    for s in range(n_trials):
        y = mean + noise * rng.standard_normal(problem.n)
        out.extend(_one_study(problem.with_y(y), s, truth, idx, terms, "classic", None, level, profile))
        if progress is not None:
            progress(s + 1, n_trials)
    return pd.DataFrame(out)


def summarize_studies(studies: pd.DataFrame, level: float, estimator: str) -> pd.DataFrame:
    """``simulate``'s summary columns from the studies, plus rejects (power), bound_active and profile coverage."""
    s = _summary(studies, level)
    ok = studies[studies["ok"]] if "ok" in studies else studies
    rmse = ok.assign(sq=(ok["estimate"] - ok["truth"]) ** 2).groupby("term", sort=False)["sq"].mean() ** 0.5
    out = pd.DataFrame({
        "estimator": estimator, "term": s.index, "truth": s["truth"].astype(float).to_numpy(),
        "mean_estimate": s["mean_estimate"].astype(float).to_numpy(),
        "sd_estimate": s["sd_estimate"].astype(float).to_numpy(), "mean_se": s["mean_se"].astype(float).to_numpy(),
        "coverage": s["wald_coverage"].astype(float).to_numpy(), "rmse": rmse.reindex(s.index).to_numpy(),
        "failures": s["failed"].astype(int).to_numpy(), "rejects": s["wald_rejects"].astype(float).to_numpy(),
        "bound_active": s["bound_active"].astype(float).to_numpy(),
        "profile_coverage": s["profile_coverage"].astype(float).to_numpy() if "profile_coverage" in s else math.nan,
        "mc_se": s["wald_mc_se"].astype(float).to_numpy(),
    })
    out["bias"] = out["mean_estimate"] - out["truth"]
    out["se_ratio"] = out["mean_se"] / out["sd_estimate"]
    return out[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def simulate_law(
    data: str | Path | pd.DataFrame | None = None,
    law: str = "saturating",
    params: Mapping[str, str] | Sequence[str] | None = None,
    *,
    weights: str | None = None,
    terms: Sequence[str] | None = None,
    truth: Mapping[str, float] | None = None,
    n_trials: int = DEFAULT_STUDIES,
    seed: int = 0,
    level: float = 0.95,
    profile: bool = False,
    where: str | None = None,
    let: Sequence[str] = (),
    na: str = "drop",
    progress: Progress | None = None,
) -> LawSimulation:
    """Simulate studies on the data's own rows from the law fitted to them, and check each term's intervals.

    Parameters
    ----------
    data, law, params, weights, where, let, na : as for :func:`powerlaw_stats.laws.fit_law` (least squares).
    terms : coefficients to report (default all).
    truth : coefficients to set in the truth instead of their fitted values, e.g. ``{"b.mix1": 0.0}`` to
        measure the size of the test of ``b.mix1``, or a change worth detecting to measure its power.
    n_trials, seed, level : simulated studies, their seed, and the confidence level checked.
    profile : also check the profile-likelihood intervals (a profile per term and study: slow).
    progress : called as ``progress(done, total)``.

    Examples
    --------
    >>> res = simulate_law(params={"E": "EvalSet", "b": "mix + EvalSet"}, weights="w", terms=["b.mix1"], n_trials=5)
    >>> res.summary[["term", "failures"]].values.tolist()
    [['b.mix1', 0]]
    """
    n_trials, seed, level = check_count(n_trials, "n_trials", 2), check_seed(seed), check_level(level)
    fit = _pilot_fit(data, law, params, weights, where, let, na)
    names = list(fit.params.index)
    chosen = _terms(names, terms)
    theta = _truth(fit, truth)
    problem: LawProblem = fit.problem
    noise = fit.scale * noise_factor(problem.weights, problem.n)
    studies = run_studies(problem, theta.to_numpy(), noise, chosen, names, n_trials=n_trials, seed=seed, level=level,
                          profile=profile, progress=progress)
    return LawSimulation(summary=summarize_studies(studies, level, fit.method), studies=studies, law=fit.law,
                         formulas=dict(fit.formulas), truth=theta[chosen], sigma=float(fit.scale), n_trials=n_trials,
                         seed=seed, level=level, rows=problem.n)


# ----------------------------------------------------------------------------- plan


def plan_law(
    data: str | Path | pd.DataFrame | None = None,
    law: str = "saturating",
    params: Mapping[str, str] | Sequence[str] | None = None,
    *,
    term: str,
    delta: float,
    weights: str | None = None,
    power: float = 0.8,
    level: float = 0.95,
    smallest: Sequence[float] | None = None,
    min_trials: Sequence[int] | None = None,
    max_trials: Sequence[int] | None = None,
    n_groups: Sequence[int] | None = None,
    group_by: Sequence[str] = ("train_set", "eval_set"),
    include_pilot: bool = True,
    n_trials: int = DEFAULT_STUDIES,
    seed: int = 0,
    rate: float | None = None,
    epochs: float | None = None,
    where: str | None = None,
    let: Sequence[str] = (),
    na: str = "drop",
    progress: Progress | None = None,
) -> PlanResult:
    """Simulated power of candidate designs to detect ``delta`` in a law's ``term``, as :func:`~powerlaw_stats.plan`.

    The pilot's law fit (least squares) is the truth, with ``term`` set to ``delta``; ``term`` is a
    law coefficient such as ``"b.mix1"`` (mixup's change of the slope under the floor). The grid
    options and the cost are :func:`powerlaw_stats.plan`'s; a candidate that loses a level some
    coefficient needs is refused, as there.

    Examples
    --------
    >>> res = plan_law(params={"E": "EvalSet", "b": "mix + EvalSet"}, weights="w", term="b.mix1", delta=-0.1,
    ...                min_trials=[4], smallest=[160], n_trials=4)
    >>> [d.design.label for d in res.designs], res.effect
    (['pilot design', 'sizes from 160, min 4 runs/size'], 'b.mix1')
    """
    from ..scaling.plan import DesignPower, PlanResult, candidate_designs

    if not 0 < power < 1:
        raise OptionError(f"power must be strictly between 0 and 1, got {power!r}")
    if rate is not None and not rate > 0:
        raise OptionError(f"rate (images per second) must be positive, got {rate!r}")
    n_trials, seed, level = check_count(n_trials, "n_trials", 2), check_seed(seed), check_level(level)
    pilot = _law_pilot(data, law, params, weights, where, let, na, term, delta, group_by)
    designs = candidate_designs(pilot.used, smallest, min_trials, n_groups, include_pilot, max_trials)
    results = []
    for i, design in enumerate(designs):
        step = None if progress is None else (lambda done, of, i=i: progress(i * n_trials + done, len(designs) * n_trials))
        problem, noise, table = _candidate(pilot, design)
        studies = run_studies(problem, pilot.truth.to_numpy(), noise, [term], pilot.names, n_trials=n_trials,
                              seed=seed, level=level, profile=False, progress=step)
        results.append(_design_power(DesignPower, design, studies, table, pilot, power, rate, epochs))
    reaching = [r for r in results if r.reaches]
    best = min(reaching, key=lambda r: (r.cost, -r.power)) if reaching else None
    fit = pilot.fit
    return PlanResult(designs=tuple(results), recommended=best,
                      formula=f"{fit.law} law: " + ", ".join(f"{p} ~ {f}" for p, f in fit.formulas.items()),
                      effect=term, delta=float(delta), pilot_estimate=float(fit.params[term]), power_wanted=float(power),
                      level=level, estimator=fit.method, residuals="normal",
                      residuals_description=(f"normal noise of SD σ/√w0: σ = {fit.scale:.4g}, the pilot law fit's "
                                             "residual scale, w0 the prior weight of the pilot row each row copies"),
                      n_trials=n_trials, seed=seed, rate=rate)


@dataclass(frozen=True, kw_only=True)
class _LawPilot:
    """The pilot's rows as read, its law fit, the truth, and what candidates need from it."""

    used: pd.DataFrame  # the rows the fit used, as read (schema columns, no derived ones)
    fit: LawFit
    truth: pd.Series
    names: list[str]
    rhs: Mapping[str, str]
    weights: str | None
    prior: np.ndarray  # the pilot rows' prior weights (ones without weights)
    let: tuple[str, ...]
    na: str
    config: list[str]
    group_by: list[str]


def _law_pilot(data, law, params, weights, where, let, na, term, delta, group_by) -> _LawPilot:
    law_ = get_law(law)
    rhs = parse_params(law_, params)
    raw = load(data).reset_index(drop=True)
    variables = formula_variables(law_, rhs, law_.response, law_.inputs)
    mf = model_frame(Inputs(data=raw, weights=weights, where=where, let=tuple(let), na=na), variables)
    used = raw.loc[mf.frame.index].reset_index(drop=True)
    # the candidates' x must keep the pilot's origin: IXMin is the pilot's smallest size, not the candidate's
    given = {s.split("=", 1)[0].strip() for s in let}
    lets = (*let, *(f"{k}={float(v)!r}" for k, v in mf.namespace.items() if k in ("IXMin", "IPMin") and k not in given))
    fit = _pilot_fit(used, law, params, weights, None, lets, na)
    names = list(fit.params.index)
    _terms(names, [term])
    from ..scaling.plan import SIZE_DEPENDENT

    config = [c for c in configuration_columns(used, variables) if c not in SIZE_DEPENDENT]
    prior = np.ones(len(used)) if mf.weights is None else np.asarray(mf.weights, dtype=float)
    return _LawPilot(used=used, fit=fit, truth=_truth(fit, {term: delta}), names=names, rhs=rhs, weights=weights,
                     prior=prior, let=lets, na=na, config=config, group_by=[g for g in group_by if g in used.columns])


def _candidate(pilot: _LawPilot, design) -> tuple[LawProblem, np.ndarray, pd.DataFrame]:
    """The candidate's law problem, each row's noise SD (the pilot row's it copies) and its table."""
    from ..scaling.plan import candidate_table

    fit = pilot.fit
    if design.observed:
        problem: LawProblem = fit.problem  # type: ignore[assignment]
        return problem, fit.scale * noise_factor(problem.weights, problem.n), pilot.used
    table = candidate_table(pilot.used, design, pilot.config, pilot.group_by)
    template = table.pop("__template__").to_numpy()
    try:
        problem, design_, mf, _, rows, _ = prepare(table, get_law(fit.law), pilot.rhs,
                                                   weights=pilot.weights, let=pilot.let, na=pilot.na)
    except PowerlawStatsError as exc:  # e.g. a factor left with one level by n_groups
        raise OptionError(f"design '{design.label}': {exc}") from None
    if len(mf.frame) != len(table):
        raise OptionError(f"design '{design.label}': {len(table) - len(mf.frame)} rebuilt rows were dropped (NA)")
    if list(design_.names) != pilot.names:
        lost = sorted(set(pilot.names) - set(design_.names))
        raise OptionError(f"design '{design.label}' cannot estimate every coefficient of the law "
                          f"({', '.join(lost) or 'other columns'}); keep the levels the parameters' formulas need")
    noise = fit.scale * noise_factor(pilot.prior[template[mf.frame.index.to_numpy()][rows]], problem.n)
    return problem, noise, table


def _design_power(DesignPower, design, studies: pd.DataFrame, table: pd.DataFrame, pilot: _LawPilot, power_wanted,
                  rate, epochs):
    from ..scaling.plan import training_cost

    ok = studies[studies["ok"]]
    reject = (ok["wald_lower"] > 0) | (ok["wald_upper"] < 0)
    power = float(reject.mean()) if len(ok) else math.nan
    run_cols = ["run_id"] if "run_id" in table.columns else \
        [c for c in (*pilot.config, "train_size", "trial") if c in table.columns and c != "eval_set"]
    runs, images = training_cost(table, run_cols, epochs)
    groups = table[pilot.group_by].drop_duplicates().shape[0] if pilot.group_by else 1
    return DesignPower(design=design, sizes=tuple(sorted(float(s) for s in table["train_size"].unique())),
                       n_groups=int(groups), rows=len(table), runs=runs, images=images,
                       gpu_hours=None if rate is None else images / rate / 3600.0, power=power,
                       power_se=float(np.sqrt(power * (1 - power) / max(len(ok), 1))),
                       mean_estimate=float(ok["estimate"].mean()), mean_se=float(ok["se"].mean()),
                       sd_estimate=float(ok["estimate"].std(ddof=1)), failures=int((~studies["ok"]).sum()),
                       reaches=bool(power >= power_wanted))
