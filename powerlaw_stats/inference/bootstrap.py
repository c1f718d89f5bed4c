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

import numpy as np
import pandas as pd

from ..errors import OptionError
from ..estimation.methods import METHODS, Estimate, Problem, Resampling
from ..formats import ci_labels
from ..options import BootWeights, check_count, check_level, check_option
from ..results import BootstrapResult, FitResult

# Webb's six-point distribution: mean 0, variance 1, and many more distinct draws than
# Rademacher's two when there are few clusters
WEBB_POINTS = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])
BLOCK_ELEMENTS = 4_000_000  # replicates x rows x coefficients held at once


# ----------------------------------------------------------------------------- weights


def wild_weights(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    """Draws of mean 0 and variance 1: Rademacher (±1) or Webb's six points.

    Examples
    --------
    >>> v = wild_weights(np.random.default_rng(0), (2000, 50), "webb")
    >>> bool(abs(v.mean()) < 0.01), bool(abs(v.var() - 1) < 0.01)
    (True, True)
    """
    return _WEIGHT_DRAWS[check_option(kind, BootWeights, "bootstrap weights")](rng, shape)


_WEIGHT_DRAWS: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "rademacher": lambda rng, shape: rng.integers(0, 2, shape) * 2.0 - 1.0,
    "webb": lambda rng, shape: WEBB_POINTS[rng.integers(0, 6, shape)],
}


# ----------------------------------------------------------------------------- the fit, set up for resampling


def resampling(result: FitResult) -> Resampling:
    """The fit's method set up for the bootstrap, from the arrays and settings the result holds."""
    design, frame = result.design, result.data
    m = METHODS[result.method]
    if m.resample is None:
        raise OptionError(f"method {m.name!r} has no wild bootstrap yet")
    problem = Problem(x=design.x, y=design.y, prior_weights=result.prior_weights, column_names=design.column_names,
                      intercept=design.intercept, settings=result.settings,
                      clusters={name: frame[name].to_numpy() for name in result.cluster})
    estimate = Estimate(coef=result.params.to_numpy(), scale=float(result.scale), df_resid=result.df_resid,
                        tuning=result.tuning, s_coef=result.s_estimate)
    return m.resample(problem, estimate)


# ----------------------------------------------------------------------------- the bootstrap


def wild_bootstrap(
    result: FitResult, n_boot: int = 999, weights: BootWeights = "rademacher", *, seed: int = 1,
    level: float | None = None,
) -> BootstrapResult:
    """Wild (cluster) bootstrap of a fit from :func:`powerlaw_stats.fit`, batched over replications.

    Draws are shared within clusters of the fit's first cluster column, when it has one; the
    studentized statistics use the fit's own covariance kind (``result.vcov_kind``).

    Parameters
    ----------
    result : FitResult
        A fit of any method in the registry that has a resampling.
    n_boot : int
        Replications, at least 2 (9999 for p-values near 0.01).
    weights : {"rademacher", "webb"}
        The wild weights: ±1, or Webb's six points (better with few clusters).
    seed : int
        Seed of the draws.
    level : float, optional
        Level of the intervals (default: the fit's).

    Returns
    -------
    BootstrapResult
        Percentile and studentized intervals and p-values per coefficient.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> res = ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", weights="w")
    >>> boot = wild_bootstrap(res, 199, seed=3)
    >>> lo, hi = boot.ci_studentized.loc["I(log2(TS) - IXMin)"]
    >>> bool(lo < res.params["I(log2(TS) - IXMin)"] < hi)
    True
    """
    level = check_level(result.level if level is None else level)
    check_count(n_boot, "the number of bootstrap replications", 2)
    check_option(weights, BootWeights, "bootstrap weights")
    problem = resampling(result)
    draw_codes = None if problem.clusters is None else problem.clusters.terms[0][1]
    se0 = problem.se(problem.fitted[None] + problem.resid[None], problem.coef[None])[0]
    draws, stud, failed = _replicate(problem, int(n_boot), weights, seed, draw_codes)
    kept_names = result.params.index[~result.params.isna().to_numpy()]
    return _summarise(result, kept_names, problem.coef, se0, draws, stud, failed, int(n_boot), weights, seed, level)


def _replicate(problem: Resampling, n_boot: int, kind: str, seed: int, codes: np.ndarray | None):
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
