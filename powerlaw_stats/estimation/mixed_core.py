"""The profiled deviance of a linear mixed model and its minimization, as lme4 defines them.

Model (Bates, Mächler, Bolker and Walker 2015, "Fitting linear mixed-effects models using lme4",
JSS 67(1), sections 3.1-3.4): y = Xβ + ZΛ(θ)u + ε, u ~ N(0, σ²I), ε ~ N(0, σ²W⁻¹) with prior
weights W. For a given θ the penalized least-squares problem

    min over β, u of ‖W^½(y − Xβ − ZΛu)‖² + ‖u‖²

is solved through the Cholesky factor of the augmented cross-product of [ZΛ, X, y] (with the
identity added on the u block): its diagonal gives log|L_θ|² (the u block), log|R_X|² (the β
block) and the penalized weighted residual sum of squares r² (the last element squared). lme4's
criteria (its ``lmerResp::Laplace``) are then

    ML:   log|L_θ|² − Σlog wᵢ + n (1 + log(2π r²/n))
    REML: log|L_θ|² − Σlog wᵢ + log|R_X|² + (n − p)(1 + log(2π r²/(n − p)))

lme4 factors the sparse u block with CHOLMOD. Here the random effects of the grouping factor with
the most levels (all its terms together) are eliminated first: their block is block diagonal, one
small K × K block per level, so it is factored level by level in one batched call; the random
effects of the other factors, the fixed effects and y then form a dense Schur complement of size
q_rest + p + 1. Every cross-product is computed once; an evaluation costs O(m K² c²) with m the
levels of the first factor and c = q_rest + p + 1, independent of n.

θ is optimized by a projected Newton method on the box θ_diag ≥ 0, with central-difference
derivatives (θ has a handful of elements); a singular fit (a diagonal element at 0) is a
boundary optimum, not a failure.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import SingularDesignError
from .mixed_terms import RandomTerm, term_factors, theta_lower

_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """Everything one θ gives: the determinants, r², and the factors needed to solve for β and u."""

    theta: np.ndarray
    ld_l2: float  # log|L_θ|²
    ld_rx2: float  # log|R_X|²
    pwrss: float  # penalized weighted residual sum of squares r²
    lead_chol: np.ndarray  # (m, K, K) Cholesky factors of the first factor's blocks
    lead_c: np.ndarray  # (m, K, c) L⁻¹ times that block's cross-products with [ZΛ_rest, X, y]
    schur_chol: np.ndarray  # (c, c) Cholesky factor of the Schur complement


@dataclass(frozen=True, kw_only=True)
class Solution:
    """β, the spherical random effects u and b = Λu, and the unscaled covariance of β at one θ."""

    beta: np.ndarray
    u: list[np.ndarray]  # per term, (levels, k)
    b: list[np.ndarray]  # per term, (levels, k)
    rx: np.ndarray  # lower-triangular R_X' (p × p): Cov(β) = σ² (R_X' R_X)⁻¹ ... as lme4's RX


class MixedProblem:
    """A mixed model's data with every θ-free cross-product precomputed.

    ``x`` (n × p, full column rank), ``y`` (n,), ``weights`` (n,, positive) or None, ``terms`` in
    lme4's order. ``deviance(theta, reml)`` is lme4's criterion.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, terms: tuple[RandomTerm, ...]):
        self.x, self.y, self.terms = x, y, terms
        self.n, self.p = x.shape
        self.weights = weights
        root = np.ones(self.n) if weights is None else np.sqrt(weights)
        self.ld_w = 0.0 if weights is None else float(np.log(weights).sum())
        self.lower = theta_lower(terms)
        self.n_theta = len(self.lower)
        groups = list(dict.fromkeys(t.group for t in terms))
        lead_group = max(groups, key=lambda g: next(t.n_levels for t in terms if t.group == g))
        self.lead = [i for i, t in enumerate(terms) if t.group == lead_group]
        self.rest = [i for i, t in enumerate(terms) if t.group != lead_group]
        self.lead_codes = terms[self.lead[0]].codes
        self.m = terms[self.lead[0]].n_levels
        self.lead_k = sum(terms[i].k for i in self.lead)
        self.rest_sizes = [terms[i].n_levels * terms[i].k for i in self.rest]
        self.q_rest = sum(self.rest_sizes)
        self.c = self.q_rest + self.p + 1
        self._root = root
        lead_x = np.hstack([terms[i].x for i in self.lead]) * root[:, None]
        self._other = np.hstack([self._dense_z(), x, y[:, None]]) * root[:, None]
        self._order = np.argsort(self.lead_codes, kind="stable")
        self._starts = np.flatnonzero(np.r_[True, np.diff(self.lead_codes[self._order]) != 0])
        self._lead_sorted = lead_x[self._order]
        outer = self._lead_sorted[:, :, None]
        self.g11 = np.add.reduceat(outer * self._lead_sorted[:, None, :], self._starts, axis=0)  # (m, K, K)
        self.g1r = np.add.reduceat(outer * self._other[self._order][:, None, :], self._starts, axis=0)  # (m, K, c)
        self.grr = self._other.T @ self._other  # (c, c)
        self.penalty = np.r_[np.ones(self.q_rest), np.zeros(self.p + 1)]
        self.scalar_terms = self.lead_k == 1 and all(terms[i].k == 1 for i in self.rest)
        offsets = np.cumsum([0] + [t.n_theta for t in terms])
        self.rest_theta = np.array([offsets[i] for i in self.rest], dtype=np.intp)

    def dropping(self, group: str) -> MixedProblem:
        """The same rows and fixed effects without ``group``'s random terms: the smaller model of a likelihood-ratio test."""
        return MixedProblem(self.x, self.y, self.weights, tuple(t for t in self.terms if t.group != group))

    def with_response(self, y: np.ndarray) -> MixedProblem:
        """The same model for another response on the same rows.

        Only y's cross-products change (what a simulation needs to refit many responses cheaply).
        """
        y = np.asarray(y, dtype=float)
        if y.shape != self.y.shape:
            raise ValueError(f"a response of {self.y.shape[0]} rows is needed, got shape {y.shape}")
        new = copy.copy(self)
        yw = y * self._root
        new.y = y
        new._other = self._other.copy()
        new._other[:, -1] = yw
        new.g1r = self.g1r.copy()
        new.g1r[..., -1] = np.add.reduceat(self._lead_sorted * yw[self._order][:, None], self._starts, axis=0)
        cross = new._other.T @ yw
        new.grr = self.grr.copy()
        new.grr[-1, :] = cross
        new.grr[:, -1] = cross
        return new

    def _dense_z(self) -> np.ndarray:
        blocks = []
        for i in self.rest:
            t = self.terms[i]
            z = np.zeros((self.n, t.n_levels * t.k))
            cols = t.codes[:, None] * t.k + np.arange(t.k)[None, :]
            np.put_along_axis(z, cols, t.x, axis=1)
            blocks.append(z)
        return np.hstack(blocks) if blocks else np.zeros((self.n, 0))

    # -- one θ ------------------------------------------------------------------------------------

    def _factors(self, theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        factors = term_factors(self.terms, theta)
        lead = _block_diag([factors[i] for i in self.lead])
        return lead, [factors[i] for i in self.rest]

    def _scale_columns(self, mat: np.ndarray, rest_factors: list[np.ndarray]) -> np.ndarray:
        """Right-multiply the random-effect columns of ``mat`` (last axis c) by Λ_rest."""
        out = mat.copy()
        at = 0
        for size, f, i in zip(self.rest_sizes, rest_factors, self.rest):
            k = self.terms[i].k
            block = mat[..., at: at + size].reshape(*mat.shape[:-1], size // k, k)
            out[..., at: at + size] = (block @ f).reshape(*mat.shape[:-1], size)
            at += size
        return out

    def evaluate(self, theta: np.ndarray) -> Evaluation:
        """The factorization and penalized residual sum of squares at θ."""
        theta = np.asarray(theta, dtype=float)
        lead, rest = self._factors(theta)
        a11 = lead.T @ self.g11 @ lead + np.eye(self.lead_k)
        if self.scalar_terms:
            l11, c1, schur = self._schur_scalar(theta, lead, a11)
        else:
            l11, c1, schur = self._schur_blocks(lead, rest, a11)
        try:
            ls = np.linalg.cholesky(schur)
        except np.linalg.LinAlgError:
            raise SingularDesignError("the mixed model's cross-product is not positive definite at theta "
                                      f"{np.round(theta, 6).tolist()}; the response may be fitted exactly") from None
        diag = np.diagonal(ls)
        ld_l2 = 2 * float(np.log(np.diagonal(l11, axis1=1, axis2=2)).sum() + np.log(diag[: self.q_rest]).sum())
        ld_rx2 = 2 * float(np.log(diag[self.q_rest: self.q_rest + self.p]).sum())
        return Evaluation(theta=theta, ld_l2=ld_l2, ld_rx2=ld_rx2, pwrss=float(diag[-1] ** 2),
                          lead_chol=l11, lead_c=c1, schur_chol=ls)

    def _schur_scalar(self, theta, lead, a11):
        """The Schur complement when every term is a random intercept (or one column).

        Λ is diagonal, so scaling by it is a column scaling and the first factor's elimination a
        row scaling.
        """
        l11 = np.sqrt(a11)
        d = np.r_[np.repeat(theta[self.rest_theta], self.rest_sizes), np.ones(self.p + 1)] if self.rest else np.ones(self.c)
        w = self.g1r[:, 0, :] * (lead[0, 0] / l11[:, 0, :])
        schur = d[:, None] * (self.grr - w.T @ w) * d[None, :] + np.diag(self.penalty)
        return l11, (w * d)[:, None, :], schur

    def _schur_blocks(self, lead, rest, a11):
        g1r = self._scale_columns(self.g1r, rest)
        grr = self._scale_columns(self._scale_columns(self.grr, rest).T, rest)
        l11 = np.linalg.cholesky(a11)
        c1 = np.linalg.solve(l11, lead.T @ g1r)
        flat = c1.reshape(-1, self.c)
        return l11, c1, grr + np.diag(self.penalty) - flat.T @ flat

    def criterion(self, ev: Evaluation, reml: bool) -> float:
        """lme4's deviance (ML) or REML criterion at an evaluation."""
        df = self.n - self.p if reml else self.n
        base = ev.ld_l2 - self.ld_w + df * (1 + _LOG_2PI + math.log(ev.pwrss / df))
        return base + ev.ld_rx2 if reml else base

    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        """lme4's REML criterion or deviance at θ."""
        return self.criterion(self.evaluate(theta), reml)

    def sigma(self, ev: Evaluation, reml: bool) -> float:
        """The residual standard deviation at an evaluation (REML's divisor n − p, ML's n)."""
        return math.sqrt(ev.pwrss / (self.n - self.p if reml else self.n))

    def solve(self, ev: Evaluation) -> Solution:
        """β and the random effects at an evaluation (back substitution through both factors)."""
        ls = ev.schur_chol
        z = _upper_solve(ls[:-1, :-1].T, ls[-1, :-1])
        rest_u, beta = z[: self.q_rest], z[self.q_rest:]
        rhs = ev.lead_c[..., -1] - ev.lead_c[..., :-1] @ z  # (m, K)
        if self.lead_k == 1:
            lead_u = rhs / ev.lead_chol[..., 0]
        else:
            lead_u = np.linalg.solve(np.swapaxes(ev.lead_chol, 1, 2), rhs[..., None])[..., 0]
        factors = term_factors(self.terms, ev.theta)
        u: list[np.ndarray] = [np.empty(0)] * len(self.terms)
        at = 0
        for i in self.lead:
            k = self.terms[i].k
            u[i] = lead_u[:, at: at + k]
            at += k
        at = 0
        for size, i in zip(self.rest_sizes, self.rest):
            u[i] = rest_u[at: at + size].reshape(-1, self.terms[i].k)
            at += size
        b = [ui @ f.T for ui, f in zip(u, factors)]
        rx = ls[self.q_rest: self.q_rest + self.p, self.q_rest: self.q_rest + self.p]
        return Solution(beta=beta, u=u, b=b, rx=rx)

    def unscaled_cov(self, theta: np.ndarray) -> np.ndarray:
        """(R_X' R_X)⁻¹ at θ: Cov(β) divided by σ²."""
        ls = self.evaluate(theta).schur_chol
        rx = ls[self.q_rest: self.q_rest + self.p, self.q_rest: self.q_rest + self.p]
        inv = _lower_inverse(rx)
        return inv.T @ inv

    def marginal_blocks(self, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The marginal covariance of y over σ², W⁻¹ + ZΛΛᵀZᵀ, on groups of rows (G × m → G × m × m).

        Rows in different groups are taken as independent: the caller's groups must nest every
        grouping factor (see :meth:`nests`), so that the covariance is block diagonal by group.
        """
        rows = np.asarray(rows)
        inv_w = np.ones(self.n) if self.weights is None else 1.0 / self.weights
        out = np.zeros(rows.shape + (rows.shape[1],))
        idx = np.arange(rows.shape[1])
        out[:, idx, idx] = inv_w[rows]
        for t, f in zip(self.terms, term_factors(self.terms, theta)):
            xt = t.x[rows] @ f  # (G, m, k): the term's columns times its factor T
            same = t.codes[rows][:, :, None] == t.codes[rows][:, None, :]
            out += (xt @ np.swapaxes(xt, 1, 2)) * same
        return out

    def nests(self, codes: np.ndarray) -> bool:
        """Whether every level of every grouping factor lies within one group of ``codes``."""
        for t in self.terms:
            pairs = np.unique(np.column_stack([t.codes, codes]), axis=0)
            if len(pairs) != t.n_levels:
                return False
        return True

    def fitted(self, sol: Solution) -> np.ndarray:
        """Xβ + Zb of a solution."""
        out = self.x @ sol.beta
        for t, bt in zip(self.terms, sol.b):
            out = out + np.einsum("ij,ij->i", t.x, bt[t.codes])
        return out


def _block_diag(blocks: list[np.ndarray]) -> np.ndarray:
    size = sum(b.shape[0] for b in blocks)
    out = np.zeros((size, size))
    at = 0
    for b in blocks:
        k = b.shape[0]
        out[at: at + k, at: at + k] = b
        at += k
    return out


def _upper_solve(upper: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    # back substitution; numpy has no triangular solver and the sizes here are small
    n = len(rhs)
    out = np.zeros(n)
    for i in range(n - 1, -1, -1):
        out[i] = (rhs[i] - upper[i, i + 1:] @ out[i + 1:]) / upper[i, i]
    return out


def _lower_inverse(lower: np.ndarray) -> np.ndarray:
    return np.linalg.solve(lower, np.eye(len(lower)))


# ----------------------------------------------------------------------------- optimizer


@dataclass(frozen=True, kw_only=True)
class OptimizeResult:
    """Where the bounded Newton method stopped, and how it got there."""

    x: np.ndarray
    fun: float
    n_iter: int
    n_eval: int
    converged: bool
    gradient: np.ndarray


def minimize_bounded(
    fun: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray, *,
    max_iter: int = 200, xtol: float = 1e-10, ftol: float = 1e-13,
) -> OptimizeResult:
    """Projected Newton with backtracking on the box x ≥ lower (lower = -inf for free elements).

    Derivatives are central differences; the Hessian is made positive definite by flipping
    negative eigenvalues (and flooring small ones), and where the gradient vanishes at a saddle
    the step follows the direction of negative curvature. Elements at their bound whose gradient
    points out of the box are held there.
    """
    counter = _Counter(fun)
    x = np.maximum(np.asarray(x0, dtype=float), lower)
    fx = counter(x)
    converged, n_iter, g = False, 0, np.zeros_like(x)
    while n_iter < max_iter:
        n_iter += 1
        g, h = fd_derivatives(counter, x, fx, fd_steps(x))
        if not (np.isfinite(g).all() and np.isfinite(h).all()):
            break  # the criterion is infinite next to x (a profile at its edge): x is as good as it gets
        step = _newton_step(x, g, h, lower)
        x_new, f_new = _line_search(counter, x, fx, g, step, lower)
        moved = np.max(np.abs(x_new - x)) if x_new is not None else 0.0
        if x_new is None or (fx - f_new <= ftol * (1 + abs(fx)) and moved <= xtol * (1 + np.max(np.abs(x)))):
            if x_new is not None and f_new < fx:
                x, fx = x_new, f_new
            converged = _stationary(x, g, h, lower)
            break
        x, fx = x_new, f_new
    return OptimizeResult(x=x, fun=fx, n_iter=n_iter, n_eval=counter.calls, converged=converged, gradient=g)


class _Counter:
    def __init__(self, fun: Callable[[np.ndarray], float]):
        self.fun, self.calls = fun, 0

    def __call__(self, x: np.ndarray) -> float:
        self.calls += 1
        return float(self.fun(x))


def fd_steps(x: np.ndarray, rel: float = 1e-4) -> np.ndarray:
    """Steps for the optimizer's differences: θ is a ratio of standard deviations, of order 1."""
    return rel * np.maximum(np.abs(x), 1.0)


def fd_derivatives(fun: Callable[[np.ndarray], float], x: np.ndarray, fx: float,
                   h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian with steps ``h`` (2k² + 1 evaluations with the centre)."""
    k = len(x)
    e = np.diag(h)
    plus = np.array([fun(x + e[i]) for i in range(k)])
    minus = np.array([fun(x - e[i]) for i in range(k)])
    with np.errstate(invalid="ignore"):  # an infinite neighbour gives NaN, which the caller checks for
        g = (plus - minus) / (2 * h)
        hess = np.diag((plus - 2 * fx + minus) / h**2)
        for i in range(k):
            for j in range(i + 1, k):
                fpp, fmm = fun(x + e[i] + e[j]), fun(x - e[i] - e[j])
                fpm, fmp = fun(x + e[i] - e[j]), fun(x - e[i] + e[j])
                hess[i, j] = hess[j, i] = (fpp - fpm - fmp + fmm) / (4 * h[i] * h[j])
    return g, hess


def _held(x: np.ndarray, g: np.ndarray, h: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Elements at their bound that stay there.

    The gradient pushes outwards, or vanishes with the curvature non-negative (θ = 0 of a
    variance whose deviance is even in θ, a singular fit).
    """
    gtol = 1e-8 * _scale(h)
    at = x <= lower
    return at & ((g > gtol) | ((g >= -gtol) & (np.diag(h) >= 0)))


def _scale(h: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(np.diag(h))))) if h.size else 1.0


def _newton_step(x: np.ndarray, g: np.ndarray, h: np.ndarray, lower: np.ndarray) -> np.ndarray:
    free = ~_held(x, g, h, lower)
    step = np.zeros_like(x)
    if not free.any():
        return step
    lam, q = np.linalg.eigh(h[np.ix_(free, free)])
    scale = _scale(h)
    d = -q @ ((q.T @ g[free]) / np.maximum(np.abs(lam), 1e-8 * scale))
    if lam[0] < -1e-8 * scale and np.linalg.norm(g[free]) < 1e-6 * scale:
        # a saddle, typically θ = 0 where the deviance is even in θ: leave along negative curvature,
        # pointing into the box
        v = q[:, 0]
        if np.any(v[x[free] <= lower[free]] < 0):
            v = -v
        d = d + 0.1 * v * max(1.0, float(np.max(np.abs(x))))
    step[free] = d
    return step


def _line_search(fun, x, fx, g, step, lower) -> tuple[np.ndarray | None, float]:
    t = 1.0
    for _ in range(60):
        x_new = np.maximum(x + t * step, lower)
        f_new = fun(x_new)
        if np.isfinite(f_new) and f_new <= fx + 1e-4 * float(g @ (x_new - x)):
            return x_new, f_new
        t *= 0.5
    return None, fx


def _stationary(x: np.ndarray, g: np.ndarray, h: np.ndarray, lower: np.ndarray) -> bool:
    """Whether x is a local minimum on the box.

    Small gradient and no direction of negative curvature among the elements free to move.
    """
    free = ~_held(x, g, h, lower)
    if not free.any():
        return True
    scale = _scale(h)
    curvature = float(np.linalg.eigvalsh(h[np.ix_(free, free)])[0])
    return bool(np.max(np.abs(g[free])) <= 1e-4 * scale and curvature >= -1e-6 * scale)
