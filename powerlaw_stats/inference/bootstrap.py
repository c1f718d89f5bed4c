"""Wild bootstrap for least squares, M- and MM-estimates, with prior weights and clusters.

The unrestricted wild bootstrap on the whitened problem (rows times the square root of the
inverse-variance prior weights): ``y* = X b + e v``, with ``e`` the whitened residuals of the fit
and ``v`` drawn once per row, or once per cluster of the first cluster column (the wild cluster
bootstrap). Every replicate is refitted by the same estimator (least squares in closed form;
Huber and bisquare by IRWLS from the estimate; MM by its bisquare M-step at the S scale, which
is held fixed), all replicates of a block in one batched computation: there is no loop over
replications. From the replicates come

- percentile intervals (quantiles of ``b*``) and their p-values for ``b = 0``,
  ``2 min(P*(b* <= 0), P*(b* >= 0))``;
- studentized (percentile-t) intervals ``[b - q*(1 - a/2) se, b - q*(a/2) se]`` from the
  quantiles of ``t* = (b* - b) / se*`` and symmetric p-values ``P*(|t*| >= |b / se|)``, where
  ``se`` is the covariance the fit reports (classic, HC or CR; for robust fits their own formula)
  evaluated on the data and on each replicate.

Counts use Davison and Hinkley's ``(1 + #) / (B + 1)`` so no p-value is zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ..errors import OptionError
from ..estimation.least_squares import IrwlsControl, irwls, least_squares
from ..estimation.mm import MMControl, m_step, mm_covariance
from ..estimation.norms import Bisquare, make_norm
from .covariance import Clusters, check_level, make_clusters, rlm_sigma, sandwich_many

if TYPE_CHECKING:
    from ..results import FitResult

BootWeights = Literal["rademacher", "webb"]
BOOT_WEIGHTS: tuple[str, ...] = ("rademacher", "webb")
# Webb's six-point distribution: mean 0, variance 1, and many more distinct draws than
# Rademacher's two when there are few clusters
WEBB_POINTS = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
BLOCK_ELEMENTS = 4_000_000  # replicates x rows x coefficients held at once


@dataclass(frozen=True)
class BootstrapResult:
    """A wild bootstrap of a fit: intervals and p-values by the percentile and studentized methods."""

    n_boot: int
    weights: str
    seed: int
    level: float
    cluster: str | None
    studentized_by: str
    params: pd.Series
    bse: pd.Series  # the standard error that studentizes, on the data
    boot_se: pd.Series  # standard deviation of the replicates
    ci_percentile: pd.DataFrame
    ci_studentized: pd.DataFrame
    pvalues_percentile: pd.Series
    pvalues_studentized: pd.Series
    n_failed: int
    draws: np.ndarray = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        self.draws.flags.writeable = False

    def table(self) -> pd.DataFrame:
        """One row per coefficient: estimate, both intervals, both p-values, bootstrap SE."""
        lo, hi = self.ci_percentile.columns
        return pd.DataFrame({
            "Estimate": self.params, "Boot SE": self.boot_se,
            f"pct {lo}": self.ci_percentile[lo], f"pct {hi}": self.ci_percentile[hi], "pct p": self.pvalues_percentile,
            f"stud {lo}": self.ci_studentized[lo], f"stud {hi}": self.ci_studentized[hi], "stud p": self.pvalues_studentized,
        })

    def to_dict(self) -> dict:
        """JSON-ready: settings and one entry per term."""
        def num(x):
            return float(x) if np.isfinite(x) else None

        terms = [{
            "term": t, "estimate": num(self.params[t]), "boot_se": num(self.boot_se[t]),
            "ci_percentile": [num(v) for v in self.ci_percentile.loc[t]],
            "ci_studentized": [num(v) for v in self.ci_studentized.loc[t]],
            "p_percentile": num(self.pvalues_percentile[t]), "p_studentized": num(self.pvalues_studentized[t]),
        } for t in self.params.index]
        return {"n_boot": self.n_boot, "weights": self.weights, "seed": self.seed, "level": self.level,
                "cluster": self.cluster, "studentized_by": self.studentized_by, "n_failed": self.n_failed,
                "coefficients": terms}


# ----------------------------------------------------------------------------- weights


def wild_weights(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    """Draws of mean 0 and variance 1: Rademacher (±1) or Webb's six points.

    Examples
    --------
    >>> v = wild_weights(np.random.default_rng(0), (2000, 50), "webb")
    >>> bool(abs(v.mean()) < 0.01), bool(abs(v.var() - 1) < 0.01)
    (True, True)
    """
    draw = _WEIGHT_DRAWS.get(kind)
    if draw is None:
        raise OptionError(f"unknown bootstrap weights {kind!r}; choose one of {', '.join(BOOT_WEIGHTS)}")
    return draw(rng, shape)


_WEIGHT_DRAWS: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "rademacher": lambda rng, shape: rng.integers(0, 2, shape) * 2.0 - 1.0,
    "webb": lambda rng, shape: WEBB_POINTS[rng.integers(0, 6, shape)],
}


# ----------------------------------------------------------------------------- the problem


@dataclass(frozen=True)
class _Problem:
    """One fit set up for resampling: the whitened design, fitted values, residuals, the refit and SE."""

    xw: np.ndarray
    fitted: np.ndarray
    resid: np.ndarray
    coef: np.ndarray
    refit: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # Y* (B × n) -> coef (B × p), ok (B,)
    se: Callable[[np.ndarray, np.ndarray], np.ndarray]  # Y*, coef -> SE (B × p)
    rows: np.ndarray  # rows of the fit's data that take part
    clusters: Clusters | None  # of those rows


def _kind_se(problem_xw, clusters, kind, score_dpsi):
    """SE from a sandwich of ``kind``; ``score_dpsi(Y, coef)`` gives scores and psi' (or None)."""
    def se(y, coef):
        scores, dpsi = score_dpsi(y, coef)
        cov = sandwich_many(problem_xw, scores, dpsi, kind, clusters)
        return np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    return se


