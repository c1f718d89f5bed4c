"""The numbers behind the report: the data's layout, the three fits, Breusch–Pagan, the verdict.

Functions here compute; :mod:`.sections` turns their results into prose, tables and figures, and
``results.json`` is written from the same objects, so the page and the JSON cannot disagree.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning
from ..estimation.methods import DEFAULT_SIMULATED, METHODS, label_words
from ..fitting import breusch_pagan, fit_covariances, fit_fixed
from ..inference.bootstrap import wild_bootstrap
from ..inference.distributions import t_sf2
from ..inference.tests import TestResult, t_quantile
from ..options import BootWeights, SeLabel
from ..plots.fit import CurveLayout
from ..results import FitResult

ESTIMATORS: tuple[str, ...] = tuple(METHODS)  # every fit the report shows
# estimators the simulation checks by default: MM's batched fit costs about 25 times the other three
# together per trial, which would put the default report far past its time budget; --sim-estimators adds it
SIM_ESTIMATORS: tuple[str, ...] = DEFAULT_SIMULATED


# ----------------------------------------------------------------------------- estimator and covariance labels


# the conclusion's label of the linear mixed model that dependence="auto" fits (report/dependence.py)
MIXED_LABEL = "lmm"


def estimator_name(label: str) -> str:
    """An estimator and its SE in the page's words.

    Examples
    --------
    >>> estimator_name("ols"), estimator_name("bisquare+CR1"), estimator_name("lmm")
    ('least squares', 'bisquare with CR1 SEs', 'the linear mixed model with (1|run_id) + (1|split_id)')
    """
    if label == MIXED_LABEL:
        return "the linear mixed model with (1|run_id) + (1|split_id)"
    return label_words(label, "prose")


# ----------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class Covariance:
    """The cluster-robust standard errors the tables show: kind, cluster columns, clusters in each."""

    kind: str  # "CR1" | "CR3"
    cluster: tuple[str, ...]
    n_clusters: tuple[int, ...]

    def words(self) -> str:
        """E.g. "CR1 cluster-robust standard errors, clustered by `run_id` (288 clusters)"."""
        by = " and ".join(f"`{c}` ({n} clusters)" for c, n in zip(self.cluster, self.n_clusters))
        two = ", two-way (Cameron, Gelbach and Miller)" if len(self.cluster) > 1 else ""
        return f"{self.kind} cluster-robust standard errors, clustered by {by}{two}"

    def short(self) -> str:
        """E.g. "CR1 by run_id"."""
        return f"{self.kind} by {', '.join(self.cluster)}"

    def to_dict(self) -> dict:
        """The covariance as results.json holds it."""
        return {"kind": self.kind, "cluster": list(self.cluster), "n_clusters": dict(zip(self.cluster, self.n_clusters))}


@dataclass(frozen=True)
class Fits:
    """The model fitted by each estimator with the same prior weights, and what went wrong.

    ``results`` are the fits the tables show: with ``covariance`` their SEs are cluster-robust, and
    ``classic`` holds the same fits with the estimator's classic SE, which the simulation compares.
    """

    results: Mapping[str, FitResult]
    warnings: tuple[str, ...]
    covariance: Covariance | None = None
    classic: Mapping[str, FitResult] = field(default_factory=dict)

    @property
    def ols(self) -> FitResult:
        """The least-squares fit."""
        return self.results["ols"]

    def label(self, method: str) -> str:
        """The label of the SE the tables show for ``method``: ``"ols"`` or ``"ols+CR1"``."""
        return str(SeLabel(method, self.covariance.kind if self.covariance else "classic"))

    @property
    def variants(self) -> dict[str, FitResult]:
        """Every fit by label, estimator by estimator: classic SE first, then the tables' own."""
        out: dict[str, FitResult] = {}
        for m, shown in self.results.items():
            classic = self.classic.get(m)
            if classic is not None:
                out[m] = classic
            out[self.label(m)] = shown
        return out


class TableFit(NamedTuple):
    """One estimator's fit as the tables show it, and with a cluster the same estimate with its classic SE."""

    shown: FitResult
    classic: FitResult | None = None


