"""``fit`` and ``breusch_pagan``: the library's front door. Methods orchestrate; the numbers happen
in :mod:`estimators` and :mod:`inference`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .data.frame import SCHEMA_COLUMNS, ModelFrame, NaPolicy, model_frame
from .errors import ConvergenceWarning, FormulaError, OptionError, SingularDesignError
from .estimation.least_squares import IrwlsControl, irwls, least_squares
from .estimation.mm import MM_TUNING, MMControl, mm_covariance, mm_estimate
from .estimation.norms import Bisquare, make_norm
from .formula import DesignMatrices, ParsedFormula, build_design, factor_levels, parse
from .inference.bootstrap import BOOT_WEIGHTS, wild_bootstrap
from .inference.covariance import (
    CLUSTER_KINDS,
    Clusters,
    check_level,
    ls_covariance,
    make_clusters,
    rlm_sigma,
    sandwich_many,
    t_tests,
)
from .inference.distributions import f_sf
from .inference.tests import TestResult, bp_statistic
from .results import FitResult, LeastSquaresSummary

Method = Literal["ols", "huber", "bisquare", "mm"]
WeightType = Literal["inv.var", "case"]
METHODS: tuple[str, ...] = ("ols", "huber", "bisquare", "mm")
# covariances each method offers; "classic" is R's own (lm, MASS rlm's XtX, lmrob's avar1)
VCOV_FOR: dict[str, tuple[str, ...]] = {
    "ols": ("classic", "HC0", "HC1", "HC3", "CR1", "CR3"),
    "huber": ("classic", "HC0", "HC1", "CR1", "CR3"),
    "bisquare": ("classic", "HC0", "HC1", "CR1", "CR3"),
    "mm": ("classic", "HC0", "HC1", "CR1", "CR3"),
}
CLASSIC_LABEL = {"ols": "classic", "huber": "rlm (MASS, XtX)", "bisquare": "rlm (MASS, XtX)", "mm": "lmrob (avar1)"}
WEIGHT_TYPES: tuple[str, ...] = ("inv.var", "case")
R_DEFAULTS = {"maxit": 20, "acc": 1e-4}
TIGHT_DEFAULTS = {"maxit": 200, "acc": 1e-10}


@dataclass(frozen=True)
class FitOptions:
    """Everything ``fit`` was asked for, validated once at the boundary."""

    method: str = "ols"
    weight_type: str = "inv.var"
    vcov: str = "classic"
    cluster: tuple[str, ...] = ()
    level: float = 0.95
    tuning: float | None = None
    control: IrwlsControl = IrwlsControl()
    seed: int = 1
    mm_control: MMControl = MMControl()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise OptionError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.weight_type not in WEIGHT_TYPES:
            raise OptionError(f"unknown weight type {self.weight_type!r}; choose 'inv.var' or 'case'")
        check_level(self.level)
        self._check_vcov()

    def _check_vcov(self) -> None:
        allowed = VCOV_FOR[self.method]
        if self.vcov not in allowed:
            where = "applies to least squares only" if self.vcov in VCOV_FOR["ols"] else "is unknown"
            raise OptionError(f"vcov {self.vcov!r} {where}; for method {self.method!r} choose one of {', '.join(allowed)}")
        if len(self.cluster) > 2:
            raise OptionError(f"cluster by one or two columns, got {len(self.cluster)}: {', '.join(self.cluster)}")
        if self.vcov in CLUSTER_KINDS and not self.cluster:
            raise OptionError(f"vcov {self.vcov!r} is cluster-robust: name the cluster column(s), e.g. --cluster run_id")
        if self.cluster and self.vcov not in CLUSTER_KINDS:
            raise OptionError(f"--cluster needs vcov CR1 or CR3, not {self.vcov!r}")
        if self.vcov != "classic" and self.method != "ols" and self.weight_type == "case":
            raise OptionError("sandwich covariances of M-estimates take inverse-variance weights; use --weight-type inv.var")

    @property
    def clustered(self) -> bool:
        return bool(self.cluster)


def fit(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    method: Method = "ols",
    weights: str | Sequence[float] | np.ndarray | None = None,
    weight_type: WeightType = "inv.var",
    *,
    vcov: str | None = None,
    cluster: str | Sequence[str] | None = None,
    level: float = 0.95,
    tuning: float | None = None,
    scale_est: str = "MAD",
    maxit: int | None = None,
    acc: float | None = None,
    r_defaults: bool = False,
    na: NaPolicy = "drop",
    where: str | None = None,
    let: Sequence[str] = (),
    seed: int = 1,
    bootstrap: int = 0,
    bootstrap_weights: str = "rademacher",
) -> FitResult:
    """Fit a linear model by least squares (R ``lm``), M-estimation (R ``MASS::rlm``) or MM-estimation
    (robustbase ``lmrob``).

    Parameters
    ----------
    formula : str
        A patsy formula with R's meaning, e.g. ``"log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"``.
    data : path, DataFrame or None
        A learning-curve table (CSV, TSV, Parquet) or frame; ``None`` uses the bundled example.
    method : {"ols", "huber", "bisquare", "mm"}
        Least squares (weighted when ``weights`` is given), IRWLS with that psi function, or
        MM: an S-estimate (breakdown 0.5) then bisquare IRWLS at its scale (95% efficiency).
    weights : str, array or None
        Prior weights: a column name or an expression such as ``"1/trials"``.
    weight_type : {"inv.var", "case"}
        How M-estimation treats prior weights (MASS's ``wt.method``).
    vcov : covariance: "classic" (R's for the method), "HC0", "HC1", "HC3" (least squares),
        or cluster-robust "CR1"/"CR3"; with ``cluster`` it defaults to "CR1".
    cluster : one or two column names (two: Cameron–Gelbach–Miller two-way clustering).
    level : confidence level of the intervals.
    tuning, scale_est, maxit, acc, r_defaults : IRWLS settings; ``r_defaults`` gives MASS's
        maxit 20 and acc 1e-4 instead of the tight 200 and 1e-10.
    na : "drop" omits rows with NA in a used column (R's na.omit) and counts them; "fail" refuses.
    where, let : a pandas query filtering rows; ``NAME=EXPR`` definitions.
    seed : seeds the S-estimate's subsampling (method "mm") and the bootstrap draws.
    bootstrap, bootstrap_weights : number of wild-bootstrap replications (0: none) and their
        weights, "rademacher" or "webb"; the result's ``bootstrap`` holds the intervals and p-values.

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
    clusters = cluster_names(cluster)
    # with clusters, "classic" keeps its old meaning here: the standard clustered covariance, CR1
    vcov = ("CR1" if clusters else "classic") if vcov in (None, "classic") else vcov
    if bootstrap_weights not in BOOT_WEIGHTS:
        raise OptionError(f"unknown bootstrap weights {bootstrap_weights!r}; choose one of {', '.join(BOOT_WEIGHTS)}")
    opts = FitOptions(method, weight_type, vcov, clusters, level, tuning, control, int(seed),
                      _mm_control(maxit, acc, r_defaults))
    parsed = parse(formula)
    mf = model_frame(data, parsed.variables, weights=weights, where=where, let=let, na=na,
                     extra_columns=list(clusters))
    design = design_matrices(parsed, mf)
    result = _FITTERS[opts.method](design, mf, opts, formula)
    if not bootstrap:
        return result
    return dataclasses.replace(result, bootstrap=wild_bootstrap(result, int(bootstrap), bootstrap_weights, seed=opts.seed))


def _mm_control(maxit: int | None, acc: float | None, r_defaults: bool) -> MMControl:
    # robustbase's lmrob stops its M-step at max.it 50, rel.tol 1e-7; ours iterate to a tight optimum
    default = MMControl(maxit=50, acc=1e-7) if r_defaults else MMControl()
    return dataclasses.replace(default, maxit=default.maxit if maxit is None else int(maxit),
                               acc=default.acc if acc is None else float(acc))


def cluster_names(cluster: str | Sequence[str] | None) -> tuple[str, ...]:
    """Cluster columns from a name, a comma-separated list or a sequence of either; no repeats."""
    if cluster is None:
        return ()
    names = [cluster] if isinstance(cluster, str) else list(cluster)
    out = tuple(n.strip() for part in names for n in str(part).split(",") if n.strip())
    if len(set(out)) != len(out):
        raise OptionError(f"cluster columns repeat: {', '.join(out)}")
    return out


def _clusters(mf: ModelFrame, opts: FitOptions, rows: np.ndarray | None = None) -> Clusters | None:
    if not opts.cluster:
        return None
    take = (lambda v: v) if rows is None else (lambda v: v[rows])  # noqa: E731
    return make_clusters({name: take(mf.frame[name].to_numpy()) for name in opts.cluster})


def _vcov_label(opts: FitOptions) -> str:
    if opts.cluster:
        return f"{opts.vcov} by {', '.join(opts.cluster)}"
    return CLASSIC_LABEL[opts.method] if opts.vcov == "classic" else opts.vcov


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
    if opts.clustered:
        cov = sandwich_many(xw[:, ls.kept], ls.resid[None], None, opts.vcov, _clusters(mf, opts))[0]
    else:
        cov = ls_covariance(xw[:, ls.kept], ls.xtx_inv, ls.resid, df, opts.vcov)
    fitted = design.x[:, ls.kept] @ ls.coef[ls.kept]
    return _assemble(design, mf, opts, formula, ls.coef, ls.kept, cov, df, fitted,
                     scale=float(np.sqrt(ls.resid @ ls.resid / df)), weights=np.ones(len(yw)) if w0 is None else w0,
                     converged=True, n_iter=0, vcov=_vcov_label(opts),
                     ls_summary=_ls_summary(yw, root, ls.resid, ls.rank, df, design.intercept))


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
    df = (len(design.y) if case is None else float(case.sum())) - p
    if opts.vcov == "classic":
        sigma = float(rlm_sigma(res.resid, res.scale, norm, p, case)[0])
        xtilde = design.x * root[:, None]
        cov = sigma**2 * least_squares(xtilde, np.zeros(len(xtilde))).xtx_inv
    else:
        u = res.resid / res.scale[:, None]
        cov = sandwich_many(xw, res.resid * norm.weight(u), norm.dpsi(u), opts.vcov, _clusters(mf, opts))[0]
    coef = res.coef[0]
    return _assemble(design, mf, opts, formula, coef, start.kept, cov, df, design.x @ coef,
                     scale=float(res.scale[0]), weights=res.weights[0], converged=bool(res.converged[0]),
                     n_iter=int(res.n_iter[0]), vcov=_vcov_label(opts), tuning=norm.k if hasattr(norm, "k") else norm.c)


def _fit_mm(design: DesignMatrices, mf: ModelFrame, opts: FitOptions, formula: str) -> FitResult:
    w0 = mf.weights
    if w0 is not None and opts.weight_type == "case":
        raise OptionError("method 'mm' treats prior weights as inverse variances (as lmrob does); drop --weight-type case")
    rows = np.ones(len(design.y), dtype=bool) if w0 is None else w0 > 0  # lmrob sets zero-weight rows aside
    root = np.ones(len(design.y)) if w0 is None else np.sqrt(w0)
    xw, yw = design.x[rows] * root[rows, None], design.y[rows] * root[rows]
    kept = least_squares(xw, yw).kept
    if not kept.all():
        aliased = [n for n, k in zip(design.column_names, kept) if not k]
        raise SingularDesignError(f"the design is singular ({', '.join(aliased)} aliased); mm needs "
                                  "full rank: remove those terms or use method 'ols', which reports them as NA")
    fit = mm_estimate(xw, yw[None], opts.mm_control, opts.seed)
    _warn_if_not_converged(bool(fit.converged[0]), int(fit.n_iter[0]), opts, opts.mm_control.acc)
    cov = (mm_covariance(xw, fit.resid, fit.s_resid, fit.scale, opts.mm_control)[0] if opts.vcov == "classic"
           else _mm_sandwich(xw, fit, opts, _clusters(mf, opts, rows)))
    weights = np.zeros(len(design.y))
    weights[rows] = fit.weights[0]
    coef = fit.coef[0]
    return _assemble(design, mf, opts, formula, coef, kept, cov, float(rows.sum() - xw.shape[1]), design.x @ coef,
                     scale=float(fit.scale[0]), weights=weights, converged=bool(fit.converged[0]),
                     n_iter=int(fit.n_iter[0]), vcov=_vcov_label(opts), tuning=MM_TUNING, nobs=int(rows.sum()),
                     control={"maxit": opts.mm_control.maxit, "acc": opts.mm_control.acc, "scale_est": "S",
                              "seed": opts.seed, "n_resample": opts.mm_control.n_resample,
                              "s_tuning": opts.mm_control.s_tuning, "s_coef": fit.s_coef[0].tolist()})


def _mm_sandwich(xw: np.ndarray, fit, opts: FitOptions, clusters: Clusters | None) -> np.ndarray:
    # the scale is held at its S value, as robustbase's .vcov.w does
    norm = Bisquare(opts.mm_control.m_tuning)
    u = fit.resid / fit.scale[:, None]
    return sandwich_many(xw, fit.scale[:, None] * norm.psi(u), norm.dpsi(u), opts.vcov, clusters)[0]


def _warn_if_not_converged(converged: bool, n_iter: int, opts: FitOptions, acc: float | None = None) -> None:
    if not converged:
        acc = opts.control.acc if acc is None else acc
        warnings.warn(f"{opts.method} IRWLS did not converge in {n_iter} iterations (acc {acc:g}); "
                      "the estimates are the last iterate", ConvergenceWarning, stacklevel=4)


def _assemble(design, mf, opts, formula, coef, kept, cov, df, fitted, *, scale, weights, converged, n_iter, vcov,
              ls_summary=None, tuning=None, nobs=None, control=None) -> FitResult:
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
        resid=design.y - fitted, fittedvalues=fitted, nobs=_nobs(nobs, weights, opts, design),
        df_resid=float(df), scale=scale, weights=np.asarray(weights, dtype=float).copy(), prior_weights=mf.weights,
        weight_type=opts.weight_type, vcov=vcov, converged=converged, n_iter=n_iter, level=opts.level,
        dropped_rows=mf.dropped_rows, dropped_reasons=dict(mf.dropped),
        aliased=tuple(n for n, k in zip(names, kept) if not k), ls_summary=ls_summary, tuning=tuning,
        control=control or {"maxit": opts.control.maxit, "acc": opts.control.acc, "scale_est": opts.control.scale_est},
        design=design, data=mf.frame, cluster=opts.cluster, vcov_kind=opts.vcov, seed=opts.seed,
    )


def _nobs(nobs, weights, opts, design) -> int:
    if nobs is not None:
        return nobs
    return int(np.count_nonzero(weights)) if opts.method == "ols" else len(design.y)


_FITTERS = {"ols": _fit_least_squares, "huber": _fit_m_estimator, "bisquare": _fit_m_estimator, "mm": _fit_mm}


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
