"""MM-estimation as pure array functions: an S-estimate, then a bisquare M-step at a fixed scale.

The constants and the covariance are robustbase's ``lmrob`` defaults (Yohai 1987; Salibian-Barrera
and Yohai 2006; Koller and Stahel 2011):

- the S-estimate minimises the M-scale ``s`` solving ``sum(chi(r / s)) / (n - p) = 1/2`` with
  the bisquare chi normalised to a maximum of 1 and ``c = 1.54764`` (breakdown point 0.5). It is
  found by fast-S: exact fits to random p-row subsets, one local IRWLS step each, then the two
  best refined to convergence;
- the M-step iterates bisquare IRWLS with ``c = 4.685061`` (95% efficiency at the normal) from the
  S coefficients, with the S scale held fixed;
- the covariance is robustbase's ``.vcov.avar1``: the asymptotic covariance of the MM-estimate that
  accounts for the S-estimate it started from, made positive semi-definite as robustbase does.

Everything works on the whitened problem (rows times the square root of the inverse-variance
prior weights), as ``lmrob`` does, and on a batch of T responses sharing one design, so the
simulation calls the same code as ``fit``. Subsampling is seeded; the refined optimum does not
depend on the seed unless the data have several S-minima of nearly equal scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import OptionError, SingularDesignError
from .least_squares import WeightedSolver
from .norms import Bisquare

S_TUNING = 1.54764  # robustbase tuning.chi for bisquare: breakdown point 0.5
MM_TUNING = 4.685061  # robustbase tuning.psi for bisquare: 95% efficiency at the normal
S_BREAKDOWN = 0.5  # robustbase bb
SUBSET_TOL = 1e-7  # a p-row subset counts as singular below this reciprocal condition (robustbase solve.tol)
MAD_FACTOR = 1.4826
FAST_ELEMENTS = 2_000_000  # candidates x rows held at once in the fast-S stage
ROBUSTBASE_K_MAX = 200  # lmrob.control()$k.max: refinement steps of the S-estimate
Stopping = Literal["tight", "robustbase"]
STOPPING: tuple[str, ...] = ("tight", "robustbase")


@dataclass(frozen=True, slots=True, kw_only=True)
class MMControl:
    """Settings of the S and M steps. robustbase's defaults, with tighter convergence.

    ``n_resample`` p-row subsets, ``k_fast`` local steps on each, ``best_r`` refined fully;
    ``acc`` is the relative change in the coefficients that ends an iteration (robustbase: 1e-7,
    here 1e-12 so that any two correct implementations agree to the digits tests compare).

    ``stopping`` says how the iterations stop. ``"tight"`` (ours): each S refinement step solves
    the M-scale of its residuals exactly and both steps stop on the relative change of the
    coefficients, so a fit converges to the optimum whatever the tolerance. ``"robustbase"``
    follows lmrob's C code step for step, so that R's defaults give R's numbers, not just the
    same optimum: the S refinement moves the scale by one fixed-point step per iteration
    (``s <- s sqrt(mean chi(r/s) / b)``, before the weights) and stops when
    ``||b_new - b_old||_2 <= acc max(acc, ||b_old||_2)`` or after k.max = 200 steps, returning
    that unconverged scale; the M-step stops when ``||b_new - b_old||_1 <= acc max(acc,
    ||b_new||_1)`` and makes at most ``maxit - 1`` steps (``while(!conv && ++it < max_it)``).
    :data:`R_DEFAULT_CONTROL` is lmrob's default control in this form.
    """

    n_resample: int = 500
    k_fast: int = 1
    best_r: int = 2
    maxit: int = 1000
    acc: float = 1e-12
    scale_acc: float = 1e-12
    s_tuning: float = S_TUNING
    m_tuning: float = MM_TUNING
    breakdown: float = S_BREAKDOWN
    stopping: Stopping = "tight"

    def __post_init__(self) -> None:
        """Refuse settings the S and M steps cannot run with."""
        if int(self.n_resample) < 1 or int(self.best_r) < 1 or int(self.maxit) < 1 or not self.acc > 0:
            raise OptionError("MM control: n_resample, best_r and maxit must be positive and acc > 0")
        if not 0 < self.breakdown <= 0.5:
            raise OptionError(f"MM breakdown point must be in (0, 0.5], got {self.breakdown!r}")
        if self.stopping not in STOPPING:
            raise OptionError(f"MM stopping must be one of {', '.join(STOPPING)}, got {self.stopping!r}")

    @property
    def robustbase(self) -> bool:
        """Whether the S and M steps stop by lmrob's rules rather than on the tight tolerance."""
        return self.stopping == "robustbase"