def fit_all(formula: str, frame: pd.DataFrame, weights: str | None, level: float, cluster: Sequence[str] = (),
            kind: str | None = None, ols: TableFit | None = None) -> Fits:
    """Every estimator on the same rows and weights, collecting convergence warnings.

    With ``cluster`` each estimate gets two covariances from one fit: the ``kind`` (CR1 or CR3)
    the tables show, and its classic one for the simulation's comparison. ``ols``: the tables'
    least-squares fit, made already by :func:`fit_table` with the same settings.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fits = {m: ols if m == "ols" and ols is not None else fit_table(formula, frame, m, weights, level, cluster, kind)
                for m in ESTIMATORS}
    messages = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)))
    covariance = (Covariance(kind or "CR1", tuple(cluster), tuple(int(frame[c].nunique()) for c in cluster))
                  if cluster else None)
    classic = {m: f.classic for m, f in fits.items() if f.classic is not None}
    return Fits({m: f.shown for m, f in fits.items()}, messages, covariance, classic)


def fit_table(formula: str, frame: pd.DataFrame, method: str, weights: str | None, level: float,
              cluster: Sequence[str] = (), kind: str | None = None) -> TableFit:
    """One estimator's fit as the tables show it: with the ``kind`` of covariance by ``cluster``, else classic.

    With ``cluster`` the classic covariance of the same estimate comes beside it, from the same fit.
    """
    if not cluster:
        return TableFit(fit_fixed(formula, frame, method=method, weights=weights, level=level))
    shown = kind or "CR1"
    both = fit_covariances(formula, frame, method, weights, kinds=(shown, "classic"), cluster=list(cluster), level=level)
    return TableFit(both[shown], both["classic"])


def bootstrap_fits(fits: Fits, n_boot: int, weights: BootWeights, seed: int) -> Fits:
    """Each shown fit with its wild (cluster) bootstrap, as ``fit(..., bootstrap=n_boot, seed=seed)`` gives it."""
    boot = {m: dataclasses.replace(r, bootstrap=wild_bootstrap(r, n_boot, weights, seed=seed)) for m, r in fits.results.items()}
    return dataclasses.replace(fits, results=boot)


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataSummary:
    """What the data look like to the model: groups, sizes, runs per size, rows dropped."""

    rows_read: int
    rows_used: int
    dropped: Mapping[str, int]
    x: str
    groups: tuple[str, ...]
    effect_factor: str | None
    sizes: tuple[float, ...]
    counts: pd.DataFrame  # rows: group and effect level; columns: sizes; cells: runs (rows)
    trials_column: Mapping[float, tuple[int, ...]] | None  # the `trials` column's values at each size

    def to_dict(self) -> dict:
        """The data's layout as results.json holds it."""
        return {
            "rows_read": self.rows_read, "rows_used": self.rows_used, "dropped": dict(self.dropped), "x": self.x,
            "group_columns": list(self.groups), "effect_factor": self.effect_factor, "sizes": list(self.sizes),
            "runs_per_size": {g: {_key(s): int(v) for s, v in row.items()} for g, row in self.counts.iterrows()},
            "trials_column": None if self.trials_column is None else {_key(s): list(v) for s, v in self.trials_column.items()},
        }


def _key(size: float) -> str:
    return f"{size:g}"


def summarize_data(result: FitResult, layout: CurveLayout, rows_read: int, dropped: Mapping[str, int]) -> DataSummary:
    """Count runs by size and group (and effect level) in the rows the model used."""
    frame = result.data.reset_index(drop=True)
    columns = _group_labels(frame, layout)
    counts = pd.crosstab(columns, frame[layout.x]).sort_index(axis=1)
    counts.index.name = None
    trials = None
    if "trials" in frame.columns:
        trials = {float(s): tuple(sorted(int(t) for t in g.unique())) for s, g in frame.groupby(layout.x)["trials"]}
    return DataSummary(
        rows_read=rows_read, rows_used=len(frame), dropped=dict(dropped), x=layout.x, groups=layout.groups,
        effect_factor=layout.effect, sizes=tuple(float(s) for s in counts.columns), counts=counts, trials_column=trials,
    )


def _group_labels(frame: pd.DataFrame, layout: CurveLayout) -> pd.Series:
    cols = [*layout.groups, *([layout.effect] if layout.effect else [])]
    if not cols:
        return pd.Series("all runs", index=frame.index)
    text = frame[cols].astype(str)
    return text.apply(lambda r: ", ".join(f"{c}={r[c]}" for c in cols), axis=1)


def weight_summary(result: FitResult) -> dict:
    """How many runs an IRWLS fit down-weighted or rejected, and its smallest weight."""
    w = np.asarray(result.weights)
    return {"down_weighted": int(np.sum(w < 1)), "below_half": int(np.sum(w < 0.5)), "rejected": int(np.sum(w == 0)),
            "min_weight": float(w.min()), "n": len(w)}


# ----------------------------------------------------------------------------- residual shape and variance


@dataclass(frozen=True)
class ResidualShape:
    """Skewness and excess kurtosis of the raw residuals: what the QQ plot shows, in two numbers."""

    skewness: float
    excess_kurtosis: float

    def to_dict(self) -> dict:
        """The two numbers as results.json holds them."""
        return {"skewness": self.skewness, "excess_kurtosis": self.excess_kurtosis}


