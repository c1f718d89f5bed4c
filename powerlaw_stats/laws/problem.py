"""A law on arrays: residuals and Jacobian, the multi-start fit, M-estimation and covariances.

:class:`LawProblem` binds a :class:`~powerlaw_stats.laws.design.LawDesign` to prior weights and
constraints; everything that refits (profiles, the nested fit, held-out fits, bootstraps,
simulations) works on it, so the table is read and the formulas evaluated once.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError, SingularDesignError
from ..estimation.irwls import rlm_sigma
from ..estimation.norms import Norm
from ..inference.covariance import Clusters, sandwich_many
from .design import LawDesign
from .solver import DEFAULT_CONTROL, Constraints, MState, NlsControl, NlsState, lm_solve, m_solve, null_space, project_feasible

N_REFINE = 3  # starts refined by the solver, the best by objective first


@dataclass(frozen=True)
class LawProblem:
    """A law's design on the rows with positive prior weight, with its constraints."""

    design: LawDesign
    weights: np.ndarray  # prior weights of these rows (all > 0)
    cons: Constraints

    @property
    def y(self) -> np.ndarray:
        """The response."""
        return self.design.y

    @functools.cached_property
    def root(self) -> np.ndarray:
        """√w, the whitening of each row (once per problem: every evaluation reads it)."""
        return np.sqrt(self.weights)

    @property
    def n(self) -> int:
        """The number of rows."""
        return len(self.weights)

    def fitted(self, theta: np.ndarray) -> np.ndarray:
        """The law's mean at coefficients ``theta``."""
        return self.design.law.mean(self.design.values(theta), self.design.inputs)

    def resid(self, theta: np.ndarray) -> np.ndarray:
        """Whitened residuals √w·(y − f)."""
        return self.root * (self.y - self.fitted(theta))

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """∂f/∂θ (n × p): the law's gradient in each parameter times that parameter's design."""
        return self._jacobian_at(self.design.values(theta))

    def _jacobian_at(self, values: dict[str, np.ndarray]) -> np.ndarray:
        grad = self.design.law.gradient(values, self.design.inputs)
        out = np.empty((self.n, self.design.n_coef))
        constant = self.design.constant  # columns of ones: the gradient itself (times 1.0, exactly)
        for name, matrix, sl in self.design.blocks:
            if constant:
                out[:, sl.start] = grad[name]
            elif matrix.shape[1]:
                np.multiply(grad[name][:, None], matrix, out=out[:, sl])
        return out

    def resid_jac(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whitened residuals and whitened Jacobian at ``theta`` (the parameters' values computed once for both)."""
        values = self.design.values(theta)
        fitted = self.design.law.mean(values, self.design.inputs)
        return self.root * (self.y - fitted), self.root[:, None] * self._jacobian_at(values)

    def curvature(self, theta: np.ndarray, c: np.ndarray) -> np.ndarray | None:
        """``Σ_i c_i √w_i ∇²f_i(θ)`` (p × p) from the law's second derivatives, or None without them.

        With ``c`` the (IRWLS-weighted) whitened residuals, ``½∇²S = J̃ᵀJ̃ − curvature``.
        """
        law = self.design.law
        if law.hessian is None:
            return None
        values = self.design.values(theta)
        second = law.hessian(values, self.design.inputs)
        coef = c * self.root
        out = np.zeros((self.design.n_coef, self.design.n_coef))
        by_name = self.design.by_name
        for (p, q), h in second.items():
            zp, zq = by_name[p].matrix, by_name[q].matrix
            if zp.shape[1] == 0 or zq.shape[1] == 0:
                continue
            block = zp.T @ (zq * (coef * h)[:, None])
            sp, sq = self.design.slices[p], self.design.slices[q]
            out[sp, sq] += block
            if p != q:
                out[sq, sp] += block.T
        return out

    def with_y(self, y: np.ndarray) -> LawProblem:
        """The same problem with another response (a simulated or bootstrapped one)."""
        return dataclasses.replace(self, design=dataclasses.replace(self.design, y=np.asarray(y, dtype=float)))

    def subset(self, rows: np.ndarray) -> LawProblem:
        """The same problem on ``rows`` (positions)."""
        return LawProblem(self.design.subset(rows), self.weights[rows], self.cons)

    def with_cons(self, cons: Constraints) -> LawProblem:
        """The same problem under other constraints."""
        return dataclasses.replace(self, cons=cons)

    def starts(self) -> list[np.ndarray]:
        """The law's candidate starting vectors for this problem."""
        return self.design.law.starts(self.design.start_problem(self.y, self.weights))


@dataclass(frozen=True)
class Estimate:
    """A fitted law on arrays.

    The estimate, the objective, the active bounds, and for M-estimation the scale and the final
    IRWLS weights.
    """

    theta: np.ndarray
    rss: float  # Σ w r² (the least-squares objective at theta)
    active: np.ndarray
    converged: bool
    n_iter: int
    message: str
    scale: float | None = None
    omega: np.ndarray | None = None

    @property
    def n_active(self) -> int:
        """How many bounds are active."""
        return int(self.active.sum())


def least_squares_fit(problem: LawProblem, start: np.ndarray | None = None,
                      control: NlsControl = DEFAULT_CONTROL, n_refine: int = N_REFINE) -> NlsState:
    """The best of the solver's runs from the law's starts (or from ``start`` alone).

    Starts are made feasible and ranked by their objective; the best ``n_refine`` are refined and
    the smallest converged objective wins.
    """
    candidates = [start] if start is not None else problem.starts()
    scored = []
    for theta in candidates:
        theta = project_feasible(np.asarray(theta, dtype=float), problem.cons)
        r = problem.resid(theta)
        rss = float(r @ r)
        if np.isfinite(rss):
            scored.append((rss, theta))
    if not scored:
        raise OptionError("no starting value gives finite fitted values; give start=... explicitly")
    scored.sort(key=lambda t: t[0])
    best: NlsState | None = None
    for _, theta in scored[:n_refine]:
        state = lm_solve(problem.resid_jac, theta, problem.cons, control=control, curvature=problem.curvature)
        if best is None or (state.converged, -state.rss) > (best.converged, -best.rss):
            best = state
    assert best is not None  # scored holds at least one start
    return best


def estimate(problem: LawProblem, norm: Norm | None, *, start: np.ndarray | None = None,
             fixed_scale: float | None = None, control: NlsControl = DEFAULT_CONTROL) -> Estimate:
    """Least squares (``norm`` None) or M-estimation by IRWLS from the least-squares fit."""
    ls = least_squares_fit(problem, start, control)
    if norm is None:
        return Estimate(ls.theta, ls.rss, ls.active, ls.converged, ls.n_iter, ls.message)
    m: MState = m_solve(problem.resid, problem.resid_jac, ls, problem.cons, norm, fixed_scale=fixed_scale,
                        control=control, curvature=problem.curvature)
    r = problem.resid(m.nls.theta)
    message = "converged" if m.converged else f"IRWLS did not converge in {m.n_iter} iterations"
    return Estimate(m.nls.theta, float(r @ r), m.nls.active, m.converged and m.nls.converged, m.n_iter, message,
                    scale=m.scale, omega=m.weights)


def at_bound(problem: LawProblem, est: Estimate) -> np.ndarray:
    """Which bounds hold with equality.

    The active ones and those the active ones imply (a floor cell that is a combination of cells at
    zero is at zero too).
    """
    cons = problem.cons
    if not len(cons.g):
        return np.zeros(0, dtype=bool)
    scale = 1.0 + float(np.max(np.abs(cons.g @ est.theta), initial=0.0))
    return est.active | (cons.g @ est.theta - cons.h <= 1e-10 * scale)


# ----------------------------------------------------------------------------- covariances


def free_basis(problem: LawProblem, est: Estimate) -> np.ndarray:
    """Directions the estimate may move in (p × q).

    The null space of the active bounds and of the equalities (a nested law's fixings).
    """
    p = len(est.theta)
    rows = [problem.cons.g[est.active] if len(problem.cons.g) else np.zeros((0, p))]
    if problem.cons.a is not None:
        rows.append(problem.cons.a)
    return null_space(np.vstack(rows), p)


def covariance(problem: LawProblem, est: Estimate, norm: Norm | None, kind: str,
               clusters: Clusters | None) -> tuple[np.ndarray, float]:
    """Covariance of the coefficients (p × p, zero across active bounds) and the residual df.

    Least squares: classic σ²(J̃ᵀJ̃)⁻¹ with σ² = Σ w r² / (n − q) as nls and gnls compute it; the
    sandwiches of :func:`powerlaw_stats.inference.sandwich_many` on the whitened Jacobian J̃.
    M-estimation: MASS's rlm formula (σ from ψ, ψ' and Huber's κ) with J̃ for X̃, or the
    M-sandwiches. All in the q free directions (q = p minus the active bounds).
    """
    basis = free_basis(problem, est)
    q = basis.shape[1]
    df = problem.n - q
    if df <= 0:
        raise SingularDesignError(f"{problem.n} rows for {q} free coefficients leave no residual degrees of freedom")
    resid, jac = problem.resid_jac(est.theta)
    jn = jac @ basis
    cov_q = _free_covariance(jn, resid, est, norm, kind, clusters, df)
    return basis @ cov_q @ basis.T, float(df)


def _free_covariance(jn, resid, est: Estimate, norm, kind, clusters, df) -> np.ndarray:
    gram = jn.T @ jn
    try:
        gram_inv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        raise SingularDesignError("the Jacobian is singular at the estimate: some coefficients are not identified "
                                  "(a floor and a slope that the data cannot tell apart?)") from None
    if not np.all(np.isfinite(gram_inv)) or np.linalg.cond(gram) > 1e15:
        raise SingularDesignError("the Jacobian is numerically singular at the estimate: some coefficients are not "
                                  "identified; simplify the parameter formulas or add sizes")
    if norm is None:
        if kind == "classic":
            return gram_inv * float(resid @ resid) / df
        return sandwich_many(jn, resid[None], None, kind, clusters)[0]
    u = resid / est.scale
    if kind == "classic":
        sigma = float(rlm_sigma(resid[None], np.array([est.scale]), norm, jn.shape[1])[0])
        return sigma**2 * gram_inv
    return sandwich_many(jn, (resid * norm.weight(u))[None], norm.dpsi(u)[None], kind, clusters)[0]


def loglik(problem: LawProblem, rss: float) -> float:
    """R's ``logLik.nls``: the Gaussian log-likelihood with σ at its ML value and prior weights."""
    n = problem.n
    return -n / 2 * (math.log(2 * math.pi) + 1 - math.log(n) - float(np.sum(np.log(problem.weights))) / n
                     + math.log(rss))