# robustbase 0.95's lmrob.control(): max.it 50, rel.tol and refine.tol 1e-7, k.max 200, with its stopping rules
R_DEFAULT_CONTROL = MMControl(maxit=50, acc=1e-7, stopping="robustbase")


@dataclass(frozen=True, slots=True, kw_only=True)
class MMFit:
    """A batch of MM fits, one row per response.

    ``coef`` final (T × p); ``s_coef`` the S-estimate; ``scale`` the S scale (T,);
    ``resid`` and ``s_resid`` whitened residuals of both (T × n); ``weights`` the final bisquare
    robustness weights; ``converged`` and ``n_iter`` describe the M-step.
    """

    coef: np.ndarray
    s_coef: np.ndarray
    scale: np.ndarray
    resid: np.ndarray
    s_resid: np.ndarray
    weights: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    s_converged: np.ndarray


# ----------------------------------------------------------------------------- chi and the M-scale


def chi(u: np.ndarray, c: float) -> np.ndarray:
    """Bisquare rho normalised to 1 at infinity: ``1 - (1 - (u/c)^2)^3`` inside ``|u| < c``.

    Examples
    --------
    >>> chi(np.array([0.0, 1.0, 9.0]), 1.54764).round(6)
    array([0.      , 0.802358, 1.      ])
    """
    z = np.minimum((u / c) ** 2, 1.0)
    return 1.0 - (1.0 - z) ** 3


def chi_deriv(u: np.ndarray, c: float) -> np.ndarray:
    """D chi / du = 6 u (1 - (u/c)^2)^2 / c^2 inside ``|u| < c``, zero outside."""
    return 6.0 / c**2 * Bisquare(c).psi(u)


def m_scale(resid: np.ndarray, c: float, b: float, df: float, start: np.ndarray | None = None,
            acc: float = 1e-14, maxit: int = 200) -> np.ndarray:
    """The M-scale of each row: the s solving ``sum(chi(r / s)) / df = b``.

    Newton's method on log s (quadratic convergence; the fixed-point step robustbase uses needs
    tens of iterations per call), falling back to the fixed-point step ``s sqrt(mean chi / b)``
    where Newton's derivative vanishes. Rows of zeros give 0.

    Examples
    --------
    >>> r = np.array([[1.0, -2.0, 0.5, 3.0, -1.5]])
    >>> s = m_scale(r, 1.54764, 0.5, df=5)
    >>> float(chi(r / s[:, None], 1.54764).sum() / 5).__round__(10)
    0.5
    """
    resid = np.atleast_2d(resid)
    s = MAD_FACTOR * np.median(np.abs(resid), axis=1) if start is None else np.asarray(start, dtype=float).copy()
    s = np.where(s > 0, s, np.max(np.abs(resid), axis=1))
    live = np.flatnonzero(s > 0)
    for _ in range(int(maxit)):
        if live.size == 0:
            break
        z = np.minimum((resid[live] / (c * s[live, None])) ** 2, 1.0)
        g = (1.0 - (1.0 - z) ** 3).sum(axis=1) / df - b
        slope = 6.0 * (z * (1.0 - z) ** 2).sum(axis=1) / df  # -dg/dlog(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(slope > 1e-3 * (g + b), g / slope, 0.5 * np.log1p(g / b))
        step = np.clip(step, -1.0, 1.0)
        s[live] *= np.exp(step)
        live = live[np.abs(step) > acc]
    return s