def residual_shape(resid: np.ndarray) -> ResidualShape:
    """Moment skewness and excess kurtosis (biased, as ``e1071::skewness`` type 1).

    Examples
    --------
    >>> round(residual_shape(np.array([0.0, 0.0, 0.0, 3.0])).skewness, 3)
    1.155
    """
    z = np.asarray(resid, dtype=float) - np.mean(resid)
    m2 = np.mean(z**2)
    return ResidualShape(float(np.mean(z**3) / m2**1.5), float(np.mean(z**4) / m2**2 - 3.0))


@dataclass(frozen=True)
class VarianceTests:
    """Breusch–Pagan as the report uses it (``main``) and in lmtest's form for comparison with R."""

    main: TestResult
    lmtest: TestResult | None  # None when it is the same test (an unweighted fit)

    def to_dict(self) -> dict:
        """Both tests as results.json holds them."""
        return {"main": self.main.to_dict(), "lmtest": None if self.lmtest is None else self.lmtest.to_dict()}


def variance_tests(result: FitResult) -> VarianceTests:
    """Breusch–Pagan as the report uses it, and lmtest's form beside it for a weighted fit."""
    main = breusch_pagan(result)
    return VarianceTests(main, breusch_pagan(result, whitened=False) if result.is_weighted else None)


# ----------------------------------------------------------------------------- simulation verdict


@dataclass(frozen=True)
class SeCheck:
    """One estimator in one simulated scenario: is its standard error honest?"""

    estimator: str
    scenario: str
    se_ratio: float
    coverage: float
    sd_estimate: float
    ok: bool
    judged: bool = True  # False: a design other than the data's, shown for comparison only


@dataclass(frozen=True)
class Verdict:
    """Which estimator's standard error the simulation says to trust, and why."""

    trusted: tuple[str, ...]  # estimators whose SE was honest in every scenario
    recommended: str
    reason: str
    ratio_tolerance: float
    coverage_tolerance: float
    checks: tuple[SeCheck, ...]

    def to_dict(self) -> dict:
        """The verdict and every check as results.json holds them."""
        return {
            "trusted": list(self.trusted), "recommended": self.recommended, "reason": self.reason,
            "ratio_tolerance": self.ratio_tolerance, "coverage_tolerance": self.coverage_tolerance,
            "checks": [c.__dict__ for c in self.checks],
        }


def tolerances(n_trials: int, level: float) -> tuple[float, float]:
    """How far SE ratio and coverage may stray from 1 and ``level`` before an SE counts as wrong.

    Three Monte-Carlo standard errors (the SD of T estimates is itself off by about 1/sqrt(2T);
    a coverage by sqrt(level(1-level)/T)), but never tighter than 10 % and 1.5 points: smaller
    errors do not change a conclusion.

    Examples
    --------
    >>> [round(t, 4) for t in tolerances(1000, 0.95)]
    [0.1, 0.0207]
    """
    ratio = max(0.10, 3 / np.sqrt(2 * max(n_trials - 1, 1)))
    coverage = max(0.015, 3 * np.sqrt(level * (1 - level) / n_trials))
    return float(ratio), float(coverage)


def se_verdict(rows: Sequence[Mapping], n_trials: int, level: float, realistic: Sequence[str],
               judged: Sequence[str] | None = None) -> Verdict:
    """Judge each estimator from the simulation's summary rows of the effect term.

    ``rows`` carry ``estimator, scenario, se_ratio, coverage, sd_estimate``. Only scenarios in
    ``judged`` (default: all) count: those with the data's own design; the others show what
    another design would do. An estimator's SE is trusted when, in every judged scenario, its SE
    ratio is within the ratio tolerance of 1 and its coverage within the coverage tolerance of
    ``level``. Among the trusted, the one with the smallest spread of estimates in the judged
    ``realistic`` scenarios (the residuals like the data's) is recommended: honest and most
    precise. If none is trusted, the one whose worst judged SE ratio is closest to 1.

    Rows may be labelled by estimator and covariance ("huber", "huber+CR1"): such variants share
    their estimates, so when several are honest with the same spread, the one whose worst SE ratio
    strays least from 1 is recommended.
    """
    tol_r, tol_c = tolerances(n_trials, level)
    counts = set(judged) if judged is not None else {r["scenario"] for r in rows}
    checks = tuple(SeCheck(r["estimator"], r["scenario"], float(r["se_ratio"]), float(r["coverage"]), float(r["sd_estimate"]),
                           bool(abs(r["se_ratio"] - 1) <= tol_r and abs(r["coverage"] - level) <= tol_c),
                           r["scenario"] in counts) for r in rows)
    counted = [c for c in checks if c.judged]
    estimators = list(dict.fromkeys(c.estimator for c in checks))
    trusted = tuple(e for e in estimators if all(c.ok for c in counted if c.estimator == e))
    worst = {e: max(abs(c.se_ratio - 1) for c in counted if c.estimator == e) for e in estimators}
    if trusted:
        spread = {e: np.mean([c.sd_estimate for c in counted if c.estimator == e and c.scenario in realistic] or [np.inf])
                  for e in trusted}
        best = min(trusted, key=lambda e: (spread[e], worst[e]))
        reason = (f"its standard error was honest in every scenario judged, and its estimates varied least "
                  f"(SD {spread[best]:.3g}) under residuals like the data's")
        if sum(spread[e] == spread[best] for e in trusted) > 1:
            reason += f"; of the standard errors for these estimates, its SE ratio strayed least from 1 (by {worst[best]:.0%})"
    else:
        best = min(estimators, key=lambda e: worst[e])
        low = min(c.coverage for c in counted if c.estimator == best)
        reason = (f"no estimator's standard error was honest in every scenario judged; {estimator_name(best)}'s "
                  f"strayed least (worst SE ratio off by {worst[best]:.0%}, lowest coverage {low:.1%} "
                  f"against {level:.0%})")
    return Verdict(trusted, best, reason, tol_r, tol_c, checks)


