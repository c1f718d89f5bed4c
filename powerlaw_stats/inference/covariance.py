"""Covariances of least squares and M-estimates: classic, HC0/HC1/HC3, cluster CR1/CR3.

One sandwich implementation serves every estimator and every caller (a single fit, a batch of
simulated trials, bootstrap replicates): :func:`sandwich_many` takes the whitened design and each
trial's scores. The classic covariance of least squares is ``lm``'s; an M-estimate's own (MASS's ``summary.rlm``)
is :func:`powerlaw_stats.estimation.irwls.rlm_sigma`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OptionError, SingularDesignError
from ..options import CLUSTER_KINDS, SANDWICH_KINDS, check_option


def classic_cov(xtx_inv: np.ndarray, resid_w: np.ndarray, df_resid: float) -> np.ndarray:
    """sigma² (X̃ᵀX̃)⁻¹ with sigma² = Σ r̃² / df."""
    return xtx_inv * (resid_w @ resid_w / df_resid)


def _group_codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return codes.ravel(), int(codes.max()) + 1 if codes.size else 0


# ----------------------------------------------------------------------------- sandwiches, batched


@dataclass(frozen=True, slots=True)
class Clusters:
    """Cluster codes for one- or two-way clustering.

    ``terms`` lists (sign, codes): one way gives [(+1, g)]; two ways give Cameron, Gelbach and
    Miller's V(g1) + V(g2) - V(g1 ∩ g2).
    """

    names: tuple[str, ...]
    terms: tuple[tuple[int, np.ndarray], ...]

    @property
    def n_groups(self) -> tuple[int, ...]:
        """How many clusters each term has."""
        return tuple(int(codes.max()) + 1 for _, codes in self.terms)


def make_clusters(columns: dict[str, np.ndarray]) -> Clusters:
    """Cluster codes from one or two columns of labels.

    Examples
    --------
    >>> c = make_clusters({"run": np.array(["a", "a", "b", "c"])})
    >>> c.n_groups
    (3,)
    """
    if not 1 <= len(columns) <= 2:
        raise OptionError(f"cluster by one or two columns, got {len(columns)}")
    codes = [_group_codes(np.asarray(v))[0] for v in columns.values()]
    for name, c in zip(columns, codes):
        if c.max() + 1 < 2:
            raise OptionError(f"cluster column {name!r} has one value in the rows used; clustering needs at least two clusters")
    terms = [(1, c) for c in codes]
    if len(codes) == 2:
        both = _group_codes(np.char.add(np.char.add(codes[0].astype(str), "|"), codes[1].astype(str)))[0]
        terms.append((-1, both))
    return Clusters(tuple(columns), tuple(terms))


def _segments(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    return order, starts


def _per_cluster(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Sums over the rows of each cluster along axis 1: (T, n, k) -> (T, G, k)."""
    order, starts = _segments(codes)
    return np.add.reduceat(values[:, order], starts, axis=1)


