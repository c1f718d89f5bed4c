"""Linear mixed models with lme4's formula syntax: the front door and the result.

``fit`` sends a formula with a random-effect term such as ``(1|run_id)`` here (:func:`fit_mixed`).
The table is read through the same model frame as every fit (``where``, ``let``, NA handling,
prior weights), the formula is split into its fixed part (patsy, R's names) and its bars
(:mod:`powerlaw_stats.estimation.mixed_terms`), the terms are evaluated on the rows used, and the
numbers come from :mod:`powerlaw_stats.estimation.mixed` (lme4's profiled REML or ML criterion),
:mod:`~powerlaw_stats.estimation.satterthwaite` (lmerTest's df) and, for a cluster-robust
covariance, :mod:`powerlaw_stats.inference.cr2` (CR2 with Bell and McCaffrey's degrees of
freedom). :class:`MixedResult` puts R's names on them; :func:`anova` compares nested fits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .data.frame import Inputs, load, model_frame
from .data.schema import with_split_id
from .errors import DataError, FormulaError, OptionError, SingularDesignError
from .estimation.least_squares import kept_columns
from .estimation.mixed import MixedControl, MixedFit, fit_problem, loglik_parts
from .estimation.mixed_core import MixedProblem
from .estimation.mixed_terms import (
    VARCORR_COLUMNS,
    Bar,
    RandomTerm,
    SplitFormula,
    component_names,
    group_columns,
    has_random_effects,
    lme4_term_order,
    profile_names,
    split_formula,
    term_variables,
    theta_names,
    varcorr_rows,
)
from .estimation.satterthwaite import SatterthwaiteParts, satterthwaite_parts
from .formats import ci_labels, json_float
from .formula import build_design, design_matrices, find_term, parse
from .inference.cr2 import ClusterBlocks, CR2Design, cluster_rows, cr2_design
from .inference.distributions import chi2_sf, t_ppf, t_sf2
from .options import NaPolicy, check_level, check_option, split_names
from .results import Coefficient

__all__ = ["LikelihoodRatioTest", "MixedControl", "MixedModel", "MixedResult", "anova", "build_model", "fit_mixed",
           "has_random_effects", "variance_components", "with_split_id"]

MixedVcov = Literal["model", "CR2"]
MIXED_VCOV: tuple[str, ...] = ("model", "CR2")
ROBUST_METHODS: tuple[str, ...] = ("huber", "bisquare", "mm")
_LEVEL = re.compile(r"\[(?:T\.)?([^\]]*)\]")  # patsy's f[T.b] and f[b] -> R's fb


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True, kw_only=True)
class MixedModel:
    """A mixed model ready to fit: the problem's arrays plus the names to report them by.

    ``clusters`` holds the values of the cluster columns on the rows used (for a CR2 covariance).
    """

    formula: str
    split: SplitFormula
    problem: MixedProblem
    column_names: tuple[str, ...]
    aliased: tuple[str, ...]
    dropped_reasons: dict[str, int]
    weighted: bool
    clusters: dict[str, np.ndarray] = field(default_factory=dict)
    column_terms: tuple[str, ...] = ()  # the formula term of each fixed-effect column (as DesignMatrices names them)
    frame: pd.DataFrame | None = None  # the rows used

    def with_response(self, y: np.ndarray) -> MixedModel:
        """The same rows, design and terms with another response (for simulations)."""
        return replace(self, problem=self.problem.with_response(y))


def build_model(formula: str, data=None, *, weights=None, where: str | None = None, let: Sequence[str] = (),
                na: NaPolicy = "drop", cluster: Sequence[str] = ()) -> MixedModel:
    """Everything θ-free: rows, design, terms, cross-products.

    Examples
    --------
    >>> m = build_model("log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)")
    >>> m.problem.n, m.column_names[-1], [t.group for t in m.problem.terms]
    (576, 'I(log2(TS) - IXMin):mix1', ['run_id'])
    """
    split = split_formula(formula)
    if not split.bars:
        raise FormulaError(f"formula {formula!r} has no random-effect term such as (1|run_id); "
                           "fit it with fit(), or add one")
    parsed = parse(split.fixed)
    raw = with_split_id(load(data))
    variables = tuple(dict.fromkeys(parsed.variables + term_variables(split.bars, split.response)))
    extra = list(dict.fromkeys([*group_columns(split.bars), *cluster]))
    mf = model_frame(Inputs(data=raw, weights=weights, where=where, let=tuple(let or ()), na=na), variables,
                     extra_columns=extra)
    design = design_matrices(parsed, mf)
    frame, x, y, w, dropped = _positive_weight_rows(mf.frame, design.x, design.y, mf.weights)
    terms = random_terms(split.bars, frame, mf.namespace, split.response)
    _check_terms(terms, len(y))
    kept = kept_columns(x)
    names = tuple(n for n, k in zip(design.column_names, kept) if k)
    col_terms = tuple(t for t, k in zip(design.column_terms, kept) if k)
    aliased = tuple(n for n, k in zip(design.column_names, kept) if not k)
    if len(y) <= kept.sum():
        raise SingularDesignError(f"{len(y)} rows for {int(kept.sum())} fixed effects leave nothing to estimate "
                                  "variance components from")
    problem = MixedProblem(np.ascontiguousarray(x[:, kept]), y, w, terms)
    return MixedModel(formula=formula, split=split, problem=problem, column_names=names, aliased=aliased,
                      dropped_reasons={**mf.dropped, **dropped}, weighted=w is not None,
                      clusters={c: frame[c].to_numpy() for c in cluster}, column_terms=col_terms, frame=frame)


def random_terms(bars: tuple[Bar, ...], frame: pd.DataFrame, namespace: dict, response: str) -> tuple[RandomTerm, ...]:
    """Evaluate each bar on the rows used and order the terms as lme4 does."""
    terms = [_random_term(b, frame, namespace, response) for b in bars]
    return tuple(terms[i] for i in lme4_term_order([t.n_levels for t in terms]))


def _random_term(bar: Bar, frame: pd.DataFrame, namespace: dict, response: str) -> RandomTerm:
    design = build_design(parse(f"{response} ~ {bar.expr}"), frame, namespace)
    if design.x.shape[1] == 0:
        raise FormulaError(f"random-effect term {bar.text} has no columns; use (1 | {bar.group}) for an intercept")
    if not np.isfinite(design.x).all():
        raise FormulaError(f"random-effect term {bar.text}: its columns are not finite in some rows; "
                           "check its transformations or exclude the rows with --where")
    labels = frame[bar.group_columns[0]].astype(str)
    for col in bar.group_columns[1:]:
        labels = labels + ":" + frame[col].astype(str)
    codes, levels = pd.factorize(labels.to_numpy(dtype=object), sort=True)
    names = tuple(_LEVEL.sub(r"\1", n) for n in design.column_names)
    return RandomTerm(bar=bar, columns=names, x=np.ascontiguousarray(design.x, dtype=float),
                      codes=codes.astype(np.intp), levels=tuple(str(v) for v in levels))


def _positive_weight_rows(frame, x, y, w):
    if w is None or (w > 0).all():
        return frame, x, y, w, {}
    keep = w > 0
    return frame.loc[keep], x[keep], y[keep], w[keep], {"weight 0": int((~keep).sum())}


def _check_terms(terms: tuple[RandomTerm, ...], n: int) -> None:
    # lme4's default checks (check.nlev.gtr.1, check.nobs.vs.nlev, check.nobs.vs.nRE), all "stop"
    for t in terms:
        if t.n_levels < 2:
            raise DataError(f"grouping factor {t.group!r} of {t.bar.text} has a single level in the rows used; "
                            "a variance needs at least two groups")
        if t.n_levels >= n:
            raise DataError(f"grouping factor {t.group!r} has {t.n_levels} levels for {n} rows; each level needs "
                            "more than one row on average, or the term is confounded with the residual")
        if t.n_levels * t.k >= n:
            raise DataError(f"{t.bar.text} has {t.n_levels * t.k} random effects for {n} rows; its variance "
                            "parameters and the residual variance cannot both be identified")


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True)
class LikelihoodRatioTest:
    """lme4's ``anova(small, big)``: both fits by ML (REML fits refitted), χ² on the difference in parameters."""

    statistic: float
    df: int
    pvalue: float
    loglik: tuple[float, float]
    npar: tuple[int, int]
    aic: tuple[float, float]
    bic: tuple[float, float]
    refitted: bool
    models: tuple[str, str] = ("", "")

    def table(self) -> pd.DataFrame:
        """R's anova table: npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq), one row per model."""
        return pd.DataFrame({
            "npar": list(self.npar), "AIC": list(self.aic), "BIC": list(self.bic), "logLik": list(self.loglik),
            "deviance": [-2 * v for v in self.loglik], "Chisq": [np.nan, self.statistic], "Df": [np.nan, self.df],
            "Pr(>Chisq)": [np.nan, self.pvalue]}, index=list(self.models))

    def to_dict(self) -> dict:
        """The test as JSON."""
        return {"statistic": self.statistic, "df": self.df, "p_value": self.pvalue, "loglik": list(self.loglik),
                "npar": list(self.npar), "aic": list(self.aic), "bic": list(self.bic), "refitted_ml": self.refitted,
                "models": list(self.models)}