def _clusters_of(result: FitResult, rows: np.ndarray | None = None) -> Clusters | None:
    if not result.cluster:
        return None
    pick = (lambda v: v) if rows is None else (lambda v: v[rows])  # noqa: E731
    return make_clusters({name: pick(result.data[name].to_numpy()) for name in result.cluster})


def _ls_problem(result: FitResult) -> _Problem:
    design, w0 = result.design, result.prior_weights
    root = np.ones(len(design.y)) if w0 is None else np.sqrt(np.asarray(w0, dtype=float))
    kept = ~result.params.isna().to_numpy()
    xw, yw = design.x[:, kept] * root[:, None], design.y * root
    ls = least_squares(xw, yw)
    hat = ls.xtx_inv @ xw.T  # p × n: coef = Y @ hat.T
    df = result.df_resid
    clusters = _clusters_of(result)

    def refit(y):
        return y @ hat.T, np.ones(len(y), dtype=bool)

    def classic(y, coef):
        r = y - coef @ xw.T
        return np.sqrt(np.outer((r**2).sum(axis=1) / df, np.diag(ls.xtx_inv)))

    kind = result.vcov_kind
    se = classic if kind == "classic" else _kind_se(xw, clusters, kind, lambda y, c: (y - c @ xw.T, None))
    return _Problem(xw, xw @ ls.coef, ls.resid, ls.coef, refit, se, np.arange(len(yw)), clusters)


def _m_problem(result: FitResult) -> _Problem:
    design, w0 = result.design, result.prior_weights
    case = None if w0 is None or result.weight_type != "case" else np.asarray(w0, dtype=float)
    root = np.ones(len(design.y)) if w0 is None or case is not None else np.sqrt(np.asarray(w0, dtype=float))
    xw, yw = design.x * root[:, None], design.y * root
    norm = make_norm(result.method, result.tuning)
    ctl = result.control
    control = IrwlsControl(maxit=ctl["maxit"], acc=ctl["acc"], scale_est=ctl["scale_est"])
    coef = result.params.to_numpy()
    p = xw.shape[1]
    xtilde_inv = least_squares(design.x * np.sqrt(np.ones(len(yw)) if w0 is None else w0)[:, None], np.zeros(len(yw))).xtx_inv
    state: dict = {}
    clusters = _clusters_of(result)

    def refit(y):
        fit = irwls(xw, y, norm, case_weights=case, control=control, start=np.repeat(coef[None], len(y), axis=0))
        state["scale"] = fit.scale
        return fit.coef, fit.converged

    def scores(y, c):
        r = y - c @ xw.T
        u = r / state["scale"][:, None]
        return r * norm.weight(u), norm.dpsi(u)

    def classic(y, c):
        sigma = rlm_sigma(y - c @ xw.T, state["scale"], norm, p, case)
        return sigma[:, None] * np.sqrt(np.diag(xtilde_inv))[None]

    se = classic if result.vcov_kind == "classic" else _kind_se(xw, clusters, result.vcov_kind, scores)
    resid = yw - xw @ coef
    problem = _Problem(xw, xw @ coef, resid, coef, refit, se, np.arange(len(yw)), clusters)
    state["scale"] = np.array([result.scale])
    return problem


def _mm_problem(result: FitResult) -> _Problem:
    design, w0 = result.design, result.prior_weights
    rows = np.flatnonzero(np.ones(len(design.y), dtype=bool) if w0 is None else np.asarray(w0) > 0)
    root = np.ones(len(rows)) if w0 is None else np.sqrt(np.asarray(w0, dtype=float)[rows])
    xw, yw = design.x[rows] * root[:, None], design.y[rows] * root
    ctl = result.control
    control = MMControl(maxit=ctl["maxit"], acc=ctl["acc"])
    coef, s_coef = result.params.to_numpy(), np.asarray(ctl["s_coef"])
    scale = float(result.scale)
    norm = Bisquare(control.m_tuning)
    clusters = _clusters_of(result, rows)

    def refit(y):
        c, ok, _ = m_step(xw, y, np.repeat(coef[None], len(y), axis=0), np.full(len(y), scale), control)
        return c, ok

    def classic(y, c):
        cov = mm_covariance(xw, y - c @ xw.T, y - s_coef @ xw.T, np.full(len(y), scale), control)
        return np.sqrt(np.diagonal(cov, axis1=1, axis2=2))

    def scores(y, c):
        u = (y - c @ xw.T) / scale
        return scale * norm.psi(u), norm.dpsi(u)

    se = classic if result.vcov_kind == "classic" else _kind_se(xw, clusters, result.vcov_kind, scores)
    return _Problem(xw, xw @ coef, yw - xw @ coef, coef, refit, se, rows, clusters)