def sandwich_many(
    xw: np.ndarray, score_resid: np.ndarray, dpsi: np.ndarray | None = None,
    kind: str = "HC0", clusters: Clusters | None = None, bread_inv: np.ndarray | None = None,
) -> np.ndarray:
    """Sandwich covariances of least squares or an M-estimate, one per row of ``score_resid`` (T × p × p).

    The estimating equations are ``sum_i x_i s psi(r_i / s) = 0`` on the whitened design ``xw``:
    ``score_resid`` holds ``s psi(r_i / s)`` (the residuals for least squares) and ``dpsi`` holds
    ``psi'(r_i / s)`` (``None``: all ones, least squares). Bread ``A = X' diag(dpsi) X``.

    - HC0, HC1 (times n/(n-p)), HC3 (each score divided by 1 - h_i, h_i = dpsi_i x_i'A^-1 x_i);
    - CR1: ``A^-1 (sum_g u_g u_g') A^-1`` with cluster scores ``u_g``, times G/(G-1) (n-1)/(n-p)
      (Stata's and statsmodels' factor);
    - CR3: the leave-one-cluster-out jackknife ``(G-1)/G sum_g d_g d_g'`` with
      ``d_g = (A - A_g)^-1 u_g``, the exact change in the estimate on dropping cluster g for least
      squares and its one-step Newton approximation for an M-estimate.

    Two cluster columns combine as V(g1) + V(g2) - V(g1 ∩ g2), with negative eigenvalues set to
    zero when that sum is not positive semi-definite (Cameron, Gelbach and Miller 2011).

    ``bread_inv`` (least squares only): ``(X'X)^-1`` from the fit's QR, more accurate than
    inverting ``X'X`` on an ill-conditioned design (Longley's HC SEs: 5e-12 instead of 1e-8).

    Examples
    --------
    >>> x = np.column_stack([np.ones(6), np.arange(6.0)])
    >>> e = np.array([[0.5, -0.2, 0.1, -0.4, 0.3, -0.3]])
    >>> cl = make_clusters({"g": np.array([0, 0, 1, 1, 2, 2])})
    >>> sandwich_many(x, e, kind="CR1", clusters=cl).shape
    (1, 2, 2)
    """
    score_resid = np.atleast_2d(score_resid)
    n, p = xw.shape
    xx = np.einsum("ni,nj->nij", xw, xw).reshape(n, p * p)
    bread = (xw.T @ xw)[None] if dpsi is None else (np.atleast_2d(dpsi) @ xx).reshape(-1, p, p)
    if bread_inv is None or dpsi is not None:
        bread_inv = _inverse(bread, "the weighted cross-product X'WX is singular")
    else:
        bread_inv = np.asarray(bread_inv)[None]
    if kind in CLUSTER_KINDS:
        if clusters is None:
            raise OptionError(f"vcov {kind!r} needs cluster columns (cluster=...)")
        part = _CLUSTER_PARTS[kind]
        cov = sum(sign * part(xw, xx, score_resid, dpsi, bread, bread_inv, codes) for sign, codes in clusters.terms)
        return cov if len(clusters.terms) == 1 else _clip_negative(cov)
    check_option(kind, SANDWICH_KINDS, "vcov")
    omega = _HC_OMEGA[kind](score_resid**2, xw, bread_inv, dpsi)
    if dpsi is None and bread_inv.shape[0] == 1:
        # sum_i omega_i (A^-1 x_i)(A^-1 x_i)': no large meat cancelling inside A^-1 M A^-1 (old lm-style hc_cov)
        return _weighted_grams(omega, xw @ bread_inv[0])
    meat = (omega @ xx).reshape(-1, p, p)
    return bread_inv @ meat @ bread_inv