# ----------------------------------------------------------------------------- S-estimation


def _subsets(xw: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` nonsingular p-row subsets (row indices, count × p).

    As robustbase's "nonsingular" subsampling: walk each candidate's random permutation of the rows
    and keep a row when it is not (nearly) in the span of the rows kept so far. Random p-row draws
    would mostly be singular on factor designs; this loop runs over row positions, all candidates
    at once, and usually ends after a few dozen positions.

    The rank test runs on the design with its columns scaled to unit norm (robustbase equilibrates
    too), so it does not depend on the units of a column: with ``x`` near 1e6 the rows of
    ``(1, x, x^2)`` all point along ``x^2`` and would look singular unscaled (NIST's Pontius).
    """
    n, p = xw.shape
    order = np.argsort(rng.random((count, n)), axis=1)
    xw = xw / column_scale(xw)
    norms = np.linalg.norm(xw, axis=1)
    basis = np.zeros((count, p, p))
    chosen = np.zeros((count, p), dtype=int)
    k = np.zeros(count, dtype=int)
    for j in range(n):
        live = np.flatnonzero(k < p)
        if live.size == 0:
            break
        rows = order[live, j]
        v = xw[rows]
        for _ in range(2):  # Gram–Schmidt twice keeps the basis orthonormal to rounding
            v = v - np.einsum("lk,lkp->lp", np.einsum("lkp,lp->lk", basis[live], v), basis[live])
        size = np.linalg.norm(v, axis=1)
        add = size > SUBSET_TOL * np.maximum(norms[rows], 1e-300)
        idx, pos = live[add], k[live[add]]
        basis[idx, pos] = v[add] / size[add, None]
        chosen[idx, pos] = rows[add]
        k[idx] += 1
    if not (k == p).any():
        raise SingularDesignError("no nonsingular subset of p rows found for the S-estimate; "
                                  "the design is singular: remove aliased terms or use method 'ols'")
    return chosen[k == p]


def column_scale(xw: np.ndarray) -> np.ndarray:
    """Euclidean norm of each column (1 for an all-zero column): divide by it to equilibrate.

    Examples
    --------
    >>> column_scale(np.array([[1.0, 0.0, 3e6], [1.0, 0.0, 4e6]]))
    array([1.41421356e+00, 1.00000000e+00, 5.00000000e+06])
    """
    scale = np.linalg.norm(xw, axis=0)
    return np.where(scale > 0, scale, 1.0)


def _relative_change(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    return np.linalg.norm(new - old, axis=1) / np.maximum(np.linalg.norm(new, axis=1), 1e-300)


def _s_steps(xw, yrows, coef, scale, control, steps, full) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IRWLS steps of the S-estimate on rows of candidates; ``full`` re-solves the M-scale each step."""
    df = xw.shape[0] - xw.shape[1]
    c, b = control.s_tuning, control.breakdown
    weight = Bisquare(c).weight
    converged = np.zeros(len(coef), dtype=bool)
    n_iter = np.zeros(len(coef), dtype=int)
    active = np.arange(len(coef))
    solver = WeightedSolver(xw)
    for _ in range(int(steps)):
        if active.size == 0:
            break
        r = yrows[active] - coef[active] @ xw.T
        s = scale[active]
        w = weight(r / s[:, None])
        new = solver.solve(w, yrows[active])
        r_new = yrows[active] - new @ xw.T
        s_new = (m_scale(r_new, c, b, df, start=s, acc=control.scale_acc) if full
                 else s * np.sqrt(chi(r_new / s[:, None], c).sum(axis=1) / (df * b)))
        done = _relative_change(coef[active], new) <= control.acc
        coef[active], scale[active] = new, s_new
        n_iter[active] += 1
        converged[active[done]] = True
        active = active[~done & np.isfinite(s_new)]
    return coef, scale, converged, n_iter


def _s_refine_robustbase(xw, yrows, coef, scale, control) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run robustbase's ``refine_fast_s(conv = TRUE)`` on rows of candidates, step for step.

    Each step first moves the scale by one fixed-point step on the current residuals, then
    reweights and solves; it stops when ``||b_new - b_old||_2 <= acc max(acc, ||b_old||_2)`` and
    returns the scale of that last step, not a solved M-scale, exactly as lmrob does.
    """
    df = xw.shape[0] - xw.shape[1]
    c, b, tol = control.s_tuning, control.breakdown, control.acc
    weight = Bisquare(c).weight
    converged = np.zeros(len(coef), dtype=bool)
    n_iter = np.zeros(len(coef), dtype=int)
    active = np.arange(len(coef))
    solver = WeightedSolver(xw)
    for _ in range(ROBUSTBASE_K_MAX):
        if active.size == 0:
            break
        r = yrows[active] - coef[active] @ xw.T
        s = scale[active] * np.sqrt(chi(r / scale[active, None], c).sum(axis=1) / (df * b))
        new = solver.solve(weight(r / s[:, None]), yrows[active])
        old_norm = np.linalg.norm(coef[active], axis=1)
        done = np.linalg.norm(new - coef[active], axis=1) <= tol * np.maximum(tol, old_norm)
        coef[active], scale[active] = new, s
        n_iter[active] += 1
        converged[active[done]] = True
        active = active[~done & np.isfinite(s) & (s > 0)]
    return coef, scale, converged, n_iter


def s_estimate(xw: np.ndarray, yw: np.ndarray, control: MMControl = MMControl(),
               rng: np.random.Generator | int | None = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast-S for each row of ``yw`` (T × n): coefficients (T × p), S scale (T,), converged (T,).

    All responses share the same random subsets; candidates of all responses iterate together.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.column_stack([np.ones(40), np.arange(40.0)])
    >>> y = 1 + 0.5 * np.arange(40.0) + rng.normal(0, 0.1, 40)
    >>> y[:8] += 20  # a fifth of the rows shifted
    >>> coef, scale, ok = s_estimate(x, y[None])
    >>> bool(abs(coef[0, 1] - 0.5) < 0.01), bool(scale[0] < 0.5)
    (True, True)
    """
    rng = np.random.default_rng(rng)
    yw = np.atleast_2d(yw)
    t = yw.shape[0]
    idx = _subsets(xw, int(control.n_resample), rng)
    best_r = min(int(control.best_r), len(idx))
    block = max(1, FAST_ELEMENTS // (len(idx) * xw.shape[0]))
    found = [_best_candidates(xw, yw[b:b + block], idx, best_r, control) for b in range(0, t, block)]
    cand, scale = np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])
    # the best candidates of every response are refined together, one batch
    yrows = np.repeat(yw, best_r, axis=0)
    if control.robustbase:
        # lmrob refines from each candidate's solved M-scale (find_scale, scale.tol 1e-10)
        scale = m_scale(yrows - cand @ xw.T, control.s_tuning, control.breakdown, xw.shape[0] - xw.shape[1],
                        start=scale, acc=control.scale_acc)
        coef, scale, conv, _ = _s_refine_robustbase(xw, yrows, cand, scale, control)
    else:
        coef, scale, conv, _ = _s_steps(xw, yrows, cand, scale, control, control.maxit, full=True)
    pick = np.argmin(np.nan_to_num(scale.reshape(t, best_r), nan=np.inf), axis=1)
    sel = pick + np.arange(t) * best_r
    return coef[sel], scale[sel], conv[sel]


def _k_fast_robustbase(xw, yrows, cand, scale, control) -> np.ndarray:
    """Run robustbase's ``refine_fast_s(conv = FALSE)``: k_fast steps of scale step, then weights, then solve."""
    df = xw.shape[0] - xw.shape[1]
    c, b = control.s_tuning, control.breakdown
    weight = Bisquare(c).weight
    solver = WeightedSolver(xw)
    for _ in range(int(control.k_fast)):
        r = yrows - cand @ xw.T
        scale = scale * np.sqrt(chi(r / scale[:, None], c).sum(axis=1) / (df * b))
        with np.errstate(invalid="ignore", divide="ignore"):
            cand = solver.solve(weight(r / scale[:, None]), yrows)
    return cand


def _best_candidates(xw, yw, idx, best_r, control) -> tuple[np.ndarray, np.ndarray]:
    """Exact fits to the subsets, ``k_fast`` IRWLS steps each, and the ``best_r`` smallest scales per response."""
    t, n = yw.shape
    m, p = idx.shape
    col = column_scale(xw)  # solve on equilibrated columns: a subset of (1, x, x^2) at x ~ 1e6 is otherwise near singular
    cand = (np.linalg.solve((xw / col)[idx][None], yw[:, idx][..., None])[..., 0] / col).reshape(t * m, p)
    yrows = np.repeat(yw, m, axis=0)
    scale = np.median(np.abs(yrows - cand @ xw.T), axis=1) * MAD_FACTOR
    scale = np.where(scale > 0, scale, 1e-300)
    if control.robustbase:
        cand = _k_fast_robustbase(xw, yrows, cand, scale, control)
    else:
        cand, scale, _, _ = _s_steps(xw, yrows, cand, scale, control, control.k_fast, full=False)
    # ranking needs the scales to a few digits only
    scale = m_scale(yrows - cand @ xw.T, control.s_tuning, control.breakdown, n - p, start=scale, acc=1e-4)
    keep = np.argsort(np.nan_to_num(scale.reshape(t, m), nan=np.inf), axis=1, kind="stable")[:, :best_r]
    rows = (keep + np.arange(t)[:, None] * m).ravel()
    return cand[rows], scale[rows]


# ----------------------------------------------------------------------------- the M-step and MM


def m_step(xw: np.ndarray, yw: np.ndarray, start: np.ndarray, scale: np.ndarray,
           control: MMControl = MMControl()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bisquare IRWLS at a fixed scale from ``start``: coefficients, converged, iterations (per row)."""
    yw = np.atleast_2d(yw)
    weight = Bisquare(control.m_tuning).weight
    coef = np.array(start, dtype=float, copy=True)
    converged = np.zeros(len(coef), dtype=bool)
    n_iter = np.zeros(len(coef), dtype=int)
    active = np.flatnonzero(scale > 0)
    converged[scale <= 0] = True  # an exact fit: nothing to reweight
    solver = WeightedSolver(xw)
    # robustbase's rwls() counts `while(!converged && ++iterations < max_it)`: max_it - 1 steps
    steps = int(control.maxit) - 1 if control.robustbase else int(control.maxit)
    for _ in range(steps):
        if active.size == 0:
            break
        w = weight((yw[active] - coef[active] @ xw.T) / scale[active, None])
        new = solver.solve(w, yw[active])
        done = _m_step_done(coef[active], new, control)
        coef[active] = new
        n_iter[active] += 1
        converged[active[done]] = True
        active = active[~done & np.isfinite(new).all(axis=1)]
    return coef, converged, n_iter


def _m_step_done(old: np.ndarray, new: np.ndarray, control: MMControl) -> np.ndarray:
    if not control.robustbase:
        return _relative_change(old, new) <= control.acc
    tol = control.acc  # rwls(): ||b0 - b1||_1 <= eps max(eps, ||b1||_1)
    return np.abs(new - old).sum(axis=1) <= tol * np.maximum(tol, np.abs(new).sum(axis=1))


def mm_estimate(xw: np.ndarray, yw: np.ndarray, control: MMControl = MMControl(),
                rng: np.random.Generator | int | None = 1) -> MMFit:
    """MM-estimates (robustbase ``lmrob`` defaults) for each row of ``yw`` on the whitened design.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.column_stack([np.ones(50), rng.normal(size=50)])
    >>> y = x @ [1.0, 2.0] + rng.normal(0, 0.1, 50)
    >>> fit = mm_estimate(x, y[None])
    >>> np.round(fit.coef[0], 1), bool(fit.converged[0])
    (array([1., 2.]), True)
    """
    yw = np.atleast_2d(yw)
    s_coef, scale, s_conv = s_estimate(xw, yw, control, rng)
    coef, converged, n_iter = m_step(xw, yw, s_coef, scale, control)
    resid = yw - coef @ xw.T
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = Bisquare(control.m_tuning).weight(resid / scale[:, None])
    return MMFit(coef=coef, s_coef=s_coef, scale=scale, resid=resid, s_resid=yw - s_coef @ xw.T,
                 weights=weights, converged=converged, n_iter=n_iter, s_converged=s_conv)


# ----------------------------------------------------------------------------- covariance


def mm_covariance(xw: np.ndarray, resid: np.ndarray, s_resid: np.ndarray, scale: np.ndarray,
                  control: MMControl = MMControl()) -> np.ndarray:
    """Robustbase's ``.vcov.avar1`` for each row: the MM covariance including the S-step (T × p × p).

    With ``u = r / s`` (final), ``u0 = r0 / s`` (S residuals), ``w = psi'(u)``, the bread is
    ``A = s (X'WX)^-1``, the S correction ``a = A X'(w u) / mean(chi'(u0) u0)``, and
    ``V = [n A X'diag(psi^2)X A - a v' - v a' + mean(chi(u0)^2 - b^2) a a'] / n`` with
    ``v = A X'(psi chi(u0))``. Negative eigenvalues are set to zero and the diagonal restored
    (robustbase's "posdefify").
    """
    resid, s_resid = np.atleast_2d(resid), np.atleast_2d(s_resid)
    col = column_scale(xw)  # every product below is formed on unit-norm columns and scaled back at the end,
    xw = xw / col  # so a column in units of 1e6 costs no digits in the inverse
    n = xw.shape[0]
    u, u0 = resid / scale[:, None], s_resid / scale[:, None]
    psi_norm = Bisquare(control.m_tuning)
    xx = np.einsum("ni,nj->nij", xw, xw).reshape(n, -1)
    p = xw.shape[1]
    bread = np.linalg.inv((psi_norm.dpsi(u) @ xx).reshape(-1, p, p)) * scale[:, None, None]
    denom = (chi_deriv(u0, control.s_tuning) * u0).mean(axis=1)
    a = np.einsum("tij,tj->ti", bread, (psi_norm.dpsi(u) * u) @ xw) / denom[:, None]
    psi = psi_norm.psi(u)
    chi0 = chi(u0, control.s_tuning)
    v = np.einsum("tij,tj->ti", bread, (psi * chi0) @ xw)
    meat = ((psi**2) @ xx).reshape(-1, p, p)
    u1 = n * bread @ meat @ bread
    u23 = a[:, :, None] * v[:, None, :]
    u4 = ((chi0**2).mean(axis=1) - 0.5**2)[:, None, None] * a[:, :, None] * a[:, None, :]
    cov = _posdefify((u1 - u23 - np.swapaxes(u23, 1, 2) + u4) / n)
    return cov / col[None, :, None] / col[None, None, :]


def _posdefify(cov: np.ndarray) -> np.ndarray:
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    lam, q = np.linalg.eigh(cov)
    bad = (lam < 0).any(axis=1)
    if not bad.any():
        return cov
    fixed = cov.copy()
    diag = np.diagonal(cov[bad], axis1=1, axis2=2)
    rebuilt = (q[bad] * np.maximum(lam[bad], 0)[:, None, :]) @ np.swapaxes(q[bad], 1, 2)
    d = np.sqrt(np.maximum(diag, 0) / np.diagonal(rebuilt, axis1=1, axis2=2))
    fixed[bad] = d[:, :, None] * rebuilt * d[:, None, :]
    return fixed
