"""Profile-likelihood intervals for the variance parameters of a linear mixed model.

As lme4's ``confint(fit, method = "profile")``: the parameters are the standard deviations and
correlations of each term and the residual σ (``sd_(Intercept)|g``, ``cor_x.(Intercept)|g``, ...,
``sigma``); the deviance is the ML one (lme4 refits a REML fit by ML before profiling), with the
fixed effects profiled out. For each parameter ψ_j the profile ζ(v) = sign(v − ψ̂_j) √(D(v) − D̂),
D(v) the deviance minimized over every other parameter with ψ_j = v; the interval's ends solve
ζ(v) = ±z_{(1+level)/2}. Where the profile does not reach the critical value before a bound
(a standard deviation of 0, a correlation of ±1) the interval ends at the bound, as lme4's does.

lme4 evaluates ζ on a grid and interpolates it with splines; here each end is a root found to
about 1e-9, so the two agree to the accuracy of lme4's interpolation (about 1e-4 relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ..errors import OptionError, SingularDesignError
from .mixed_core import MixedProblem, minimize_bounded
from .mixed_terms import lower_factor, term_factors

_LOG_2PI = math.log(2 * math.pi)
COR_LIMIT = 1 - 1e-9


@dataclass(frozen=True, kw_only=True)
class ProfileSpace:
    """The (sd, correlation, σ) parameterization of θ and σ, term by term in θ's order."""

    problem: MixedProblem
    kinds: tuple[str, ...]  # "sd", "cor" or "sigma" per parameter

    @classmethod
    def of(cls, problem: MixedProblem) -> ProfileSpace:
        """The parameterization of ``problem``'s terms."""
        kinds = []
        for t in problem.terms:
            rows, cols = np.tril_indices(t.k)
            kinds += ["sd" if rows[i] == cols[i] else "cor" for i in np.lexsort((rows, cols))]
        return cls(problem=problem, kinds=(*kinds, "sigma"))

    def from_theta(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        """(sd, cor, σ) of θ and σ."""
        out = []
        for t, f in zip(self.problem.terms, term_factors(self.problem.terms, theta)):
            cov = sigma**2 * (f @ f.T)
            sd = np.sqrt(np.diag(cov))
            rows, cols = np.tril_indices(t.k)
            for i in np.lexsort((rows, cols)):
                r, c = rows[i], cols[i]
                out.append(sd[r] if r == c else (cov[r, c] / (sd[r] * sd[c]) if sd[r] * sd[c] > 0 else 0.0))
        return np.array([*out, sigma])

    def to_theta(self, psi: np.ndarray) -> tuple[np.ndarray, float]:
        """θ and σ of (sd, cor, σ)."""
        sigma = float(psi[-1])
        theta, at = [], 0
        for t in self.problem.terms:
            part = psi[at: at + t.n_theta]
            at += t.n_theta
            packed = lower_factor(part, t.k)  # sds on the diagonal, correlations below it
            sd = np.diag(packed).copy()
            corr = np.tril(packed, -1) + np.tril(packed, -1).T + np.eye(t.k)
            factor = (sd / sigma)[:, None] * np.linalg.cholesky(corr)
            rows, cols = np.tril_indices(t.k)
            order = np.lexsort((rows, cols))
            theta.append(factor[rows[order], cols[order]])
        return np.concatenate(theta), sigma

    def deviance(self, psi: np.ndarray) -> float:
        """ML deviance at (sd, cor, σ), the fixed effects profiled out (lme4's devfun2)."""
        p = self.problem
        try:
            theta, sigma = self.to_theta(psi)
            ev = p.evaluate(theta)
        except (np.linalg.LinAlgError, SingularDesignError):
            # correlations that form no correlation matrix, or a step to an absurd θ: not a minimum
            return math.inf
        return ev.ld_l2 - p.ld_w + ev.pwrss / sigma**2 + p.n * (_LOG_2PI + 2 * math.log(sigma))


@dataclass(frozen=True, kw_only=True)
class _Inner:
    """Minimize the deviance over all parameters but one.

    In unconstrained-ish coordinates: sd/σ̂ (≥ 0), atanh(cor), log(σ/σ̂).
    """

    space: ProfileSpace
    fixed: int
    sigma_hat: float

    def to_psi(self, z: np.ndarray, value: float) -> np.ndarray:
        """The full parameter vector with the profiled one at ``value``."""
        kinds = [k for i, k in enumerate(self.space.kinds) if i != self.fixed]
        free = [self.sigma_hat * v if k == "sd" else (math.tanh(v) if k == "cor" else self.sigma_hat * math.exp(min(v, 700)))
                for k, v in zip(kinds, z)]
        return np.insert(np.array(free, dtype=float), self.fixed, value)

    def from_psi(self, psi: np.ndarray) -> np.ndarray:
        """The free coordinates of a full parameter vector."""
        out = []
        for i, (k, v) in enumerate(zip(self.space.kinds, psi)):
            if i == self.fixed:
                continue
            out.append(v / self.sigma_hat if k == "sd" else
                       (math.atanh(max(-COR_LIMIT, min(COR_LIMIT, v))) if k == "cor" else math.log(v / self.sigma_hat)))
        return np.array(out)

    def lower(self) -> np.ndarray:
        """Bounds of the free coordinates."""
        return np.array([0.0 if k == "sd" else -np.inf for i, k in enumerate(self.space.kinds) if i != self.fixed])

    def minimize(self, value: float, start_psi: np.ndarray) -> tuple[float, np.ndarray]:
        """The smallest deviance with the profiled parameter at ``value``, and where it is."""
        if len(self.space.kinds) == 1:
            return self.space.deviance(np.array([value])), np.array([value])
        res = minimize_bounded(lambda z: self.space.deviance(self.to_psi(z, value)), self.from_psi(start_psi),
                               self.lower(), xtol=1e-9)
        return res.fun, self.to_psi(res.x, value)


def profile_intervals(problem: MixedProblem, theta: np.ndarray, sigma: float, level: float = 0.95) -> np.ndarray:
    """Profile intervals (k × 2) of the sd/correlation parameters and σ at an ML optimum (θ, σ).

    Rows follow :func:`~.mixed_terms.profile_names`.
    """
    if not 0 < level < 1:
        raise OptionError(f"level must be between 0 and 1, got {level!r}")
    space = ProfileSpace.of(problem)
    psi_hat = space.from_theta(np.asarray(theta), sigma)
    dev_hat = space.deviance(psi_hat)
    z = NormalDist().inv_cdf((1 + level) / 2)
    rows = []
    for j, kind in enumerate(space.kinds):
        inner = _Inner(space=space, fixed=j, sigma_hat=sigma)
        rows.append([_end(inner, psi_hat, dev_hat, j, kind, -z), _end(inner, psi_hat, dev_hat, j, kind, z)])
    return np.array(rows, dtype=float)


def _end(inner: _Inner, psi_hat: np.ndarray, dev_hat: float, j: int, kind: str, target: float) -> float:
    """One end of the interval: the root of ζ(v) = target beyond ψ̂_j, or the bound it never reaches."""
    here = float(psi_hat[j])
    solved: dict[float, np.ndarray] = {here: psi_hat}

    def zeta(v: float) -> float:
        # continue along the path: start from the solution nearest to v between the estimate and v
        # (starting beyond v, e.g. from a standard deviation pinned at 0, can trap the inner minimum)
        behind = [u for u in solved if (u - here) * (v - here) >= 0 and abs(u - here) <= abs(v - here)]
        dev, psi = inner.minimize(v, solved[max(behind, key=lambda u: abs(u - here))])
        solved[v] = psi
        return math.copysign(math.sqrt(max(dev - dev_hat, 0.0)), v - here)

    bound = _bound(kind, target)
    if bound is not None:
        inward = 1.0 if target < 0 else -1.0
        near_bound = bound + inward * 1e-9 * max(1.0, abs(bound))
        if inward * (here - near_bound) <= 0 or abs(zeta(near_bound)) < abs(target):
            return bound  # the estimate is at the bound, or the profile never reaches the critical value
        return _root(zeta, target, here, near_bound)
    step = 0.5 * max(abs(here), 0.1 * inner.sigma_hat)
    for _ in range(60):
        far = here + math.copysign(step, target)
        if abs(zeta(far)) >= abs(target):
            return _root(zeta, target, here, far)
        step *= 2
    return math.copysign(math.inf, target)


def _bound(kind: str, target: float) -> float | None:
    if kind == "sd":
        return 0.0 if target < 0 else None
    if kind == "cor":
        return -1.0 if target < 0 else 1.0
    return 0.0 if target < 0 else None


def _root(zeta, target: float, inside: float, outside: float) -> float:
    from scipy.optimize import brentq  # profiles only; kept off the fitting path

    return float(brentq(lambda v: zeta(v) - target, inside, outside, xtol=1e-12, rtol=1e-10, maxiter=200))
