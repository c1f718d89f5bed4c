"""Estimators as pure functions on arrays: least squares and IRWLS M-estimation.

Everything here works on the *whitened* problem (rows of X and y multiplied by the square root of
the prior weights), which is how R's ``lm.wfit`` and ``MASS::rlm`` treat inverse-variance weights.
IRWLS is written for a batch of T responses sharing one design, so a single fit is the batch of
one and the simulation runs a thousand trials with the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import OptionError, SingularDesignError
from .norms import Norm

ScaleEst = Literal["MAD", "proposal2"]

# R's lm uses LINPACK dqrdc2 with tol = 1e-7: a column whose remaining norm falls below that
# fraction of its original norm is declared aliased.
ALIAS_TOL = 1e-7
MAD_CONSTANT = 0.6745  # MASS divides the median absolute residual by this, not 1/1.4826


# ----------------------------------------------------------------------------- least squares


def kept_columns(x: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    """Which columns are not linear combinations of earlier ones (R's aliasing rule).

    Examples
    --------
    >>> x = np.array([[1.0, 1, 2], [1, 2, 4], [1, 3, 6]])
    >>> kept_columns(x)
    array([ True,  True, False])
    """
    norms = np.linalg.norm(x, axis=0)
    r = np.linalg.qr(x, mode="r")
    diag = np.abs(np.diag(r)) if r.shape[0] >= x.shape[1] else np.zeros(x.shape[1])
    ok = diag > tol * norms
    if ok.all():
        return ok
    return _kept_sequential(x, norms, tol)


def _kept_sequential(x: np.ndarray, norms: np.ndarray, tol: float) -> np.ndarray:
    # The one-pass test is unreliable after a dependent column, so re-decide column by column.
    kept: list[int] = []
    for j in range(x.shape[1]):
        if norms[j] == 0:
            continue
        r = np.linalg.qr(x[:, kept + [j]], mode="r")
        if r.shape[0] > len(kept) and abs(r[len(kept), len(kept)]) > tol * norms[j]:
            kept.append(j)
    mask = np.zeros(x.shape[1], dtype=bool)
    mask[kept] = True
    return mask


@dataclass(frozen=True)
class LeastSquaresFit:
    """Least squares on the whitened problem; aliased coefficients are NaN.

    ``xtx_inv`` is the inverse cross-product of the kept whitened columns (rank × rank).
    """

    coef: np.ndarray
    kept: np.ndarray
    xtx_inv: np.ndarray
    resid: np.ndarray  # whitened residuals, sqrt(w) * (y - X b)

    @property
    def rank(self) -> int:
        return int(self.kept.sum())


def least_squares(xw: np.ndarray, yw: np.ndarray) -> LeastSquaresFit:
    """Least squares by QR on an already whitened design, keeping aliased columns as NaN.

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> least_squares(x, 1 + 2 * np.arange(4.0)).coef.round(12)
    array([1., 2.])
    """
    kept = kept_columns(xw)
    q, r = np.linalg.qr(xw[:, kept])
    r_inv = _triangular_inverse(r)
    coef_kept = r_inv @ (q.T @ yw)
    coef = np.full(xw.shape[1], np.nan)
    coef[kept] = coef_kept
    resid = yw - xw[:, kept] @ coef_kept
    return LeastSquaresFit(coef=coef, kept=kept, xtx_inv=r_inv @ r_inv.T, resid=resid)


def _triangular_inverse(r: np.ndarray) -> np.ndarray:
    # numpy's solve on a p×p triangle is as accurate here and spares the fit path scipy.linalg
    return np.linalg.solve(r, np.eye(r.shape[0]))


def least_squares_many(xw: np.ndarray, yw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares for T responses (rows of ``yw``) on one full-rank design, one factorization.

    Returns the coefficients (T × p) and the whitened residuals (T × n).

    Examples
    --------
    >>> x = np.column_stack([np.ones(3), np.arange(3.0)])
    >>> least_squares_many(x, np.array([[0.0, 1, 2], [1, 1, 1]]))[0].round(12) + 0.0
    array([[0., 1.],
           [1., 0.]])
    """
    q, r = np.linalg.qr(xw)
    if not np.all(np.abs(np.diag(r)) > ALIAS_TOL * np.linalg.norm(xw, axis=0)):
        raise SingularDesignError("the model matrix is rank deficient; remove aliased terms")
    coef = (yw @ q) @ _triangular_inverse(r).T
    return coef, yw - coef @ xw.T


class WeightedSolver:
    """Weighted least squares for many weight vectors on one design ``xw``, set up once.

    Normal equations built with one matrix product over all trials; columns are equilibrated
    first, so the error stays near machine precision for the well-scaled designs of this domain
    (QR per trial is fifty times slower at T = 1000). The design's column products are formed
    here, once, because IRWLS solves on the same design at every iteration.
    """

    def __init__(self, xw: np.ndarray) -> None:
        scale = np.linalg.norm(xw, axis=0)
        scale[scale == 0] = 1.0
        self.scale = scale
        self.xs = xw / scale
        p = xw.shape[1]
        self.upper = np.triu_indices(p)  # the Gram matrix is symmetric: build its upper half, mirror it
        self.pairs = self.xs[:, self.upper[0]] * self.xs[:, self.upper[1]]

    def solve(self, weights: np.ndarray, yw: np.ndarray) -> np.ndarray:
        """Coefficients (T × p) for weights and responses (T × n); singular trials come back as NaN rows."""
        p = self.xs.shape[1]
        half = weights @ self.pairs
        gram = np.empty((weights.shape[0], p, p))
        gram[:, self.upper[0], self.upper[1]] = half
        gram[:, self.upper[1], self.upper[0]] = half
        rhs = (weights * yw) @ self.xs
        return _solve_spd_many(gram, rhs) / self.scale


def weighted_solve_many(xw: np.ndarray, weights: np.ndarray, yw: np.ndarray) -> np.ndarray:
    """Weighted least squares for T weight vectors and responses sharing the design ``xw``.

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> weighted_solve_many(x, np.array([[1.0, 1, 1, 1], [1, 1, 1, 0]]), np.array([[1.0, 2, 3, 4], [0, 1, 2, 9]])).round(12)
    array([[1., 1.],
           [0., 1.]])
    """
    return WeightedSolver(xw).solve(weights, yw)


def _solve_spd_many(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(gram, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for t in range(gram.shape[0]):  # rare: only when some trial's weights are degenerate
            try:
                out[t] = np.linalg.solve(gram[t], rhs[t])
            except np.linalg.LinAlgError:
                pass
        return out


# ----------------------------------------------------------------------------- scale estimates


def mad_scale(resid: np.ndarray, case_weights: np.ndarray | None = None) -> np.ndarray:
    """MASS's scale: median absolute residual about zero / 0.6745, row by row (weighted for case).

    Examples
    --------
    >>> mad_scale(np.array([[1.0, -2.0, 3.0]])).round(6)
    array([2.965159])
    """
    if case_weights is None:
        return row_median(np.abs(resid)) / MAD_CONSTANT
    return weighted_mad(resid, case_weights)


def row_median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)``, bit for bit, partitioning ``a`` in place (it must be a scratch array).

    One selection pass and a max instead of numpy's copy and two-pivot partition: the median is
    the hottest line of a batched IRWLS iteration.

    Examples
    --------
    >>> row_median(np.array([[3.0, 1.0, 2.0, 10.0]]))
    array([2.5])
    """
    n = a.shape[-1]
    half = n // 2
    a.partition(half, axis=-1)
    upper = a[..., half]
    if n % 2:
        return upper.copy()
    return (a[..., :half].max(axis=-1) + upper) / 2


def weighted_mad(resid: np.ndarray, case_weights: np.ndarray) -> np.ndarray:
    """MASS's ``wmad``: the weighted median of |r| (cumulative share crossing 0.5) / 0.6745."""
    a = np.abs(np.atleast_2d(resid))
    order = np.argsort(a, axis=1, kind="stable")
    xs = np.take_along_axis(a, order, axis=1)
    share = np.cumsum(case_weights[order], axis=1)
    share /= share[:, -1:]
    below = (share < 0.5).sum(axis=1)
    rows = np.arange(a.shape[0])
    upper = np.minimum(below + 1, a.shape[1] - 1)
    exact = share[rows, below] > 0.5
    value = np.where(exact, xs[rows, below], 0.5 * (xs[rows, below] + xs[rows, upper]))
    return value / MAD_CONSTANT


def _proposal2_step(resid, scale, case_weights, k2, n1):
    theta = math.erf(k2 / math.sqrt(2))  # 2Φ(k2) − 1
    gamma = theta + k2**2 * (1 - theta) - 2 * k2 * np.exp(-0.5 * k2**2) / np.sqrt(2 * np.pi)
    capped = np.minimum(resid**2, (k2 * scale[:, None]) ** 2)
    if case_weights is not None:
        capped = capped * case_weights
    return np.sqrt(capped.sum(axis=1) / (n1 * gamma))


# ----------------------------------------------------------------------------- IRWLS


@dataclass(frozen=True)
class IrwlsFit:
    """A batch of IRWLS fits: one row per trial.

    ``resid`` are the working residuals (whitened for inverse-variance weights, raw for case
    weights); ``scale`` and ``weights`` are those of the last step, as MASS reports them.
    """

    coef: np.ndarray
    resid: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray


@dataclass(frozen=True)
class IrwlsControl:
    """Iteration settings: MASS's are maxit=20, acc=1e-4; ours default to a tight optimum."""

    maxit: int = 200
    acc: float = 1e-10
    scale_est: ScaleEst = "MAD"
    k2: float = 1.345

    def __post_init__(self) -> None:
        if self.scale_est not in ("MAD", "proposal2"):
            raise OptionError(f"scale_est must be 'MAD' or 'proposal2', got {self.scale_est!r}")
        if int(self.maxit) < 1 or not self.acc > 0:
            raise OptionError("maxit must be at least 1 and acc positive")


def irwls(
    xw: np.ndarray,
    yw: np.ndarray,
    norm: Norm,
    *,
    case_weights: np.ndarray | None = None,
    control: IrwlsControl = IrwlsControl(),
    start: np.ndarray | None = None,
) -> IrwlsFit:
    """M-estimation by iteratively reweighted least squares, MASS ``rlm`` step for step.

    ``yw`` holds one response per row (T × n); trials iterate together but each keeps its own
    scale, weights and convergence, and stops changing once it has converged.

    Examples
    --------
    >>> from powerlaw_stats.estimation.norms import Huber
    >>> x = np.column_stack([np.ones(20), np.arange(20.0)])
    >>> y = (1 + 0.5 * np.arange(20.0) + np.sin(np.arange(20.0)))[None]
    >>> y[0, 19] += 10  # one gross outlier
    >>> fit = irwls(x, y, Huber())
    >>> fit.coef.round(4), bool(fit.converged[0])
    (array([[1.138 , 0.4921]]), True)
    """
    yw = np.atleast_2d(yw)
    solver = WeightedSolver(xw)
    state = _start_state(xw, yw, case_weights, control, start, solver)
    active = np.arange(yw.shape[0])
    for _ in range(int(control.maxit)):
        if active.size == 0:
            break
        active = _irwls_step(xw, yw, norm, case_weights, control, state, active, solver)
    return IrwlsFit(**{k: state[k] for k in ("coef", "resid", "scale", "weights", "converged", "n_iter")})


def _start_state(xw, yw, case_weights, control, start, solver: WeightedSolver) -> dict:
    t, n = yw.shape
    if start is None:
        w0 = np.ones((t, n)) if case_weights is None else np.broadcast_to(case_weights, (t, n))
        start = solver.solve(np.asarray(w0, dtype=float), yw)
    resid = yw - start @ xw.T
    scale = 1.4826 * np.median(np.abs(resid), axis=1) if case_weights is None else weighted_mad(resid, case_weights)
    return {
        "coef": start.copy(), "resid": resid, "scale": scale, "weights": np.ones((t, n)),
        "converged": np.zeros(t, dtype=bool), "n_iter": np.zeros(t, dtype=int),
    }


def _next_scale(resid, prev, case_weights, control, n1):
    if control.scale_est == "MAD":
        return mad_scale(resid, case_weights)
    return _proposal2_step(resid, prev, case_weights, control.k2, n1)


def _irwls_step(xw, yw, norm, case_weights, control, state, active, solver: WeightedSolver) -> np.ndarray:
    # while every trial is active, slices give views: no copies of the T x n arrays
    rows = slice(None) if active.size == yw.shape[0] else active
    resid = state["resid"][rows]
    n1 = (xw.shape[0] if case_weights is None else case_weights.sum()) - xw.shape[1]
    scale = _next_scale(resid, state["scale"][rows], case_weights, control, n1)
    zero = scale == 0  # a perfect fit: MASS stops and calls it converged
    if zero.any():
        state["converged"][active[zero]] = True
        active, resid, scale, rows = active[~zero], resid[~zero], scale[~zero], active[~zero]
    weights = norm.weight(resid / scale[:, None])
    solve_w = weights if case_weights is None else weights * case_weights
    coef = solver.solve(solve_w, yw[rows])
    new_resid = yw[rows] - coef @ xw.T
    step = resid - new_resid
    change = np.sqrt(np.einsum("ij,ij->i", step, step) / np.maximum(1e-20, np.einsum("ij,ij->i", resid, resid)))
    for key, value in (("coef", coef), ("resid", new_resid), ("scale", scale), ("weights", solve_w)):
        if isinstance(rows, slice) and value.base is None:
            state[key] = value  # every trial moved: take the new array instead of copying it over the old
        else:
            state[key][rows] = value
    state["n_iter"][active] += 1
    failed = ~np.isfinite(change)
    done = (change <= control.acc) & ~failed
    state["converged"][active[done]] = True
    return active[~done & ~failed]
