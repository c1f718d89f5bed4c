"""``simulate``: do an estimator's coefficients and standard errors hold up on data like ours?

Synthetic responses are the true coefficients' fitted values plus errors from a residual model
learned from the real fit (:mod:`powerlaw_stats.simulation.residuals`), on the observed design or
one rebuilt from the schema's trial scheme (:mod:`powerlaw_stats.simulation.designs`). Every
estimator fits every trial, all trials at once, through its batched fit in the method registry
(:mod:`powerlaw_stats.estimation.methods`); chunks of trials run on :mod:`.engine`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.frame import Inputs, ModelFrame, NaPolicy, WeightsLike, load, model_frame
from ..errors import DataError, OptionError, SingularDesignError
from ..estimation.irwls import IrwlsControl
from ..estimation.least_squares import least_squares
from ..estimation.methods import (
    MASS,
    METHODS,
    TIGHT,
    BatchFit,
    Scores,
    Settings,
    batched,
    check_settings,
    method,
    whiten_all,
)
from ..estimation.shared import SharedWork
from ..formats import html_table, jsonable, short_repr
from ..formula import DesignMatrices, ParsedFormula, design_matrices, find_term, parse, same_term
from ..inference.covariance import sandwich_many
from ..inference.tests import t_quantile
from ..options import (
    CLUSTER_KINDS,
    ResidualName,
    SeLabel,
    WeightType,
    check_count,
    check_level,
    check_option,
    check_seed,
    split_names,
)
from .designs import TEMPLATE, DesignSpec, SimRows, design_spec, noise_factor, rebuild_trials, rebuilt_rows
from .engine import Draws, Progress, check_memory, memory_available, run_chunks
from .residuals import RESIDUAL_MODELS, ResidualSource, residual_model, residual_source

SUMMARY_COLUMNS: tuple[str, ...] = (
    "estimator", "term", "truth", "mean_estimate", "bias", "sd_estimate", "mean_se", "se_ratio", "coverage", "rmse", "failures",
)


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationResult:
    """The simulation's figures: one summary row per (estimator, term), and the trials behind them.

    ``estimates[e]`` and ``std_errors[e]`` are n_trials x len(terms) (NaN rows where estimator ``e``
    failed, as flagged in ``converged[e]``); ``truth`` is indexed by term. ``data`` and
    ``prior_weights`` are the simulated design's rows and the weights the estimators used.
    """

    summary: pd.DataFrame
    estimates: dict[str, np.ndarray]
    std_errors: dict[str, np.ndarray]
    converged: dict[str, np.ndarray]
    terms: tuple[str, ...]
    truth: pd.Series
    n_trials: int
    seed: int
    residuals: str
    design: str
    residuals_description: str
    design_description: str
    responses: np.ndarray | None
    level: float
    formula: str = ""
    estimators: tuple[str, ...] = ()
    data: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    prior_weights: np.ndarray | None = None
    df_resid: float = float("nan")

    def __repr__(self) -> str:
        """One line: trials, seed, models, estimators and terms; never the trials' arrays."""
        return short_repr("SimulationResult", formula=self.formula, n_trials=self.n_trials, seed=self.seed,
                          residuals=self.residuals, design=self.design, estimators=", ".join(self.estimators),
                          terms=", ".join(self.terms))

    def _repr_html_(self) -> str:
        """The summary rows as a table, with what was simulated."""
        return html_table(self.summary, f"Simulation: {self.formula}",
                          [f"{self.n_trials} trials, seed {self.seed}", self.residuals_description, self.design_description])

    def row(self, estimator: str, term: str) -> pd.Series:
        """The summary row of ``estimator`` and ``term`` (white space in the term ignored)."""
        match = self.summary[(self.summary["estimator"] == estimator) & self.summary["term"].map(lambda t: same_term(t, term))]
        if match.empty:
            raise OptionError(f"no summary row for estimator {estimator!r} and term {term!r}")
        return match.iloc[0]

    def to_dict(self) -> dict:
        """The CLI's JSON: ``{"n_trials", "seed", "residuals", "design", "results": [summary rows]}`` (NaN as null)."""
        rows = [{k: jsonable(v) for k, v in r.items()} for r in self.summary.to_dict("records")]
        return {"n_trials": self.n_trials, "seed": self.seed, "residuals": self.residuals, "design": self.design,
                "results": rows}


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True, kw_only=True)
class _Setup:
    """The validated options of one call: estimators, their SE variants, the trials."""

    estimators: tuple[str, ...]
    residuals: str
    design: DesignSpec
    n_trials: int
    seed: int
    level: float
    settings: Settings
    variants: tuple[SeLabel, ...] = ()  # each estimator with each covariance: one summary block each
    cluster: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """The summary's labels: "ols", "ols+CR1", ..."""
        return tuple(str(v) for v in self.variants)


