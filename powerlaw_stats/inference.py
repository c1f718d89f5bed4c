"""Covariances and the t machinery: classic, HC0/HC1/HC3, cluster CR1, and MASS's rlm formula.

Tails come from :mod:`powerlaw_stats.distributions`, which needs no scipy: importing
``scipy.special`` alone would cost more than the whole fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .distributions import chi2_sf as _chi2_sf
from .distributions import t_ppf, t_sf2
from .errors import OptionError
from .norms import Norm

VcovKind = Literal["classic", "HC0", "HC1", "HC3"]
VCOV_KINDS: tuple[str, ...] = ("classic", "HC0", "HC1", "HC3")


@dataclass(frozen=True)
class TTests:
    """t statistics, two-sided p-values and a confidence interval at ``level``."""

    tvalues: np.ndarray
    pvalues: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    level: float


def t_quantile(level: float, df: float) -> float:
    """The two-sided Student t critical value: ``qt((1 + level) / 2, df)``.

    Examples
    --------
    >>> round(t_quantile(0.95, 10), 6)
    2.228139
    """
    return t_ppf(0.5 + level / 2, df)


def t_tests(params: np.ndarray, bse: np.ndarray, df: float, level: float = 0.95) -> TTests:
    """Wald t tests with Student t tails, as R's ``summary.lm`` and ``confint`` compute them.

    Examples
    --------
    >>> t = t_tests(np.array([2.0]), np.array([1.0]), df=10)
    >>> round(float(t.pvalues[0]), 6)
    0.073388
    """
    check_level(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        tvalues = params / bse
    pvalues = t_sf2(df, tvalues)
    q = t_quantile(level, df)
    return TTests(tvalues, pvalues, params - q * bse, params + q * bse, level)


def check_level(level: float) -> None:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise OptionError(f"confidence level must be between 0 and 1 (e.g. 0.95), got {level!r}")


def chi2_sf(statistic: float, df: float) -> float:
    """Upper tail of the chi-square distribution.

    Examples
    --------
    >>> round(chi2_sf(3.841458820694124, 1), 6)
    0.05
    """
    return _chi2_sf(statistic, df)


# ----------------------------------------------------------------------------- least squares


def classic_cov(xtx_inv: np.ndarray, resid_w: np.ndarray, df_resid: float) -> np.ndarray:
    """sigma² (X̃ᵀX̃)⁻¹ with sigma² = Σ r̃² / df."""
    return xtx_inv * (resid_w @ resid_w / df_resid)


def hc_cov(xw: np.ndarray, xtx_inv: np.ndarray, resid_w: np.ndarray, kind: str) -> np.ndarray:
    """White's heteroscedasticity-consistent covariances on the whitened problem (sandwich's HC).

    ``xw`` holds only the kept (non-aliased) whitened columns.
    """
    n, p = xw.shape
    leverage = np.einsum("ij,jk,ik->i", xw, xtx_inv, xw)
    omega = {
        "HC0": lambda: resid_w**2,
        "HC1": lambda: resid_w**2 * n / (n - p),
        "HC3": lambda: resid_w**2 / (1 - leverage) ** 2,
    }[kind]()
    bread = xtx_inv @ xw.T
    return (bread * omega) @ bread.T


def cluster_cov(xw: np.ndarray, xtx_inv: np.ndarray, resid_w: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """CR1 cluster-robust covariance: G/(G−1)·(n−1)/(n−p) times the clustered sandwich."""
    codes, n_groups = _group_codes(groups)
    if n_groups < 2:
        raise OptionError("cluster-robust covariance needs at least two clusters")
    scores = xw * resid_w[:, None]
    summed = np.zeros((n_groups, xw.shape[1]))
    np.add.at(summed, codes, scores)
    n, p = xw.shape
    factor = n_groups / (n_groups - 1) * (n - 1) / (n - p)
    return factor * xtx_inv @ (summed.T @ summed) @ xtx_inv


def _group_codes(groups: np.ndarray) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return codes.ravel(), int(codes.max()) + 1 if codes.size else 0


def ls_covariance(
    xw: np.ndarray, xtx_inv: np.ndarray, resid_w: np.ndarray, df_resid: float,
    vcov: str = "classic", cluster: np.ndarray | None = None,
) -> np.ndarray:
    """The least-squares covariance asked for: classic, an HC kind, or CR1 when clustered."""
    if cluster is not None:
        return cluster_cov(xw, xtx_inv, resid_w, cluster)
    if vcov not in VCOV_KINDS:
        raise OptionError(f"unknown vcov {vcov!r}; choose one of {', '.join(VCOV_KINDS)}")
    if vcov == "classic":
        return classic_cov(xtx_inv, resid_w, df_resid)
    return hc_cov(xw, xtx_inv, resid_w, vcov)


# ----------------------------------------------------------------------------- M-estimation


def rlm_sigma(
    resid: np.ndarray, scale: np.ndarray, norm: Norm, p: int, case_weights: np.ndarray | None = None
) -> np.ndarray:
    """MASS ``summary.rlm`` (method "XtX"): the factor σ with Cov(b) = σ² (X̃ᵀX̃)⁻¹, per trial.

    ``resid`` are working residuals (T × n) and ``scale`` the final s (T,). Huber's small-sample
    correction κ is included, exactly as MASS applies it.
    """
    resid = np.atleast_2d(resid)
    u = resid / np.asarray(scale, dtype=float).reshape(-1, 1)
    spsi = resid * norm.weight(u)  # = s·ψ(u), written as MASS writes it
    dpsi = norm.dpsi(u)
    if case_weights is None:
        n = resid.shape[1]
        big_s = (spsi**2).sum(axis=1) / (n - p)
        m = dpsi.mean(axis=1)
        kappa = 1 + p * dpsi.var(axis=1, ddof=1) / (n * m**2)
    else:
        nn = case_weights.sum()
        big_s = (case_weights * spsi**2).sum(axis=1) / (nn - p)
        m1 = (case_weights * dpsi).sum(axis=1)
        m2 = (case_weights * dpsi**2).sum(axis=1)
        m = m1 / nn
        kappa = 1 + p * (m2 - m1**2 / nn) / (nn - 1) / (nn * m**2)
    return np.sqrt(big_s) * kappa / m
