"""The effect builder: one factor's effect on the power law, estimated jointly over experiment groups.

The seed study's multiple regression gives every experiment group (training set × evaluation set,
say) its own power-law intercept and slope while all groups share the parameters of interest: the
factor's change to the intercept and to the slope. ``effect`` writes that formula from column
names, fits it with :func:`powerlaw_stats.fit` and picks out the factor's coefficients. With
``shared_slope`` every group keeps its own intercept but all share one slope, and the factor moves
the intercept only (the seed's proposal for changes not expected to alter the slope).

Group columns become the schema's factors where it has them (``train_set`` → ``TrainSet``,
``eval_set`` → ``EvalSet``, ``mixup`` → ``mix``); other numeric columns enter as ``C(column)``.
``TrainSet*EvalSet`` spans the same columns as the seed's ``CinicTr*CinicEv`` on two sets each, so
the factor's estimates are the seed's to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..data.frame import Inputs, NaPolicy, WeightsLike, load, missing_column_message, model_frame
from ..data.schema import SCHEMA_FACTORS
from ..errors import DataError, OptionError, PowerlawStatsError
from ..estimation.mixed_terms import component_names, varcorr_rows
from ..fitting import fit
from ..formats import html_table, json_float, short_repr
from ..formula import same_term
from ..inference.distributions import chi2_sf
from ..options import DependenceMode, VcovKind, WeightType, check_option, split_names
from ..results import Coefficient, FitResult

if TYPE_CHECKING:
    from ..mixed import MixedResult

# size column -> its log2 centred at the smallest size, in the seed's spelling
SIZE_TERMS: dict[str, str] = {"TS": "I(log2(TS)-IXMin)", "train_size": "I(log2(TS)-IXMin)",
                              "param": "I(log2(param)-IPMin)", "params": "I(log2(param)-IPMin)"}
DEFAULT_GROUPS: tuple[str, ...] = ("train_set", "eval_set")
RUN_BARS = " + (1|run_id)"
SPLIT_BAR = " + (1|split_id)"
# dependence="auto": the split variance decides between the mixed model and CR1 by run, by a REML
# likelihood-ratio test at this level (docs/inference.md#when-rows-depend has the null studies)
AUTO_ALPHA = 0.05


@dataclass(frozen=True, kw_only=True)
class EffectEstimate(Coefficient):
    """The factor's change to the intercept or the slope at one of its levels (vs the reference level).

    A row of the fit's coefficient table, with what it means: ``kind`` ("intercept" or "slope")
    and the factor's ``level``.
    """

    kind: str
    level: str

    def to_dict(self) -> dict:
        """The estimate as ``effect --format json`` lists it (non-finite numbers as null)."""
        row = {k: (json_float(v) if isinstance(v, float) else v) for k, v in super().to_dict().items()}
        return {"kind": self.kind, "level": self.level, **row}


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectResult:
    """What ``effect`` built and found.

    ``formula`` is the model written (reusable with ``fit``); ``intercept`` and ``slope`` hold one
    :class:`EffectEstimate` per non-reference level of the factor (``slope`` is empty with
    ``shared_slope``); ``groups`` are the group columns used and ``dropped_groups`` those left out
    because they take a single value in the rows used; ``fit`` is the full fit (a
    :class:`~powerlaw_stats.mixed.MixedResult` when ``random`` grouping factors were given).
    """

    formula: str
    factor: str
    factor_term: str
    size_term: str
    groups: tuple[str, ...]
    group_terms: tuple[str, ...]
    dropped_groups: tuple[str, ...]
    n_groups: int
    shared_slope: bool
    intercept: tuple[EffectEstimate, ...]
    slope: tuple[EffectEstimate, ...]
    fit: FitResult | MixedResult
    inference: str = ""  # with dependence="auto": which test was chosen, and why, in numbers

    @property
    def estimates(self) -> tuple[EffectEstimate, ...]:
        """The intercept changes, then the slope changes."""
        return self.intercept + self.slope

    def __repr__(self) -> str:
        """One line: the factor, the groups and the changes; never the fit's arrays."""
        changes = {f"{e.kind}[{e.level}]": e.estimate for e in self.estimates}
        return short_repr("EffectResult", factor=self.factor, formula=self.formula, n_groups=self.n_groups,
                          nobs=self.fit.nobs, changes=changes)

    def table(self) -> pd.DataFrame:
        """One row per change (intercept, then slope): the fit's coefficient row with its meaning."""
        rows = [{"change": e.kind, "level": e.level, **e.to_dict()} for e in self.estimates]
        frame = pd.DataFrame(rows, columns=["term", "change", "level", "estimate", "std_error", "t_value", "p_value",
                                            "ci_low", "ci_high"])
        return frame.set_index("term")

    def _repr_html_(self) -> str:
        """The changes as a table, with the model written."""
        return html_table(self.table(), f"Effect of {self.factor}: {self.formula}",
                          [f"{self.fit.nobs} rows, {self.n_groups} groups, {self.fit.method}, vcov {self.fit.vcov}"])

    def to_dict(self) -> dict:
        """The JSON of ``powerlaw-stats effect --format json``."""
        return {
            "formula": self.formula, "factor": self.factor, "factor_term": self.factor_term, "size_term": self.size_term,
            "groups": list(self.groups), "group_terms": list(self.group_terms), "dropped_groups": list(self.dropped_groups),
            "n_groups": self.n_groups, "shared_slope": self.shared_slope, "method": self.fit.method,
            "nobs": self.fit.nobs, "df_resid": json_float(getattr(self.fit, "df_resid", float("nan"))),
            "level": self.fit.level, "vcov": self.fit.vcov,
            "inference": self.inference, "effects": [e.to_dict() for e in self.estimates], "fit": self.fit.to_dict(),
        }


