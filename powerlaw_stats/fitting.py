"""``fit`` and ``breusch_pagan``: the library's front door. Methods orchestrate; the numbers happen
in :mod:`estimators` and :mod:`inference`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .data import SCHEMA_COLUMNS, ModelFrame, NaPolicy, model_frame
from .diagnostics import TestResult, bp_statistic
from .distributions import f_sf
from .errors import ConvergenceWarning, FormulaError, OptionError, SingularDesignError
from .estimators import IrwlsControl, irwls, least_squares
from .formula import DesignMatrices, ParsedFormula, build_design, factor_levels, parse
from .inference import check_level, ls_covariance, rlm_sigma, t_tests
from .norms import make_norm
from .results import FitResult, LeastSquaresSummary

Method = Literal["ols", "huber", "bisquare"]
WeightType = Literal["inv.var", "case"]
METHODS: tuple[str, ...] = ("ols", "huber", "bisquare")
WEIGHT_TYPES: tuple[str, ...] = ("inv.var", "case")
R_DEFAULTS = {"maxit": 20, "acc": 1e-4}
TIGHT_DEFAULTS = {"maxit": 200, "acc": 1e-10}


@dataclass(frozen=True)
class FitOptions:
    """Everything ``fit`` was asked for, validated once at the boundary."""

    method: str = "ols"
    weight_type: str = "inv.var"
    vcov: str = "classic"
    cluster: str | None = None
    level: float = 0.95
    tuning: float | None = None
    control: IrwlsControl = IrwlsControl()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise OptionError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.weight_type not in WEIGHT_TYPES:
            raise OptionError(f"unknown weight type {self.weight_type!r}; choose 'inv.var' or 'case'")
        check_level(self.level)
        if self.method != "ols" and (self.vcov != "classic" or self.cluster):
            raise OptionError(f"--vcov and --cluster apply to least squares; method {self.method!r} uses MASS's rlm covariance")


def fit(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    method: Method = "ols",
    weights: str | Sequence[float] | np.ndarray | None = None,
    weight_type: WeightType = "inv.var",
    *,
    vcov: str = "classic",
    cluster: str | None = None,
    level: float = 0.95,
    tuning: float | None = None,
    scale_est: str = "MAD",
    maxit: int | None = None,
    acc: float | None = None,
    r_defaults: bool = False,
    na: NaPolicy = "drop",
    where: str | None = None,
    let: Sequence[str] = (),
) -> FitResult:
    """Fit a linear model by least squares (R ``lm``) or M-estimation (R ``MASS::rlm``).

    Parameters
    ----------
    formula : str
        A patsy formula with R's meaning, e.g. ``"log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"``.
    data : path, DataFrame or None
        A learning-curve table (CSV, TSV, Parquet) or frame; ``None`` uses the bundled example.
    method : {"ols", "huber", "bisquare"}
        Least squares (weighted when ``weights`` is given) or IRWLS with that psi function.
    weights : str, array or None
        Prior weights: a column name or an expression such as ``"1/trials"``.
    weight_type : {"inv.var", "case"}
        How M-estimation treats prior weights (MASS's ``wt.method``).
    vcov, cluster : least-squares covariance: "classic", "HC0", "HC1", "HC3", or CR1 by a column.
    level : confidence level of the intervals.
    tuning, scale_est, maxit, acc, r_defaults : IRWLS settings; ``r_defaults`` gives MASS's
        maxit 20 and acc 1e-4 instead of the tight 200 and 1e-10.
    na : "drop" omits rows with NA in a used column (R's na.omit) and counts them; "fail" refuses.
    where, let : a pandas query filtering rows; ``NAME=EXPR`` definitions.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> res = ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", method="huber", weights="w")
    >>> round(float(res.params["I(log2(TS) - IXMin)"]), 2) < 0
    True
    """
    defaults = R_DEFAULTS if r_defaults else TIGHT_DEFAULTS
    control = IrwlsControl(
        maxit=defaults["maxit"] if maxit is None else maxit, acc=defaults["acc"] if acc is None else acc, scale_est=scale_est
    )
    opts = FitOptions(method, weight_type, vcov, cluster, level, tuning, control)
    parsed = parse(formula)
    mf = model_frame(data, parsed.variables, weights=weights, where=where, let=let, na=na,
                     extra_columns=[cluster] if cluster else [])
    design = design_matrices(parsed, mf)
    return _FITTERS[opts.method](design, mf, opts, formula)


# ----------------------------------------------------------------------------- design checks


def design_matrices(parsed: ParsedFormula, mf: ModelFrame) -> DesignMatrices:
    """Build the design and refuse what R would refuse or silently mangle."""
    for name, levels in factor_levels(parsed, mf.frame).items():
        if len(levels) < 2:
            raise FormulaError(f"factor {name!r} has one level ({levels[0]!r}) in the rows used; "
                               "a contrast needs two: drop it from the formula or widen --where")
    design = build_design(parsed, mf.frame, mf.namespace)
    _check_finite(design.y[:, None], (parsed.response,), mf)
    _check_finite(design.x, design.column_names, mf)
    return design


def _check_finite(values: np.ndarray, names: Sequence[str], mf: ModelFrame) -> None:
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    col = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = np.flatnonzero(bad[:, col])
    first = ", ".join(str(int(mf.frame.index[r]) + 1) for r in rows[:5])
    raise FormulaError(
        f"{names[col]} is not finite in {len(rows)} of {len(values)} rows (data rows {first}); "
        f"{_nonfinite_hint(names[col], mf.frame.iloc[rows[0]])}"
    )


def _nonfinite_hint(name: str, row: pd.Series) -> str:
    sources = [c for c in row.index if c in name and _is_nonpositive(row[c])]
    sources += [needs[0] for derived, (needs, _) in SCHEMA_COLUMNS.items()
                if derived in name and needs[0] in row.index and _is_nonpositive(row[needs[0]])]
    if sources:
        col = sources[-1]
        return (f"a log of zero or a negative value ({col} = {row[col]} there); "
                f"exclude such rows with --where \"{col} > 0\" or transform them explicitly")
    return "the formula produced NaN or infinity; check its transformations or exclude the rows with --where"


def _is_nonpositive(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value <= 0


# ----------------------------------------------------------------------------- fitters


def _fit_least_squares(design: DesignMatrices, mf: ModelFrame, opts: FitOptions, formula: str) -> FitResult:
    w0 = mf.weights
    root = np.ones(len(design.y)) if w0 is None else np.sqrt(w0)
    xw, yw = design.x * root[:, None], design.y * root
    ls = least_squares(xw, yw)
    n = int(np.count_nonzero(root))
    df = n - ls.rank
    if df <= 0:
        raise SingularDesignError(f"{n} rows for {ls.rank} coefficients leave no residual degrees of freedom")
    groups = mf.frame[opts.cluster].to_numpy() if opts.cluster else None
    cov = ls_covariance(xw[:, ls.kept], ls.xtx_inv, ls.resid, df, opts.vcov, groups)
    fitted = design.x[:, ls.kept] @ ls.coef[ls.kept]
    vcov_name = f"CR1 by {opts.cluster}" if opts.cluster else opts.vcov
    return _assemble(design, mf, opts, formula, ls.coef, ls.kept, cov, df, fitted,
                     scale=float(np.sqrt(ls.resid @ ls.resid / df)), weights=np.ones(len(yw)) if w0 is None else w0,
                     converged=True, n_iter=0, vcov=vcov_name, ls_summary=_ls_summary(yw, root, ls.resid, ls.rank, df, design.intercept))


def _ls_summary(yw, root, resid_w, rank, df, intercept) -> LeastSquaresSummary:
    rss = resid_w @ resid_w
    if intercept:
        center = (root @ yw) / (root @ root)  # weighted mean of y
        tss = np.sum((yw - root * center) ** 2)
    else:
        tss = yw @ yw
    df_int = int(intercept)
    r2 = 1 - rss / tss
    numdf = rank - df_int
    fvalue = ((tss - rss) / numdf) / (rss / df) if numdf > 0 else np.nan
    return LeastSquaresSummary(
        rsquared=float(r2), rsquared_adj=float(1 - (1 - r2) * (df + rank - df_int) / df),
        fvalue=float(fvalue), f_df=(float(numdf), float(df)),
        f_pvalue=f_sf(fvalue, numdf, df) if numdf > 0 else np.nan,
    )


def _fit_m_estimator(design: DesignMatrices, mf: ModelFrame, opts: FitOptions, formula: str) -> FitResult:
    norm = make_norm(opts.method, opts.tuning)
    w0 = mf.weights
    case = w0 if (w0 is not None and opts.weight_type == "case") else None
    root = np.ones(len(design.y)) if w0 is None else np.sqrt(w0)
    xw, yw = (design.x, design.y) if case is not None or w0 is None else (design.x * root[:, None], design.y * root)
    start = least_squares(xw * np.sqrt(case)[:, None], yw * np.sqrt(case)) if case is not None else least_squares(xw, yw)
    if not start.kept.all():
        aliased = [n for n, k in zip(design.column_names, start.kept) if not k]
        raise SingularDesignError(f"the design is singular ({', '.join(aliased)} aliased); {opts.method} needs "
                                  "full rank: remove those terms or use method 'ols', which reports them as NA")
    res = irwls(xw, yw[None], norm, case_weights=case, control=opts.control, start=start.coef[None])
    _warn_if_not_converged(res.converged[0], int(res.n_iter[0]), opts)
    p = xw.shape[1]
    sigma = float(rlm_sigma(res.resid, res.scale, norm, p, case)[0])
    xtilde = design.x * root[:, None]
    xtx_inv = least_squares(xtilde, np.zeros(len(xtilde))).xtx_inv
    df = (len(design.y) if case is None else float(case.sum())) - p
    coef = res.coef[0]
    return _assemble(design, mf, opts, formula, coef, start.kept, sigma**2 * xtx_inv, df, design.x @ coef,
                     scale=float(res.scale[0]), weights=res.weights[0], converged=bool(res.converged[0]),
                     n_iter=int(res.n_iter[0]), vcov="rlm (MASS, XtX)", tuning=norm.k if hasattr(norm, "k") else norm.c)


def _warn_if_not_converged(converged: bool, n_iter: int, opts: FitOptions) -> None:
    if not converged:
        warnings.warn(f"{opts.method} IRWLS did not converge in {n_iter} iterations (acc {opts.control.acc:g}); "
                      "the estimates are the last iterate", ConvergenceWarning, stacklevel=4)


def _assemble(design, mf, opts, formula, coef, kept, cov, df, fitted, *, scale, weights, converged, n_iter, vcov,
              ls_summary=None, tuning=None) -> FitResult:
    names = list(design.column_names)
    bse = np.full(len(names), np.nan)
    bse[kept] = np.sqrt(np.diag(cov))
    tt = t_tests(coef, bse, df, opts.level)
    full_cov = np.full((len(names), len(names)), np.nan)
    full_cov[np.ix_(kept, kept)] = cov
    series = lambda v: pd.Series(v, index=names, dtype=float)  # noqa: E731
    return FitResult(
        method=opts.method, formula=formula, params=series(coef), bse=series(bse), tvalues=series(tt.tvalues),
        pvalues=series(tt.pvalues), cov_params=pd.DataFrame(full_cov, index=names, columns=names),
        resid=design.y - fitted, fittedvalues=fitted, nobs=int(np.count_nonzero(weights)) if opts.method == "ols" else len(design.y),
        df_resid=float(df), scale=scale, weights=np.asarray(weights, dtype=float).copy(), prior_weights=mf.weights,
        weight_type=opts.weight_type, vcov=vcov, converged=converged, n_iter=n_iter, level=opts.level,
        dropped_rows=mf.dropped_rows, dropped_reasons=dict(mf.dropped),
        aliased=tuple(n for n, k in zip(names, kept) if not k), ls_summary=ls_summary, tuning=tuning,
        control={"maxit": opts.control.maxit, "acc": opts.control.acc, "scale_est": opts.control.scale_est},
        design=design, data=mf.frame,
    )


_FITTERS = {"ols": _fit_least_squares, "huber": _fit_m_estimator, "bisquare": _fit_m_estimator}


# ----------------------------------------------------------------------------- Breusch–Pagan


def breusch_pagan(result: FitResult, studentize: bool = True, whitened: bool | None = None) -> TestResult:
    """Breusch–Pagan test of the least-squares residuals of ``result``'s model.

    ``whitened=None`` tests the whitened residuals √w·e for a weighted fit (the right question
    when weights model the variance) and R's form otherwise; ``whitened=False`` reproduces
    ``lmtest::bptest`` exactly. For a robust fit the test uses the least-squares fit of the same
    model and weights, as one would run it in R.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> bp = ps.breusch_pagan(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", weights="w"))
    >>> bp.df
    3.0
    """
    design = result.design
    if design is None:
        raise OptionError("this result carries no design matrix; fit it with powerlaw_stats.fit")
    w0 = np.ones(len(design.y)) if result.prior_weights is None else np.asarray(result.prior_weights)
    whitened = result.is_weighted if whitened is None else whitened
    root = np.sqrt(w0)
    ls = least_squares(design.x * root[:, None], design.y * root)
    resid = design.y - design.x[:, ls.kept] @ ls.coef[ls.kept]
    return bp_statistic(design.x, resid, w0, studentize, whitened)