def _setup(estimators, residuals, design, min_trials, n_trials, seed, level, settings: Settings,
           vcov=None, cluster=None) -> _Setup:
    names = tuple([estimators] if isinstance(estimators, str) else estimators)
    if not names:
        raise OptionError(f"unknown estimator (none given); estimator must be one of {', '.join(METHODS)}")
    for name in names:
        batched(method(name, "estimator"))
    check_option(residuals, RESIDUAL_MODELS, "residual model")
    n_trials, seed, level = check_count(n_trials, "n_trials", 2), check_seed(seed), check_level(level)
    names = tuple(dict.fromkeys(names))
    clusters = split_names(cluster, "cluster columns")
    return _Setup(estimators=names, residuals=residuals, design=design_spec(design, min_trials), n_trials=n_trials,
                  seed=seed, level=level, settings=settings, variants=_variants(names, vcov, clusters, settings),
                  cluster=clusters)


def _variants(names: tuple[str, ...], vcov, cluster: tuple[str, ...], settings: Settings) -> tuple[SeLabel, ...]:
    """Each estimator with each covariance asked for, checked as ``fit`` checks them.

    The classic SE keeps the estimator's name ("ols"); another is named "ols+CR1". With a cluster
    column and no ``vcov``, the classic SE and CR1 are compared.
    """
    kinds = tuple(k.strip() for part in ([vcov] if isinstance(vcov, str) else vcov or ()) for k in str(part).split(",")
                  if k.strip()) or (("classic", "CR1") if cluster else ("classic",))
    if cluster and not any(k in CLUSTER_KINDS for k in kinds):
        raise OptionError(f"cluster {', '.join(cluster)} needs a cluster-robust vcov among {', '.join(kinds)}: add CR1 or CR3")
    for name in names:
        for kind in kinds:
            check_settings(METHODS[name], Settings(weight_type=settings.weight_type, vcov=kind),  # type: ignore[arg-type]
                           cluster if kind in CLUSTER_KINDS else ())
    return tuple(SeLabel(name, kind) for name in names for kind in dict.fromkeys(kinds))


# ----------------------------------------------------------------------------- simulate