# ----------------------------------------------------------------------------- formula


def factor_term(column: str, frame: pd.DataFrame) -> str:
    """The formula term of a column used as a factor: the schema's factor, the column, or ``C(column)``.

    Examples
    --------
    >>> from powerlaw_stats.data.frame import with_schema_names
    >>> d, _ = with_schema_names(pd.DataFrame({"mixup": [0, 1], "width": [16, 32], "arch": ["a", "b"]}))
    >>> [factor_term(c, d) for c in ("mixup", "width", "arch")]
    ['mix', 'C(width)', 'arch']
    """
    if column in SCHEMA_FACTORS and SCHEMA_FACTORS[column] in frame.columns:
        return SCHEMA_FACTORS[column]
    if column not in frame.columns:
        raise DataError(missing_column_message(column, frame.columns))
    col = frame[column]
    is_factor = isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == bool or not pd.api.types.is_numeric_dtype(col)
    return column if is_factor else f"C({column})"


def size_term(size: str, frame: pd.DataFrame) -> str:
    """log2 of the size column, centred so the intercept is the response at the smallest size.

    Examples
    --------
    >>> size_term("TS", pd.DataFrame({"TS": [100, 400]})), size_term("n", pd.DataFrame({"n": [100, 400]}))
    ('I(log2(TS)-IXMin)', 'I(log2(n)-log2(100))')
    """
    if size in SIZE_TERMS:
        return SIZE_TERMS[size]
    if size not in frame.columns:
        raise DataError(f"--size: {missing_column_message(size, frame.columns)}")
    values = pd.to_numeric(frame[size], errors="coerce")
    if not (values > 0).any():
        raise DataError(f"size column {size!r} has no positive values; a power law needs sizes > 0")
    smallest = float(values[values > 0].min())
    return f"I(log2({size})-log2({smallest:.17g}))"


def build_formula(response: str, size: str, factor: str, groups: Sequence[str], shared_slope: bool) -> str:
    """The effect model's formula.

    Group-specific intercepts and slopes with the factor's change to both, or (``shared_slope``)
    group intercepts, one slope and the factor's change to the intercept.

    Examples
    --------
    >>> build_formula("log_err", "I(log2(TS)-IXMin)", "mix", ["TrainSet", "EvalSet"], False)
    'log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)'
    >>> build_formula("log_err", "I(log2(TS)-IXMin)", "mix", ["TrainSet", "EvalSet"], True)
    'log_err ~ I(log2(TS)-IXMin)+mix+TrainSet*EvalSet'
    """
    rhs = "+".join([factor, "*".join(groups)] if groups else [factor])
    return f"{response} ~ {size}+{rhs}" if shared_slope else f"{response} ~ {size}*({rhs})"


