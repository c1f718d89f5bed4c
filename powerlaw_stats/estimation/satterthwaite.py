"""Satterthwaite's denominator degrees of freedom for t tests of fixed effects, as lmerTest computes them.

lmerTest (Kuznetsova, Brockhoff and Christensen 2017, JSS 82(13), section 3) writes the variance
parameters as ``varpar = (θ, σ)`` and uses

- ``A = 2 H⁻¹``, the asymptotic covariance of varpar, where H is the Hessian of the deviance in
  varpar (the REML criterion for a REML fit, the ML deviance otherwise; β profiled out, σ not),
  inverted as a Moore–Penrose inverse over eigenvalues above 1e-8;
- ``J_i = ∂ Cov(β) / ∂ varpar_i``, with ``Cov(β) = σ² (R_X' R_X)⁻¹(θ)``;
- for a contrast L: ``df = 2 (L' Cov(β) L)² / (g' A g)``, ``g_i = L' J_i L``.

lmerTest takes both derivatives numerically (numDeriv, Richardson extrapolation over four
halvings of a first step of a tenth of each value); so do we, except the σ column of J, which is
exact (2σ (R_X' R_X)⁻¹). Smaller plain steps would drown in rounding: the deviance is of order
10³ and its curvature in an off-diagonal θ can be small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .mixed_core import MixedProblem, fd_derivatives

_LOG_2PI = math.log(2 * math.pi)
EIGEN_TOL = 1e-8  # lmerTest's tolerance for a zero eigenvalue of the Hessian
ZERO_TOL = 1.78e-5  # numDeriv's zero.tol, sqrt(.Machine$double.eps / 7e-7): below it a step is absolute
RICHARDSON_LEVELS = 4  # numDeriv's r


@dataclass(frozen=True, kw_only=True)
class SatterthwaiteParts:
    """What every Satterthwaite test of a fit needs: Cov(varpar) and the Jacobian of Cov(β)."""

    vcov_varpar: np.ndarray  # (k+1, k+1)
    jacobian: np.ndarray  # (k+1, p, p)
    hessian: np.ndarray
    n_zero_eigen: int  # eigenvalues of the Hessian within EIGEN_TOL of zero (lmerTest warns)
    n_negative_eigen: int

    def df(self, contrast: np.ndarray, vcov_beta: np.ndarray) -> float:
        """Denominator df of the t test of ``contrast' β``.

        Examples
        --------
        >>> parts = SatterthwaiteParts(vcov_varpar=np.eye(2), jacobian=np.ones((2, 1, 1)), hessian=np.eye(2),
        ...                            n_zero_eigen=0, n_negative_eigen=0)
        >>> parts.df(np.array([1.0]), np.array([[2.0]]))
        4.0
        """
        var = float(contrast @ vcov_beta @ contrast)
        grad = np.einsum("i,kij,j->k", contrast, self.jacobian, contrast)
        denom = float(grad @ self.vcov_varpar @ grad)
        return 2 * var**2 / denom if denom > 0 else math.inf


def varpar_deviance(problem: MixedProblem, varpar: np.ndarray, reml: bool) -> float:
    """LmerTest's ``devfun_vp``: the deviance at (θ, σ), without lme4's constant −Σ log wᵢ."""
    theta, sigma2 = varpar[:-1], varpar[-1] ** 2
    ev = problem.evaluate(theta)
    dev = ev.ld_l2 + ev.pwrss / sigma2 + problem.n * (_LOG_2PI + math.log(sigma2))
    if reml:
        dev += ev.ld_rx2 - problem.p * (_LOG_2PI + math.log(sigma2))
    return dev


def satterthwaite_parts(problem: MixedProblem, theta: np.ndarray, sigma: float, reml: bool) -> SatterthwaiteParts:
    """What lmerTest's df need: the covariance of (θ, σ) from the criterion's Hessian, and Cov(β)'s derivatives."""
    varpar = np.r_[theta, sigma]
    hess = richardson_hessian(lambda v: varpar_deviance(problem, v, reml), varpar)
    lam, vec = np.linalg.eigh(hess)
    pos = lam > EIGEN_TOL
    inv = (vec[:, pos] / lam[pos]) @ vec[:, pos].T
    return SatterthwaiteParts(vcov_varpar=2 * inv, jacobian=covbeta_jacobian(problem, theta, sigma), hessian=hess,
                              n_zero_eigen=int(np.sum(np.abs(lam) <= EIGEN_TOL)),
                              n_negative_eigen=int(np.sum(lam < -EIGEN_TOL)))


def _steps(x: np.ndarray) -> np.ndarray:
    # numDeriv's first step: a tenth of the value, or 1e-4 at (or next to) zero
    return np.where(np.abs(x) < ZERO_TOL, 1e-4, 0.1 * np.abs(x))


def richardson(estimate, h0: np.ndarray, levels: int = RICHARDSON_LEVELS) -> np.ndarray:
    """Extrapolate a central-difference ``estimate(h)`` to h = 0, as numDeriv's Richardson method does.

    The error series is in h², h⁴, ...; the steps are h0, h0/2, ....

    Examples
    --------
    >>> d = richardson(lambda h: (np.exp(1 + h) - np.exp(1 - h)) / (2 * h), np.array([0.1]))
    >>> abs(float(d[0]) - np.e) < 1e-12
    True
    """
    table = [np.asarray(estimate(h0 / 2**k), dtype=float) for k in range(levels)]
    for m in range(1, levels):
        table = [(4**m * table[k + 1] - table[k]) / (4**m - 1) for k in range(len(table) - 1)]
    return table[0]


def richardson_hessian(fun, x: np.ndarray) -> np.ndarray:
    """Hessian by central differences extrapolated over four halvings of the step."""
    fx = fun(x)
    return richardson(lambda h: fd_derivatives(fun, x, fx, h)[1], _steps(x))


def covbeta_jacobian(problem: MixedProblem, theta: np.ndarray, sigma: float) -> np.ndarray:
    """∂ Cov(β) / ∂ (θ, σ): differences in θ (Richardson), exact in σ."""
    k = len(theta)
    out = np.empty((k + 1, problem.p, problem.p))
    for j in range(k):
        unit = np.eye(k)[j]

        def central(h: np.ndarray, unit=unit) -> np.ndarray:
            step = h[0] * unit
            return (problem.unscaled_cov(theta + step) - problem.unscaled_cov(theta - step)) / (2 * h[0])

        out[j] = sigma**2 * richardson(central, _steps(theta[j: j + 1]))
    out[k] = 2 * sigma * problem.unscaled_cov(theta)
    return out