def _weighted_grams(omega: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``Σ_i omega[t, i] h_i h_iᵀ`` for each row t of ``omega``: (T, p, p).

    A batch is one product with the rows' outer products (einsum's loop over t, i, j: 50× slower);
    a table too large for those (n p² over 4M) takes one product per row of ``omega``.
    """
    n, p = h.shape
    if n * p * p <= 4_000_000:
        return (omega @ (h[:, :, None] * h[:, None, :]).reshape(n, p * p)).reshape(-1, p, p)
    return np.stack([(h.T * w) @ h for w in omega])


def _hc3_omega(squares: np.ndarray, xw: np.ndarray, bread_inv: np.ndarray, dpsi: np.ndarray | None) -> np.ndarray:
    lev = np.einsum("nj,tjk,nk->tn", xw, bread_inv, xw) * (1.0 if dpsi is None else np.atleast_2d(dpsi))
    return squares / (1 - lev) ** 2


# kind -> the squared scores weighted as that HC kind weighs them (White's, n/(n-p), 1/(1-h)^2)
_HC_OMEGA = {
    "HC0": lambda squares, xw, bread_inv, dpsi: squares,
    "HC1": lambda squares, xw, bread_inv, dpsi: squares * xw.shape[0] / (xw.shape[0] - xw.shape[1]),
    "HC3": _hc3_omega,
}


def _clip_negative(cov: np.ndarray) -> np.ndarray:
    # a two-way sum V1 + V2 - V12 need not be positive semi-definite; Cameron, Gelbach and Miller
    # (2011) set its negative eigenvalues to zero, which leaves a PSD matrix unchanged
    lam, q = np.linalg.eigh(0.5 * (cov + np.swapaxes(cov, 1, 2)))
    if (lam >= 0).all():
        return cov
    return (q * np.maximum(lam, 0)[:, None, :]) @ np.swapaxes(q, 1, 2)


def _inverse(a: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise SingularDesignError(f"{what}; the covariance is not defined") from None


def _members(codes: np.ndarray) -> np.ndarray:
    """Each cluster's rows, one cluster a row, padded with ``n`` (a row of zeros) to the largest: (G, k)."""
    order, starts = _segments(codes)
    n = len(codes)
    sizes = np.diff(np.r_[starts, n])
    slot = np.arange(sizes.max())[None, :]
    return np.where(slot < sizes[:, None], order[np.minimum(starts[:, None] + slot, n - 1)], n)


def _cluster_scores(xw: np.ndarray, score_resid: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each trial's scores summed within clusters, ``u[t, g] = Σ_{i in g} score_resid[t, i] xw[i]``: (T, G, p).

    Many trials on clusters of similar size (the simulation's runs of a few rows) are one small
    product per cluster, (T × k) @ (k × p) on the cluster's rows padded to the largest size k:
    20× faster than summing the T × n × p products row by row. One fit, or clusters whose padding
    would more than double the rows, sums them row by row.
    """
    t, n = score_resid.shape
    members = _members(codes) if t >= 8 else None  # a single fit never pads: no sort of its rows for nothing
    if members is None or members.size > 2 * n:
        return _per_cluster(score_resid[:, :, None] * xw[None], codes)
    x_pad = np.concatenate([xw, np.zeros((1, xw.shape[1]))])[members]  # G, k, p
    r_pad = np.concatenate([score_resid, np.zeros((t, 1))], axis=1)[:, members]  # T, G, k
    return np.matmul(r_pad.transpose(1, 0, 2), x_pad).transpose(1, 0, 2)


def _cr1_part(xw, xx, score_resid, dpsi, bread, bread_inv, codes) -> np.ndarray:
    u = _cluster_scores(xw, score_resid, codes)
    g = u.shape[1]
    n, p = xw.shape
    meat = np.swapaxes(u, 1, 2) @ u  # Σ_g u_g u_gᵀ per trial, one product each (einsum's loop: 10× slower)
    return g / (g - 1) * (n - 1) / (n - p) * (bread_inv @ meat @ bread_inv)


def _cr3_part(xw, xx, score_resid, dpsi, bread, bread_inv, codes) -> np.ndarray:
    u = _cluster_scores(xw, score_resid, codes)
    t, g, p = u.shape
    weights = np.ones((1, xw.shape[0])) if dpsi is None else np.atleast_2d(dpsi)
    within = _cluster_scores(xx, weights, codes).reshape(-1, g, p, p)  # Σ_{i in g} w_i x_i x_iᵀ
    try:
        d = np.linalg.solve(bread[:, None] - within, u[..., None])[..., 0]
    except np.linalg.LinAlgError:
        raise OptionError("CR3 needs the model to be estimable without each cluster, and some cluster holds all "
                          "the rows of a coefficient; use vcov CR1 or coarser terms") from None
    return (g - 1) / g * (np.swapaxes(d, 1, 2) @ d)


_CLUSTER_PARTS = {"CR1": _cr1_part, "CR3": _cr3_part}
