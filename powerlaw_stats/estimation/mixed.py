"""``fit_mixed``: linear mixed models with lme4's formula syntax, numbers equal to ``lme4::lmer``
and lmerTest's Satterthwaite t tests.

The front door reads a table through the same model frame as ``fit`` (``where``, ``let``, NA
handling, prior weights), splits the formula into its fixed part and its random-effect bars,
builds the terms, minimizes lme4's profiled REML (or ML) criterion over θ and assembles a frozen
:class:`MixedResult`. Methods orchestrate; the numbers happen in :mod:`.mixed_core`,
:mod:`.satterthwaite` and :mod:`.mixed_profile`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.frame import Inputs, load, model_frame
from ..errors import DataError, FormulaError, OptionError, SingularDesignError
from ..formula import design_matrices, parse
from ..inference.distributions import chi2_sf, t_ppf, t_sf2
from .least_squares import kept_columns
from .mixed_core import MixedProblem, OptimizeResult, minimize_bounded
from .mixed_terms import (
    RandomTerm,
    SplitFormula,
    build_terms,
    component_names,
    group_columns,
    split_formula,
    term_variables,
    theta_names,
    theta_start,
    varcorr_frame,
)
from .satterthwaite import SatterthwaiteParts, satterthwaite_parts

SINGULAR_TOL = 1e-4  # lme4's isSingular: a diagonal element of theta below this
ROBUST_METHODS = ("huber", "bisquare", "mm")
SPLIT_ID_COLUMNS = ("train_set", "n_splits", "split")


@dataclass(frozen=True, kw_only=True)
class MixedControl:
    """Optimizer settings: iterations, the step size at which θ counts as converged, a start."""

    max_iter: int = 200
    xtol: float = 1e-10
    start: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise OptionError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not (isinstance(self.xtol, (int, float)) and self.xtol > 0):
            raise OptionError(f"xtol must be positive, got {self.xtol!r}")


@dataclass(frozen=True, kw_only=True)
class MixedModel:
    """A mixed model ready to fit: the problem's arrays plus the names to report them by."""

    formula: str
    split: SplitFormula
    problem: MixedProblem
    column_names: tuple[str, ...]
    aliased: tuple[str, ...]
    dropped_reasons: dict[str, int]
    weighted: bool


    def with_response(self, y: np.ndarray) -> MixedModel:
        """The same rows, design and terms with another response (for simulations)."""
        return replace(self, problem=self.problem.with_response(y))


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

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.pvalue, "loglik": list(self.loglik),
                "npar": list(self.npar), "aic": list(self.aic), "bic": list(self.bic), "refitted_ml": self.refitted}


