"""Do a law's intervals hold their level? Simulated studies shaped like the seed's grid.

A study is the seed's design: two training sets × two evaluation sets × mixup on/off, trained on
``1/2^k`` of a pool (``n_sizes`` sizes, the largest the whole pool), ``runs`` runs per size
(``trial_scheme="seed"``: ``max(n, runs)`` runs on ``1/n`` of the pool, weighted ``1/trials``,
as the seed did). Each row's log2 error is the law at the true coefficients plus normal noise of
SD ``sigma`` (the same for every row: one row is one run). Every study is fitted from scratch by
:func:`fit_law`'s machinery (the law's starts, no knowledge of the truth), and each chosen term's
Wald and profile intervals are checked against the truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import OptionError, SingularDesignError
from ..inference.covariance import make_clusters
from ..inference.tests import t_quantile
from .design import parse_params
from .fit import prepare
from .identification import profile_terms
from .problem import LawProblem, covariance, estimate
from .registry import get_law
from .solver import DEFAULT_CONTROL, NlsControl

TrialScheme = Literal["fixed", "seed"]

# a study like the seed's CIFAR-10/CINIC-10 grid with a floor: floors 0.03 (CIFAR-10 test set) and
# 0.15 (CINIC-10), slopes near the seed's, mixup steepening the slope by 0.05
DEFAULT_PARAMS = {"E": "EvalSet", "a": "TrainSet*EvalSet", "b": "mix + TrainSet*EvalSet"}
DEFAULT_TRUTH = {
    "E.(Intercept)": 0.03, "E.EvalSetcinic10": 0.12,
    "a.(Intercept)": -0.6, "a.TrainSetcinic10": 0.4, "a.EvalSetcinic10": 0.1, "a.TrainSetcinic10:EvalSetcinic10": -0.3,
    "b.(Intercept)": -0.75, "b.mix1": -0.05, "b.TrainSetcinic10": 0.05, "b.EvalSetcinic10": 0.3,
    "b.TrainSetcinic10:EvalSetcinic10": -0.2,
}


@dataclass(frozen=True, kw_only=True)
class StudyDesign:
    """The grid of one simulated study."""

    n_sizes: int = 5
    runs: int = 4
    pool: int = 50000
    trial_scheme: TrialScheme = "fixed"

    def __post_init__(self) -> None:
        """Refuse a grid without two sizes or a run, or an unknown trial scheme."""
        if self.n_sizes < 2 or self.runs < 1:
            raise OptionError("a study needs at least two sizes and one run per size")
        if self.trial_scheme not in ("fixed", "seed"):
            raise OptionError(f"trial_scheme must be 'fixed' or 'seed', got {self.trial_scheme!r}")

    def table(self) -> pd.DataFrame:
        """The study's rows in the learning-curve schema (error filled in later)."""
        rows = []
        for k in range(self.n_sizes):
            n = 2 ** (self.n_sizes - 1 - k)  # 1/n of the pool; the last size is the whole pool
            trials = max(n, self.runs) if self.trial_scheme == "seed" else self.runs
            for train in ("cifar10", "cinic10"):
                for mix in (0, 1):
                    for t in range(trials):
                        run = f"{train}-{mix}-{k}-{t}"
                        for ev in ("cifar10", "cinic10"):
                            rows.append({"run_id": run, "train_set": train, "eval_set": ev, "mixup": mix,
                                         "train_size": self.pool // n, "trials": trials, "error": 0.5})
        return pd.DataFrame(rows)


def simulate_study(truth: Mapping[str, float] = DEFAULT_TRUTH, params: Mapping[str, str] = DEFAULT_PARAMS, *,
                   design: StudyDesign = StudyDesign(), sigma: float = 0.08, seed: int = 1,
                   law: str = "saturating") -> pd.DataFrame:
    """One simulated study as a learning-curve table (``error`` drawn from the law at ``truth``).

    Examples
    --------
    >>> table = simulate_study(seed=2)
    >>> len(table), sorted(table.train_size.unique().tolist())[:2]
    (160, [3125, 6250])
    """
    law_ = get_law(law)
    table = design.table()
    problem, design_, _, _, _, _ = prepare(table, law_, parse_params(law_, params), weights="w")
    theta = _truth_vector(truth, design_.names)
    y = problem.fitted(theta) + sigma * np.random.default_rng(seed).standard_normal(problem.n)
    return table.assign(error=np.exp2(y) if law_.response == "log_err" else y)


def _truth_vector(truth: Mapping[str, float], names) -> np.ndarray:
    missing = set(names) - set(truth)
    if missing:
        raise OptionError(f"truth lacks {', '.join(sorted(missing))}")
    return np.array([float(truth[n]) for n in names])


@dataclass(frozen=True, kw_only=True)
class CoverageResult:
    """Per-study estimates and intervals, and the coverage of each term (with its Monte Carlo SE)."""

    studies: pd.DataFrame
    summary: pd.DataFrame
    design: StudyDesign
    sigma: float
    level: float


def coverage(truth: Mapping[str, float] = DEFAULT_TRUTH, params: Mapping[str, str] = DEFAULT_PARAMS, *,
             design: StudyDesign = StudyDesign(), sigma: float = 0.08, n_studies: int = 1000, seed: int = 1,
             terms: Sequence[str] = ("b.mix1",), level: float = 0.95, profile: bool = True,
             law: str = "saturating", vcov: str = "classic") -> CoverageResult:
    """Simulate ``n_studies`` studies and check the Wald (and profile) intervals of ``terms``.

    Examples
    --------
    >>> res = coverage(n_studies=3, profile=False)
    >>> list(res.summary.index), int(res.summary.loc["b.mix1", "studies"])
    (['b.mix1'], 3)
    """
    law_ = get_law(law)
    problem, design_, mf, _, _, _ = prepare(design.table(), law_, parse_params(law_, params), weights="w")
    names = list(design_.names)
    theta = _truth_vector(truth, names)
    unknown = set(terms) - set(names)
    if unknown:
        raise OptionError(f"unknown terms {', '.join(sorted(unknown))}; the model's are {', '.join(names)}")
    mean = problem.fitted(theta)
    if not np.all(np.isfinite(mean)):
        raise OptionError("the true coefficients give a non-finite mean somewhere in the design")
    rng = np.random.default_rng(seed)
    idx = [names.index(t) for t in terms]
    clusters = make_clusters({"run_id": mf.frame["run_id"].to_numpy()}) if vcov in ("CR1", "CR3") else None
    rows = []
    for s in range(int(n_studies)):
        y = mean + sigma * rng.standard_normal(problem.n)
        rows.extend(_one_study(problem.with_y(y), s, theta, idx, terms, vcov, clusters, level, profile))
    studies = pd.DataFrame(rows)
    return CoverageResult(studies=studies, summary=_summary(studies, level), design=design, sigma=float(sigma),
                          level=float(level))


def _one_study(problem: LawProblem, s: int, truth: np.ndarray, idx, terms, vcov, clusters, level, profile) -> list[dict]:
    try:
        est = estimate(problem, None)
        cov, df = covariance(problem, est, None, vcov, clusters)
    except (SingularDesignError, OptionError, np.linalg.LinAlgError):
        return [{"study": s, "term": t, "ok": False} for t in terms]
    q = t_quantile(level, df)
    scale = math.sqrt(est.rss / df)
    prof = None
    if profile:
        prof = profile_terms(problem, est, None, _ProfileOptions(level), list(terms), scale, df)
    out = []
    for t, j in zip(terms, idx):
        se = math.sqrt(max(cov[j, j], 0.0))
        row = {"study": s, "term": t, "ok": bool(est.converged), "estimate": est.theta[j], "se": se,
               "wald_lower": est.theta[j] - q * se, "wald_upper": est.theta[j] + q * se,
               "bound_active": bool(est.active.any()), "truth": truth[j]}
        if prof is not None:
            row["profile_lower"], row["profile_upper"] = prof.loc[t, "lower"], prof.loc[t, "upper"]
        out.append(row)
    return out


@dataclass(frozen=True)
class _ProfileOptions:
    """What :func:`profile_terms` reads from a fit's options."""

    level: float
    control: NlsControl = DEFAULT_CONTROL


def _summary(studies: pd.DataFrame, level: float) -> pd.DataFrame:
    out = {}
    for term, g in studies.groupby("term", sort=False):
        ok = g[g["ok"]]
        n = len(ok)
        row = {"studies": len(g), "failed": int((~g["ok"]).sum()), "truth": float(ok["truth"].iloc[0]) if n else math.nan,
               "mean_estimate": ok["estimate"].mean(), "sd_estimate": ok["estimate"].std(ddof=1),
               "mean_se": ok["se"].mean(), "bound_active": ok["bound_active"].mean()}
        # the share of studies whose interval excludes zero: the power (or, with a zero truth, the size)
        row["wald_rejects"] = float(((ok["wald_lower"] > 0) | (ok["wald_upper"] < 0)).mean()) if n else math.nan
        for kind in ("wald", "profile"):
            if f"{kind}_lower" in ok:
                hit = (ok[f"{kind}_lower"] <= ok["truth"]) & (ok["truth"] <= ok[f"{kind}_upper"])
                cov = float(hit.mean()) if n else math.nan
                row[f"{kind}_coverage"] = cov
                row[f"{kind}_mc_se"] = math.sqrt(cov * (1 - cov) / n) if n else math.nan
        out[term] = row
    return pd.DataFrame(out).T
