"""Tests on a fit: Wald t tests, R's overall F test, and Breusch–Pagan for heteroscedasticity.

Breusch–Pagan comes in lmtest's forms and the whitened one. For a weighted fit lmtest tests the
raw residuals, whose variance the weights already model, so a correctly specified weighted model
is rejected almost always. The whitened test asks the right question (is the variance of √w·e
constant?) and is the default for weighted fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..estimation.least_squares import least_squares
from ..formats import json_float
from ..options import check_level
from .distributions import chi2_sf, f_sf, t_ppf, t_sf2


@dataclass(frozen=True, slots=True, kw_only=True)
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
    return TTests(tvalues=tvalues, pvalues=pvalues, ci_low=params - q * bse, ci_high=params + q * bse, level=level)


# ----------------------------------------------------------------------------- R's summary.lm


@dataclass(frozen=True, slots=True, kw_only=True)
class LeastSquaresSummary:
    """R's ``summary.lm`` extras: R², adjusted R², the overall F test."""

    rsquared: float
    rsquared_adj: float
    fvalue: float
    f_df: tuple[float, float]
    f_pvalue: float


def ls_summary(yw: np.ndarray, root: np.ndarray, resid_w: np.ndarray, rank: int, df: float,
               intercept: bool) -> LeastSquaresSummary:
    """R², adjusted R² and the overall F test of a (weighted) least-squares fit, as ``summary.lm`` gives them.

    As R does, from the model sum of squares of the fitted values: ``R² = mss / (mss + rss)``, so a
    constant response gives NaN or rounding noise in [0, 1] (R warns "essentially perfect fit"),
    never -inf.

    Examples
    --------
    >>> yw = np.array([2.0, 2.0, 2.0, 2.0])
    >>> s = ls_summary(yw, np.ones(4), np.zeros(4), 2, 2.0, True)
    >>> bool(np.isnan(s.rsquared) or 0 <= s.rsquared <= 1)
    True
    """
    rss = resid_w @ resid_w
    fitted_w = yw - resid_w
    if intercept:
        center = (root @ fitted_w) / (root @ root)  # R: m <- sum(w * f / sum(w))
        mss = np.sum((fitted_w - root * center) ** 2)
    else:
        mss = fitted_w @ fitted_w
    df_int = int(intercept)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = mss / (mss + rss)
        numdf = rank - df_int
        fvalue = (mss / numdf) / (rss / df) if numdf > 0 else np.nan
    return LeastSquaresSummary(
        rsquared=float(r2), rsquared_adj=float(1 - (1 - r2) * (df + rank - df_int) / df),
        fvalue=float(fvalue), f_df=(float(numdf), float(df)),
        f_pvalue=f_sf(fvalue, numdf, df) if numdf > 0 else np.nan,
    )


# ----------------------------------------------------------------------------- Breusch-Pagan

BP_METHODS = {
    (True, False): "studentized Breusch-Pagan test (Koenker; lmtest)",
    (False, False): "Breusch-Pagan test (classic; lmtest)",
    (True, True): "studentized Breusch-Pagan test on whitened residuals sqrt(w)*e",
    (False, True): "Breusch-Pagan test (classic) on whitened residuals sqrt(w)*e",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResult:
    """A test statistic with its reference distribution's degrees of freedom and p-value."""

    __test__ = False  # not a pytest class

    statistic: float
    df: float
    pvalue: float
    method: str

    def to_dict(self) -> dict:
        """The test as ``fit --format json`` and results.json hold it (NaN as null)."""
        return {"statistic": json_float(self.statistic), "df": json_float(self.df), "p_value": json_float(self.pvalue),
                "method": self.method}

    def notes(self) -> list[str]:
        """What the JSON cannot say by itself: a statistic that could not be computed is written as null."""
        if np.isfinite(self.statistic) and np.isfinite(self.pvalue):
            return []
        return [f"the {self.method} could not be computed on these values (NaN); its numbers are written as null"]

    def __repr__(self) -> str:
        """One line, as lmtest prints a test."""
        return f"<TestResult {self.method}: statistic={self.statistic:.4g}, df={self.df:g}, p-value={self.pvalue:.4g}>"

    def _repr_html_(self) -> str:
        import html

        return (f"<div><table><tr><th>test</th><th>statistic</th><th>df</th><th>p-value</th></tr><tr>"
                f"<td>{html.escape(self.method)}</td><td>{self.statistic:.4g}</td><td>{self.df:g}</td>"
                f"<td>{self.pvalue:.4g}</td></tr></table></div>")


def _unit_scale(x: np.ndarray) -> np.ndarray:
    """``x`` times the power of two that brings its largest magnitude into [0.5, 1).

    Both Breusch–Pagan statistics are unchanged by rescaling the residuals, and squaring residuals
    near 1e300 (or 1e-300) would overflow (or underflow) to a NaN statistic; a power of two is exact.
    """
    top = np.max(np.abs(x), initial=0.0)
    if not np.isfinite(top) or top == 0.0:
        return x
    return np.ldexp(x, -int(np.frexp(top)[1]))


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
    resid = _unit_scale(resid)
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
    return TestResult(statistic=float(stat), df=df, pvalue=chi2_sf(stat, df), method=BP_METHODS[(studentize, whitened)])
