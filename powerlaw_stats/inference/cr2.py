"""Bias-reduced cluster-robust covariance (CR2) of a GLS estimate, with Satterthwaite degrees of freedom.

For β̂ = (XᵀWX)⁻¹XᵀWy with a working covariance Φ = W⁻¹ that is block diagonal by cluster
(a mixed model's marginal covariance, every grouping factor nested in the clusters; or diag(1/w)
for weighted least squares), Bell and McCaffrey's (2002) CR2 as Pustejovsky and Tipton (2018,
"Small-sample methods for cluster-robust variance estimation and hypothesis testing in fixed
effects models", JBES 36(4)) extend it to a working model:

    V = M [Σ_g X_gᵀ W_g A_g e_g e_gᵀ A_g W_g X_g] M,   M = (XᵀWX)⁻¹,
    A_g = D_gᵀ B_g^{+½} D_g,   B_g = D_g (Φ_g − X_g M X_gᵀ) D_gᵀ,   Φ_g = D_gᵀ D_g,

with e the marginal residuals y − Xβ̂. When the working model is right, V is exactly unbiased
for Cov(β̂); when it is wrong (variances that change with the size, heavy tails, dependence the
model misses inside a cluster), V stays consistent as clusters grow. A t test of cᵀβ uses the
Satterthwaite degrees of freedom of cᵀVc under the working model, (tr Ω)² / tr(Ω²), with
Ω = diag(u_gᵀΦ_g u_g) − AᵀMA, u_g = A_g W_g X_g M c and A's columns X_gᵀu_g (their "CR2 + BM"
test; clubSandwich's ``coef_test(..., vcov = "CR2", test = "Satterthwaite")``).

Clusters of the same size are processed together as stacked arrays, so a table of many small
clusters (two rows per run) costs a few batched factorizations, not a Python loop per cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SingularDesignError

EIGEN_TOL = 1e-12  # relative: eigenvalues of B_g below this times the largest count as zero (its pseudo-inverse)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterBlocks:
    """Rows grouped by cluster size: for each size m, the clusters' rows (G_m × m) and working covariances (G_m × m × m)."""

    rows: tuple[np.ndarray, ...]
    phi: tuple[np.ndarray, ...]

    @property
    def n_clusters(self) -> int:
        """How many clusters there are."""
        return int(sum(len(r) for r in self.rows))


def cluster_rows(codes: np.ndarray) -> list[np.ndarray]:
    """The row indices of each cluster, grouped by cluster size: one (G_m × m) array per size m.

    Examples
    --------
    >>> [r.tolist() for r in cluster_rows(np.array([0, 1, 0, 2, 2, 1, 3]))]
    [[[6]], [[0, 2], [1, 5], [3, 4]]]
    """
    codes = np.asarray(codes)
    order = np.argsort(codes, kind="stable")
    _, starts, sizes = np.unique(codes[order], return_index=True, return_counts=True)
    out = []
    for m in np.unique(sizes):
        first = starts[sizes == m]
        out.append(order[first[:, None] + np.arange(m)[None, :]])
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CR2Design:
    """Everything of CR2 that does not depend on the response: the bread and each cluster's adjustment.

    ``bread`` is M; ``adjusted`` holds, per cluster size, A_g W_g X_g (G_m × m × p); ``rows`` the
    clusters' rows, ``xg`` their X_g and ``phi`` their Φ_g. With a working model that does not
    change between responses (weighted least squares) one design serves every simulated trial.
    """

    bread: np.ndarray
    adjusted: tuple[np.ndarray, ...]
    rows: tuple[np.ndarray, ...]
    xg: tuple[np.ndarray, ...]
    phi: tuple[np.ndarray, ...]

    @property
    def n_clusters(self) -> int:
        """How many clusters there are."""
        return int(sum(len(r) for r in self.rows))

    def cov(self, resid: np.ndarray) -> np.ndarray:
        """The CR2 covariance for marginal residuals ``resid`` (n,), or for each row of a (T × n) batch."""
        r = np.asarray(resid, dtype=float)
        batch = r[None] if r.ndim == 1 else r
        meat = np.zeros((len(batch),) + self.bread.shape)
        for rows, p in zip(self.rows, self.adjusted):
            score = np.einsum("gip,tgi->tgp", p, batch[:, rows])
            meat += np.einsum("tgp,tgq->tpq", score, score)
        cov = self.bread @ meat @ self.bread
        cov = (cov + np.swapaxes(cov, 1, 2)) / 2
        return cov[0] if r.ndim == 1 else cov

    def df(self, contrast: np.ndarray) -> float:
        """Satterthwaite degrees of freedom of the CR2 t test of ``contrastᵀβ`` under the working model.

        Examples
        --------
        >>> codes = np.repeat(np.arange(10), 4)
        >>> blocks = ClusterBlocks(rows=tuple(cluster_rows(codes)), phi=(np.tile(np.eye(4), (10, 1, 1)),))
        >>> round(cr2_design(np.ones((40, 1)), blocks).df(np.array([1.0])), 6)  # a mean over 10 equal clusters: G - 1
        9.0
        """
        c = np.asarray(contrast, dtype=float)
        mc = self.bread @ c
        u = [p @ mc for p in self.adjusted]  # (G_m, m) each
        s = np.concatenate([np.einsum("gi,gij,gj->g", ui, ph, ui) for ui, ph in zip(u, self.phi)])
        a = np.concatenate([np.einsum("gip,gi->gp", xg, ui) for ui, xg in zip(u, self.xg)])  # (G, p)
        omega = np.diag(s) - a @ self.bread @ a.T
        tr, tr2 = float(np.trace(omega)), float(np.sum(omega * omega))
        return tr * tr / tr2 if tr2 > 0 else math.inf