@dataclass(frozen=True, kw_only=True)
class MixedResult:
    """A fitted linear mixed model.

    Fixed effects as statsmodels names them (``params``, ``bse``, ``tvalues``, ``pvalues``,
    ``cov_params``), with a degrees of freedom per coefficient behind the p-values and
    ``conf_int`` (``df_satterthwaite``: lmerTest's Satterthwaite df for the model's own covariance,
    Bell and McCaffrey's for a CR2 one). ``variance_components``: variances (and covariances) by
    grouping name, ``Residual`` last; ``varcorr``: lme4's ``as.data.frame(VarCorr())``. ``loglik``
    is what R's ``logLik`` reports (the REML criterion's for a REML fit); ``theta`` lme4's
    relative covariance parameters; ``ranef`` the conditional modes (BLUPs), one frame per
    grouping factor. ``vcov_kind`` is ``"model"`` (the model's covariance, lmerTest's) or
    ``"CR2"`` (cluster-robust by ``cluster``, which nests every grouping factor).
    """

    formula: str
    fixed_formula: str
    random_terms: tuple[str, ...]
    reml: bool
    params: pd.Series
    bse: pd.Series
    tvalues: pd.Series
    pvalues: pd.Series
    df_satterthwaite: pd.Series
    cov_params: pd.DataFrame
    variance_components: pd.Series
    varcorr: pd.DataFrame
    theta: np.ndarray
    theta_names: tuple[str, ...]
    scale: float  # σ, the residual standard deviation
    loglik: float
    aic: float
    bic: float
    criterion: float  # lme4's REML criterion or deviance (−2 logLik)
    nobs: int
    ngroups: dict[str, int]
    is_singular: bool
    converged: bool
    n_iter: int
    n_eval: int
    resid: np.ndarray
    fittedvalues: np.ndarray
    ranef: dict[str, pd.DataFrame]
    weighted: bool
    aliased: tuple[str, ...]
    dropped_reasons: dict[str, int]
    level: float = 0.95
    vcov_kind: str = "model"
    cluster: tuple[str, ...] = ()
    n_clusters: int | None = None
    satterthwaite: SatterthwaiteParts | None = field(default=None, repr=False, compare=False)
    cr2: CR2Design | None = field(default=None, repr=False, compare=False)
    model: MixedModel = field(repr=False, compare=False)
    fit: MixedFit = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        """Make the arrays read-only."""
        for arr in (self.theta, self.resid, self.fittedvalues):
            arr.flags.writeable = False

    # -- what was fitted -------------------------------------------------------------------------

    @property
    def method(self) -> str:
        """The family's name in the registry of families: ``"lmm"``."""
        return "lmm"

    @property
    def estimation(self) -> str:
        """``"REML"`` or ``"ML"``."""
        return "REML" if self.reml else "ML"

    @property
    def vcov(self) -> str:
        """The covariance in words: ``"lmer (REML)"`` or ``"CR2 by run_id"``."""
        return f"CR2 by {', '.join(self.cluster)}" if self.vcov_kind == "CR2" else f"lmer ({self.estimation})"

    @property
    def df_method(self) -> str:
        """How the t tests' degrees of freedom were found."""
        return "Satterthwaite (Bell-McCaffrey, CR2)" if self.vcov_kind == "CR2" else "Satterthwaite"

    @property
    def npar(self) -> int:
        """Parameters counted by logLik's df: fixed effects, θ and σ."""
        return len(self.params) + len(self.theta) + 1

    @property
    def dropped_rows(self) -> int:
        """How many rows of the table were left out."""
        return sum(self.dropped_reasons.values())

    @property
    def zero_components(self) -> tuple[str, ...]:
        """The grouping factors whose variance is estimated at 0 (lme4's singular fit)."""
        vc = self.variance_components.drop("Residual")
        return tuple(str(k) for k, v in vc.items() if "," not in str(k) and v <= 1e-8 * max(self.scale**2, 1e-300))

    # -- tests and intervals ---------------------------------------------------------------------

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald intervals with Student t on each coefficient's df (lmerTest's confint for the model's covariance)."""
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            raise OptionError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}")
        q = np.array([t_ppf(1 - alpha / 2, df) for df in self.df_satterthwaite])
        lo, hi = ci_labels(1 - alpha)
        return pd.DataFrame({lo: self.params - q * self.bse, hi: self.params + q * self.bse})

    def t_test(self, contrast: Sequence[float] | np.ndarray) -> dict[str, float]:
        """T test of ``contrast' β = 0`` with its Satterthwaite df (lmerTest's ``contest1D``; CR2's for a CR2 fit)."""
        ell = np.asarray(contrast, dtype=float)
        if ell.shape != (len(self.params),):
            raise OptionError(f"a contrast needs {len(self.params)} values, one per fixed effect; got shape {ell.shape}")
        cov = self.cov_params.to_numpy()
        estimate, se = float(ell @ self.params.to_numpy()), math.sqrt(float(ell @ cov @ ell))
        df = self._df(ell, cov)
        t = estimate / se
        return {"estimate": estimate, "std_error": se, "df": df, "t_value": t, "p_value": float(t_sf2(df, np.array([t]))[0])}

    def _df(self, ell: np.ndarray, cov: np.ndarray) -> float:
        if self.cr2 is not None:
            return self.cr2.df(ell)
        if self.satterthwaite is None:
            raise OptionError("this fit kept no Satterthwaite parts; refit it")
        return self.satterthwaite.df(ell, cov)

    def term(self, name: str) -> str:
        """The stored name of a term given with any spacing."""
        i = find_term(list(self.params.index), name)
        if i is None:
            raise OptionError(f"no term {name!r} in the model; terms are {', '.join(self.params.index)}")
        return str(self.params.index[i])

    def coefficient(self, name: str) -> Coefficient:
        """The table row of one term at the fit's level, as :meth:`powerlaw_stats.FitResult.coefficient` gives it."""
        key = self.term(name)
        ci = self.conf_int(1 - self.level)
        return Coefficient(term=key, estimate=float(self.params[key]), std_error=float(self.bse[key]),
                           t_value=float(self.tvalues[key]), p_value=float(self.pvalues[key]),
                           ci_low=float(ci.iloc[:, 0][key]), ci_high=float(ci.iloc[:, 1][key]))

    def table(self, alpha: float | None = None) -> pd.DataFrame:
        """LmerTest's coefficient table with the df and the interval (at the fit's level unless ``alpha`` is given)."""
        ci = self.conf_int(1 - self.level if alpha is None else alpha)
        return pd.DataFrame({"Estimate": self.params, "Std. Error": self.bse, "df": self.df_satterthwaite,
                             "t value": self.tvalues, "Pr(>|t|)": self.pvalues,
                             ci.columns[0]: ci.iloc[:, 0], ci.columns[1]: ci.iloc[:, 1]})

    # -- other fits of the same model ------------------------------------------------------------

    def refit(self, *, reml: bool) -> MixedResult:
        """The same model by REML or ML, started from this fit's θ (lme4's ``refitML``)."""
        if reml == self.reml:
            return self
        fit = fit_problem(self.model.problem, reml, MixedControl(start=tuple(self.theta)))
        return assemble(self.model, fit, level=self.level, cluster=self.cluster if self.vcov_kind == "CR2" else ())

    def lrt(self, other: MixedResult) -> LikelihoodRatioTest:
        """Likelihood-ratio test against a nested fit, as lme4's ``anova`` (refit with ML)."""
        return anova(self, other)

    def profile_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Profile-likelihood intervals for the standard deviations, correlations and σ.

        The ML profile, as lme4's ``confint(fit, method = "profile")``, which refits a REML fit by ML.
        """
        from .estimation.mixed_profile import profile_intervals  # only intervals need it

        ml = self.refit(reml=False)
        bounds = profile_intervals(ml.model.problem, np.asarray(ml.theta), ml.scale, level)
        lo, hi = ci_labels(level)
        return pd.DataFrame(bounds, index=profile_names(ml.model.problem.terms), columns=[lo, hi])

    # -- output ----------------------------------------------------------------------------------

    def to_dict(self, alpha: float | None = None) -> dict:
        """A JSON-ready summary: coefficients with df, variance components, fit criteria."""
        tab = self.table(alpha)
        num = json_float
        rows = [{"term": term, "estimate": num(r.iloc[0]), "std_error": num(r.iloc[1]), "df": num(r.iloc[2]),
                 "t_value": num(r.iloc[3]), "p_value": num(r.iloc[4]), "ci_low": num(r.iloc[5]),
                 "ci_high": num(r.iloc[6])} for term, r in tab.iterrows()]
        return {
            "method": self.method, "estimation": self.estimation, "formula": self.formula, "nobs": self.nobs,
            "ngroups": dict(self.ngroups), "vcov": self.vcov, "cluster": list(self.cluster),
            "n_clusters": self.n_clusters, "df_method": self.df_method,
            "level": self.level if alpha is None else 1 - alpha, "coefficients": rows,
            "variance_components": {k: num(v) for k, v in self.variance_components.items()},
            "theta": [float(v) for v in self.theta], "sigma": self.scale, "loglik": self.loglik, "aic": self.aic,
            "bic": self.bic, "is_singular": self.is_singular, "converged": self.converged, "weighted": self.weighted,
            "aliased": list(self.aliased), "dropped_rows": self.dropped_rows, "dropped_reasons": dict(self.dropped_reasons),
        }


# ----------------------------------------------------------------------------- front door


def fit_mixed(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    reml: bool = True,
    method: str = "ols",
    vcov: str | None = None,
    cluster: str | Sequence[str] | None = None,
    level: float = 0.95,
    where: str | None = None,
    let: Sequence[str] = (),
    na: NaPolicy = "drop",
    control: MixedControl | None = None,
) -> MixedResult:
    """Fit a linear mixed model written in lme4's syntax (``lme4::lmer`` with lmerTest's tests).

    Parameters
    ----------
    formula : str
        Fixed effects as for ``fit`` plus random-effect terms: ``(1|g)``, crossed ``(1|a) + (1|b)``,
        nested ``(1|a/b)``, correlated slopes ``(1 + x|g)``, uncorrelated ``(x||g)`` or
        ``(1|g) + (0 + x|g)``. ``split_id`` is derived from ``train_set``, ``n_splits`` and
        ``split`` when the table lacks it (the images a run trained on).
    data : path, DataFrame or None
        The table; None uses the bundled example.
    weights : str, array or None
        Prior weights as lme4's ``weights=``: row i has residual variance σ²/wᵢ. Rows of weight 0
        carry no information and are left out (lme4 cannot take them).
    reml : bool
        REML (default) or maximum likelihood.
    method : str
        Only ``"ols"`` (lmer's Gaussian likelihood): robust estimators are refused with a pointer to
        cluster-robust SEs of a model without random effects.
    vcov : {"model", "CR2"}, optional
        The model's own covariance with lmerTest's Satterthwaite df (default), or the bias-reduced
        cluster-robust CR2 of the same estimate with Bell and McCaffrey's df, which holds when the
        model's variances are wrong (they change with the size, say) as long as rows of different
        clusters are independent.
    cluster : str, optional
        The CR2 cluster column; it must nest every grouping factor (``split_id`` nests ``run_id``).
        Giving it alone asks for CR2.
    level : float
        Confidence level of the table's intervals.
    where, let, na
        As for ``fit``.
    control : MixedControl, optional
        Optimizer settings.

    Returns
    -------
    MixedResult
        Fixed effects with their tests, variance components, fit criteria.

    Examples
    --------
    >>> res = fit_mixed("log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)")
    >>> list(res.variance_components.index)
    ['run_id', 'Residual']
    >>> bool(res.df_satterthwaite.min() > 0)
    True
    """
    kind, clusters = mixed_vcov(formula, method, vcov, cluster)
    if not isinstance(reml, bool):
        raise OptionError(f"reml must be True or False, got {reml!r}")
    check_option(na, ("drop", "fail"), "na")
    check_level(level)
    model = build_model(formula, data, weights=weights, where=where, let=let, na=na, cluster=clusters)
    fit = fit_problem(model.problem, reml, control or MixedControl())
    return assemble(model, fit, level=level, cluster=clusters if kind == "CR2" else ())


def mixed_vcov(formula: str, method: str, vcov: str | None, cluster) -> tuple[str, tuple[str, ...]]:
    """Check what a mixed model is asked for; one line for what it does not offer (robust estimators, other sandwiches).

    Returns the covariance kind (``"model"`` or ``"CR2"``) and the cluster columns.
    """
    bars = ", ".join(b.text for b in split_formula(formula).bars) or "random effects"
    if method in ROBUST_METHODS:
        raise OptionError(f"method {method!r} cannot be combined with random effects {bars}; for a robust fit that "
                          "allows for dependent rows drop the random-effect terms and use --vcov CR1 --cluster run_id")
    if method != "ols":
        raise OptionError(f"unknown method {method!r} for a mixed model; random effects {bars} are fitted by lmer (ols)")
    clusters = split_names(cluster, "cluster columns")
    kind = "CR2" if clusters and vcov in (None, "classic", "CR2") else ("model" if vcov in (None, "classic") else vcov)
    if kind not in MIXED_VCOV:
        raise OptionError(f"vcov {vcov!r} is not offered with random effects {bars}: use the model's own covariance "
                          "(the default) or 'CR2' with a cluster column that nests the grouping factors")
    if kind == "CR2" and len(clusters) != 1:
        raise OptionError(f"vcov 'CR2' needs one cluster column that nests the grouping factors of {bars}, "
                          "e.g. --cluster split_id")
    if kind == "model" and clusters:
        raise OptionError("--cluster applies to vcov 'CR2' with random effects; drop --vcov or choose CR2")
    return kind, clusters


def assemble(model: MixedModel, fit: MixedFit, *, level: float = 0.95, cluster: tuple[str, ...] = ()) -> MixedResult:
    """Put names on a fit: the model's covariance with lmerTest's df, or CR2 by ``cluster`` with Bell and McCaffrey's."""
    problem = model.problem
    names = list(model.column_names)
    resid_marginal = problem.y - problem.x @ fit.beta
    parts: SatterthwaiteParts | None = None
    design: CR2Design | None = None
    if cluster:
        design = cluster_design(model, fit, cluster[0])
        cov = design.cov(resid_marginal)
        dfs = np.array([design.df(row) for row in np.eye(len(names))])
    else:
        cov = fit.cov
        parts = satterthwaite_parts(problem, fit.theta, fit.sigma, fit.reml)
        dfs = np.array([parts.df(row, cov) for row in np.eye(len(names))])
    bse = np.sqrt(np.diag(cov))
    tvals = fit.beta / bse
    pvals = np.array([float(t_sf2(d, np.array([t]))[0]) for d, t in zip(dfs, tvals)])
    vc = _varcorr(problem, fit)
    loglik, aic, bic = loglik_parts(fit, problem.n)

    def series(v: np.ndarray) -> pd.Series:
        return pd.Series(v, index=names, dtype=float)

    return MixedResult(
        formula=model.formula, fixed_formula=model.split.fixed, random_terms=tuple(b.text for b in model.split.bars),
        reml=fit.reml, params=series(fit.beta), bse=series(bse), tvalues=series(tvals), pvalues=series(pvals),
        df_satterthwaite=series(dfs), cov_params=pd.DataFrame(cov, index=names, columns=names),
        variance_components=_components(problem, vc),
        varcorr=vc, theta=fit.theta.copy(), theta_names=theta_names(problem.terms), scale=fit.sigma, loglik=loglik,
        aic=aic, bic=bic, criterion=fit.criterion, nobs=problem.n, ngroups={t.group: t.n_levels for t in problem.terms},
        is_singular=fit.singular, converged=fit.converged, n_iter=fit.n_iter, n_eval=fit.n_eval,
        resid=problem.y - fit.fitted, fittedvalues=fit.fitted.copy(), ranef=_ranef(problem.terms, fit.b),
        weighted=model.weighted, aliased=model.aliased, dropped_reasons=model.dropped_reasons, level=level,
        vcov_kind="CR2" if cluster else "model", cluster=tuple(cluster),
        n_clusters=None if design is None else design.n_clusters, satterthwaite=parts, cr2=design, model=model, fit=fit,
    )


def _varcorr(problem: MixedProblem, fit: MixedFit) -> pd.DataFrame:
    return pd.DataFrame(varcorr_rows(problem.terms, fit.theta, fit.sigma), columns=list(VARCORR_COLUMNS))


def _components(problem: MixedProblem, varcorr: pd.DataFrame) -> pd.Series:
    return pd.Series(varcorr["vcov"].to_numpy(), index=component_names(problem.terms), dtype=float)


def variance_components(formula: str, data: str | Path | pd.DataFrame | None = None, *,
                        weights: str | Sequence[float] | np.ndarray | None = None, reml: bool = True,
                        where: str | None = None, let: Sequence[str] = (), na: NaPolicy = "drop") -> pd.Series:
    """A mixed model's variance components alone: :func:`fit_mixed`'s ``variance_components``, no tests.

    For a caller that needs the variances only (``plan`` learns its run and split variances from
    the pilot): the fixed effects' Satterthwaite df, which take finite differences of the
    likelihood and a fifth of the fit's time, are left out. The same model, fit and numbers.

    Examples
    --------
    >>> vc = variance_components("log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)")
    >>> vc.equals(fit_mixed("log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)").variance_components)
    True
    """
    mixed_vcov(formula, "ols", None, None)
    if not isinstance(reml, bool):
        raise OptionError(f"reml must be True or False, got {reml!r}")
    model = build_model(formula, data, weights=weights, where=where, let=let, na=na, cluster=())
    fit = fit_problem(model.problem, reml, MixedControl())
    return _components(model.problem, _varcorr(model.problem, fit))


def cluster_design(model: MixedModel, fit: MixedFit, cluster: str) -> CR2Design:
    """CR2's response-free part for the fit's working covariance, clustered by ``cluster``."""
    codes = pd.factorize(pd.Series(model.clusters[cluster]).astype(str), sort=True)[0]
    if not model.problem.nests(codes):
        groups = ", ".join(dict.fromkeys(t.group for t in model.problem.terms))
        raise OptionError(f"CR2 by {cluster!r}: every level of each grouping factor ({groups}) must lie in one cluster, "
                          "so that rows of different clusters are independent; cluster by a column that nests them "
                          "(split_id nests run_id)")
    if codes.max() < 1:
        raise OptionError(f"CR2 by {cluster!r}: the rows used form a single cluster; a cluster-robust covariance needs many")
    rows = cluster_rows(codes)
    blocks = ClusterBlocks(rows=tuple(rows), phi=tuple(model.problem.marginal_blocks(fit.theta, r) for r in rows))
    return cr2_design(model.problem.x, blocks)


def _ranef(terms: tuple[RandomTerm, ...], b: tuple[np.ndarray, ...]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for t, bt in zip(terms, b):
        frame = pd.DataFrame(bt, index=pd.Index(t.levels, name=t.group), columns=list(t.columns))
        out[t.group] = pd.concat([out[t.group], frame], axis=1) if t.group in out else frame
    return out


# ----------------------------------------------------------------------------- likelihood-ratio tests


def anova(a, b) -> LikelihoodRatioTest:
    """Likelihood-ratio test of two nested fits to the same rows, as lme4's ``anova(a, b)``.

    Mixed fits fitted by REML are refitted by ML first; a least-squares fit (``fit(...)`` with
    ``method="ols"`` and the model's classic covariance) enters with its ML log-likelihood, as
    lme4 takes an ``lm``. The statistic is twice the log-likelihood gain of the larger model (at
    least 0), referred to χ² on the difference in parameters. Testing a variance at 0 this way is
    conservative (the null sits on the boundary; halving the p-value is the usual correction).

    Parameters
    ----------
    a, b : MixedResult or least-squares FitResult
        The two fits; nesting is the caller's to ensure, as in R.

    Returns
    -------
    LikelihoodRatioTest
        The statistic, its df and p-value, and each model's npar, AIC, BIC and logLik (smaller first).

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> small = ps.fit("log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)")
    >>> big = ps.fit("log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet) + (1|split_id)")
    >>> test = ps.anova(small, big)  # runs on the same images move together
    >>> test.df, bool(test.pvalue < 0.05)
    (1, True)
    """
    one, two = _ml_summary(a), _ml_summary(b)
    if one[0] != two[0] or not np.allclose(one[1], two[1]):
        raise OptionError("a likelihood-ratio test compares fits to the same rows; these differ in their responses or rows")
    small, big = sorted((one, two), key=lambda s: s[3])
    df = big[3] - small[3]
    if df == 0:
        raise OptionError("the two models have the same number of parameters; a likelihood-ratio test needs nested models")
    stat = 2 * max(0.0, big[2] - small[2])
    n = small[0]
    aic = (-2 * small[2] + 2 * small[3], -2 * big[2] + 2 * big[3])
    bic = (-2 * small[2] + math.log(n) * small[3], -2 * big[2] + math.log(n) * big[3])
    return LikelihoodRatioTest(statistic=stat, df=df, pvalue=chi2_sf(stat, df), loglik=(small[2], big[2]),
                               npar=(small[3], big[3]), aic=aic, bic=bic, refitted=small[4] or big[4],
                               models=(small[5], big[5]))


def _ml_summary(res) -> tuple[int, np.ndarray, float, int, bool, str]:
    """(rows, response, ML logLik, npar, refitted, formula) of a mixed fit or a least-squares fit."""
    if isinstance(res, MixedResult):
        ml = res.refit(reml=False)
        return ml.nobs, ml.model.problem.y, ml.loglik, ml.npar, res.reml, res.formula
    if getattr(res, "method", None) != "ols" or not hasattr(res, "design"):
        raise OptionError("anova compares mixed fits with each other or with a least-squares fit (method 'ols')")
    y = np.asarray(res.design.y)
    w = np.ones(len(y)) if res.prior_weights is None else np.asarray(res.prior_weights, dtype=float)
    keep = w > 0
    r = np.asarray(res.resid)[keep] * np.sqrt(w[keep])
    n = int(keep.sum())
    # R's logLik.lm: 0.5 (Σ log w − n (log 2π + 1 − log n + log Σ w r²))
    loglik = 0.5 * (np.log(w[keep]).sum() - n * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(float(r @ r))))
    npar = int(np.count_nonzero(~np.isnan(res.params.to_numpy()))) + 1
    return n, y[keep], float(loglik), npar, False, res.formula
