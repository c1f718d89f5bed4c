"""Fitting a linear mixed model on arrays: lme4's profiled criterion minimized over θ.

:func:`fit_problem` takes a :class:`~.mixed_core.MixedProblem` (design, response, prior weights,
random-effect terms), minimizes lme4's REML criterion or deviance over θ with the bounded Newton
method of :mod:`.mixed_core`, and returns the numbers a result needs as a :class:`MixedFit`.
The pandas-facing front door (``fit_mixed``, ``MixedResult``) is :mod:`powerlaw_stats.mixed`;
lmerTest's degrees of freedom are :mod:`.satterthwaite`, profile intervals :mod:`.mixed_profile`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from .mixed_core import MixedProblem, minimize_bounded
from .mixed_terms import theta_start
from .shared import one_blas_thread

SINGULAR_TOL = 1e-4  # lme4's isSingular: a diagonal element of theta below this


@dataclass(frozen=True, kw_only=True)
class MixedControl:
    """Optimizer settings: iterations, the step size at which θ counts as converged, a start."""

    max_iter: int = 200
    xtol: float = 1e-10
    start: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        """Refuse settings the optimizer cannot use."""
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise OptionError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not (isinstance(self.xtol, (int, float)) and self.xtol > 0):
            raise OptionError(f"xtol must be positive, got {self.xtol!r}")


@dataclass(frozen=True, kw_only=True)
class MixedFit:
    """One fit's numbers, before names are put on them.

    ``theta`` lme4's relative covariance parameters, ``beta`` the fixed effects, ``sigma`` the
    residual standard deviation, ``criterion`` lme4's REML criterion or deviance (−2 logLik),
    ``unscaled_cov`` Cov(β)/σ², ``fitted`` Xβ + Zb, ``b`` the conditional modes per term
    (levels × columns), ``singular`` lme4's ``isSingular``.
    """

    reml: bool
    theta: np.ndarray
    beta: np.ndarray
    sigma: float
    criterion: float
    unscaled_cov: np.ndarray
    fitted: np.ndarray
    b: tuple[np.ndarray, ...]
    converged: bool
    n_iter: int
    n_eval: int
    singular: bool

    @property
    def cov(self) -> np.ndarray:
        """The model-based covariance of β, σ²(R_XᵀR_X)⁻¹."""
        return self.sigma**2 * self.unscaled_cov

    @property
    def npar(self) -> int:
        """Parameters counted by logLik's df: fixed effects, θ and σ."""
        return len(self.beta) + len(self.theta) + 1


def fit_problem(problem: MixedProblem, reml: bool = True, control: MixedControl | None = None) -> MixedFit:
    """Minimize the criterion over θ and solve for β, σ and the random effects.

    Examples
    --------
    >>> from powerlaw_stats.estimation.mixed_terms import Bar, RandomTerm
    >>> rng = np.random.default_rng(0)
    >>> codes = np.repeat(np.arange(10), 4)
    >>> term = RandomTerm(bar=Bar(expr="1", group_columns=("g",), group="g"), columns=("(Intercept)",),
    ...                   x=np.ones((40, 1)), codes=codes, levels=tuple(map(str, range(10))))
    >>> y = 1 + rng.normal(size=10)[codes] + rng.normal(size=40)
    >>> fit = fit_problem(MixedProblem(np.ones((40, 1)), y, None, (term,)))
    >>> fit.converged, fit.singular, bool(fit.theta[0] > 0)
    (True, False, True)
    """
    control = control or MixedControl()
    start = theta_start(problem.terms) if control.start is None else np.asarray(control.start, dtype=float)
    if start.shape != (problem.n_theta,):
        raise OptionError(f"start needs {problem.n_theta} values of theta, got {len(start)}")
    with one_blas_thread():
        opt = minimize_bounded(lambda th: problem.deviance(th, reml), start, problem.lower,
                               max_iter=control.max_iter, xtol=control.xtol)
        ev = problem.evaluate(opt.x)
        sol = problem.solve(ev)
        return MixedFit(reml=reml, theta=opt.x.copy(), beta=sol.beta, sigma=problem.sigma(ev, reml),
                        criterion=problem.criterion(ev, reml), unscaled_cov=problem.unscaled_cov(opt.x),
                        fitted=problem.fitted(sol), b=tuple(sol.b), converged=opt.converged, n_iter=opt.n_iter,
                        n_eval=opt.n_eval, singular=is_singular(opt.x, problem.lower))


def is_singular(theta: np.ndarray, lower: np.ndarray) -> bool:
    """lme4's ``isSingular``: a diagonal element of θ (one with a finite lower bound) below 1e-4.

    Examples
    --------
    >>> is_singular(np.array([0.0, 0.3]), np.array([0.0, -np.inf])), is_singular(np.array([0.2]), np.array([0.0]))
    (True, False)
    """
    diag = np.isfinite(lower)
    return bool(np.any(theta[diag] < SINGULAR_TOL))


def zero_components(theta: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Which diagonal elements of θ sit below lme4's singularity tolerance (variances estimated at 0)."""
    diag = np.isfinite(lower)
    return diag & (theta < SINGULAR_TOL)


def loglik_parts(fit: MixedFit, n: int) -> tuple[float, float, float]:
    """logLik, AIC and BIC as R's ``logLik``, ``AIC``, ``BIC`` report them for the fit."""
    npar = fit.npar
    return -fit.criterion / 2, fit.criterion + 2 * npar, fit.criterion + math.log(n) * npar
