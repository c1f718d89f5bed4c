"""``fit`` and ``breusch_pagan``: the library's front door.

``fit`` checks its options once, then goes data → formula → method → covariance → FitResult:
:func:`~powerlaw_stats.data.frame.model_frame` gives the rows, :mod:`powerlaw_stats.formula` the
design, the registered :class:`~powerlaw_stats.estimation.methods.Method` the numbers, and this
module puts R's names on them. Methods orchestrate; the numbers happen in ``estimation`` and
``inference``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .data.frame import Inputs, ModelFrame, NaPolicy, WeightsLike, model_frame
from .data.pruning import whole_table_on_refusal
from .errors import OptionError
from .estimation.irwls import IrwlsControl
from .estimation.least_squares import Equilibration, equilibration, least_squares
from .estimation.methods import MASS, TIGHT, ArrayFit, Method, Problem, Settings, check_settings, method
from .estimation.mixed_terms import has_random_effects
from .estimation.mm import R_DEFAULT_CONTROL, MMControl
from .formula import DesignMatrices, model_design, parse
from .inference.bootstrap import wild_bootstrap
from .inference.tests import TestResult, bp_statistic, t_tests
from .options import (
    CLUSTER_KINDS,
    BootWeights,
    ColumnsRead,
    ScaleEst,
    VcovKind,
    WeightType,
    check_level,
    check_option,
    check_seed,
    split_names,
)
from .results import FitResult

if TYPE_CHECKING:
    from .mixed import MixedResult


@dataclass(frozen=True, slots=True, kw_only=True)
class FitOptions:
    """Everything ``fit`` was asked for beyond the table, validated once at the boundary."""

    method: Method
    settings: Settings
    cluster: tuple[str, ...] = ()
    level: float = 0.95

    def __post_init__(self) -> None:
        """Refuse a level, covariance or cluster the method cannot combine."""
        check_level(self.level)
        check_settings(self.method, self.settings, self.cluster)


def fit_options(method_name: str = "ols", *, weight_type: WeightType = "inv.var", vcov: str | None = None,
                cluster: str | Sequence[str] | None = None, level: float = 0.95, tuning: float | None = None,
                scale_est: ScaleEst = "MAD", maxit: int | None = None, acc: float | None = None, r_defaults: bool = False,
                seed: int = 1) -> FitOptions:
    """Check ``fit``'s options and type them: the method's record, its settings, the clusters.

    With cluster columns and no (or the classic) ``vcov``, the covariance is CR1.

    Examples
    --------
    >>> opts = fit_options("huber", cluster="run_id")
    >>> opts.settings.vcov, opts.cluster, opts.settings.irwls.maxit
    ('CR1', ('run_id',), 200)
    """
    m = method(method_name)
    clusters = split_names(cluster, "cluster columns")
    # with clusters, "classic" keeps its old meaning here: the standard clustered covariance, CR1
    kind = ("CR1" if clusters else "classic") if vcov in (None, "classic") else vcov
    defaults = MASS if r_defaults else TIGHT
    irwls = IrwlsControl(maxit=defaults.maxit if maxit is None else maxit, acc=defaults.acc if acc is None else acc,
                         scale_est=scale_est)
    settings = Settings(weight_type=weight_type, vcov=kind, tuning=tuning, irwls=irwls,  # type: ignore[arg-type]
                        mm=_mm_control(maxit, acc, r_defaults), seed=check_seed(seed))
    return FitOptions(method=m, settings=settings, cluster=clusters, level=level)


def fit(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    method: str = "ols",
    weights: WeightsLike = None,
    weight_type: WeightType = "inv.var",
    *,
    vcov: VcovKind | str | None = None,
    cluster: str | Sequence[str] | None = None,
    level: float = 0.95,
    tuning: float | None = None,
    scale_est: ScaleEst = "MAD",
    maxit: int | None = None,
    acc: float | None = None,
    r_defaults: bool = False,
    na: NaPolicy = "drop",
    where: str | None = None,
    let: Sequence[str] = (),
    seed: int = 1,
    bootstrap: int = 0,
    bootstrap_weights: BootWeights = "rademacher",
    reml: bool = True,
    columns: ColumnsRead = "all",
) -> FitResult | MixedResult:
    """Fit a linear model: R's ``lm``, ``MASS::rlm``, robustbase ``lmrob``, or with random effects ``lme4::lmer``.

    Least squares, M-estimation or MM; with a random-effect term such as ``(1|run_id)``, a linear
    mixed model.

    A formula with lme4's bars goes to :func:`powerlaw_stats.mixed.fit_mixed` (REML, or ML with
    ``reml=False``; ``vcov="CR2"`` with a nesting ``cluster`` for cluster-robust SEs) and returns a
    :class:`~powerlaw_stats.mixed.MixedResult`; robust methods, HC/CR1/CR3 covariances and the
    bootstrap are refused there in one line. Every other formula is :func:`fit_fixed`'s.

    Parameters
    ----------
    formula : str
        A patsy formula with R's meaning, e.g. ``"log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"``,
        optionally with random-effect terms ``+ (1|run_id) + (1|split_id)``.
    data, method, weights, weight_type, vcov, cluster, level, tuning, scale_est, maxit, acc, r_defaults, na, where, let,
    seed, bootstrap, bootstrap_weights, columns
        As for :func:`fit_fixed` (a mixed model reads every column).
    reml : bool
        REML (default) or maximum likelihood for a mixed model; ignored without random effects.

    Returns
    -------
    FitResult or MixedResult
        Estimates, standard errors, tests and intervals with statsmodels' names.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> res = ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", method="huber", weights="w")
    >>> round(float(res.params["I(log2(TS) - IXMin)"]), 2) < 0
    True
    >>> ps.fit("log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)").method
    'lmm'
    """
    if has_random_effects(formula):
        from .mixed import fit_mixed  # only a mixed model needs it

        if bootstrap:
            raise OptionError("the wild bootstrap is for models without random effects; a mixed model's intervals come "
                              "from its variance components (or vcov='CR2')")
        if weight_type != "inv.var":
            raise OptionError("a mixed model's prior weights are inverse variances (lme4's weights); drop --weight-type case")
        return fit_mixed(formula, data, weights=weights, reml=reml, method=method, vcov=vcov, cluster=cluster,
                         level=level, where=where, let=let, na=na)
    return fit_fixed(formula, data, method, weights, weight_type, vcov=vcov, cluster=cluster, level=level, tuning=tuning,
                     scale_est=scale_est, maxit=maxit, acc=acc, r_defaults=r_defaults, na=na, where=where, let=let,
                     seed=seed, bootstrap=bootstrap, bootstrap_weights=bootstrap_weights, columns=columns)


def fit_fixed(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    method: str = "ols",
    weights: WeightsLike = None,
    weight_type: WeightType = "inv.var",
    *,
    vcov: VcovKind | str | None = None,
    cluster: str | Sequence[str] | None = None,
    level: float = 0.95,
    tuning: float | None = None,
    scale_est: ScaleEst = "MAD",
    maxit: int | None = None,
    acc: float | None = None,
    r_defaults: bool = False,
    na: NaPolicy = "drop",
    where: str | None = None,
    let: Sequence[str] = (),
    seed: int = 1,
    bootstrap: int = 0,
    bootstrap_weights: BootWeights = "rademacher",
    columns: ColumnsRead = "all",
) -> FitResult:
    """Fit a linear model without random effects: least squares (R ``lm``), ``MASS::rlm`` or robustbase ``lmrob``.

    What :func:`fit` runs for a formula without a random-effect term; callers that never take one
    (the report's fits, ``bptest``, plots) call it directly.

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
    vcov : {"classic", "HC0", "HC1", "HC3", "CR1", "CR3"}, optional
        The covariance: "classic" is R's for the method; HC3 is for least squares only; with
        ``cluster`` it defaults to "CR1".
    cluster : str or sequence of str, optional
        One or two cluster columns (two: Cameron–Gelbach–Miller two-way clustering).
    level : float
        Confidence level of the intervals.
    tuning, scale_est, maxit, acc, r_defaults
        IRWLS settings; ``r_defaults`` gives MASS's maxit 20 and acc 1e-4 instead of the tight
        200 and 1e-10 (and robustbase's 50 and 1e-7 for MM).
    na : {"drop", "fail"}
        "drop" omits rows with NA in a used column (R's na.omit) and counts them; "fail" refuses.
    where, let
        A pandas query filtering rows; ``NAME=EXPR`` definitions.
    seed : int
        Seeds the S-estimate's subsampling (method "mm") and the bootstrap draws.
    bootstrap, bootstrap_weights
        Number of wild-bootstrap replications (0: none) and their weights, "rademacher" or
        "webb"; the result's ``bootstrap`` holds the intervals and p-values.
    columns : {"all", "used"}
        With ``data`` a file: "used" reads only the columns the model reads (the numbers are the
        same; the result's ``data`` then holds only those and the names derived from them).

    Returns
    -------
    FitResult
        Estimates, standard errors, tests and intervals with statsmodels' names.

    Examples
    --------
    >>> res = fit_fixed("log_err ~ I(log2(TS)-IXMin)*mix", method="huber", weights="w")
    >>> round(float(res.params["I(log2(TS) - IXMin)"]), 2) < 0
    True
    """
    opts = fit_options(method, weight_type=weight_type, vcov=vcov, cluster=cluster, level=level, tuning=tuning,
                       scale_est=scale_est, maxit=maxit, acc=acc, r_defaults=r_defaults, seed=seed)
    check_option(bootstrap_weights, BootWeights, "bootstrap weights")
    inputs = Inputs(data=data, weights=weights, weight_type=weight_type, where=where, let=tuple(let), na=na,
                    columns=columns)
    result = _fitted(formula, inputs, opts, {opts.settings.vcov: opts})[opts.settings.vcov]
    if not bootstrap:
        return result
    boot = wild_bootstrap(result, int(bootstrap), bootstrap_weights, seed=opts.settings.seed)
    return dataclasses.replace(result, bootstrap=boot)


def fit_covariances(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    method: str = "ols",
    weights: WeightsLike = None,
    weight_type: WeightType = "inv.var",
    *,
    kinds: Sequence[VcovKind | str],
    cluster: str | Sequence[str] | None = None,
    level: float = 0.95,
    seed: int = 1,
) -> dict[str, FitResult]:
    """One estimate with several covariances: ``{kind: FitResult}``, each as :func:`fit_fixed` gives it.

    For a table of classic standard errors beside clustered ones without fitting the model once
    for each (statsmodels refits too; an MM fit's S-estimate is most of its time). A clustered
    kind (CR1, CR3) is computed by ``cluster``, the others without it; every kind on the same
    rows: with ``cluster``, those where the cluster columns are present.

    Parameters
    ----------
    formula, data, method, weights, weight_type, level, seed
        As for :func:`fit_fixed` (MASS's and robustbase's iteration settings at our defaults).
    kinds : sequence of {"classic", "HC0", "HC1", "HC3", "CR1", "CR3"}
        The covariances, each checked against the method as ``fit_fixed``'s ``vcov`` is.
    cluster : str or sequence of str, optional
        One or two cluster columns, for the clustered kinds.

    Returns
    -------
    dict
        The results by kind, in the order of ``kinds``: the same estimate, each kind's SEs,
        tests and intervals, equal to ``fit_fixed(..., vcov=kind)``'s to the bit.

    Examples
    --------
    >>> both = fit_covariances("log_err ~ I(log2(TS)-IXMin)*mix", method="huber", weights="w",
    ...                        kinds=("classic", "CR1"), cluster="run_id")
    >>> alone = fit_fixed("log_err ~ I(log2(TS)-IXMin)*mix", method="huber", weights="w")
    >>> both["classic"].bse.equals(alone.bse), both["CR1"].cluster
    (True, ('run_id',))
    >>> (both["CR1"].bse / both["classic"].bse).round(2).tolist()  # the rows of a run are not independent
    [0.22, 0.58, 0.29, 0.59]
    """
    wanted = tuple(dict.fromkeys(str(k) for k in kinds))
    if not wanted:
        raise OptionError("kinds: name at least one covariance, e.g. kinds=('classic', 'CR1')")
    clustered = {k: k in CLUSTER_KINDS for k in wanted}
    if split_names(cluster, "cluster columns") and not any(clustered.values()):
        raise OptionError(f"cluster columns need a cluster-robust kind among kinds ({', '.join(CLUSTER_KINDS)}), "
                          f"got {', '.join(wanted)}; add CR1 or drop cluster")
    each = {k: fit_options(method, weight_type=weight_type, vcov=k, cluster=cluster if clustered[k] else None,
                           level=level, seed=seed) for k in wanted}
    inputs = Inputs(data=data, weights=weights, weight_type=weight_type)
    return _fitted(formula, inputs, each[next((k for k in wanted if clustered[k]), wanted[0])], each)


def _fitted(formula: str, inputs: Inputs, opts: FitOptions, each: dict[str, FitOptions]) -> dict[str, FitResult]:
    """Fit once with ``opts`` (its rows, its clusters), then name the estimate with each kind's covariance."""
    parsed = parse(formula)
    design, mf = whole_table_on_refusal(
        inputs, lambda i: model_design(parsed, model_frame(i, parsed.variables, extra_columns=opts.cluster)))
    scaling = equilibration(design.x, design.y, mf.weights, inputs.weight_type)
    main = opts.settings.vcov
    also = dataclasses.replace(opts.settings, also_vcov=tuple(o.settings.vcov for o in each.values()))
    fitted = opts.method.fit(problem_of(design, mf, dataclasses.replace(opts, settings=also), scaling))
    covs = {main: fitted.cov, **fitted.more_cov}
    return {k: named_result(formula, o, mf, design, dataclasses.replace(fitted, cov=covs[o.settings.vcov], more_cov={}),
                            scaling) for k, o in each.items()}


def _mm_control(maxit: int | None, acc: float | None, r_defaults: bool) -> MMControl:
    # robustbase's lmrob (max.it 50, rel.tol and refine.tol 1e-7, its stopping rules); ours iterate to a tight optimum
    default = R_DEFAULT_CONTROL if r_defaults else MMControl()
    return dataclasses.replace(default, maxit=default.maxit if maxit is None else int(maxit),
                               acc=default.acc if acc is None else float(acc))


def problem_of(design: DesignMatrices, mf: ModelFrame, opts: FitOptions, scaling: Equilibration | None = None) -> Problem:
    """The arrays a method fits: design, response, prior weights, cluster columns and settings.

    With ``scaling`` (data near the ends of the double range) the columns, the response and the
    inverse-variance weights are scaled by powers of two first; :func:`named_result` undoes it.
    """
    x, y, w = (design.x, design.y, mf.weights) if scaling is None else scaling.apply(design.x, design.y, mf.weights)
    return Problem(x=x, y=y, prior_weights=w, column_names=design.column_names,
                   intercept=design.intercept, settings=opts.settings,
                   clusters={name: mf.frame[name].to_numpy() for name in opts.cluster})


def named_result(formula: str, opts: FitOptions, mf: ModelFrame, design: DesignMatrices, fit: ArrayFit,
                 scaling: Equilibration | None = None) -> FitResult:
    """Put R's term names on a method's numbers, with the t tests and intervals at ``opts.level``.

    ``resid``, ``fittedvalues`` and ``weights`` become Series on the data's index (the rows used).
    """
    names = list(design.column_names)
    kept = fit.kept
    bse = np.full(len(names), np.nan)
    bse[kept] = np.sqrt(np.diag(fit.cov))
    tt = t_tests(fit.coef, bse, fit.df, opts.level)  # t and p are scale-free: taken before undoing any scaling
    full_cov = np.full((len(names), len(names)), np.nan)
    full_cov[np.ix_(kept, kept)] = fit.cov
    sc = scaling or Equilibration.none(len(names))
    coef, bse, full_cov = sc.coef(fit.coef), sc.coef(bse), sc.cov(full_cov)
    fitted = sc.fitted(fit.fitted)
    prior = mf.weights if opts.method.name == "ols" and mf.weights is not None else None
    rows = mf.index

    def series(v: np.ndarray) -> pd.Series:
        return pd.Series(v, index=names, dtype=float)

    def on_rows(v: np.ndarray) -> pd.Series:
        arr = np.asarray(v, dtype=float).copy()
        arr.flags.writeable = False
        return pd.Series(arr, index=rows, dtype=float, copy=False)

    return FitResult(
        method=opts.method.name, formula=formula, params=series(coef), bse=series(bse), tvalues=series(tt.tvalues),
        pvalues=series(tt.pvalues), cov_params=pd.DataFrame(full_cov, index=names, columns=names),
        resid=on_rows(design.y - fitted), fittedvalues=on_rows(fitted),
        weights=on_rows(fit.weights if prior is None else prior),
        nobs=fit.nobs, df_resid=float(fit.df), scale=sc.scale(fit.scale), converged=fit.converged, n_iter=fit.n_iter,
        level=opts.level, settings=opts.settings, cluster=opts.cluster, tuning=fit.tuning,
        aliased=tuple(n for n, k in zip(names, kept) if not k), ls_summary=fit.ls_summary,
        s_estimate=None if fit.s_coef is None else sc.coef(fit.s_coef),
        model=mf, design=design,
    )


# ----------------------------------------------------------------------------- Breusch–Pagan


def breusch_pagan(result: FitResult, studentize: bool = True, whitened: bool | None = None) -> TestResult:
    """Breusch–Pagan test of the least-squares residuals of ``result``'s model.

    ``whitened=None`` tests the whitened residuals √w·e for a weighted fit (the right question
    when weights model the variance) and R's form otherwise; ``whitened=False`` reproduces
    ``lmtest::bptest`` exactly. For a robust fit the test uses the least-squares fit of the same
    model and weights, as one would run it in R.

    Parameters
    ----------
    result : FitResult
        The fit whose model (design and prior weights) is tested.
    studentize : bool
        Koenker's studentized statistic (lmtest's default) or the classic one.
    whitened : bool, optional
        Test √w·e (True), the raw residuals as lmtest does (False), or choose by the weights (None).

    Returns
    -------
    TestResult
        The statistic, its χ² degrees of freedom, the p-value and the variant that ran.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> bp = ps.breusch_pagan(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", weights="w"))
    >>> bp.df
    3.0
    """
    design = result.design
    w0 = np.ones(len(design.y)) if result.prior_weights is None else np.asarray(result.prior_weights)
    whitened = result.is_weighted if whitened is None else whitened
    root = np.sqrt(w0)
    ls = least_squares(design.x * root[:, None], design.y * root)
    resid = design.y - design.x[:, ls.kept] @ ls.coef[ls.kept]
    return bp_statistic(design.x, resid, w0, studentize, whitened)