_PROBLEMS: dict[str, Callable[[FitResult], _Problem]] = {
    "ols": _ls_problem, "huber": _m_problem, "bisquare": _m_problem, "mm": _mm_problem,
}


# ----------------------------------------------------------------------------- the bootstrap


def wild_bootstrap(
    result: FitResult, n_boot: int = 999, weights: BootWeights = "rademacher", *, seed: int = 1,
    level: float | None = None,
) -> BootstrapResult:
    """Wild (cluster) bootstrap of a fit from :func:`powerlaw_stats.fit`, batched over replications.

    Draws are shared within clusters of the fit's first cluster column, when it has one; the
    studentized statistics use the fit's own covariance kind (``result.vcov_kind``).

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> res = ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", weights="w")
    >>> boot = wild_bootstrap(res, 199, seed=3)
    >>> lo, hi = boot.ci_studentized.loc["I(log2(TS) - IXMin)"]
    >>> bool(lo < res.params["I(log2(TS) - IXMin)"] < hi)
    True
    """
    level = result.level if level is None else level
    check_level(level)
    if int(n_boot) < 2:
        raise OptionError(f"the bootstrap needs at least 2 replications, got {n_boot!r}")
    if result.design is None:
        raise OptionError("this result carries no design matrix; fit it with powerlaw_stats.fit")
    problem = _PROBLEMS[result.method](result)
    draw_codes = None if problem.clusters is None else problem.clusters.terms[0][1]
    se0 = problem.se(problem.fitted[None] + problem.resid[None], problem.coef[None])[0]
    draws, stud, failed = _replicate(problem, int(n_boot), weights, seed, draw_codes)
    kept_names = result.params.index[~result.params.isna().to_numpy()]
    return _summarise(result, kept_names, problem.coef, se0, draws, stud, failed, int(n_boot), weights, seed, level)


def _replicate(problem: _Problem, n_boot: int, kind: str, seed: int, codes: np.ndarray | None):
    rng = np.random.default_rng(seed)
    n, p = problem.xw.shape
    n_draw = n if codes is None else int(codes.max()) + 1
    block = max(1, min(n_boot, BLOCK_ELEMENTS // (n * p)))
    draws, studs, failed = [], [], 0
    for start in range(0, n_boot, block):  # blocks bound memory; each block is one batched computation
        v = wild_weights(rng, (min(block, n_boot - start), n_draw), kind)
        v = v if codes is None else v[:, codes]
        y = problem.fitted[None] + problem.resid[None] * v
        coef, ok = problem.refit(y)
        se = problem.se(y, coef)
        ok = ok & np.isfinite(coef).all(axis=1) & np.isfinite(se).all(axis=1)
        failed += int((~ok).sum())
        draws.append(coef[ok])
        studs.append((coef[ok] - problem.coef) / se[ok])
    return np.concatenate(draws), np.concatenate(studs), failed


def _summarise(result, names, coef, se0, draws, stud, failed, n_boot, kind, seed, level) -> BootstrapResult:
    if len(draws) < 2:
        raise OptionError(f"{failed} of {n_boot} bootstrap refits failed; the bootstrap is not usable on this fit")
    alpha = 1 - level
    from ..results import ci_labels

    labels = ci_labels(level)
    b = len(draws)
    q_lo, q_hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
    t_lo, t_hi = np.quantile(stud, [alpha / 2, 1 - alpha / 2], axis=0)
    below, above = (draws <= 0).sum(axis=0), (draws >= 0).sum(axis=0)
    p_pct = np.minimum(1.0, 2 * np.minimum(1 + below, 1 + above) / (b + 1))
    t0 = coef / se0
    p_stud = (1 + (np.abs(stud) >= np.abs(t0)).sum(axis=0)) / (b + 1)
    series = lambda v: pd.Series(np.asarray(v, dtype=float), index=names)  # noqa: E731
    frame = lambda lo, hi: pd.DataFrame({labels[0]: lo, labels[1]: hi}, index=names)  # noqa: E731
    return BootstrapResult(
        n_boot=n_boot, weights=kind, seed=seed, level=level,
        cluster=result.cluster[0] if result.cluster else None,
        studentized_by=result.vcov if result.vcov_kind != "classic" else f"classic ({result.vcov})",
        params=series(coef), bse=series(se0), boot_se=series(draws.std(axis=0, ddof=1)),
        ci_percentile=frame(q_lo, q_hi), ci_studentized=frame(coef - t_hi * se0, coef - t_lo * se0),
        pvalues_percentile=series(p_pct), pvalues_studentized=series(p_stud), n_failed=failed, draws=draws,
    )