@dataclass(frozen=True, kw_only=True)
class Calibrated:
    """The recommended estimator's test of the effect with its SE scaled by what the simulation measured.

    ``se_ratio`` is the smallest (most optimistic) SE ratio of that estimator under residuals like
    the data's; the calibrated SE is the reported SE divided by it, so it matches the spread the
    simulation saw, and the interval and p-value follow from it with the fit's residual df.
    """

    estimator: str
    se_ratio: float
    std_error: float
    t_value: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        """The calibrated test as results.json holds it."""
        return dict(self.__dict__)


def calibrated_test(coef: Mapping[str, float], verdict: Verdict, realistic: Sequence[str], df: float,
                    level: float) -> Calibrated | None:
    """The effect's test with an SE the simulation found too small scaled up; None when the SE passed.

    Applied when the recommended estimator did not pass the check (no estimator did) and its SE
    ratio under residuals like the data's, in the judged scenarios, is below 1.

    Examples
    --------
    >>> v = Verdict((), "ols", "", 0.1, 0.02, (SeCheck("ols", "skewed-hetero/n", 0.5, 0.7, 0.01, False),))
    >>> c = calibrated_test({"estimate": -0.03, "std_error": 0.005}, v, ["skewed-hetero/n"], 400, 0.95)
    >>> round(c.std_error, 4), round(c.t_value, 2)
    (0.01, -3.0)
    """
    ratios = [c.se_ratio for c in verdict.checks
              if c.estimator == verdict.recommended and c.scenario in realistic and c.judged]
    if verdict.recommended in verdict.trusted or not ratios or min(ratios) >= 1:
        return None
    ratio = min(ratios)
    se = coef["std_error"] / ratio
    t = coef["estimate"] / se
    half = t_quantile(level, df) * se
    return Calibrated(estimator=verdict.recommended, se_ratio=ratio, std_error=se, t_value=t,
                      p_value=float(t_sf2(df, np.array([t]))[0]), ci_low=coef["estimate"] - half,
                      ci_high=coef["estimate"] + half)


# ----------------------------------------------------------------------------- conclusion


@dataclass(frozen=True)
class Agreement:
    """Do the estimators tell the same story about the effect?"""

    same_sign: bool
    same_significance: bool
    within_each_others_ci: bool

    @property
    def agree(self) -> bool:
        """Same sign and same significance."""
        return self.same_sign and self.same_significance

    def to_dict(self) -> dict:
        """The comparison as results.json holds it."""
        return {"same_sign": self.same_sign, "same_significance": self.same_significance,
                "within_each_others_ci": self.within_each_others_ci, "agree": self.agree}


def agreement(rows: Mapping[str, Mapping[str, float]], alpha: float) -> Agreement:
    """Compare per-estimator ``estimate, ci_low, ci_high, p_value`` of one term.

    Examples
    --------
    >>> a = {"estimate": -1.0, "ci_low": -2.0, "ci_high": -0.5, "p_value": 0.01}
    >>> b = {"estimate": -0.8, "ci_low": -1.5, "ci_high": -0.1, "p_value": 0.03}
    >>> agreement({"ols": a, "huber": b}, 0.05).agree
    True
    """
    est = [r["estimate"] for r in rows.values()]
    sig = [r["p_value"] < alpha for r in rows.values()]
    inside = all(o["ci_low"] <= r["estimate"] <= o["ci_high"] for r in rows.values() for o in rows.values())
    return Agreement(len({np.sign(e) for e in est}) == 1, len(set(sig)) == 1, bool(inside))