def simulate(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    *,
    weights: WeightsLike = None,
    weight_type: WeightType = "inv.var",
    estimators: Sequence[str] = ("ols", "huber", "bisquare"),
    residuals: ResidualName = "normal",
    design: str = "observed",
    min_trials: int | None = None,
    n_trials: int = 1000,
    seed: int = 0,
    truth: str | Mapping[str, float] | None = None,
    terms: Sequence[str] | None = None,
    level: float = 0.95,
    keep_responses: bool = False,
    where: str | None = None,
    let: Sequence[str] | None = None,
    na: NaPolicy = "drop",
    progress: Progress | None = None,
    resample_within: str | None = None,
    maxit: int | None = None,
    acc: float | None = None,
    r_defaults: bool = False,
    vcov: str | Sequence[str] | None = None,
    cluster: str | Sequence[str] | None = None,
) -> SimulationResult:
    """Simulate ``n_trials`` data sets like the real one and fit each with every estimator.

    Parameters
    ----------
    formula, data, weights, weight_type, where, let, na
        As for :func:`powerlaw_stats.fit`; ``data=None`` uses the bundled example.
    estimators : sequence of str
        Names in the method registry ("ols", "huber", "bisquare", "mm").
    residuals : {"normal", "empirical", "skewed-hetero"}
        How errors are drawn (see :mod:`powerlaw_stats.simulation.residuals` and docs/simulate.md).
    design : {"observed", "n", "min4"} or "minK"
        The data's rows, or the trials rebuilt from the schema: n runs at 1/n of the pool, or at
        least K (``min_trials``) per size.
    min_trials : int, optional
        The K of a "min" design.
    n_trials, seed : int
        How many data sets, and the seed that makes them reproducible.
    truth : None, str or mapping
        None (the weighted least-squares coefficients on the real data), an estimator's name
        (its coefficients on the real data), or a mapping term -> value overriding some of them.
    terms : sequence of str, optional
        The terms to report (default all coefficients).
    level : float
        Coverage is that of the ``level`` t interval, ``b ± t(df) · se``.
    keep_responses : bool
        Keep the simulated responses (n_trials x rows) in the result.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk of trials.
    resample_within : str, optional
        A column; the resampling residual models draw within its groups.
    maxit, acc, r_defaults
        IRWLS iteration limit and tolerance, as for ``fit`` (200 and 1e-10; MASS's 20 and 1e-4
        with ``r_defaults``); a trial not converged within ``maxit`` is a failure.
    vcov, cluster
        The standard errors to check, each as ``fit(vcov=..., cluster=...)`` computes it
        ("classic", "HC0", "HC1", "HC3" for least squares, "CR1", "CR3"); one summary block per
        estimator and covariance, labelled "ols", "ols+CR1", ... Default: classic, and classic
        with CR1 when ``cluster`` is given. On a rebuilt design every new run gets its own ``run_id``.

    Returns
    -------
    SimulationResult
        One summary row per (estimator, term) and the trials' estimates and SEs.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> sim = ps.simulate("log_err ~ I(log2(TS)-IXMin)*mix", weights="w", n_trials=50, estimators=("ols",))
    >>> list(sim.summary.columns[:4]), sim.estimates["ols"].shape
    (['estimator', 'term', 'truth', 'mean_estimate'], (50, 4))
    """
    return Simulator(formula, data, weights=weights, weight_type=weight_type, estimators=estimators, n_trials=n_trials,
                     truth=truth, terms=terms, level=level, keep_responses=keep_responses, where=where, let=let, na=na,
                     resample_within=resample_within, maxit=maxit, acc=acc, r_defaults=r_defaults, vcov=vcov,
                     cluster=cluster).run(residuals, design, min_trials=min_trials, seed=seed, progress=progress)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Observed:
    """What every scenario of one data set shares: its table, model frame, design, truth and residual source."""

    parsed: ParsedFormula
    raw: pd.DataFrame
    inputs: Inputs
    extra: tuple[str, ...]
    mf: ModelFrame
    design: DesignMatrices
    beta: np.ndarray
    source: ResidualSource
    idx: list[int]


