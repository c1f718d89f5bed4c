"""The frozen results a user holds after a fit, with statsmodels' names and R's presentation.

A :class:`FitResult` never changes after it is built; its arrays are read-only. ``table()`` gives
the seed study's layout (Estimate, CI, Std. Error, t value, Pr(>|t|), sorted by |t|) and
``to_dict()`` the JSON the CLI writes. :class:`BootstrapResult` is a fit's wild bootstrap and
:class:`TestResult` a test such as Breusch–Pagan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data.frame import ModelFrame
from .errors import OptionError
from .estimation.irwls import IrwlsControl
from .estimation.methods import METHODS, Settings
from .estimation.mm import MMControl
from .formats import (
    SIGNIF_LEGEND,
    ci_labels,
    coefficient_lines,
    html_table,
    json_float,
    num,
    r_format,
    r_format_pval,
    short_repr,
)
from .formula import DesignMatrices, find_term
from .inference.tests import LeastSquaresSummary, TestResult, t_quantile
from .options import SortBy, check_level, check_option

__all__ = ["BootstrapResult", "Coefficient", "FitResult", "LeastSquaresSummary", "RText", "TestResult"]

TABLE_COLUMNS = ("Estimate", "{lo}", "{hi}", "Std. Error", "t value", "Pr(>|t|)")
NULL_NOTE = "{n} numbers are NaN or infinite (an aliased term's NA, say) and are written as null"


class RText(str):
    """Text printed as it reads (``summary()``): its ``repr`` is the text itself, so a notebook shows R's layout."""

    __slots__ = ()

    def __repr__(self) -> str:
        """The text, unquoted."""
        return str(self)


