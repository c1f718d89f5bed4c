"""Least squares on the whitened problem, as R's ``lm.wfit`` computes it: single and batched.

Everything here works on the *whitened* problem (rows of X and y multiplied by the square root of
the prior weights), which is how R's ``lm.wfit`` and ``MASS::rlm`` treat inverse-variance weights.
A single fit keeps aliased columns as NaN (R's NA); the batched ones solve T responses or T weight
vectors on one design at once, which is what IRWLS, the simulation and the bootstrap need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SingularDesignError

# R's lm uses LINPACK dqrdc2 with tol = 1e-7: a column whose remaining norm falls below that
# fraction of its original norm is declared aliased.
ALIAS_TOL = 1e-7


# ----------------------------------------------------------------------------- equilibration

EXTREME = 100  # |values| beyond 2**100 or below 2**-100 are scaled (squares and sums near the double range's ends)
EXTREME_WEIGHTS = 200  # the same for prior weights, which enter as square roots


@dataclass(frozen=True, slots=True, kw_only=True)
class Equilibration:
    """Powers of two that bring data near the ends of the double range back to order one, and their undoing.

    ``columns`` (p), ``response`` and ``weights`` are exponents: the design's column j is
    multiplied by ``2**columns[j]``, the response by ``2**response``, inverse-variance weights by
    ``2**(2 * weights)``. Every estimator here is equivariant under these changes, and a power of
    two is exact, so the undone numbers are the estimator's on the original data without the
    overflow (x ~ 1e300: X'X is infinite) or underflow (x ~ 1e-300, weights ~ 1e-320) that would
    make a column look aliased or give an infinite standard error. Data inside
    ``2**±EXTREME`` are left alone, bit for bit.

    Examples
    --------
    >>> x = np.column_stack([np.ones(3), np.array([1.0, 2.0, 4.0]) * 1e300])
    >>> e = equilibration(x, np.array([1.0, 2.0, 3.0]), None)
    >>> e.columns.tolist(), e.response, bool(np.isfinite(e.apply(x, np.ones(3), None)[0] ** 2).all())
    ([0, -999], 0, True)
    """

    columns: np.ndarray
    response: int = 0
    weights: int = 0

    @classmethod
    def none(cls, p: int) -> Equilibration:
        """No scaling of a p-column design."""
        return cls(columns=np.zeros(p, dtype=int))

    def apply(self, x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The scaled design, response and weights (inputs returned unchanged when nothing needs scaling)."""
        if self.columns.any():
            x = np.ldexp(x, self.columns[None, :])
        if self.response:
            y = np.ldexp(y, self.response)
        if self.weights and w is not None:
            w = np.ldexp(w, 2 * self.weights)
        return x, y, w

    def coef(self, b: np.ndarray) -> np.ndarray:
        """Coefficients (or their SEs) on the original scale."""
        return np.ldexp(b, self.columns - self.response) if self.columns.any() or self.response else b

    def cov(self, c: np.ndarray) -> np.ndarray:
        """A covariance on the original scale (it may over- or underflow where the data are extreme)."""
        if not (self.columns.any() or self.response):
            return c
        with np.errstate(over="ignore", under="ignore"):
            return np.ldexp(c, self.columns[:, None] + self.columns[None, :] - 2 * self.response)

    def fitted(self, f: np.ndarray) -> np.ndarray:
        """Fitted values (or residuals) on the original scale."""
        return np.ldexp(f, -self.response) if self.response else f

    def scale(self, s: float) -> float:
        """A residual scale on the original scale of the response and the weights."""
        return float(np.ldexp(s, -self.response - self.weights)) if self.response or self.weights else s


def _exponent(values: np.ndarray, limit: int) -> int:
    """Minus the binary exponent of ``max |values|`` when it lies beyond ``2**±limit``; else 0."""
    with np.errstate(over="ignore"):
        big = float(np.max(np.abs(values))) if values.size else 0.0
    if not np.isfinite(big) or big == 0.0:
        return 0
    e = int(np.frexp(big)[1])
    return -e if abs(e) > limit else 0


def equilibration(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, weight_type: str = "inv.var") -> Equilibration:
    """The powers of two that keep a fit's squares and sums inside the double range (see :class:`Equilibration`).

    Case weights count rows and are never scaled.
    """
    columns = np.array([_exponent(x[:, j], EXTREME) for j in range(x.shape[1])], dtype=int)
    weights = 0
    if w is not None and weight_type == "inv.var":
        positive = np.asarray(w)[np.asarray(w) > 0]
        small = float(positive.min()) if positive.size else 1.0
        if positive.size and (np.frexp(small)[1] < -EXTREME_WEIGHTS or np.frexp(float(positive.max()))[1] > EXTREME_WEIGHTS):
            weights = -int(np.frexp(float(positive.max()))[1]) // 2  # an even power of two: its square root is exact
    return Equilibration(columns=columns, response=_exponent(np.asarray(y), EXTREME), weights=weights)


# ----------------------------------------------------------------------------- least squares


def kept_columns(x: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    """Which columns are not linear combinations of earlier ones (R's aliasing rule).

    Examples
    --------
    >>> x = np.array([[1.0, 1, 2], [1, 2, 4], [1, 3, 6]])
    >>> kept_columns(x)
    array([ True,  True, False])
    """
    return _kept_from_r(x, np.linalg.qr(x, mode="r"), tol)


def _kept_from_r(x: np.ndarray, r: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    # r is the triangle of x's QR; least_squares passes the one it factors anyway (geqrf gives the
    # same triangle for mode "r" and "reduced"), so a tall design is factored once, not twice
    norms = np.linalg.norm(x, axis=0)
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


@dataclass(frozen=True, slots=True, kw_only=True)
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
        """How many columns are kept (not aliased)."""
        return int(self.kept.sum())


def least_squares(xw: np.ndarray, yw: np.ndarray) -> LeastSquaresFit:
    """Least squares by QR on an already whitened design, keeping aliased columns as NaN.

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> least_squares(x, 1 + 2 * np.arange(4.0)).coef.round(12)
    array([1., 2.])
    """
    if xw.shape[0] >= TALL_ROWS and np.ndim(yw) == 1:
        tall = _least_squares_tall(xw, yw)
        if tall is not None:
            return tall
    q, r = np.linalg.qr(xw)
    kept = _kept_from_r(xw, r)
    if not kept.all():  # R's rule drops columns: factor the kept ones afresh
        q, r = np.linalg.qr(xw[:, kept])
    r_inv = _triangular_inverse(r)
    coef_kept = r_inv @ (q.T @ yw)
    coef = np.full(xw.shape[1], np.nan)
    coef[kept] = coef_kept
    resid = yw - xw[:, kept] @ coef_kept
    return LeastSquaresFit(coef=coef, kept=kept, xtx_inv=r_inv @ r_inv.T, resid=resid)


TALL_ROWS = 100_000  # from here on least squares factors [X | y] and never forms Q


def _least_squares_tall(xw: np.ndarray, yw: np.ndarray) -> LeastSquaresFit | None:
    # One Householder QR of [X | y]: its triangle holds R and Qᵀy (the reflections applied to y,
    # as R's dqrsl does), so the n × p Q, which costs more than the factorization on a tall
    # design, is never formed. The numbers differ from the explicit-Q route in the last bits.
    # None when R's rule drops a column: the general route decides which, as it always has.
    p = xw.shape[1]
    aug = np.empty((xw.shape[0], p + 1), order="F")
    aug[:, :p], aug[:, p] = xw, yw
    r_aug = np.linalg.qr(aug, mode="r")
    del aug
    r = r_aug[:p, :p]
    kept = _kept_from_r(xw, r)
    if not kept.all():
        return None
    r_inv = _triangular_inverse(r)
    coef = r_inv @ r_aug[:p, p]
    return LeastSquaresFit(coef=coef, kept=kept, xtx_inv=r_inv @ r_inv.T, resid=yw - xw @ coef)


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
    return ManyResponses(xw).fit(yw)


class ManyResponses:
    """Least squares of any number of response batches on one full-rank design ``xw``, factored once.

    A simulation fits chunk after chunk of responses on the same design; its QR is the same every time.

    Examples
    --------
    >>> x = np.column_stack([np.ones(3), np.arange(3.0)])
    >>> ManyResponses(x).fit(np.array([[1.0, 3, 5]]))[0].round(12)
    array([[1., 2.]])
    """

    def __init__(self, xw: np.ndarray) -> None:
        q, r = np.linalg.qr(xw)
        if not np.all(np.abs(np.diag(r)) > ALIAS_TOL * np.linalg.norm(xw, axis=0)):
            raise SingularDesignError("the model matrix is rank deficient; remove aliased terms")
        self.xw, self.q, self.r_inv_t = xw, q, _triangular_inverse(r).T

    def fit(self, yw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (T × p) and whitened residuals (T × n) of the responses ``yw`` (T × n)."""
        coef = (yw @ self.q) @ self.r_inv_t
        return coef, yw - coef @ self.xw.T


PAIRS_LIMIT = 4_000_000  # entries of the n × p(p+1)/2 product table (32 MB) a single fit may build
# Normal equations square the design's condition number: their relative error is about cond² · eps.
# Above this condition number (of the column-equilibrated design) each weighted solve runs as a QR of
# the weighted design instead, whose error is about cond · eps, as R's lm.wfit's is. The designs of
# this domain measure 5-25; NIST's Wampler4 2.2e3, Longley 4.3e4.
COND_LIMIT = 100.0


def condition_number(xs: np.ndarray) -> float:
    """The 2-norm condition number of a (column-equilibrated) design, from the R of its QR.

    Examples
    --------
    >>> condition_number(np.eye(3))
    1.0
    """
    if xs.shape[0] < xs.shape[1] or xs.shape[1] == 0:
        return float("inf") if xs.shape[1] else 1.0
    sv = np.linalg.svd(np.linalg.qr(xs, mode="r"), compute_uv=False)
    return float(sv[0] / sv[-1]) if sv[-1] > 0 else float("inf")


class WeightedSolver:
    """Weighted least squares for many weight vectors on one design ``xw``, set up once.

    Normal equations built with one matrix product over all trials; columns are equilibrated
    first, so the error stays near machine precision for the well-scaled designs of this domain
    (QR per trial is fifty times slower at T = 1000). The design's column products are formed
    here, once, because IRWLS solves on the same design at every iteration, for ``trials``
    responses at a time (None: any number).

    That table has p(p+1)/2 columns: 78 for p = 12, 624 MB at a million rows, and for a single
    fit it is read once per iteration, so it costs more than it saves. A single fit whose table
    would pass :data:`PAIRS_LIMIT` entries builds each Gram matrix from blocks of rows instead
    (``X̃ᵀ diag(w) X̃`` block by block): the same sums, added in another order, so its numbers
    differ from the table's in the last bits.

    The solver measures the design's condition number once; above :data:`COND_LIMIT` (where the
    normal equations would lose digits R's QR keeps) every solve is a QR of the weighted design
    (``exact`` is then True).
    """

    def __init__(self, xw: np.ndarray, trials: int | None = None) -> None:
        scale = np.linalg.norm(xw, axis=0)
        scale[scale == 0] = 1.0
        self.scale = scale
        self.xs = xw / scale
        self.exact = condition_number(self.xs) > COND_LIMIT
        self.xw = xw
        n, p = xw.shape
        self.upper = np.triu_indices(p)  # the Gram matrix is symmetric: build its upper half, mirror it
        self.pairs: np.ndarray | None = None
        if not self.exact and (trials is None or trials > 1 or n * len(self.upper[0]) <= PAIRS_LIMIT):
            self.pairs = np.empty((n, len(self.upper[0])), order="F")  # the layout the fancy-indexed product had
            for k, (i, j) in enumerate(zip(*self.upper)):  # column by column: no n × p(p+1)/2 temporaries
                np.multiply(self.xs[:, i], self.xs[:, j], out=self.pairs[:, k])

    def solve(self, weights: np.ndarray, yw: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
        """Coefficients (T × p) for weights and responses (T × n); singular trials come back as NaN rows.

        ``scratch``, a T × n array the caller no longer needs, takes the weighted responses instead of
        a fresh array.
        """
        if self.exact:
            return _qr_solve_many(self.xw, weights, yw)
        if self.pairs is None:
            gram, rhs = self._normal_equations_by_rows(weights, yw)
            return _solve_spd_many(gram, rhs) / self.scale
        return self.solve_weighted(weights, np.multiply(weights, yw, out=scratch))

    def solve_weighted(self, weights: np.ndarray, weighted: np.ndarray, gram: np.ndarray | None = None) -> np.ndarray:
        """``(X̃ᵀ diag(w) X̃)⁻¹ X̃ᵀ v`` per trial, for weights ``w`` and a right-hand side ``v`` already weighted (T × n).

        ``v`` may also hold k right-hand sides per trial (T × k × n, result T × k × p), solved with one factorization.

        Always by the normal equations (also where :meth:`solve` takes QRs), and the weights may
        be zero or negative: a Newton step of M-estimation solves with ``ψ'(u)`` as weights and
        ``s ψ(u)`` as ``v``. :meth:`solve` is this with ``v = w y``. ``gram``, the
        :meth:`gram` of ``w`` already built for another right-hand side, is used instead of
        building it again. Singular trials come back as NaN rows.

        Examples
        --------
        >>> x = np.column_stack([np.ones(4), np.arange(4.0)])
        >>> WeightedSolver(x).solve_weighted(np.array([[1.0, -1, 1, 1]]), np.array([[1.0, 0, 0, 0]])).round(12)
        array([[ 1.5, -0.5]])
        """
        if gram is None and self.pairs is None and weighted.ndim == 2:
            gram, rhs = self._normal_equations_by_rows(weights, weighted, weighted=True)
            return _solve_spd_many(gram, rhs) / self.scale
        gram = self.gram(weights) if gram is None else gram
        return _solve_spd_many(gram, weighted @ self.xs) / self.scale

    def gram(self, weights: np.ndarray) -> np.ndarray:
        """``X̃ᵀ diag(w) X̃`` per trial (T × p × p), in the solver's equilibrated columns."""
        if self.pairs is None:
            return self._normal_equations_by_rows(weights, None)[0]
        p = self.xs.shape[1]
        half = weights @ self.pairs
        gram = np.empty((weights.shape[0], p, p))
        gram[:, self.upper[0], self.upper[1]] = half
        gram[:, self.upper[1], self.upper[0]] = half
        return gram

    def _normal_equations_by_rows(self, weights: np.ndarray, yw: np.ndarray | None,
                                  weighted: bool = False) -> tuple[np.ndarray, np.ndarray]:
        # weighted: yw is already multiplied by the weights (the right-hand side of solve_weighted); None: no rhs
        n, p = self.xs.shape
        t = weights.shape[0]
        gram, rhs = np.zeros((t, p, p)), np.zeros((t, p))
        block = np.empty((min(ROW_BLOCK, n), p))
        for start in range(0, n, ROW_BLOCK):
            xs = self.xs[start:start + ROW_BLOCK]
            wx = block[: len(xs)]
            for k in range(t):
                np.multiply(xs, weights[k, start:start + ROW_BLOCK, None], out=wx)
                gram[k] += xs.T @ wx  # this order runs as one GEMM; wx.T @ xs took three times as long
                if yw is not None:
                    rhs[k] += yw[k, start:start + ROW_BLOCK] @ (xs if weighted else wx)
        return gram, rhs


ROW_BLOCK = 8_192  # rows per block of a single large fit's Gram matrix: 0.8 MB at p = 12, so a block stays in cache


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


def _qr_solve_many(xw: np.ndarray, weights: np.ndarray, yw: np.ndarray) -> np.ndarray:
    """Weighted least squares by a QR of ``sqrt(w) X`` for each row of ``weights``: R's accuracy, trial by trial.

    Computed as :func:`least_squares` computes a fit, so a step whose weights are all one gives
    the least-squares coefficients to the last bit (R's ``rlm`` and ``lm`` share ``lm.wfit`` so).
    A trial whose weighted design is rank deficient (R's rule, :data:`ALIAS_TOL`) comes back as NaN.
    """
    weights, yw = np.atleast_2d(weights), np.atleast_2d(yw)
    out = np.full((weights.shape[0], xw.shape[1]), np.nan)
    norms = np.linalg.norm(xw, axis=0)
    for t in range(weights.shape[0]):
        root = np.sqrt(weights[t])
        xt = xw * root[:, None]
        q, r = np.linalg.qr(xt)
        if r.shape[0] == xw.shape[1] and np.all(np.abs(np.diag(r)) > ALIAS_TOL * np.linalg.norm(xt, axis=0)) \
                and np.all(norms > 0):
            out[t] = _triangular_inverse(r) @ (q.T @ (root * yw[t]))
    return out


def _solve_spd_many(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    # rhs: T x p, or T x k x p (k right-hand sides per trial, solved together)
    columns = rhs[..., None] if rhs.ndim == 2 else np.swapaxes(rhs, 1, 2)
    try:
        solved = np.linalg.solve(gram, columns)
    except np.linalg.LinAlgError:
        solved = np.full(columns.shape, np.nan)
        for t in range(gram.shape[0]):  # rare: only when some trial's weights are degenerate
            try:
                solved[t] = np.linalg.solve(gram[t], columns[t])
            except np.linalg.LinAlgError:
                pass
    return solved[..., 0] if rhs.ndim == 2 else np.swapaxes(solved, 1, 2)
