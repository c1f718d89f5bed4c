"""Bootstraps of a fitted law: the wild (cluster) bootstrap, and resampling of rows.

The wild bootstrap is :mod:`powerlaw_stats.bootstrap`'s, on the law: ``y* = f(θ̂) + (y − f(θ̂))·v``
with Rademacher or Webb draws ``v`` per row, or per cluster of the fit's first cluster column;
every replicate is refitted by the fit's own estimator (least squares or IRWLS, same bounds) from
θ̂, and its standard errors by the fit's own covariance kind, for the studentized intervals.
``kind="pairs"`` resamples rows with replacement instead (whole clusters of the first cluster
column when the fit has them; a cluster drawn twice counts twice in a replicate's cluster-robust
SE), as scaling-law papers bootstrap; ``indices`` replays a given set of resamples exactly. Refits run one
after another: a nonlinear fit with an active set does not batch the way least squares does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import OptionError, SingularDesignError
from ..estimation.norms import make_norm
from ..inference.bootstrap import _summarise, wild_weights
from ..inference.covariance import make_clusters
from ..options import BootWeights, check_level, check_option
from ..results import BootstrapResult
from .problem import LawProblem, covariance, estimate
from .result import LawFit
from .solver import NlsControl

BootKind = Literal["wild", "pairs"]
BOOT_KINDS: tuple[str, ...] = ("wild", "pairs")


def law_bootstrap(fit: LawFit, n_boot: int = 999, kind: BootKind = "wild", weights: str = "rademacher", *,
                  seed: int | None = None, level: float | None = None,
                  indices: np.ndarray | None = None) -> BootstrapResult:
    """Bootstrap a :class:`~powerlaw_stats.laws.LawFit`: percentile and studentized intervals.

    Parameters
    ----------
    fit : a result of :func:`~powerlaw_stats.laws.fit_law`.
    n_boot : replications (ignored when ``indices`` is given).
    kind : "wild" (residuals times draws of mean 0, variance 1) or "pairs" (rows resampled).
    weights : the wild draws, "rademacher" or "webb".
    seed, level : the draws' seed (the fit's by default) and the intervals' level.
    indices : for "pairs", an array (B × n) of row positions among the fit's rows with positive
        weight, to replay a published set of resamples.

    Examples
    --------
    >>> from powerlaw_stats.laws import fit_law
    >>> res = fit_law(law="saturating", params={"E": "0", "b": "~ mix"}, weights="w", profile=False, compare=False)
    >>> boot = law_bootstrap(res, 49, seed=3)
    >>> boot.n_boot, boot.n_failed
    (49, 0)
    """
    if kind not in BOOT_KINDS:
        raise OptionError(f"unknown bootstrap kind {kind!r}; choose one of {', '.join(BOOT_KINDS)}")
    if kind == "wild":
        check_option(weights, BootWeights, "bootstrap weights")
    if indices is not None and kind != "pairs":
        raise OptionError("indices replay resamples of rows: use kind='pairs'")
    if not isinstance(fit.problem, LawProblem):
        raise OptionError("this result carries no problem to refit; fit it with fit_law")
    level = fit.level if level is None else level
    check_level(level)
    seed = fit.seed if seed is None else int(seed)
    problem: LawProblem = fit.problem
    replicates = _resamples(fit, problem, int(n_boot), kind, weights, seed, indices)
    theta0 = fit.params.to_numpy()
    draws, studs, failed = [], [], 0
    for sub, y, groups in replicates:
        row = _refit(fit, sub.with_y(y) if y is not None else sub, theta0, groups)
        if row is None:
            failed += 1
            continue
        draws.append(row[0])
        studs.append((row[0] - theta0) / row[1])
    n = len(replicates)
    return _summarise(fit, fit.params.index, theta0, fit.bse.to_numpy(), np.array(draws).reshape(-1, len(theta0)),
                      np.array(studs).reshape(-1, len(theta0)), failed, n, kind if kind == "pairs" else weights, seed,
                      level)


def _resamples(fit, problem: LawProblem, n_boot, kind, weights, seed, indices):
    rng = np.random.default_rng(seed)
    codes = _cluster_codes(fit)
    if kind == "wild":
        if n_boot < 2:
            raise OptionError(f"the bootstrap needs at least 2 replications, got {n_boot!r}")
        fitted = problem.fitted(fit.params.to_numpy())
        resid = problem.y - fitted
        n_draw = problem.n if codes is None else int(codes.max()) + 1
        v = wild_weights(rng, (n_boot, n_draw), weights)
        v = v if codes is None else v[:, codes]
        return [(problem, fitted + resid * v[b], _fit_clusters(fit)) for b in range(n_boot)]
    if indices is not None:
        idx = np.asarray(indices)
        if idx.ndim != 2 or idx.shape[0] < 2 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 \
                or idx.max() >= problem.n:
            raise OptionError(f"indices must be an integer array (B >= 2, rows) of positions below {problem.n}")
        return [(problem.subset(row), None, None if codes is None else _groups(codes[row])) for row in idx]
    if n_boot < 2:
        raise OptionError(f"the bootstrap needs at least 2 replications, got {n_boot!r}")
    if codes is None:
        rows = [rng.integers(0, problem.n, problem.n) for _ in range(n_boot)]
        return [(problem.subset(r), None, None) for r in rows]
    members = [np.flatnonzero(codes == g) for g in range(int(codes.max()) + 1)]
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(members), len(members))
        # a cluster drawn twice counts as two clusters in the replicate's cluster-robust SE
        groups = np.concatenate([np.full(len(members[g]), k) for k, g in enumerate(pick)])
        out.append((problem.subset(np.concatenate([members[g] for g in pick])), None, _groups(groups)))
    return out


def _groups(codes: np.ndarray):
    return make_clusters({"cluster": codes})


def _fit_clusters(fit: LawFit):
    if not fit.cluster or fit.data is None:
        return None
    rows = np.asarray(fit.prior_weights) > 0 if fit.prior_weights is not None else slice(None)
    return make_clusters({name: fit.data[name].to_numpy()[rows] for name in fit.cluster})


def _cluster_codes(fit: LawFit) -> np.ndarray | None:
    if not fit.cluster or fit.data is None:
        return None
    rows = np.asarray(fit.prior_weights) > 0 if fit.prior_weights is not None else slice(None)
    labels = fit.data[fit.cluster[0]].to_numpy()[rows]
    return np.unique(labels.astype(str), return_inverse=True)[1].ravel()


def _refit(fit: LawFit, problem: LawProblem, theta0: np.ndarray, clusters):
    norm = None if fit.method == "ols" else make_norm(fit.method, fit.tuning)
    control = NlsControl(maxit=fit.control["maxit"], tol=fit.control["tol"], scale_est=fit.control["scale_est"])
    try:
        est = estimate(problem, norm, start=theta0, fixed_scale=fit.control["fixed_scale"], control=control)
        if not est.converged:
            return None
        cov, _ = covariance(problem, est, norm, fit.vcov_kind, clusters if fit.vcov_kind in ("CR1", "CR3") else None)
    except (SingularDesignError, OptionError, np.linalg.LinAlgError):
        return None
    with np.errstate(invalid="ignore"):
        return est.theta, np.sqrt(np.maximum(np.diag(cov), 0.0))

