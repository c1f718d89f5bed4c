"""``fit_law``: a law with factor effects on its parameters, fitted like ``fit`` fits a formula.

Methods orchestrate: the table becomes arrays in :mod:`.design`, the numbers happen in
:mod:`.problem` and :mod:`.solver`, identification and the floor test in :mod:`.identification`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ..data.frame import Inputs
from ..errors import ConvergenceWarning, OptionError
from ..estimation.norms import make_norm
from ..inference.covariance import make_clusters
from ..inference.tests import t_tests
from ..options import CLUSTER_KINDS, NaPolicy, check_level, split_names
from .design import LawDesign, build_design, formula_variables, law_model_frame, parse_params
from .identification import fit_nested, floor_test, identification, profile_terms
from .problem import Estimate, LawProblem, at_bound, covariance, estimate, loglik
from .registry import Law, get_law
from .result import LawFit
from .solver import Constraints, NlsControl

LawMethod = Literal["ols", "huber", "bisquare"]
LAW_METHODS: tuple[str, ...] = ("ols", "huber", "bisquare")
VCOV_FOR: dict[str, tuple[str, ...]] = {
    "ols": ("classic", "HC0", "HC1", "HC3", "CR1", "CR3"),
    "huber": ("classic", "HC0", "HC1", "CR1", "CR3"),
    "bisquare": ("classic", "HC0", "HC1", "CR1", "CR3"),
}
CLASSIC_LABEL = {"ols": "classic (nls/gnls)", "huber": "rlm (MASS, XtX) on the Jacobian",
                 "bisquare": "rlm (MASS, XtX) on the Jacobian"}


@dataclass(frozen=True)
class LawOptions:
    """Everything ``fit_law`` was asked for, validated once at the boundary."""

    method: str
    vcov: str
    cluster: tuple[str, ...]
    level: float
    tuning: float | None
    fixed_scale: float | None
    bounds: bool
    control: NlsControl
    seed: int

    def __post_init__(self) -> None:
        """Check the method, level, covariance and cluster together."""
        if self.method not in LAW_METHODS:
            raise OptionError(f"unknown method {self.method!r} for a law; choose one of {', '.join(LAW_METHODS)}")
        check_level(self.level)
        allowed = VCOV_FOR[self.method]
        if self.vcov not in allowed:
            raise OptionError(f"vcov {self.vcov!r} is not available for method {self.method!r}; choose one of "
                              f"{', '.join(allowed)}")
        if self.vcov in CLUSTER_KINDS and not self.cluster:
            raise OptionError(f"vcov {self.vcov!r} is cluster-robust: name the cluster column(s), e.g. cluster='run_id'")
        if self.cluster and self.vcov not in CLUSTER_KINDS:
            raise OptionError(f"cluster needs vcov CR1 or CR3, not {self.vcov!r}")
        if self.fixed_scale is not None and not (self.fixed_scale > 0):
            raise OptionError(f"fixed_scale must be positive, got {self.fixed_scale!r}")


def fit_law(
    data: str | Path | pd.DataFrame | None = None,
    law: str | Law = "saturating",
    params: Mapping[str, str] | Sequence[str] | None = None,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
    method: LawMethod | None = None,
    vcov: str | None = None,
    cluster: str | Sequence[str] | None = None,
    level: float = 0.95,
    tuning: float | None = None,
    scale_est: str = "MAD",
    fixed_scale: float | None = None,
    bounds: bool = True,
    start: Mapping[str, float] | Sequence[float] | np.ndarray | None = None,
    response: str | None = None,
    inputs: Mapping[str, str] | None = None,
    where: str | None = None,
    let: Sequence[str] = (),
    na: NaPolicy = "drop",
    profile: bool | Sequence[str] = True,
    compare: bool = True,
    inflation_limit: float = 4.0,
    maxit: int = 500,
    tol: float = 1e-10,
    seed: int = 1,
) -> LawFit:
    """Fit a law with each parameter linear in its own one-sided formula.

    ``"saturating"`` is ``log2 err = log2(E + 2^(a + b·x))``; it is fitted by weighted nonlinear
    least squares or Huber/bisquare IRWLS.

    Parameters
    ----------
    data : path, DataFrame or None (the bundled example).
    law : a name in :data:`powerlaw_stats.laws.LAWS` or a :class:`Law`.
    params : each parameter's formula, ``{"E": "~ EvalSet", "b": "~ mix + TrainSet*EvalSet"}`` or
        ``["E ~ EvalSet", ...]``; parameters not given take the law's default (``~ 1``); ``"0"``
        fixes a parameter at zero (``E: "0"`` is the log-linear model).
    weights : prior (inverse-variance) weights, a column or expression such as ``"w"``.
    method : "ols" (nls/gnls), "huber" or "bisquare" (MASS rlm's IRWLS with the Jacobian for X);
        the law's default when None.
    vcov : "classic" (nls's; rlm's for robust fits), "HC0", "HC1", "HC3" (least squares), or
        cluster-robust "CR1"/"CR3" with ``cluster`` (then "CR1" by default).
    level : confidence level of the Wald and profile intervals.
    tuning, scale_est, fixed_scale : psi tuning constant (MASS's by default), "MAD" or "proposal2"
        scale, or a fixed scale (a Huber loss of threshold ``tuning·fixed_scale``).
    bounds : impose the law's bounds (E ≥ 0 in every cell of E's formula); False fits without
        them, as ``nls`` and ``gnls`` do.
    start : starting coefficients (by name or in order); by default the law's starts (the
        log-linear fit and a profile over the floor) are ranked and the best refined.
    response, inputs : override the law's response expression and input expressions
        (``inputs={"x": "log2(TS) - IXMin"}``).
    where, let, na : as in :func:`powerlaw_stats.fit`.
    profile : profile-likelihood intervals (least squares only) for every slope and floor term and
        every floor cell (True), none (False), or the listed terms (coefficients, floor cells such
        as ``"E[EvalSet=cinic10]"``, or ``"E[*]"`` for every floor cell).
    compare : fit the nested law too (E = 0) for the floor test, AIC and the held-out check.
    inflation_limit : a slope SE more than this many times its SE without a floor counts as
        confounded with the floor.
    maxit, tol : solver iteration limit and relative-offset tolerance (R's nls stops at 1e-5).
    seed : reserved for the bootstrap (:func:`powerlaw_stats.laws.law_bootstrap`) and the
        chi-bar-square weights' Monte Carlo.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> from powerlaw_stats.laws import fit_law
    >>> res = fit_law(law="saturating", params={"E": "~ 1", "b": "~ mix"}, weights="w", profile=False)
    >>> res.params.index[:3].tolist()
    ['E', 'a', 'b.(Intercept)']
    """
    law = get_law(law)
    rhs = parse_params(law, params)
    clusters = split_names(cluster, "cluster columns")
    chosen = law.method if method is None else str(method)
    opts = LawOptions(
        method=chosen, vcov=("CR1" if clusters else "classic") if vcov in (None, "classic") else vcov,
        cluster=clusters, level=level, tuning=law.tuning if tuning is None and chosen == law.method else tuning,
        fixed_scale=law.fixed_scale if fixed_scale is None and chosen == law.method else fixed_scale,
        bounds=bool(bounds), control=NlsControl(maxit=maxit, tol=tol, scale_est=scale_est), seed=int(seed))
    prepared = prepare(data, law, rhs, weights=weights, bounds=opts.bounds, response=response, inputs=inputs,
                       where=where, let=let, na=na, extra_columns=clusters)
    problem, design, mf, prior, rows, input_exprs = prepared
    norm = None if opts.method == "ols" else make_norm(opts.method, opts.tuning)
    est = estimate(problem, norm, start=_start_vector(start, design), fixed_scale=opts.fixed_scale,
                   control=opts.control)
    if not est.converged:
        warnings.warn(f"the {law.name} law did not converge ({est.message}); the estimates are the last iterate",
                      ConvergenceWarning, stacklevel=2)
    cl = make_clusters({c: mf.frame[c].to_numpy()[rows] for c in clusters}) if clusters else None
    cov, df = covariance(problem, est, norm, opts.vcov, cl)
    return _assemble(law, rhs, design, problem, est, cov, df, mf, prior, rows, opts, norm,
                     profile=profile, compare=compare, inflation_limit=inflation_limit,
                     size_of_input=_size_of_input(law, input_exprs, mf.namespace))


def _size_of_input(law: Law, input_exprs: Mapping[str, str], namespace: Mapping):
    # x = log2(TS) - IXMin turns back into a training size; any other input expression does not
    if law.size_input != "x" or "".join(input_exprs["x"].split()) != "log2(TS)-IXMin" or "IXMin" not in namespace:
        return None
    ixmin = float(namespace["IXMin"])
    return lambda x: float(2.0 ** (x + ixmin))


def prepare(data, law: Law, rhs: Mapping[str, str], *, weights=None, bounds: bool = True, response: str | None = None,
            inputs: Mapping[str, str] | None = None, where=None, let=(), na="drop", extra_columns=()):
    """Table → the law's problem on the rows with positive weight (and what fit_law keeps around)."""
    response = law.response if response is None else response
    input_exprs = {**law.inputs, **(inputs or {})}
    if set(input_exprs) != set(law.inputs):
        raise OptionError(f"law {law.name!r} reads inputs {', '.join(law.inputs)}; got {', '.join(input_exprs)}")
    inputs_ = Inputs(data=data, weights=weights, where=where, let=tuple(let or ()), na=na)
    mf = law_model_frame(inputs_, formula_variables(law, rhs, response, input_exprs), extra_columns)
    design = build_design(law, rhs, mf, response, input_exprs)
    prior = np.ones(len(design.y)) if mf.weights is None else mf.weights
    rows = prior > 0
    if law.fit_rows is not None:  # a law fitted to some rows only (last1: those at the largest size)
        rows &= np.asarray(law.fit_rows(design.inputs), dtype=bool)
    g, h, labels = design.constraints(bounds)
    problem = LawProblem(design.subset(np.flatnonzero(rows)), prior[rows], Constraints(g, h, labels))
    return problem, design, mf, prior, rows, input_exprs


def _start_vector(start, design: LawDesign) -> np.ndarray | None:
    if start is None:
        return None
    names = design.names
    if isinstance(start, Mapping):
        unknown = set(start) - set(names)
        missing = set(names) - set(start)
        if unknown or missing:
            raise OptionError(f"start must name every coefficient ({', '.join(names)}); "
                              f"unknown: {sorted(unknown)}, missing: {sorted(missing)}")
        return np.array([float(start[n]) for n in names])
    arr = np.asarray(start, dtype=float).ravel()
    if len(arr) != len(names):
        raise OptionError(f"start has {len(arr)} values for {len(names)} coefficients ({', '.join(names)})")
    return arr


def _assemble(law, rhs, design, problem, est: Estimate, cov, df, mf, prior, rows, opts: LawOptions, norm, *,
              profile, compare, inflation_limit, size_of_input) -> LawFit:
    names = list(design.names)
    var = np.diag(cov).copy()
    pinned = var <= 1e-24 * max(1.0, float(np.max(np.abs(var), initial=0.0)))  # fixed by an active bound
    bse = np.where(pinned, np.nan, np.sqrt(np.maximum(var, 0.0)))
    tt = t_tests(est.theta, bse, df, opts.level)
    fitted_all = law.mean(design.values(est.theta), design.inputs)
    series = lambda v: pd.Series(np.asarray(v, dtype=float), index=names)  # noqa: E731
    weights = prior.copy() if est.omega is None else _spread(est.omega, rows)
    ll = loglik(problem, est.rss) if norm is None else np.nan
    k = len(names) + 1
    active_labels = tuple(lab for lab, a in zip(problem.cons.labels, at_bound(problem, est)) if a)
    scale = float(np.sqrt(est.rss / df)) if norm is None or est.scale is None else float(est.scale)
    prof = profile_terms(problem, est, norm, opts, profile, scale, df)
    floors = _floors(law, design, problem, est, cov, prof)
    nested = fit_nested(problem, norm, opts) if compare else None
    ident = identification(problem, est, cov, norm, opts, prof, nested, inflation_limit, size_of_input)
    ftest = floor_test(problem, est, norm, opts, nested)
    return LawFit(
        law=law.name, formulas=dict(rhs), response=design.response, inputs=dict(design.input_exprs),
        method=opts.method, params=series(est.theta), bse=series(bse), tvalues=series(tt.tvalues),
        pvalues=series(tt.pvalues), cov_params=pd.DataFrame(cov, index=names, columns=names),
        resid=design.y - fitted_all, fittedvalues=fitted_all, nobs=int(problem.n), df_resid=float(df), scale=scale,
        rss=float(est.rss), weights=weights, prior_weights=mf.weights, vcov=_vcov_label(opts), vcov_kind=opts.vcov,
        cluster=opts.cluster, level=opts.level, converged=bool(est.converged), n_iter=int(est.n_iter),
        message=est.message, tuning=None if norm is None else (norm.k if hasattr(norm, "k") else norm.c),
        bounds=opts.bounds, bound_active=active_labels, floors=floors, loglik=float(ll),
        aic=float(-2 * ll + 2 * k), bic=float(-2 * ll + np.log(problem.n) * k), profile=prof,
        identification=ident, floor_test=ftest, dropped_rows=mf.dropped_rows, dropped_reasons=dict(mf.dropped),
        seed=opts.seed, control={"maxit": opts.control.maxit, "tol": opts.control.tol,
                                 "scale_est": opts.control.scale_est, "fixed_scale": opts.fixed_scale},
        designs={p.param: p for p in design.params}, problem=problem, data=mf.frame, namespace=dict(mf.namespace),
    )


def _spread(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.zeros(len(rows))
    out[rows] = values
    return out


def _vcov_label(opts: LawOptions) -> str:
    if opts.cluster:
        return f"{opts.vcov} by {', '.join(opts.cluster)}"
    return CLASSIC_LABEL[opts.method] if opts.vcov == "classic" else opts.vcov


def _floors(law: Law, design: LawDesign, problem: LawProblem, est: Estimate, cov, prof) -> pd.DataFrame | None:
    if law.floor is None or design.param(law.floor).fixed_at_zero:
        return None
    p = design.param(law.floor)
    sl = design.slices[law.floor]
    rows = []
    for cell, label in zip(p.cells, p.cell_labels):
        g = np.zeros(design.n_coef)
        g[sl] = cell
        value = float(g @ est.theta)
        var = float(g @ cov @ g)
        key = f"{law.floor}[{label}]"
        bounded = key in {lab for lab, a in zip(problem.cons.labels, at_bound(problem, est)) if a}
        if bounded:  # on the bound to rounding; report the bound itself, without an SE
            value, var = float(law.lower[law.floor]), 0.0
        row = {"cell": key, "estimate": value, "std_error": np.sqrt(var) if var > 1e-24 else np.nan, "at_bound": bounded}
        if prof is not None and key in prof.index:
            row["profile_lower"], row["profile_upper"] = prof.loc[key, "lower"], prof.loc[key, "upper"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("cell")