class Simulator:
    """:func:`simulate` for several scenarios (residual model, design, seed) of one data set and model.

    The options are :func:`simulate`'s, less those of a scenario; :meth:`run` takes those. The table
    is read, the model frame and design built, and the truth fitted once, at the first run; each
    design's rows are rebuilt once. ``Simulator(...).run(r, d, seed=s)`` gives exactly
    ``simulate(..., residuals=r, design=d, seed=s)``, errors included.

    Examples
    --------
    >>> sim = Simulator("log_err ~ I(log2(TS)-IXMin)*mix", weights="w", n_trials=20, estimators=("ols",))
    >>> [sim.run(r, "min4", seed=i).n_trials for i, r in enumerate(("normal", "skewed-hetero"))]
    [20, 20]
    """

    def __init__(self, formula: str, data: str | Path | pd.DataFrame | None = None, *, weights: WeightsLike = None,
                 weight_type: WeightType = "inv.var", estimators: Sequence[str] = ("ols", "huber", "bisquare"),
                 n_trials: int = 1000, truth: str | Mapping[str, float] | None = None, terms: Sequence[str] | None = None,
                 level: float = 0.95, keep_responses: bool = False, where: str | None = None,
                 let: Sequence[str] | None = None, na: NaPolicy = "drop", resample_within: str | None = None,
                 maxit: int | None = None, acc: float | None = None, r_defaults: bool = False,
                 vcov: str | Sequence[str] | None = None, cluster: str | Sequence[str] | None = None) -> None:
        defaults = MASS if r_defaults else TIGHT
        control = IrwlsControl(maxit=defaults.maxit if maxit is None else maxit, acc=defaults.acc if acc is None else acc)
        self._formula, self._data, self._truth, self._terms = formula, data, truth, terms
        self._inputs = Inputs(data=data, weights=weights, weight_type=weight_type, where=where, let=tuple(let or ()), na=na)
        self._setup_args = (estimators, n_trials, level, Settings(weight_type=weight_type, irwls=control), vcov, cluster)
        self._keep, self._within = keep_responses, resample_within
        self._observed: _Observed | None = None
        self._rows: dict[DesignSpec, SimRows] = {}

    def run(self, residuals: ResidualName = "normal", design: str = "observed", *, min_trials: int | None = None,
            seed: int = 0, progress: Progress | None = None) -> SimulationResult:
        """One scenario: ``n_trials`` data sets drawn with ``residuals`` on ``design``, from ``seed``."""
        estimators, n_trials, level, settings, vcov, cluster = self._setup_args
        setup = _setup(estimators, residuals, design, min_trials, n_trials, seed, level, settings, vcov, cluster)
        obs = self._observe(setup)
        rows = self._rows_of(obs, setup)
        model = residual_model(setup.residuals, obs.source)
        draws = Draws(mean=rows.x @ obs.beta, x=rows.x, noise=rows.noise, model=model, seed=setup.seed, groups=rows.groups)
        fits, responses = _run(rows, draws, setup, obs.idx, self._keep, progress)
        names = tuple(obs.design.column_names[i] for i in obs.idx)
        truth_s = pd.Series(obs.beta[obs.idx], index=list(names), dtype=float)
        df = float(np.count_nonzero(whiten_all(rows.x, rows.weights).root) - rows.x.shape[1])
        summary = summarize(fits, truth_s, setup.level, df)
        return SimulationResult(
            summary=summary, estimates={e: f.coef for e, f in fits.items()}, std_errors={e: f.se for e, f in fits.items()},
            converged={e: f.ok for e, f in fits.items()}, terms=names, truth=truth_s, n_trials=setup.n_trials,
            seed=setup.seed, residuals=setup.residuals, design=setup.design.name, residuals_description=model.description,
            design_description=_design_sentence(setup.design, rows, obs.mf), responses=responses, level=setup.level,
            formula=self._formula, estimators=setup.labels, data=rows.frame, prior_weights=rows.weights, df_resid=df,
        )

    def prepare(self, design: str = "observed", *, min_trials: int | None = None) -> None:
        """Build now what runs on ``design`` share: the table, model frame and truth, and the design's rows.

        :meth:`run` builds them when first needed anyway; preparing lets a caller do this part in
        one thread and run the trials in another. An error is raised as :meth:`run` would raise it.
        """
        estimators, n_trials, level, settings, vcov, cluster = self._setup_args
        setup = _setup(estimators, "normal", design, min_trials, n_trials, 0, level, settings, vcov, cluster)
        self._rows_of(self._observe(setup), setup)

    def _observe(self, setup: _Setup) -> _Observed:
        """The data's model frame, design, truth and residual source: built at the first run, then shared."""
        if self._observed is None:
            parsed = parse(self._formula)
            raw = load(self._data)
            inputs = self._inputs.replace(data=raw)
            extra = tuple(dict.fromkeys([*([self._within] if self._within else []), *setup.cluster]))
            mf = model_frame(inputs, parsed.variables, extra_columns=extra)
            observed = design_matrices(parsed, mf)
            beta, source = _truth_and_source(observed, mf, self._truth, setup, self._within)
            idx = term_indices(observed.column_names, self._terms)
            self._observed = _Observed(parsed=parsed, raw=raw, inputs=inputs, extra=extra, mf=mf, design=observed,
                                       beta=beta, source=source, idx=idx)
        return self._observed

    def _rows_of(self, obs: _Observed, setup: _Setup) -> SimRows:
        """The design's rows, rebuilt once per design."""
        if setup.design not in self._rows:
            self._rows[setup.design] = _sim_rows(obs.raw, obs.inputs, obs.parsed, obs.extra, obs.mf, obs.design,
                                                 setup.design, self._within, setup.cluster)
        return self._rows[setup.design]


# ----------------------------------------------------------------------------- truth and residual source


