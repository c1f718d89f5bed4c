"""Frozen results with statsmodels' names and R's presentation.

A :class:`FitResult` never changes after it is built; its arrays are read-only. ``table()`` gives
the seed study's layout (Estimate, CI, Std. Error, t value, Pr(>|t|), sorted by |t|) and
``to_dict()`` the JSON the CLI writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from .errors import OptionError
from .formula import DesignMatrices, find_term
from .inference.bootstrap import BootstrapResult
from .inference.covariance import check_level, t_quantile
from .inference.tests import TestResult

SortBy = Literal["t", "none"]
TABLE_COLUMNS = ("Estimate", "{lo}", "{hi}", "Std. Error", "t value", "Pr(>|t|)")


def ci_labels(level: float) -> tuple[str, str]:
    """R's confint column labels: ``2.5 %`` and ``97.5 %`` at level 0.95.

    Examples
    --------
    >>> ci_labels(0.9)
    ('5 %', '95 %')
    """
    a = (1 - level) / 2
    return tuple(f"{100 * q:.3g} %" for q in (a, 1 - a))


@dataclass(frozen=True)
class LeastSquaresSummary:
    """R's ``summary.lm`` extras: R², adjusted R², the overall F test."""

    rsquared: float
    rsquared_adj: float
    fvalue: float
    f_df: tuple[float, float]
    f_pvalue: float


@dataclass(frozen=True)
class Coefficient:
    """One row of the coefficient table."""

    term: str
    estimate: float
    std_error: float
    t_value: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class FitResult:
    """A fitted linear model: least squares or M-estimation.

    Attributes follow statsmodels: ``params``, ``bse``, ``tvalues``, ``pvalues`` (Series indexed by
    R's term names), ``resid`` and ``fittedvalues`` (original scale), ``nobs``, ``df_resid``,
    ``scale`` (residual SE for least squares, the final s for M-estimation, the S scale for MM),
    ``weights`` (the final IRWLS weights; the prior weights for least squares), ``cluster`` (the
    cluster columns of a CR1/CR3 covariance), ``bootstrap`` (a wild bootstrap, when asked for).
    """

    method: str
    formula: str
    params: pd.Series
    bse: pd.Series
    tvalues: pd.Series
    pvalues: pd.Series
    cov_params: pd.DataFrame
    resid: np.ndarray
    fittedvalues: np.ndarray
    nobs: int
    df_resid: float
    scale: float
    weights: np.ndarray
    prior_weights: np.ndarray | None
    weight_type: str
    vcov: str
    converged: bool
    n_iter: int
    level: float
    dropped_rows: int
    dropped_reasons: dict[str, int]
    aliased: tuple[str, ...] = ()
    ls_summary: LeastSquaresSummary | None = None
    tuning: float | None = None
    control: dict = field(default_factory=dict)
    design: DesignMatrices | None = field(default=None, repr=False, compare=False)
    data: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    cluster: tuple[str, ...] = ()
    vcov_kind: str = "classic"
    seed: int = 1
    bootstrap: BootstrapResult | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for arr in (self.resid, self.fittedvalues, self.weights, self.prior_weights):
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False

    # -- statsmodels-style accessors ------------------------------------------------------------

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals from Student t with ``df_resid`` degrees of freedom (R's confint)."""
        level = self.level if level is None else level
        check_level(level)
        q = t_quantile(level, self.df_resid)
        lo, hi = ci_labels(level)
        return pd.DataFrame({lo: self.params - q * self.bse, hi: self.params + q * self.bse})

    @property
    def is_weighted(self) -> bool:
        return self.prior_weights is not None and not np.all(self.prior_weights == self.prior_weights[0])

    def term(self, name: str) -> str:
        """The stored name of a term given with any spacing: ``I(log2(TS)-IXMin)`` finds ``I(log2(TS) - IXMin)``."""
        i = find_term(list(self.params.index), name)
        if i is not None:
            return self.params.index[i]
        raise OptionError(f"no term {name!r} in the model; terms are {', '.join(self.params.index)}")

    def coefficient(self, name: str) -> Coefficient:
        """The table row of one term (whitespace-insensitive name)."""
        key = self.term(name)
        ci = self.conf_int()
        return Coefficient(key, *(float(v) for v in (
            self.params[key], self.bse[key], self.tvalues[key], self.pvalues[key], ci.iloc[:, 0][key], ci.iloc[:, 1][key])))

    # -- presentation ----------------------------------------------------------------------------

    def table(self, sort: SortBy = "t", level: float | None = None) -> pd.DataFrame:
        """The coefficient table in the seed study's columns, sorted by |t| (largest first).

        Aliased terms keep their row, with NaN throughout, as R prints NA.
        """
        if sort not in ("t", "none"):
            raise OptionError(f"sort must be 't' or 'none', got {sort!r}")
        ci = self.conf_int(level)
        out = pd.DataFrame({
            "Estimate": self.params, ci.columns[0]: ci.iloc[:, 0], ci.columns[1]: ci.iloc[:, 1],
            "Std. Error": self.bse, "t value": self.tvalues, "Pr(>|t|)": self.pvalues,
        })
        if sort == "t":
            order = np.argsort(-np.nan_to_num(np.abs(self.tvalues.to_numpy()), nan=-1.0), kind="stable")
            out = out.iloc[order]
        return out

    def to_dict(self, sort: SortBy = "t", breusch_pagan: TestResult | None = None) -> dict:
        """The JSON document of ``powerlaw-stats fit --format json``."""
        tab = self.table(sort)
        rows = [
            {"term": term, "estimate": _num(r.iloc[0]), "std_error": _num(r.iloc[3]), "t_value": _num(r.iloc[4]),
             "p_value": _num(r.iloc[5]), "ci_low": _num(r.iloc[1]), "ci_high": _num(r.iloc[2])}
            for term, r in tab.iterrows()
        ]
        out = {
            "method": self.method, "formula": self.formula, "nobs": self.nobs, "df_resid": _num(self.df_resid),
            "scale": _num(self.scale), "converged": bool(self.converged), "n_iter": int(self.n_iter),
            "dropped_rows": self.dropped_rows, "dropped_reasons": dict(self.dropped_reasons),
            "weight_type": self.weight_type if self.prior_weights is not None else None,
            "vcov": self.vcov, "level": self.level, "aliased": list(self.aliased), "coefficients": rows,
        }
        if self.ls_summary is not None:
            s = self.ls_summary
            out["r_squared"], out["adj_r_squared"] = _num(s.rsquared), _num(s.rsquared_adj)
            out["fstatistic"] = {"value": _num(s.fvalue), "numdf": s.f_df[0], "dendf": s.f_df[1], "p_value": _num(s.f_pvalue)}
        out["breusch_pagan"] = None if breusch_pagan is None else breusch_pagan.to_dict()
        if self.cluster:
            out["cluster"] = list(self.cluster)
        if self.bootstrap is not None:
            out["bootstrap"] = self.bootstrap.to_dict()
        return out


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