# ----------------------------------------------------------------------------- effect


def effect(
    data: str | Path | pd.DataFrame | None = None,
    *,
    factor: str = "mix",
    groups: Sequence[str] | str | None = None,
    shared_slope: bool = False,
    size: str = "TS",
    response: str = "log_err",
    method: str = "ols",
    weights: WeightsLike = None,
    weight_type: WeightType = "inv.var",
    vcov: VcovKind | str | None = None,
    cluster: str | Sequence[str] | None = None,
    level: float = 0.95,
    where: str | None = None,
    let: Sequence[str] = (),
    na: NaPolicy = "drop",
    random: str | Sequence[str] | None = None,
    dependence: DependenceMode | str | None = None,
) -> EffectResult:
    """Write, fit and read the effect model of ``factor`` over experiment ``groups``.

    Parameters
    ----------
    data : a learning-curve table or frame; ``None`` uses the bundled example.
    factor : the intervention (``mixup``/``mix``, ``width``, any column); every non-reference level
        gets its own change to intercept and slope.
    groups : columns whose combinations are the experiment groups, each with its own power law
        (default ``train_set, eval_set`` where present; ``()`` for one curve). Columns with a single
        value in the rows used are left out and listed in ``dropped_groups``.
    shared_slope : every group its own intercept, one slope for all; the factor moves the intercept only.
    size, response : the size column (``TS``: the schema's ``train_size``) and the response (log2 error).
    method, weights, weight_type, vcov, cluster, level, where, let, na : as for :func:`powerlaw_stats.fit`.
    random : grouping columns whose random intercepts join the model, e.g. ``["run_id", "split_id"]``
        (the schema's runs and the images they trained on): a linear mixed model (lme4's
        ``+ (1|run_id) + (1|split_id)``) with Satterthwaite t tests; with ``cluster="split_id"``
        its estimate gets the CR2 covariance instead, with Bell and McCaffrey's df. What each
        choice does to the level and power on dependent rows: docs/inference.md.
    dependence : "auto" or "none"
        ``"auto"`` (the default on a schema table with ``run_id`` and its splits, least squares and
        no ``vcov``, ``cluster`` or ``random``): fit the model with ``(1|run_id) + (1|split_id)``
        and without the split term; when a REML likelihood-ratio test finds a split variance (p
        halved for the boundary, below 0.05), report the mixed model's Satterthwaite tests,
        otherwise least squares with CR1 by ``run_id``. ``inference`` says which and why. On
        simulated null studies with run or split effects this holds the 5 % level where the
        classic SE does not. ``"none"``: rows as given (the classic SE unless ``vcov`` says otherwise).

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> res = ps.effect(factor="mixup", groups=["train_set", "eval_set"], weights="w", dependence="none")
    >>> res.formula
    'log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)'
    >>> [e.term for e in res.estimates]
    ['mix1', 'I(log2(TS) - IXMin):mix1']
    >>> auto = ps.effect(factor="mixup", groups=["train_set", "eval_set"], weights="w")  # the bundled runs depend
    >>> auto.formula
    'log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet) + (1|run_id) + (1|split_id)'
    >>> auto.inference.split(":")[0]
    'linear mixed model with (1|run_id) + (1|split_id), Satterthwaite t'
    """
    group_cols = _group_columns(groups)
    raw = load(data)
    frame = model_frame(Inputs(data=raw, where=where, let=tuple(let), na=na), []).frame  # the rows --where keeps
    fterm, sterm = factor_term(factor, frame), size_term(size, frame)
    _check_groups(group_cols, frame)
    kept = [g for g in group_cols if frame[g].nunique(dropna=True) > 1]
    gterms = [factor_term(g, frame) for g in kept]
    if fterm in gterms or factor in kept:
        raise OptionError(f"the factor {factor!r} is also a group column; name it in --factor or --groups, not both")
    formula = build_formula(response, sterm, fterm, gterms, shared_slope)
    formula += "".join(f" + (1|{g})" for g in split_names(random, "random-effect groups"))
    common: dict[str, Any] = {"weights": weights, "level": level, "where": where, "let": let, "na": na}
    if _dependence_mode(dependence, frame, method, vcov, cluster, random) == "auto":
        choice = choose_dependence(formula, raw, **common)
        formula, result, why = choice.formula, choice.fit, choice.why
    else:
        result, why = fit(formula, raw, method=method, weight_type=weight_type, vcov=vcov, cluster=cluster, **common), ""
    intercept, slope = _estimates(result, fterm, sterm, shared_slope)
    return EffectResult(formula=formula, factor=factor, factor_term=fterm, size_term=sterm, groups=tuple(kept),
                        group_terms=tuple(gterms), dropped_groups=tuple(g for g in group_cols if g not in kept),
                        n_groups=_count_groups(_rows_used(result), kept), shared_slope=shared_slope, intercept=intercept,
                        slope=slope, fit=result, inference=why)