def cr2_design(x: np.ndarray, blocks: ClusterBlocks) -> CR2Design:
    """CR2's response-free part for the GLS estimate with working covariance ``blocks``.

    Parameters
    ----------
    x : (n, p) the fixed-effects design (full column rank).
    blocks : the clusters' rows and working covariances Φ_g, up to a common scale (it cancels).

    Returns
    -------
    CR2Design
        ``cov(resid)`` gives the covariance for the marginal residuals y − Xβ̂, ``df(c)`` the
        degrees of freedom of a contrast's t test.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = np.column_stack([np.ones(12), np.arange(12.0)])
    >>> blocks = ClusterBlocks(rows=tuple(cluster_rows(np.repeat(np.arange(6), 2))), phi=(np.tile(np.eye(2), (6, 1, 1)),))
    >>> v = cr2_design(x, blocks).cov(rng.normal(size=12))
    >>> v.shape, bool(np.all(np.linalg.eigvalsh(v) > 0))
    ((2, 2), True)
    """
    xs = tuple(x[r] for r in blocks.rows)  # (G_m, m, p)
    chol = [np.linalg.cholesky(ph) for ph in blocks.phi]  # lower L, Φ = L Lᵀ
    wx = [_chol_solve(lo, xg) for lo, xg in zip(chol, xs)]  # W_g X_g
    info = sum(np.einsum("gip,giq->pq", xg, w) for xg, w in zip(xs, wx))
    try:
        bread = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        raise SingularDesignError("the working model's information matrix is singular; the design is not of full rank") from None
    bread = (bread + bread.T) / 2
    adjusted = tuple(_adjustment(ph, lo, xg, bread) @ w for ph, lo, xg, w in zip(blocks.phi, chol, xs, wx))
    return CR2Design(bread=bread, adjusted=adjusted, rows=blocks.rows, xg=xs, phi=blocks.phi)


def _chol_solve(lower: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Φ⁻¹ rhs for stacked Φ = L Lᵀ."""
    return np.linalg.solve(np.swapaxes(lower, 1, 2), np.linalg.solve(lower, rhs))


def _adjustment(phi: np.ndarray, lower: np.ndarray, xg: np.ndarray, bread: np.ndarray) -> np.ndarray:
    """A_g = D_gᵀ B_g^{+½} D_g for stacked clusters (D_g = L_gᵀ, the upper Cholesky factor)."""
    d = np.swapaxes(lower, 1, 2)
    inner = phi - xg @ bread @ np.swapaxes(xg, 1, 2)
    b = d @ inner @ lower
    b = (b + np.swapaxes(b, 1, 2)) / 2
    lam, vec = np.linalg.eigh(b)
    top = lam.max(axis=1, keepdims=True)
    keep = lam > EIGEN_TOL * np.maximum(top, np.finfo(float).tiny)
    root = np.where(keep, 1.0 / np.sqrt(np.where(keep, lam, 1.0)), 0.0)
    b_half = (vec * root[:, None, :]) @ np.swapaxes(vec, 1, 2)
    return lower @ b_half @ d