def _truth_and_source(observed: DesignMatrices, mf: ModelFrame, truth, setup: _Setup, within: str | None):
    w = mf.weights
    wh = whiten_all(observed.x, w)
    ols = least_squares(wh.xw, wh.response(observed.y))
    if not ols.kept.all():
        aliased = [n for n, k in zip(observed.column_names, ols.kept) if not k]
        raise DataError(f"the design is singular ({', '.join(aliased)} aliased); simulation needs full rank: remove those terms")
    beta = ols.coef
    if isinstance(truth, str):
        if truth not in METHODS:
            raise OptionError(f"truth {truth!r} is neither an estimator ({', '.join(METHODS)}) nor a mapping of terms")
        fitted = batched(METHODS[truth])(observed.x, observed.y[None], w, setup.settings)
        if not fitted.ok[0]:
            raise DataError(f"the {truth} fit on the data did not converge, so it cannot give the true coefficients")
        beta = fitted.coef[0]
    groups = mf.frame[within].to_numpy() if within else None
    source = residual_source(observed.x, observed.y, wh.root, beta, groups)
    if isinstance(truth, Mapping):
        beta = beta.copy()
        for name, value in truth.items():
            beta[term_indices(observed.column_names, [name])[0]] = float(value)
    elif truth is not None and not isinstance(truth, str):
        raise OptionError(f"truth must be None, an estimator name or a mapping term -> value, got {type(truth).__name__}")
    return beta, source


def term_indices(names: Sequence[str], terms: str | Sequence[str] | None) -> list[int]:
    """Columns of ``terms`` (all when None) among ``names``; an unknown term is refused with the known ones."""
    if terms is None:
        return list(range(len(names)))
    if isinstance(terms, str):
        terms = [terms]
    out = []
    for term in terms:
        i = find_term(names, term)
        if i is None:
            raise OptionError(f"no coefficient {term!r} in the model; its coefficients are {', '.join(names)}")
        out.append(i)
    return out


# ----------------------------------------------------------------------------- simulated design


def _sim_rows(raw: pd.DataFrame, inputs: Inputs, parsed: ParsedFormula, extra: tuple[str, ...], obs_mf: ModelFrame,
              observed: DesignMatrices, spec: DesignSpec, within: str | None, cluster: tuple[str, ...] = ()) -> SimRows:
    if spec.min_trials is None:
        groups = obs_mf.frame[within].to_numpy() if within else None
        return SimRows(x=observed.x, weights=obs_mf.weights, noise=noise_factor(obs_mf.weights, len(observed.y)),
                       frame=obs_mf.frame, groups=groups, cluster=cluster)
    raw = raw.reset_index(drop=True)
    rebuilt = rebuild_trials(raw, spec, parsed.regressors, usable=np.isin(np.arange(len(raw)), obs_mf.frame.index))
    mf = model_frame(inputs.replace(data=rebuilt), parsed.variables, extra_columns=[*extra, TEMPLATE])
    sim = design_matrices(parsed, mf)
    if tuple(sim.column_names) != tuple(observed.column_names):
        raise DataError(f"design {spec.name!r} changes the model's columns ({', '.join(sim.column_names)}); "
                        "the trial scheme must keep every level the data has")
    template = pd.Index(obs_mf.frame.index).get_indexer(mf.frame[TEMPLATE].to_numpy())
    keep = template >= 0  # rows copying a row the real fit did not use (filtered, NA) have no noise level
    return rebuilt_rows(mf, sim.x, keep, template, obs_mf.weights, within=within, cluster=cluster,
                        drop_columns=(TEMPLATE,))


def _design_sentence(spec: DesignSpec, rows: SimRows, obs_mf: ModelFrame) -> str:
    if spec.min_trials is None:
        return f"Observed design: the data's own {len(rows.x)} rows with their prior weights."
    text = f" The simulated design has {len(rows.x)} rows (the data {len(obs_mf.frame)})."
    return (spec.description + text + " Each row's error keeps the variance of the configuration it copies in the data, "
            "so only the estimators' weights follow the new trial counts.")


# ----------------------------------------------------------------------------- trials