def _dependence_mode(dependence, frame: pd.DataFrame, method: str, vcov, cluster, random) -> str:
    """``auto`` or ``none``: None means auto where it applies (schema runs and splits, least squares, no SE options)."""
    if dependence is not None:
        mode = check_option(dependence, DependenceMode, "dependence")
        if mode == "auto" and (method != "ols" or vcov is not None or cluster is not None or random is not None):
            raise OptionError("dependence 'auto' chooses the model and the standard errors itself; "
                              "drop --method/--vcov/--cluster/--random, or use --dependence none")
        if mode == "auto" and not has_runs(frame):
            raise OptionError("dependence 'auto' needs the schema's run_id and train_set, n_splits, split "
                              "(or split_id) columns")
        return mode
    plain = method == "ols" and vcov is None and cluster is None and random is None
    return "auto" if plain and has_runs(frame) else "none"


@dataclass(frozen=True, kw_only=True)
class DependenceChoice:
    """What ``dependence="auto"`` chose for rows that depend, and why, in numbers.

    ``model`` is ``"mixed"`` (the linear mixed model with ``(1|run_id) + (1|split_id)`` and
    Satterthwaite t) or ``"cr1"`` (least squares with CR1 by ``run_id``); ``formula`` and ``fit``
    are the model fitted. ``lr_stat`` and ``p_value`` are the REML likelihood-ratio test of the
    split variance (p halved for the boundary; NaN when no mixed model could be fitted, then
    ``error`` says why); ``variance_components`` are the full mixed model's, ``Residual`` last.
    """

    model: str
    formula: str
    fit: FitResult | MixedResult
    lr_stat: float
    p_value: float
    variance_components: dict[str, float]
    alpha: float = AUTO_ALPHA
    error: str = ""

    @property
    def why(self) -> str:
        """The choice and its reason in one sentence (``EffectResult.inference``)."""
        if self.error:
            return f"least squares with CR1 by run_id: no mixed model could be fitted ({self.error})"
        test = f"REML likelihood-ratio test of the split variance: chi2 = {self.lr_stat:.3g}, p = {self.p_value:.2g}"
        vc = self.variance_components
        if self.model == "mixed":
            parts = ", ".join(f"{k} {v:.3g}" for k, v in vc.items())
            return (f"linear mixed model with (1|run_id) + (1|split_id), Satterthwaite t: runs on the same images "
                    f"move together ({test}; variance components {parts})")
        return (f"least squares with CR1 by run_id: no split variance to model ({test}); "
                f"a run's rows move together (run_id variance {vc.get('run_id', 0.0):.3g})")

    def to_dict(self) -> dict:
        """The choice as results.json holds it (non-finite numbers as null)."""
        return {"model": self.model, "formula": self.formula, "variance_components":
                {k: json_float(v) for k, v in self.variance_components.items()},
                "lr_test": {"statistic": json_float(self.lr_stat), "df": 1, "p_value": json_float(self.p_value),
                            "alpha": self.alpha, "boundary": "p halved (chi-bar-squared 50:50)"},
                "error": self.error or None, "reason": self.why}


def has_runs(frame: pd.DataFrame) -> bool:
    """Whether a table has the schema's runs and the splits they trained on (what ``dependence="auto"`` needs)."""
    cols = set(frame.columns)
    return "run_id" in cols and ("split_id" in cols or {"train_set", "n_splits", "split"} <= cols)