class _Nulls:
    """JSON numbers with a count of those written as null (NaN, infinities)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, x: object) -> float | None:
        value = json_float(x)
        self.count += value is None
        return value

    def notes(self) -> list[str]:
        return [NULL_NOTE.format(n=self.count)] if self.count else []


@dataclass(frozen=True, kw_only=True)
class Coefficient:
    """One row of the coefficient table (a plain record: ``vars(row)`` is its dict)."""

    term: str
    estimate: float
    std_error: float
    t_value: float
    p_value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        """The row as a plain dict, in the table's order."""
        return {"term": self.term, "estimate": self.estimate, "std_error": self.std_error, "t_value": self.t_value,
                "p_value": self.p_value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapResult:
    """A wild bootstrap of a fit: intervals and p-values by the percentile and studentized methods."""

    n_boot: int
    weights: str
    seed: int
    level: float
    cluster: str | None
    studentized_by: str
    params: pd.Series
    bse: pd.Series  # the standard error that studentizes, on the data
    boot_se: pd.Series  # standard deviation of the replicates
    ci_percentile: pd.DataFrame
    ci_studentized: pd.DataFrame
    pvalues_percentile: pd.Series
    pvalues_studentized: pd.Series
    n_failed: int
    draws: np.ndarray = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        """Freeze the replicates."""
        self.draws.flags.writeable = False

    def __repr__(self) -> str:
        """One line: replications, weights, seed; never the replicates."""
        return short_repr("BootstrapResult", n_boot=self.n_boot, weights=self.weights, seed=self.seed,
                          cluster=self.cluster, studentized_by=self.studentized_by, n_failed=self.n_failed)

    def _repr_html_(self) -> str:
        return html_table(self.table(), f"Wild bootstrap: {self.n_boot} replications, {self.weights} weights")

    def table(self) -> pd.DataFrame:
        """One row per coefficient: estimate, both intervals, both p-values, bootstrap SE."""
        lo, hi = self.ci_percentile.columns
        return pd.DataFrame({
            "Estimate": self.params, "Boot SE": self.boot_se,
            f"pct {lo}": self.ci_percentile[lo], f"pct {hi}": self.ci_percentile[hi], "pct p": self.pvalues_percentile,
            f"stud {lo}": self.ci_studentized[lo], f"stud {hi}": self.ci_studentized[hi], "stud p": self.pvalues_studentized,
        })

    def to_dict(self) -> dict:
        """JSON-ready: settings and one entry per term."""
        num = _Nulls()
        terms = [{
            "term": t, "estimate": num(self.params[t]), "boot_se": num(self.boot_se[t]),
            "ci_percentile": [num(v) for v in self.ci_percentile.loc[t]],
            "ci_studentized": [num(v) for v in self.ci_studentized.loc[t]],
            "p_percentile": num(self.pvalues_percentile[t]), "p_studentized": num(self.pvalues_studentized[t]),
        } for t in self.params.index]
        out = {"n_boot": self.n_boot, "weights": self.weights, "seed": self.seed, "level": self.level,
               "cluster": self.cluster, "studentized_by": self.studentized_by, "n_failed": self.n_failed,
               "coefficients": terms}
        return {**out, "notes": num.notes()} if num.count else out


@dataclass(frozen=True, slots=True, kw_only=True)
class FitResult:
    """A fitted linear model: least squares, M- or MM-estimation.

    Attributes follow statsmodels: ``params``, ``bse``, ``tvalues``, ``pvalues`` (Series indexed by
    R's term names), ``cov_params``, ``resid`` and ``fittedvalues`` (original scale), ``nobs``,
    ``df_resid``, ``scale`` (residual SE for least squares, the final s for M-estimation, the S
    scale for MM), ``weights`` (the final IRWLS weights; the prior weights for least squares),
    ``converged``, ``n_iter``. ``settings`` holds what the fit was asked for (weight type,
    covariance kind, tuning, typed iteration controls, seed); ``cluster`` the cluster columns of a
    CR1/CR3 covariance; ``model`` the rows and prior weights it was fitted to, ``design`` its model
    matrices; ``s_estimate`` the S-estimate an MM fit started from; ``bootstrap`` a wild bootstrap,
    when asked for. ``resid``, ``fittedvalues`` and ``weights`` are Series on the data's index
    (the rows used).

    In a notebook: ``repr`` is one line, ``_repr_html_`` the coefficient table, ``summary()`` R's
    ``summary.lm`` text, ``tidy()`` one row per term.
    """

    method: str
    formula: str
    params: pd.Series
    bse: pd.Series
    tvalues: pd.Series
    pvalues: pd.Series
    cov_params: pd.DataFrame
    resid: pd.Series
    fittedvalues: pd.Series
    weights: pd.Series
    nobs: int
    df_resid: float
    scale: float
    converged: bool
    n_iter: int
    level: float
    settings: Settings
    cluster: tuple[str, ...] = ()
    tuning: float | None = None
    aliased: tuple[str, ...] = ()
    ls_summary: LeastSquaresSummary | None = None
    s_estimate: np.ndarray | None = field(default=None, repr=False, compare=False)
    model: ModelFrame = field(repr=False, compare=False)
    design: DesignMatrices = field(repr=False, compare=False)
    bootstrap: BootstrapResult | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Make the arrays read-only."""
        for arr in (self.resid, self.fittedvalues, self.weights, self.prior_weights):
            if isinstance(arr, np.ndarray):  # the Series are built on read-only arrays (fitting.named_result)
                arr.flags.writeable = False

    def __repr__(self) -> str:
        """One line: method, formula, rows, and the first coefficients; never the arrays."""
        shown = dict(list(self.params.items())[:6])
        more = f" (+{len(self.params) - 6} more)" if len(self.params) > 6 else ""
        return short_repr("FitResult", method=self.method, formula=self.formula, nobs=self.nobs,
                          vcov=self.vcov, params=shown)[:-1] + more + ">"

    def _repr_html_(self) -> str:
        """The coefficient table as a notebook shows it, with the fit's footer."""
        title = f"{METHODS[self.method].words.title}: {self.formula}"
        return html_table(self.table("none"), title, self._footer())

    def _footer(self) -> list[str]:
        lines = [f"n = {self.nobs}, residual df = {self.df_resid:g}, scale = {num(self.scale, 5)}, vcov {self.vcov}"]
        if self.ls_summary is not None:
            s = self.ls_summary
            lines.append(f"R² = {num(s.rsquared)}, adjusted R² = {num(s.rsquared_adj)}, F = {num(s.fvalue)}")
        if self.dropped_rows:
            lines.append(f"{self.dropped_rows} rows of the data were left out")
        if self.aliased:
            lines.append(f"not defined because of singularities: {', '.join(self.aliased)}")
        return lines

    # -- what the fit was given ------------------------------------------------------------------

    @property
    def data(self) -> pd.DataFrame:
        """The rows the model was fitted to (after ``where``, NA handling), with the schema's names."""
        return self.model.frame

    @property
    def prior_weights(self) -> np.ndarray | None:
        """The prior weights of those rows (None without weights)."""
        return self.model.weights

    @property
    def weight_type(self) -> str:
        """How M-estimation used the prior weights: "inv.var" or "case"."""
        return self.settings.weight_type

    @property
    def dropped_reasons(self) -> dict[str, int]:
        """Rows of the table left out, by reason."""
        return dict(self.model.dropped)

    @property
    def dropped_rows(self) -> int:
        """How many rows of the table were left out (each row once, whatever its reasons)."""
        return self.model.dropped_rows

    @property
    def vcov_kind(self) -> str:
        """The covariance asked for: "classic", "HC0", ..., "CR1", "CR3"."""
        return self.settings.vcov

    @property
    def vcov(self) -> str:
        """The covariance in words: "classic", "rlm (MASS, XtX)", "HC3", "CR1 by run_id", ..."""
        if self.cluster:
            return f"{self.vcov_kind} by {', '.join(self.cluster)}"
        return METHODS[self.method].classic_label if self.vcov_kind == "classic" else self.vcov_kind

    @property
    def control(self) -> IrwlsControl | MMControl | None:
        """The iteration settings the method ran with (None for least squares)."""
        return METHODS[self.method].control(self.settings)

    @property
    def scale_est(self) -> str:
        """How the scale was estimated: the IRWLS scale step, or "S" (MM keeps its S-estimate's)."""
        return self.control.scale_est if isinstance(self.control, IrwlsControl) else "S"

    @property
    def seed(self) -> int:
        """The seed of MM's subsampling and of the bootstrap draws."""
        return self.settings.seed

    @property
    def is_weighted(self) -> bool:
        """Whether the prior weights differ between rows."""
        w = self.prior_weights
        return w is not None and not np.all(w == w[0])

    # -- statsmodels-style accessors ------------------------------------------------------------

    def conf_int(self, alpha: float | None = None, *, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals from Student t with ``df_resid`` degrees of freedom (R's confint).

        ``alpha`` as statsmodels means it: ``conf_int(0.05)`` is the 95 % interval; or give
        ``level=0.95``; neither gives the fit's own level.

        Examples
        --------
        >>> import powerlaw_stats as ps
        >>> list(ps.fit("log_err ~ log2(TS)").conf_int(0.10).columns)
        ['5 %', '95 %']
        """
        if alpha is not None and level is not None:
            raise OptionError("give conf_int either alpha (0.05 for a 95 % interval) or level, not both")
        if alpha is not None:
            if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 1):
                raise OptionError(f"alpha must be between 0 and 1 (0.05 for a 95 % interval), got {alpha!r}")
            level = 1.0 - float(alpha)
        level = self.level if level is None else level
        check_level(level)
        q = t_quantile(level, self.df_resid)
        lo, hi = ci_labels(level)
        return pd.DataFrame({lo: self.params - q * self.bse, hi: self.params + q * self.bse})

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
        est, se, t, p, lo, hi = (float(v) for v in (self.params[key], self.bse[key], self.tvalues[key],
                                                     self.pvalues[key], ci.iloc[:, 0][key], ci.iloc[:, 1][key]))
        return Coefficient(term=key, estimate=est, std_error=se, t_value=t, p_value=p, ci_low=lo, ci_high=hi)

    # -- presentation ----------------------------------------------------------------------------

    def table(self, sort: SortBy = "t", level: float | None = None) -> pd.DataFrame:
        """The coefficient table in the seed study's columns, sorted by |t| (largest first).

        Aliased terms keep their row, with NaN throughout, as R prints NA.
        """
        check_option(sort, SortBy, "sort")
        ci = self.conf_int(level=level)
        out = pd.DataFrame({
            "Estimate": self.params, ci.columns[0]: ci.iloc[:, 0], ci.columns[1]: ci.iloc[:, 1],
            "Std. Error": self.bse, "t value": self.tvalues, "Pr(>|t|)": self.pvalues,
        })
        if sort == "t":
            order = np.argsort(-np.nan_to_num(np.abs(self.tvalues.to_numpy()), nan=-1.0), kind="stable")
            out = out.iloc[order]
        return out

    def tidy(self, level: float | None = None) -> pd.DataFrame:
        """One row per term in the model's order: term, estimate, std_error, t_value, p_value, conf_low, conf_high.

        Examples
        --------
        >>> import powerlaw_stats as ps
        >>> list(ps.fit("log_err ~ log2(TS)").tidy().columns)
        ['term', 'estimate', 'std_error', 't_value', 'p_value', 'conf_low', 'conf_high']
        """
        ci = self.conf_int(level=level)
        return pd.DataFrame({
            "term": list(self.params.index), "estimate": self.params.to_numpy(), "std_error": self.bse.to_numpy(),
            "t_value": self.tvalues.to_numpy(), "p_value": self.pvalues.to_numpy(),
            "conf_low": ci.iloc[:, 0].to_numpy(), "conf_high": ci.iloc[:, 1].to_numpy(),
        })

    to_frame = tidy

    def summary(self) -> RText:
        """R's printed summary: ``summary.lm`` for least squares, the same layout for the robust fits.

        Examples
        --------
        >>> import powerlaw_stats as ps
        >>> "Coefficients:" in ps.fit("log_err ~ log2(TS)").summary()
        True
        """
        resid = np.asarray(self.resid)
        weighted = self.is_weighted and self.method == "ols"
        lines = ["", "Call:", f"fit(formula = {self.formula}, method = \"{self.method}\")", "",
                 f"{'Weighted ' if weighted else ''}Residuals:"]
        if weighted:
            resid = resid * np.sqrt(np.asarray(self.prior_weights))
        if len(resid) > 5:
            q = r_format(np.quantile(resid, [0, 0.25, 0.5, 0.75, 1.0]), 4)
            labels = ["Min", "1Q", "Median", "3Q", "Max"]
            width = max(len(t) for t in q + labels)
            lines += [" ".join(label.rjust(width) for label in labels), " ".join(t.rjust(width) for t in q)]
        else:
            lines.append(" ".join(r_format(resid, 4)))
        if self.aliased:
            lines += ["", f"Coefficients: ({len(self.aliased)} not defined because of singularities)"]
        else:
            lines += ["", "Coefficients:"]
        lines += coefficient_lines(list(self.params.index), self.params, self.bse, self.tvalues, self.pvalues)
        lines += ["---", SIGNIF_LEGEND, ""]
        lines += self._summary_footer()
        return RText("\n".join(lines) + "\n")

    def _summary_footer(self) -> list[str]:
        label = "Residual standard error" if self.method == "ols" else f"Robust residual standard error ({self.scale_est})"
        lines = [f"{label}: {r_format([self.scale], 4)[0]} on {self.df_resid:g} degrees of freedom"]
        if self.dropped_rows:
            lines[0] += f"\n  ({self.dropped_rows} observations deleted due to missingness or --where)"
        s = self.ls_summary
        if s is not None:
            lines.append(f"Multiple R-squared:  {num(s.rsquared)},\tAdjusted R-squared:  {num(s.rsquared_adj)} ")
            if s.f_df[0] > 0:
                p = r_format_pval([s.f_pvalue], 4)[0]
                lines.append(f"F-statistic: {num(s.fvalue)} on {s.f_df[0]:g} and {s.f_df[1]:g} DF,  p-value: {p}")
        elif self.control is not None:
            lines.append(f"{'Converged' if self.converged else 'Did NOT converge'} in {self.n_iter} iterations; "
                         f"standard errors: {self.vcov}")
        return lines

    def to_dict(self, sort: SortBy = "t", breusch_pagan: TestResult | None = None) -> dict:
        """The JSON document of ``powerlaw-stats fit --format json``.

        NaN and infinities (an aliased term's NA, an overflow) are written as null, and ``notes``
        says how many.
        """
        num = _Nulls()
        tab = self.table(sort)
        rows = [
            {"term": term, "estimate": num(r.iloc[0]), "std_error": num(r.iloc[3]), "t_value": num(r.iloc[4]),
             "p_value": num(r.iloc[5]), "ci_low": num(r.iloc[1]), "ci_high": num(r.iloc[2])}
            for term, r in tab.iterrows()
        ]
        out = {
            "method": self.method, "formula": self.formula, "nobs": self.nobs, "df_resid": num(self.df_resid),
            "scale": num(self.scale), "converged": bool(self.converged), "n_iter": int(self.n_iter),
            "dropped_rows": self.dropped_rows, "dropped_reasons": self.dropped_reasons,
            "weight_type": self.weight_type if self.prior_weights is not None else None,
            "vcov": self.vcov, "level": self.level, "aliased": list(self.aliased), "coefficients": rows,
        }
        if self.ls_summary is not None:
            s = self.ls_summary
            out["r_squared"], out["adj_r_squared"] = num(s.rsquared), num(s.rsquared_adj)
            out["fstatistic"] = {"value": num(s.fvalue), "numdf": s.f_df[0], "dendf": s.f_df[1], "p_value": num(s.f_pvalue)}
        out["breusch_pagan"] = None if breusch_pagan is None else breusch_pagan.to_dict()
        if self.cluster:
            out["cluster"] = list(self.cluster)
        if self.bootstrap is not None:
            out["bootstrap"] = self.bootstrap.to_dict()
        notes = num.notes() + (breusch_pagan.notes() if breusch_pagan is not None else [])
        if notes:
            out["notes"] = notes
        return out

    def control_dict(self) -> dict:
        """The iteration settings as results.json lists them (empty for least squares)."""
        c = self.control
        if isinstance(c, MMControl):
            s_coef = [] if self.s_estimate is None else np.asarray(self.s_estimate).tolist()
            return {"maxit": c.maxit, "acc": c.acc, "scale_est": "S", "seed": self.seed, "n_resample": c.n_resample,
                    "s_tuning": c.s_tuning, "s_coef": s_coef}
        return {} if c is None else c.to_dict()