@dataclass(frozen=True, kw_only=True)
class MixedResult:
    """A fitted linear mixed model.

    Fixed effects as statsmodels names them (``params``, ``bse``, ``tvalues``, ``pvalues``,
    ``cov_params``), with lmerTest's Satterthwaite ``df_satterthwaite`` behind the p-values and
    ``conf_int``. ``variance_components``: variances (and covariances) by grouping name,
    ``Residual`` last; ``varcorr``: lme4's ``as.data.frame(VarCorr())``. ``loglik`` is what R's
    ``logLik`` reports (the REML criterion's for a REML fit); ``theta`` lme4's relative covariance
    parameters; ``ranef`` the conditional modes (BLUPs) of each term, one frame per term.
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
    satterthwaite: SatterthwaiteParts = field(repr=False, compare=False)
    model: MixedModel = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        for arr in (self.theta, self.resid, self.fittedvalues):
            arr.flags.writeable = False

    @property
    def method(self) -> str:
        return "REML" if self.reml else "ML"

    @property
    def npar(self) -> int:
        """Parameters counted by logLik's df: fixed effects, θ and σ."""
        return len(self.params) + len(self.theta) + 1

    @property
    def dropped_rows(self) -> int:
        return sum(self.dropped_reasons.values())

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald intervals with Student t on each coefficient's Satterthwaite df (lmerTest's confint)."""
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            raise OptionError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}")
        q = np.array([t_ppf(1 - alpha / 2, df) for df in self.df_satterthwaite])
        lo, hi = (f"{100 * a:.3g} %" for a in (alpha / 2, 1 - alpha / 2))
        return pd.DataFrame({lo: self.params - q * self.bse, hi: self.params + q * self.bse})

    def t_test(self, contrast: Sequence[float] | np.ndarray) -> dict[str, float]:
        """Satterthwaite t test of ``contrast' β = 0`` (lmerTest's ``contest1D``)."""
        ell = np.asarray(contrast, dtype=float)
        if ell.shape != (len(self.params),):
            raise OptionError(f"a contrast needs {len(self.params)} values, one per fixed effect; got shape {ell.shape}")
        cov = self.cov_params.to_numpy()
        estimate, se = float(ell @ self.params.to_numpy()), math.sqrt(float(ell @ cov @ ell))
        df = self.satterthwaite.df(ell, cov)
        t = estimate / se
        return {"estimate": estimate, "std_error": se, "df": df, "t_value": t, "p_value": float(t_sf2(df, np.array([t]))[0])}

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """LmerTest's coefficient table with Satterthwaite df and the interval."""
        ci = self.conf_int(alpha)
        return pd.DataFrame({"Estimate": self.params, "Std. Error": self.bse, "df": self.df_satterthwaite,
                             "t value": self.tvalues, "Pr(>|t|)": self.pvalues,
                             ci.columns[0]: ci.iloc[:, 0], ci.columns[1]: ci.iloc[:, 1]})

    def refit(self, *, reml: bool) -> MixedResult:
        """The same model by REML or ML, started from this fit's θ (lme4's ``refitML``)."""
        if reml == self.reml:
            return self
        return fit_model(self.model, reml, MixedControl(start=tuple(self.theta)))

    def lrt(self, other: MixedResult) -> LikelihoodRatioTest:
        """Likelihood-ratio test against a nested fit, as lme4's ``anova`` (refit with ML)."""
        return likelihood_ratio_test(self, other)

    def profile_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Profile-likelihood intervals for the standard deviations, correlations and σ (ML profile,
        as lme4's ``confint(fit, method = "profile")``, which refits a REML fit by ML).
        """
        from .mixed_profile import profile_intervals  # only intervals need it

        return profile_intervals(self.refit(reml=False), level)

    def to_dict(self, alpha: float = 0.05) -> dict:
        """A JSON-ready summary: coefficients with df, variance components, fit criteria."""
        tab = self.table(alpha)
        rows = [{"term": term, "estimate": _num(r.iloc[0]), "std_error": _num(r.iloc[1]), "df": _num(r.iloc[2]),
                 "t_value": _num(r.iloc[3]), "p_value": _num(r.iloc[4]), "ci_low": _num(r.iloc[5]),
                 "ci_high": _num(r.iloc[6])} for term, r in tab.iterrows()]
        return {
            "method": f"lmer ({self.method})", "formula": self.formula, "nobs": self.nobs, "ngroups": dict(self.ngroups),
            "df_method": "Satterthwaite", "coefficients": rows,
            "variance_components": {k: _num(v) for k, v in self.variance_components.items()},
            "theta": [float(v) for v in self.theta], "sigma": self.scale, "loglik": self.loglik, "aic": self.aic,
            "bic": self.bic, "is_singular": self.is_singular, "converged": self.converged, "weighted": self.weighted,
            "aliased": list(self.aliased), "dropped_rows": self.dropped_rows, "dropped_reasons": dict(self.dropped_reasons),
        }


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


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
    where: str | None = None,
    let: Sequence[str] = (),
    na: str = "drop",
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
    data : path, DataFrame or None (the bundled example).
    weights : prior weights as lme4's ``weights=``: row i has residual variance σ²/wᵢ. Rows of
        weight 0 carry no information and are left out (lme4 cannot take them).
    reml : REML (default) or maximum likelihood.
    method, vcov, cluster : only least squares with the model's own covariance is available with
        random effects; anything else is refused with a pointer to cluster-robust SEs.
    where, let, na : as for ``fit``.
    control : :class:`MixedControl`.

    Examples
    --------
    >>> res = fit_mixed("log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)")
    >>> list(res.variance_components.index)
    ['run_id', 'Residual']
    >>> bool(res.df_satterthwaite.min() > 0)
    True
    """
    refuse_other_estimators(formula, method, vcov, cluster)
    if not isinstance(reml, bool):
        raise OptionError(f"reml must be True or False, got {reml!r}")
    if na not in ("drop", "fail"):
        raise OptionError(f"na must be 'drop' or 'fail', got {na!r}")
    model = build_model(formula, data, weights=weights, where=where, let=let, na=na)
    return fit_model(model, reml, control or MixedControl())


def refuse_other_estimators(formula: str, method: str, vcov: str | None, cluster) -> None:
    """One line for what a mixed model does not offer: robust estimators, sandwich covariances."""
    bars = ", ".join(b.text for b in split_formula(formula).bars) or "random effects"
    if method in ROBUST_METHODS:
        raise OptionError(f"method {method!r} cannot be combined with random effects {bars}; for a robust fit that "
                          "allows for dependent rows drop the random-effect terms and use --vcov CR1 --cluster run_id")
    if method != "ols":
        raise OptionError(f"unknown method {method!r} for a mixed model; random effects {bars} are fitted by lmer (ols)")
    if (vcov not in (None, "classic")) or cluster:
        raise OptionError(f"a mixed model's standard errors come from its variance components {bars}; "
                          "vcov and cluster apply to models without random effects: drop the bar terms to use them")


def with_split_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the schema's ``split_id`` (train_set, n_splits and split joined) when the table lacks it.

    Examples
    --------
    >>> d = pd.DataFrame({"train_set": ["a", "a"], "n_splits": [2, 2], "split": [0, 1]})
    >>> with_split_id(d).split_id.tolist()
    ['a:2:0', 'a:2:1']
    """
    if "split_id" in frame.columns or not all(c in frame.columns for c in SPLIT_ID_COLUMNS):
        return frame
    parts = [frame[c].astype(str) for c in SPLIT_ID_COLUMNS]
    return frame.assign(split_id=parts[0] + ":" + parts[1] + ":" + parts[2])


def build_model(formula: str, data, *, weights=None, where=None, let=(), na="drop") -> MixedModel:
    """Everything θ-free: rows, design, terms, cross-products."""
    split = split_formula(formula)
    if not split.bars:
        raise FormulaError(f"formula {formula!r} has no random-effect term such as (1|run_id); "
                           "fit it with fit(), or add one")
    parsed = parse(split.fixed)
    raw = load(data)
    raw = with_split_id(raw) if "split_id" in group_columns(split.bars) else raw
    variables = tuple(dict.fromkeys(parsed.variables + term_variables(split.bars, split.response)))
    inputs = Inputs(data=raw, weights=weights, where=where, let=tuple(let or ()), na=na)
    mf = model_frame(inputs, variables, extra_columns=list(group_columns(split.bars)))
    design = design_matrices(parsed, mf)
    frame, x, y, w, dropped = _positive_weight_rows(mf.frame, design.x, design.y, mf.weights)
    terms = build_terms(split.bars, frame, mf.namespace, split.response)
    _check_terms(terms, len(y))
    kept = kept_columns(x)
    names = tuple(n for n, k in zip(design.column_names, kept) if k)
    aliased = tuple(n for n, k in zip(design.column_names, kept) if not k)
    if len(y) <= kept.sum():
        raise SingularDesignError(f"{len(y)} rows for {int(kept.sum())} fixed effects leave nothing to estimate "
                                  "variance components from")
    problem = MixedProblem(np.ascontiguousarray(x[:, kept]), y, w, terms)
    return MixedModel(formula=formula, split=split, problem=problem, column_names=names, aliased=aliased,
                      dropped_reasons={**mf.dropped, **dropped}, weighted=w is not None)


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


# ----------------------------------------------------------------------------- fitting


def fit_model(model: MixedModel, reml: bool = True, control: MixedControl | None = None) -> MixedResult:
    """Fit a built model: minimize the criterion over θ, then assemble the result."""
    control = control or MixedControl()
    problem = model.problem
    start = theta_start(problem.terms) if control.start is None else np.asarray(control.start, dtype=float)
    if start.shape != (problem.n_theta,):
        raise OptionError(f"start needs {problem.n_theta} values of theta, got {len(start)}")
    with one_blas_thread():
        opt = minimize_bounded(lambda th: problem.deviance(th, reml), start, problem.lower,
                               max_iter=control.max_iter, xtol=control.xtol)
        return _assemble(model, reml, opt)


def one_blas_thread():
    """The products here are small (c ~ 100 columns): BLAS threads cost more in synchronisation than
    they save, and on a busy machine a 416 × 105 cross-product took 10 to 40 times as long with two.
    """
    from threadpoolctl import threadpool_limits  # a dependency; imported on first fit only

    return threadpool_limits(1, user_api="blas")


def _assemble(model: MixedModel, reml: bool, opt: OptimizeResult) -> MixedResult:
    problem = model.problem
    ev = problem.evaluate(opt.x)
    sol = problem.solve(ev)
    sigma = problem.sigma(ev, reml)
    crit = problem.criterion(ev, reml)
    unscaled = problem.unscaled_cov(opt.x)
    cov = sigma**2 * unscaled
    parts = satterthwaite_parts(problem, opt.x, sigma, reml)
    names = list(model.column_names)
    bse = np.sqrt(np.diag(cov))
    tvals = sol.beta / bse
    dfs = np.array([parts.df(np.eye(len(names))[j], cov) for j in range(len(names))])
    pvals = np.array([float(t_sf2(d, np.array([t]))[0]) for d, t in zip(dfs, tvals)])
    vc = varcorr_frame(problem.terms, opt.x, sigma)
    npar = len(names) + problem.n_theta + 1
    fitted = problem.fitted(sol)
    series = lambda v: pd.Series(v, index=names, dtype=float)  # noqa: E731
    return MixedResult(
        formula=model.formula, fixed_formula=model.split.fixed, random_terms=tuple(b.text for b in model.split.bars),
        reml=reml, params=series(sol.beta), bse=series(bse), tvalues=series(tvals), pvalues=series(pvals),
        df_satterthwaite=series(dfs), cov_params=pd.DataFrame(cov, index=names, columns=names),
        variance_components=pd.Series(vc["vcov"].to_numpy(), index=component_names(problem.terms), dtype=float),
        varcorr=vc, theta=opt.x.copy(), theta_names=theta_names(problem.terms), scale=sigma, loglik=-crit / 2,
        aic=crit + 2 * npar, bic=crit + math.log(problem.n) * npar, criterion=crit, nobs=problem.n,
        ngroups={t.group: t.n_levels for t in problem.terms}, is_singular=_is_singular(opt.x, problem.lower),
        converged=opt.converged, n_iter=opt.n_iter, n_eval=opt.n_eval, resid=problem.y - fitted,
        fittedvalues=fitted, ranef=_ranef(problem.terms, sol.b), weighted=model.weighted, aliased=model.aliased,
        dropped_reasons=model.dropped_reasons, satterthwaite=parts, model=model,
    )


def _is_singular(theta: np.ndarray, lower: np.ndarray) -> bool:
    diag = np.isfinite(lower)
    return bool(np.any(theta[diag] < SINGULAR_TOL))


def _ranef(terms: tuple[RandomTerm, ...], b: list[np.ndarray]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for t, bt in zip(terms, b):
        frame = pd.DataFrame(bt, index=pd.Index(t.levels, name=t.group), columns=list(t.columns))
        out[t.group] = pd.concat([out[t.group], frame], axis=1) if t.group in out else frame
    return out


# ----------------------------------------------------------------------------- likelihood-ratio tests


def likelihood_ratio_test(a: MixedResult, b: MixedResult) -> LikelihoodRatioTest:
    """lme4's ``anova(a, b)``: refit REML fits by ML, order by number of parameters, χ² of twice the
    log-likelihood gain (at least 0) on the difference in parameters.

    The two fits must be to the same rows; nesting is the caller's to ensure, as in R.
    """
    if a.nobs != b.nobs or not np.allclose(a.model.problem.y, b.model.problem.y):
        raise OptionError("a likelihood-ratio test compares fits to the same rows; these differ in their responses or rows")
    refitted = a.reml or b.reml
    small, big = sorted((a.refit(reml=False), b.refit(reml=False)), key=lambda r: r.npar)
    df = big.npar - small.npar
    if df == 0:
        raise OptionError("the two models have the same number of parameters; a likelihood-ratio test needs nested models")
    stat = 2 * max(0.0, big.loglik - small.loglik)
    return LikelihoodRatioTest(statistic=stat, df=df, pvalue=chi2_sf(stat, df), loglik=(small.loglik, big.loglik),
                               npar=(small.npar, big.npar), aic=(small.aic, big.aic), bic=(small.bic, big.bic),
                               refitted=refitted)