def choose_dependence(formula: str, raw: pd.DataFrame, *, weights: WeightsLike = None, level: float = 0.95,
                      where: str | None = None, let: Sequence[str] = (), na: NaPolicy = "drop") -> DependenceChoice:
    """The split variance decides: the mixed model when a REML likelihood-ratio test finds it, else CR1 by run.

    ``formula`` is the fixed-effects model; the choice adds ``+ (1|run_id) + (1|split_id)`` or
    clusters by ``run_id``. The rule ``effect`` and ``report`` use by default on schema data.
    """
    from ..estimation.mixed import fit_problem
    from ..mixed import assemble, build_model  # only auto needs them

    rows: dict[str, Any] = {"weights": weights, "where": where, "let": let, "na": na}
    try:
        model = build_model(formula + RUN_BARS + SPLIT_BAR, raw, **rows)
        big_fit = fit_problem(model.problem)
        small = fit_problem(model.problem.dropping("split_id"))  # on the same rows; only its criterion is needed
    except PowerlawStatsError as exc:  # e.g. one row per run: nothing to share within a run
        ols = fit(formula, raw, vcov="CR1", cluster="run_id", level=level, **rows)
        return DependenceChoice(model="cr1", formula=formula, fit=ols, lr_stat=float("nan"), p_value=float("nan"),
                                variance_components={}, error=str(exc))
    stat = max(small.criterion - big_fit.criterion, 0.0)
    p = 0.5 * chi2_sf(stat, 1)
    terms = model.problem.terms
    vc = {k: float(v) for k, v in zip(component_names(terms), (row[3] for row in varcorr_rows(terms, big_fit.theta,
                                                                                              big_fit.sigma)))}
    if p < AUTO_ALPHA:
        return DependenceChoice(model="mixed", formula=formula + RUN_BARS + SPLIT_BAR,
                                fit=assemble(model, big_fit, level=level), lr_stat=stat, p_value=p, variance_components=vc)
    ols = fit(formula, raw, vcov="CR1", cluster="run_id", level=level, **rows)
    return DependenceChoice(model="cr1", formula=formula, fit=ols, lr_stat=stat, p_value=p, variance_components=vc)


def _group_columns(groups: Sequence[str] | str | None) -> list[str]:
    return list(DEFAULT_GROUPS) if groups is None else list(split_names(groups, "group columns"))


def _check_groups(groups: list[str], frame: pd.DataFrame) -> None:
    for g in groups:
        if g not in frame.columns:
            raise DataError(f"--groups: {missing_column_message(g, frame.columns)}")


def _count_groups(frame: pd.DataFrame | None, groups: list[str]) -> int:
    if frame is None or not groups:
        return 1
    return int(frame.groupby(groups, observed=True, dropna=False).ngroups)


def _rows_used(result: FitResult | MixedResult) -> pd.DataFrame | None:
    return result.data if isinstance(result, FitResult) else result.model.frame


def _estimates(result: FitResult | MixedResult, fterm: str, sterm: str, shared_slope: bool):
    names, terms = ((result.design.column_names, result.design.column_terms) if isinstance(result, FitResult)
                    else (result.model.column_names, result.model.column_terms))
    cols = list(zip(names, terms))
    ic = [name for name, term in cols if same_term(term, fterm)]
    if not ic:
        raise DataError(f"the factor term {fterm!r} has no coefficients in the fit; does it take two values in the rows used?")
    sc = [] if shared_slope else [name for name, term in cols if same_term(term, f"{sterm}:{fterm}")]
    levels = [_level(name, fterm) for name in ic]
    return (tuple(_estimate("intercept", lev, result.coefficient(n)) for n, lev in zip(ic, levels)),
            tuple(_estimate("slope", lev, result.coefficient(n)) for n, lev in zip(sc, levels)))


def _estimate(kind: str, level: str, c: Coefficient) -> EffectEstimate:
    return EffectEstimate(kind=kind, level=level, **c.to_dict())


def _level(column: str, fterm: str) -> str:
    bare = "".join(column.split())
    prefix = "".join(fterm.split())
    return bare[len(prefix):] if bare.startswith(prefix) else bare

