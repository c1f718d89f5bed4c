"""Breusch–Pagan tests for heteroscedasticity: lmtest's forms and the whitened one.

For a weighted fit lmtest tests the raw residuals, whose variance the weights already model, so a
correctly specified weighted model is rejected almost always. The whitened test asks the right
question (is the variance of √w·e constant?) and is the default for weighted fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..estimation.least_squares import least_squares
from .covariance import chi2_sf

BP_METHODS = {
    (True, False): "studentized Breusch-Pagan test (Koenker; lmtest)",
    (False, False): "Breusch-Pagan test (classic; lmtest)",
    (True, True): "studentized Breusch-Pagan test on whitened residuals sqrt(w)*e",
    (False, True): "Breusch-Pagan test (classic) on whitened residuals sqrt(w)*e",
}


@dataclass(frozen=True)
class TestResult:
    """A test statistic with its reference distribution's degrees of freedom and p-value."""

    __test__ = False  # not a pytest class

    statistic: float
    df: float
    pvalue: float
    method: str

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.pvalue, "method": self.method}


def bp_statistic(z: np.ndarray, resid: np.ndarray, w0: np.ndarray, studentize: bool, whitened: bool) -> TestResult:
    """Breusch–Pagan on residuals ``resid`` (original scale) of a fit with prior weights ``w0``.

    ``z`` holds the auxiliary regressors (the model matrix, intercept included).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.column_stack([np.ones(50), rng.normal(size=50)])
    >>> r = bp_statistic(x, rng.normal(size=50), np.ones(50), True, False)
    >>> r.df
    1.0
    """
    pos = w0 > 0
    z, resid, w0 = z[pos], resid[pos], w0[pos]
    n = len(resid)
    if whitened:
        e2 = w0 * resid**2
        aux_w = np.ones(n)
    else:
        e2 = resid**2
        aux_w = w0
    sigma2 = np.sum(aux_w * e2) / n
    g = e2 - sigma2 if studentize else e2 / sigma2 - 1
    root = np.sqrt(aux_w)
    aux = least_squares(z * root[:, None], g * root)
    fitted_w = g * root - aux.resid  # √w·ĝ, so its square sums to Σ w·ĝ²
    ess = fitted_w @ fitted_w
    stat = n * ess / (g @ g) if studentize else 0.5 * ess
    df = float(aux.rank - 1)
    return TestResult(float(stat), df, chi2_sf(stat, df), BP_METHODS[(studentize, whitened)])