def _run(rows: SimRows, draws: Draws, setup: _Setup, idx, keep_responses: bool, progress: Progress | None):
    total = setup.n_trials
    per_trial = len(setup.labels) * (2 * 8 * len(idx) + 1) + (8 * len(rows.x) if keep_responses else 0)
    most = max(int(memory_available() / 2 // per_trial), 2)
    check_memory(total * per_trial, f"{total:,} trials", f"use at most {most:,} trials (10,000 measure a 95 % coverage to ±0.4 %)"
                 ", or fewer estimators or terms (--coef)")
    out = {e: (np.full((total, len(idx)), np.nan), np.full((total, len(idx)), np.nan), np.zeros(total, bool))
           for e in setup.labels}
    responses = np.empty((total, len(rows.x))) if keep_responses else None
    shared = SharedWork()  # the design's QR, products, ...: once per run; the least-squares start: once per chunk

    def chunk(b: int, start: int, stop: int) -> None:
        """Draw chunk ``b``'s responses and fit them with every estimator."""
        y = draws.chunk(b, stop - start)
        if responses is not None:
            responses[start:stop] = y
        work = shared.for_chunk()
        for name in setup.estimators:
            fit = batched(METHODS[name])(rows.x, y, rows.weights, setup.settings, work)
            for label in setup.variants:
                if label.method == name:
                    kind = label.kind
                    _store(out[str(label)], fit if kind == "classic" else sandwich_fit(fit, kind, rows), idx, start, stop)

    run_chunks(total, chunk, progress)
    return {e: BatchFit(coef=c, se=s, ok=o) for e, (c, s, o) in out.items()}, responses


def sandwich_fit(fit: BatchFit, kind: str, rows: SimRows) -> BatchFit:
    """``fit`` with the standard errors of sandwich covariance ``kind`` in place of its own."""
    scores = fit.scores
    if scores is None:
        raise OptionError("this batch keeps no scores, so it has no sandwich covariance")
    clusters = rows.clusters(scores.rows)
    try:
        cov = sandwich_many(scores.xw, scores.score_resid, scores.dpsi, kind, clusters)
    except SingularDesignError:  # some trial's bread is singular: the others still count
        cov = np.stack([_one_sandwich(scores, t, kind, clusters) for t in range(len(scores.score_resid))])
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    return BatchFit(coef=fit.coef, se=se, ok=fit.ok & np.isfinite(se).all(axis=1), scores=scores)


def _one_sandwich(scores: Scores, t: int, kind: str, clusters) -> np.ndarray:
    dpsi = None if scores.dpsi is None else scores.dpsi[t][None]
    try:
        return sandwich_many(scores.xw, scores.score_resid[t][None], dpsi, kind, clusters)[0]
    except SingularDesignError:
        p = scores.xw.shape[1]
        return np.full((p, p), np.nan)


def _store(target, fit: BatchFit, idx, start: int, stop: int) -> None:
    coef, se, ok = target
    good = np.asarray(fit.ok, dtype=bool)
    coef[start:stop] = np.where(good[:, None], fit.coef[:, idx], np.nan)
    se[start:stop] = np.where(good[:, None], fit.se[:, idx], np.nan)
    ok[start:stop] = good


# ----------------------------------------------------------------------------- summary


def summarize(fits: Mapping[str, BatchFit], truth: pd.Series, level: float, df: float) -> pd.DataFrame:
    """One row per (estimator, term): bias, measured vs estimated SE, coverage, RMSE, failures.

    Failed trials (``ok`` False) are counted in ``failures`` and left out of every other figure.
    ``se_ratio`` is mean SE / SD of the estimates (1 when the SEs are right); ``coverage`` is the
    share of trials whose ``level`` t interval ``b ± t(df)·se`` holds the truth.
    """
    q = t_quantile(level, df)
    frames = [_estimator_rows(name, fit, truth.to_numpy(), q) for name, fit in fits.items()]
    out = pd.concat(frames, ignore_index=True)
    out.insert(1, "term", np.tile(list(truth.index), len(fits)))
    return out[list(SUMMARY_COLUMNS)]


def _estimator_rows(name: str, fit: BatchFit, truth: np.ndarray, q: float) -> pd.DataFrame:
    ok = np.asarray(fit.ok, dtype=bool)
    est, se = fit.coef[ok], fit.se[ok]
    n = int(ok.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = est.mean(axis=0) if n else np.full(len(truth), np.nan)
        sd = est.std(axis=0, ddof=1) if n > 1 else np.full(len(truth), np.nan)
        mean_se = se.mean(axis=0) if n else np.full(len(truth), np.nan)
        cover = (np.abs(est - truth) <= q * se).mean(axis=0) if n else np.full(len(truth), np.nan)
        rmse = np.sqrt(((est - truth) ** 2).mean(axis=0)) if n else np.full(len(truth), np.nan)
        ratio = mean_se / sd
    return pd.DataFrame({
        "estimator": name, "truth": truth, "mean_estimate": mean, "bias": mean - truth, "sd_estimate": sd,
        "mean_se": mean_se, "se_ratio": ratio, "coverage": cover, "rmse": rmse, "failures": len(ok) - n,
    })
