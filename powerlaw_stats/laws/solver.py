"""Weighted nonlinear least squares under linear constraints, and IRWLS M-estimation around it.

The objective is ``S(θ) = Σ ω_i w_i (y_i − f_i(θ))²`` with prior weights ``w`` (inverse
variances, as ``nls(weights=w)`` and ``gnls(weights = varFixed(~1/w))`` take them) and, for
M-estimation, IRWLS weights ``ω``. It is minimised by Levenberg–Marquardt steps in the null space
of an active set of constraints:

- inequalities ``G θ ≥ h`` (the law's per-cell bounds, E ≥ 0) enter the active set when a step
  reaches them and leave it when their Lagrange multiplier turns negative;
- equalities ``A θ = c`` (a profile's fixed value) stay active throughout.

Steps are damped Newton steps on the full Hessian (see :func:`_lm_step` for why not
Gauss–Newton); the optimum is the same stationary point nls and gnls reach.

Convergence is R's relative-offset criterion (Bates and Watts; ``nls`` stops at 1e-5, we at 1e-10
by default) on the free directions, with the multipliers checked before stopping. IRWLS is MASS's
``rlm`` loop with a Gauss–Newton step of the weighted nonlinear fit in place of the weighted
regression: MAD or proposal-2 scale (or a fixed one), weights ψ(u)/u, convergence on the relative
change of the residuals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from ..estimation.irwls import _proposal2_step, mad_scale
from ..estimation.norms import Norm

ResidJac = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # θ -> (whitened residuals, whitened Jacobian)
Curvature = Callable[[np.ndarray, np.ndarray], "np.ndarray | None"]  # (θ, c) -> Σ c_i √w_i ∇²f_i


@dataclass(frozen=True)
class NlsControl:
    """Solver settings: iterations, the relative-offset tolerance, IRWLS settings.

    ``scale_est`` is "MAD" or "proposal2" for M-estimation (MASS's), ignored when a fixed scale is
    given to :func:`m_solve`.
    """

    maxit: int = 500
    tol: float = 1e-10
    irwls_maxit: int = 1000
    irwls_acc: float = 1e-10
    scale_est: str = "MAD"
    k2: float = 1.345

    def __post_init__(self) -> None:
        """Refuse an unknown scale estimate, a non-positive limit or tolerance."""
        if self.scale_est not in ("MAD", "proposal2"):
            raise OptionError(f"scale_est must be 'MAD' or 'proposal2', got {self.scale_est!r}")
        if int(self.maxit) < 1 or int(self.irwls_maxit) < 1 or not (self.tol > 0 and self.irwls_acc > 0):
            raise OptionError("maxit must be at least 1 and the tolerances positive")


DEFAULT_CONTROL = NlsControl()


@dataclass(frozen=True)
class Constraints:
    """``G θ ≥ h`` (labelled) and ``A θ = c``."""

    g: np.ndarray
    h: np.ndarray
    labels: tuple[str, ...] = ()
    a: np.ndarray | None = None
    c: np.ndarray | None = None

    def with_equality(self, row: np.ndarray, value: float) -> Constraints:
        """These constraints and ``row·θ = value``."""
        a = row[None] if self.a is None else np.vstack([self.a, row])
        c = np.array([value]) if self.c is None else np.append(self.c, value)
        return Constraints(self.g, self.h, self.labels, a, c)

    @property
    def n_eq(self) -> int:
        """The number of equalities."""
        return 0 if self.a is None else len(self.a)


@dataclass(frozen=True)
class NlsState:
    """Where the solver stopped: estimate, objective, active inequalities, convergence."""

    theta: np.ndarray
    rss: float
    active: np.ndarray  # bool per inequality row
    converged: bool
    n_iter: int
    message: str


def null_space(b: np.ndarray, p: int) -> np.ndarray:
    """An orthonormal basis of ``{s: B s = 0}`` (p × q)."""
    if b.shape[0] == 0:
        return np.eye(p)
    _, sv, vt = np.linalg.svd(b)
    rank = int(np.sum(sv > 1e-12 * max(1.0, sv.max(initial=0.0))))
    return vt[rank:].T


def project_feasible(theta: np.ndarray, cons: Constraints, max_rounds: int = 100) -> np.ndarray:
    """The nearest point to ``theta`` with ``A θ = c`` and ``G θ ≥ h`` (an active-set projection)."""
    work: list[int] = []
    eq_a = np.zeros((0, len(theta))) if cons.a is None else cons.a
    eq_c = np.zeros(0) if cons.c is None else cons.c
    x = theta
    for _ in range(max_rounds):
        b = np.vstack([eq_a, cons.g[work]]) if work else eq_a
        d = np.concatenate([eq_c, cons.h[work]]) if work else eq_c
        if len(b):
            lam = np.linalg.lstsq(b @ b.T, b @ theta - d, rcond=None)[0]
            x = theta - b.T @ lam
            mult = -lam[len(eq_c):]  # multipliers of the working inequalities (≥ 0 at the optimum)
        else:
            x, mult = theta, np.zeros(0)
        if mult.size and mult.min() < -1e-12:
            work.pop(int(np.argmin(mult)))
            continue
        slack = cons.g @ x - cons.h if len(cons.g) else np.zeros(0)
        if not slack.size or slack.min() >= -1e-12 * (1 + np.abs(cons.h).max(initial=0)):
            return x
        work.append(int(np.argmin(slack)))
    return x


def _step_limit(theta, step, cons, active) -> tuple[float, int | None]:
    """The largest fraction of ``step`` that keeps the inactive inequalities, and which one blocks."""
    if not len(cons.g):
        return 1.0, None
    gs = cons.g @ step
    slack = cons.g @ theta - cons.h
    going_out = (~active) & (gs < 0)
    if not going_out.any():
        return 1.0, None
    ratio = np.where(going_out, np.maximum(slack, 0.0) / np.where(going_out, -gs, 1.0), np.inf)
    j = int(np.argmin(ratio))
    return (1.0, None) if ratio[j] >= 1.0 else (float(ratio[j]), j)


def lm_solve(resid_jac: ResidJac, theta0: np.ndarray, cons: Constraints, *, omega: np.ndarray | None = None,
             control: NlsControl = DEFAULT_CONTROL, newton: bool = True, maxit: int | None = None,
             tol: float | None = None, curvature: Curvature | None = None) -> NlsState:
    """Minimise ``Σ ω r̃²`` (``r̃`` whitened residuals) from ``theta0`` under ``cons``.

    ``newton=False`` takes Gauss–Newton steps (JᵀJ, no second-order term); ``maxit`` and ``tol``
    override the control's (IRWLS takes one step per reweighting, whatever the offset).
    ``curvature(θ, c)`` gives the second-order part of the Hessian from the law's own second
    derivatives (see :meth:`LawProblem.curvature`); without it the gradient is differenced.
    """
    p = len(theta0)
    root = None if omega is None else np.sqrt(omega)
    theta = project_feasible(np.asarray(theta0, dtype=float), cons)

    def evaluate(t):
        r, j = resid_jac(t)
        if root is not None:
            r, j = r * root, j * root[:, None]
        return r, j, float(r @ r)

    def second_order(t, r):
        if curvature is None:
            return None
        return curvature(t, r if root is None else r * root)

    r, jac, rss = evaluate(theta)
    active = (cons.g @ theta - cons.h <= 1e-12 * (1 + np.abs(cons.h))) if len(cons.g) else np.zeros(0, bool)
    if not np.isfinite(rss):
        return NlsState(theta, math.inf, active, False, 0, "the start gives a non-finite fit")
    eq = np.zeros((0, p)) if cons.a is None else cons.a
    damping, released = (0.0, 2.0), 0
    limit = int(control.maxit if maxit is None else maxit)
    tol = control.tol if tol is None else tol
    bases: dict[bytes, np.ndarray] = {}  # the free directions of each active set met (an SVD each)
    for it in range(1, limit + 1):
        key = active.tobytes()
        if key not in bases:
            bases[key] = null_space(np.vstack([eq, cons.g[active]]), p)
        basis = bases[key]
        if basis.shape[1] == 0:
            return NlsState(theta, rss, active, True, it, "every coefficient is fixed by the constraints")
        jn = jac @ basis
        moved = False
        if tol == 0.0 or _offset(jn, r, rss) > tol:
            moved, damping, (theta, r, jac, rss, active) = _lm_step(evaluate, theta, r, jac, rss, active, basis, jn,
                                                                    damping, cons, newton, second_order)
        if moved:
            if rss == 0.0:
                return NlsState(theta, rss, active, True, it, "exact fit")
            continue
        # stationary in the free directions (or no step reduces S): release a constraint whose
        # multiplier says the objective falls inside the feasible set, else stop
        drop = _negative_multiplier(jac, r, eq, cons.g[active])
        if drop is None or released >= 50:
            return NlsState(theta, rss, active, True, it, "converged")
        active[np.flatnonzero(active)[drop]] = False
        released, damping = released + 1, (0.0, 2.0)
    return NlsState(theta, rss, active, False, limit, "iteration limit reached")


def _lm_step(evaluate, theta, r, jac, rss, active, basis, jn, damping, cons, newton=True, second_order=None):
    """One accepted damped Newton step, or none; ``damping`` is (λ, ν), updated as Nielsen (1999) does.

    The matrix is the full Hessian of ½S in the free directions, not Gauss–Newton's JᵀJ: the
    saturating law has large residuals and strong curvature near a small floor, where Gauss–Newton
    (nls, gnls) converges linearly at a poor rate. Its second-order part comes from the law's
    second derivatives, or from differencing the analytic gradient Jᵀr along each free direction
    when the law has none; the damping adds λ times JᵀJ's diagonal
    (Marquardt's scaling), raised until the matrix is positive definite and the step reduces S.
    """
    lam, nu = damping
    gtr = jn.T @ r
    if not newton:
        hess = jn.T @ jn
    else:
        extra = second_order(theta, r) if second_order is not None else None
        hess = (jn.T @ jn - basis.T @ extra @ basis) if extra is not None else _newton_matrix(evaluate, theta, basis, gtr)
        if not np.all(np.isfinite(hess)):
            hess = jn.T @ jn
    diag = np.diag(np.maximum(np.einsum("ij,ij->j", jn, jn), 1e-300))
    while lam <= 1e16:
        try:
            chol = np.linalg.cholesky(hess + lam * diag)
        except np.linalg.LinAlgError:
            lam, nu = max(lam * nu, 1e-8), 2.0 * nu
            continue
        delta = np.linalg.solve(chol.T, np.linalg.solve(chol, gtr))
        step = basis @ delta
        frac, block = _step_limit(theta, step, cons, active)
        if not np.any(np.abs(frac * step) > 1e-15 * (np.abs(theta) + 1e-300)) and block is None:
            break  # the step no longer changes the estimate
        trial = theta + frac * step
        r_new, jac_new, rss_new = evaluate(trial)
        d = frac * delta
        predicted = 2.0 * float(gtr @ d) - float(d @ hess @ d)
        # near the optimum the predicted gain falls below what S can resolve in floating point:
        # accept a step that leaves S unchanged to rounding there, so the estimate still converges
        tiny = 0 < predicted <= 1e-12 * rss and rss_new <= rss * (1 + 1e-12)
        if np.isfinite(rss_new) and (rss_new < rss or tiny or (block is not None and rss_new <= rss)):
            rho = (rss - rss_new) / predicted if predicted > 0 else 0.0
            # Nielsen's update; rho above 1 gives the same 1/3 as rho = 1, and a tiny predicted gain can make
            # rho so large that its cube overflows
            lam = lam * max(1.0 / 3.0, 1.0 - (2.0 * min(rho, 1.0) - 1.0) ** 3) if rho > 0 else lam
            new_active = active.copy()
            if block is not None:
                new_active[block] = True
            return True, (lam if lam > 1e-12 else 0.0, 2.0), (trial, r_new, jac_new, rss_new, new_active)
        lam, nu = max(lam * nu, 1e-8), 2.0 * nu
    return False, (0.0, 2.0), (theta, r, jac, rss, active)


def _newton_matrix(evaluate, theta: np.ndarray, basis: np.ndarray, gtr: np.ndarray) -> np.ndarray:
    """½∇²S in the free directions: minus the forward difference of Jᵀr along each of them."""
    q = basis.shape[1]
    h = 1e-7 * max(1.0, float(np.max(np.abs(theta), initial=0.0)))
    out = np.empty((q, q))
    for j in range(q):
        r1, j1, _ = evaluate(theta + h * basis[:, j])
        out[:, j] = -((j1 @ basis).T @ r1 - gtr) / h
    out = 0.5 * (out + out.T)
    return out if np.all(np.isfinite(out)) else (basis.T @ (evaluate(theta)[1].T @ evaluate(theta)[1]) @ basis)


def _offset(jn: np.ndarray, r: np.ndarray, rss: float) -> float:
    # R's relative offset: |Q1' r| / |Q2' r|, the size of the step against the residual left over
    q, _ = np.linalg.qr(jn)
    along = float(np.sum((q.T @ r) ** 2))
    rest = rss - along
    if rest <= 1e-300 * max(1.0, rss):
        return 0.0 if along <= 1e-300 else math.inf
    return math.sqrt(along / rest)


def _negative_multiplier(jac, r, eq, g_active) -> int | None:
    """Index (among the active inequalities) of the most negative Lagrange multiplier, if any."""
    if not len(g_active):
        return None
    grad = -2.0 * jac.T @ r  # gradient of S
    b = np.vstack([eq, g_active])
    mult = np.linalg.lstsq(b.T, grad, rcond=None)[0][len(eq):]
    scale = 2.0 * np.linalg.norm(jac) * math.sqrt(max(float(r @ r), 1e-300))
    j = int(np.argmin(mult))
    return j if mult[j] < -1e-9 * scale else None


# ----------------------------------------------------------------------------- M-estimation


@dataclass(frozen=True)
class MState:
    """An IRWLS fit: the estimate, the last step's scale and weights, convergence."""

    nls: NlsState
    scale: float
    weights: np.ndarray
    converged: bool
    n_iter: int


def m_solve(resid: Callable[[np.ndarray], np.ndarray], resid_jac: ResidJac, start: NlsState, cons: Constraints,
            norm: Norm, *, fixed_scale: float | None = None, control: NlsControl = DEFAULT_CONTROL,
            curvature: Curvature | None = None) -> MState:
    """MASS's rlm loop on a nonlinear model, from the least-squares fit ``start``.

    Each iteration: scale s from the current whitened residuals (MAD about zero, proposal 2, or
    fixed), weights ω = ψ(r̃/s)/(r̃/s), the weighted nonlinear fit from the current estimate;
    convergence when ``√(Σ(r̃_old − r̃)² / Σ r̃_old²) ≤ acc``. The reported scale and weights are
    those of the last step, as MASS reports them.
    """
    state = start
    r = resid(state.theta)
    n, p = len(r), len(state.theta) - int(state.active.sum()) - cons.n_eq
    scale = 1.4826 * float(np.median(np.abs(r)))
    omega = np.ones(n)
    for it in range(1, int(control.irwls_maxit) + 1):
        scale = _next_scale(r, scale, fixed_scale, control, n - p)
        if scale == 0.0:
            return MState(state, scale, omega, True, it)
        omega = norm.weight(r / scale)
        # one Gauss–Newton step per reweighting (for a linear model: MASS's weighted least-squares
        # solve); the fixed point is the M-estimate whatever the inner solver
        state = lm_solve(resid_jac, state.theta, cons, omega=omega, control=control, newton=False, maxit=1, tol=0.0)
        r_new = resid(state.theta)
        change = math.sqrt(float(np.sum((r - r_new) ** 2)) / max(1e-20, float(r @ r)))
        if change <= control.irwls_acc:
            # a small change can also mean a short step: solve the weighted problem fully and
            # accept only if that does not move the residuals either
            state = lm_solve(resid_jac, state.theta, cons, omega=omega, control=control, curvature=curvature)
            r_pol = resid(state.theta)
            change = math.sqrt(float(np.sum((r_new - r_pol) ** 2)) / max(1e-20, float(r_new @ r_new)))
            r_new = r_pol
        r = r_new
        if change <= control.irwls_acc:
            return MState(state, scale, omega, True, it)
    return MState(state, scale, omega, False, int(control.irwls_maxit))


def _next_scale(r, prev, fixed_scale, control, n1) -> float:
    if fixed_scale is not None:
        return float(fixed_scale)
    if control.scale_est == "MAD":
        return float(mad_scale(r[None])[0])
    return float(_proposal2_step(r[None], np.array([prev]), None, control.k2, n1)[0])
