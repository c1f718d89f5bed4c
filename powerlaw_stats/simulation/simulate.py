"""``simulate``: do an estimator's coefficients and standard errors hold up on data like ours?

Synthetic responses are the true coefficients' fitted values plus errors from a residual model
learned from the real fit (:mod:`powerlaw_stats.simulation.residuals`), on the observed design or one
rebuilt from the schema's trial scheme. Every estimator fits every trial, all trials at once: least
squares as one factorization applied to all responses, IRWLS iterated on the whole batch with each
trial keeping its own scale, weights and convergence (:func:`powerlaw_stats.estimation.irwls.irwls`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from ..data.frame import ModelFrame, NaPolicy, load, model_frame
from ..errors import DataError, OptionError, SingularDesignError
from ..estimation.least_squares import IrwlsControl, irwls, least_squares, least_squares_many
from ..estimation.mm import mm_fit_many
from ..estimation.norms import make_norm
from ..fitting import R_DEFAULTS, TIGHT_DEFAULTS, WEIGHT_TYPES, FitOptions, WeightType, cluster_names, design_matrices
from ..formula import DesignMatrices, find_term, parse, same_term
from ..inference.covariance import CLUSTER_KINDS, Clusters, check_level, make_clusters, rlm_sigma, sandwich_many, t_quantile
from .residuals import (
    RESIDUAL_BUILDERS,
    RESIDUAL_MODELS,
    TEMPLATE,
    DesignSpec,
    ResidualModel,
    ResidualSource,
    design_spec,
    noise_factor,
    rebuild_trials,
    residual_model,
)

CHUNK = 250  # trials per batch: the T x n working arrays stay in cache, and random streams are per chunk
SUMMARY_COLUMNS: tuple[str, ...] = (
    "estimator", "term", "truth", "mean_estimate", "bias", "sd_estimate", "mean_se", "se_ratio", "coverage", "rmse", "failures",
)
Progress = Callable[[int, int], None]
ResidualName = Literal["normal", "empirical", "skewed-hetero"]


# ----------------------------------------------------------------------------- batched estimators


class BatchFit(NamedTuple):
    """One estimator on a batch of trials: coefficients and standard errors (T x p), usable trials (T,).

    ``sandwich`` holds what a sandwich covariance needs, ``(xw, score_resid, dpsi, rows)`` as
    :func:`powerlaw_stats.inference.sandwich_many` takes them (``rows``: the data rows used, None
    for all), or None where the fit keeps none.
    """

    coef: np.ndarray
    se: np.ndarray
    ok: np.ndarray
    sandwich: tuple | None = None


@dataclass(frozen=True)
class EstimatorOptions:
    """Settings every batched estimator receives: how prior weights act and the IRWLS control."""

    weight_type: str = "inv.var"
    control: IrwlsControl = IrwlsControl()


Estimator = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", EstimatorOptions], BatchFit]


def _root(weights: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if weights is None else np.sqrt(weights)


def _xtx_inv_diag(xw: np.ndarray) -> np.ndarray:
    return np.diag(least_squares(xw, np.zeros(len(xw))).xtx_inv)


def ols_many(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, options: EstimatorOptions) -> BatchFit:
    """(Weighted) least squares for every row of ``y``: R's ``lm`` coefficients and classic SEs.

    Examples
    --------
    >>> x = np.column_stack([np.ones(5), np.arange(5.0)])
    >>> fit = ols_many(x, np.array([[0.0, 1, 2, 3, 5]]), None, EstimatorOptions())
    >>> fit.coef.round(3), fit.se.round(3)
    (array([[-0.2,  1.2]]), array([[0.283, 0.115]]))
    """
    root = _root(weights, x.shape[0])
    xw = x * root[:, None]
    coef, resid = least_squares_many(xw, y * root)
    df = np.count_nonzero(root) - x.shape[1]
    if df <= 0:
        raise DataError(f"{np.count_nonzero(root)} rows for {x.shape[1]} coefficients leave no residual degrees of freedom")
    se = np.sqrt(np.einsum("tn,tn->t", resid, resid)[:, None] / df * _xtx_inv_diag(xw))
    return BatchFit(coef, se, np.isfinite(coef).all(axis=1) & np.isfinite(se).all(axis=1), (xw, resid, None, None))


def m_estimator_many(psi: str) -> Estimator:
    """The batched IRWLS estimator with ``psi`` ("huber", "bisquare"): MASS ``rlm``, as ``fit`` runs it."""

    def estimate(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, options: EstimatorOptions) -> BatchFit:
        norm = make_norm(psi)
        case = weights if (weights is not None and options.weight_type == "case") else None
        root = _root(weights, x.shape[0])
        # inverse-variance weights whiten the problem; case weights enter IRWLS itself (MASS's wt.method)
        xw, yw = (x, y) if case is not None or weights is None else (x * root[:, None], y * root)
        lift = np.ones(x.shape[0]) if case is None else np.sqrt(case)
        start, _ = least_squares_many(xw * lift[:, None], yw * lift)
        res = irwls(xw, yw, norm, case_weights=case, control=options.control, start=start)
        sigma = rlm_sigma(res.resid, res.scale, norm, x.shape[1], case)
        se = sigma[:, None] * np.sqrt(_xtx_inv_diag(x * root[:, None]))
        ok = res.converged & np.isfinite(res.coef).all(axis=1) & np.isfinite(se).all(axis=1)
        u = res.resid / res.scale[:, None]
        return BatchFit(res.coef, se, ok, None if case is not None else (xw, res.resid * norm.weight(u), norm.dpsi(u), None))

    estimate.__name__ = estimate.__qualname__ = f"{psi}_many"
    estimate.__doc__ = f"Batched IRWLS with the {psi} psi function, MASS ``rlm`` for every row of ``y``."
    return estimate


# name -> batched estimator; a new estimator is one more entry here
ESTIMATORS: dict[str, Estimator] = {
    "ols": ols_many,
    "huber": m_estimator_many("huber"),
    "bisquare": m_estimator_many("bisquare"),
    "mm": lambda x, y, weights, options: BatchFit(*mm_fit_many(x, y, weights, options.weight_type)),
}


# ----------------------------------------------------------------------------- result


@dataclass(frozen=True)
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
    data: pd.DataFrame | None = None
    prior_weights: np.ndarray | None = None
    df_resid: float = float("nan")

    def row(self, estimator: str, term: str) -> pd.Series:
        """The summary row of ``estimator`` and ``term`` (white space in the term ignored)."""
        match = self.summary[(self.summary["estimator"] == estimator) & self.summary["term"].map(lambda t: same_term(t, term))]
        if match.empty:
            raise OptionError(f"no summary row for estimator {estimator!r} and term {term!r}")
        return match.iloc[0]

    def to_dict(self) -> dict:
        """The CLI's JSON: ``{"n_trials", "seed", "residuals", "design", "results": [summary rows]}`` (NaN as null)."""
        rows = [{k: _plain(v) for k, v in r.items()} for r in self.summary.to_dict("records")]
        return {"n_trials": self.n_trials, "seed": self.seed, "residuals": self.residuals, "design": self.design,
                "results": rows}


def _plain(value):
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    return None if isinstance(value, float) and not np.isfinite(value) else value


# ----------------------------------------------------------------------------- simulate


@dataclass(frozen=True)
class _Setup:
    """The validated options of one call."""

    estimators: tuple[str, ...]
    residuals: str
    design: DesignSpec
    n_trials: int
    seed: int
    level: float
    options: EstimatorOptions
    variants: tuple[tuple[str, str, str], ...] = ()  # (label, estimator, vcov): one summary block each
    cluster: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _, _ in self.variants)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _setup(estimators, residuals, design, min_trials, n_trials, seed, level, options: EstimatorOptions,
           vcov=None, cluster=None) -> _Setup:
    names = tuple([estimators] if isinstance(estimators, str) else estimators)
    unknown = [e for e in names if e not in ESTIMATORS]
    if not names or unknown:
        given = ", ".join(map(repr, unknown)) or "(none given)"
        raise OptionError(f"unknown estimator {given}; choose from {', '.join(ESTIMATORS)}")
    if residuals not in RESIDUAL_BUILDERS:
        raise OptionError(f"unknown residual model {residuals!r}; choose one of {', '.join(RESIDUAL_MODELS)}")
    if options.weight_type not in WEIGHT_TYPES:
        raise OptionError(f"unknown weight type {options.weight_type!r}; choose 'inv.var' or 'case'")
    if not _is_int(n_trials) or n_trials < 2:
        raise OptionError(f"n_trials must be an integer of at least 2, got {n_trials!r}")
    if not _is_int(seed) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}")
    check_level(level)
    names = tuple(dict.fromkeys(names))
    return _Setup(names, residuals, design_spec(design, min_trials), int(n_trials), int(seed), float(level), options,
                  *_variants(names, vcov, cluster, options.weight_type))


def variant_label(method: str, kind: str) -> str:
    """The summary label of an estimator with a covariance: ``"huber"`` (classic SE) or ``"huber+CR1"``."""
    return method if kind == "classic" else f"{method}+{kind}"


def split_label(label: str) -> tuple[str, str]:
    """A summary label's estimator and covariance.

    Examples
    --------
    >>> split_label("huber+CR1"), split_label("ols")
    (('huber', 'CR1'), ('ols', 'classic'))
    """
    method, _, kind = label.partition("+")
    return method, kind or "classic"


def label_words(label: str, names: Mapping[str, str]) -> str:
    """A summary label in words, the estimator named by ``names``.

    Examples
    --------
    >>> label_words("huber+CR1", {"huber": "Huber"}), label_words("ols", {})
    ('Huber with CR1 SEs', 'ols')
    """
    method, kind = split_label(label)
    name = names.get(method, method)
    return name if kind == "classic" else f"{name} with {kind} SEs"


def _variants(names: tuple[str, ...], vcov, cluster, weight_type: str) -> tuple[tuple, tuple[str, ...]]:
    """Each estimator with each covariance asked for, checked as ``fit`` checks them.

    The classic SE keeps the estimator's name ("ols"); another is named "ols+CR1". With a cluster
    column and no ``vcov``, the classic SE and CR1 are compared.
    """
    cluster = cluster_names(cluster)
    kinds = tuple(k.strip() for part in ([vcov] if isinstance(vcov, str) else vcov or ()) for k in str(part).split(",")
                  if k.strip()) or (("classic", "CR1") if cluster else ("classic",))
    if cluster and not any(k in CLUSTER_KINDS for k in kinds):
        raise OptionError(f"cluster {', '.join(cluster)} needs a cluster-robust vcov among {', '.join(kinds)}: add CR1 or CR3")
    for name in names:
        for kind in kinds:
            FitOptions(name, weight_type, kind, cluster if kind in CLUSTER_KINDS else ())
    variants = tuple((variant_label(name, kind), name, kind) for name in names for kind in dict.fromkeys(kinds))
    return variants, cluster


def simulate(
    formula: str,
    data: str | Path | pd.DataFrame | None = None,
    *,
    weights: str | Sequence[float] | np.ndarray | None = None,
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
    estimators : names in :data:`ESTIMATORS` ("ols", "huber", "bisquare").
    residuals : {"normal", "empirical", "skewed-hetero"}
        How errors are drawn (see :mod:`powerlaw_stats.simulation.residuals` and docs/simulate.md).
    design : {"observed", "n", "min4"} or "minK"
        The data's rows, or the trials rebuilt from the schema: n runs at 1/n of the pool, or at
        least K (``min_trials``) per size.
    n_trials, seed : how many data sets, and the seed that makes them reproducible.
    truth : None (the weighted least-squares coefficients on the real data), an estimator's name
        (its coefficients on the real data), or a mapping term -> value overriding some of them.
    terms : the terms to report (default all coefficients).
    level : coverage is that of the ``level`` t interval, ``b ± t(df) · se``.
    keep_responses : keep the simulated responses (n_trials x rows) in the result.
    progress : called as ``progress(done, total)`` after each chunk of trials.
    resample_within : a column; the resampling residual models draw within its groups.
    maxit, acc, r_defaults : IRWLS iteration limit and tolerance, as for ``fit`` (200 and 1e-10;
        MASS's 20 and 1e-4 with ``r_defaults``); a trial not converged within ``maxit`` is a failure.
    vcov, cluster : the standard errors to check, each as ``fit(vcov=..., cluster=...)`` computes it
        ("classic", "HC0", "HC1", "HC3" for least squares, "CR1", "CR3"); one summary block per
        estimator and covariance, labelled "ols", "ols+CR1", ... Default: classic, and classic with
        CR1 when ``cluster`` is given. On a rebuilt design every new run gets its own ``run_id``.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> sim = ps.simulate("log_err ~ I(log2(TS)-IXMin)*mix", weights="w", n_trials=50, estimators=("ols",))
    >>> list(sim.summary.columns[:4]), sim.estimates["ols"].shape
    (['estimator', 'term', 'truth', 'mean_estimate'], (50, 4))
    """
    defaults = R_DEFAULTS if r_defaults else TIGHT_DEFAULTS
    control = IrwlsControl(maxit=defaults["maxit"] if maxit is None else maxit, acc=defaults["acc"] if acc is None else acc)
    setup = _setup(estimators, residuals, design, min_trials, n_trials, seed, level, EstimatorOptions(weight_type, control),
                   vcov, cluster)
    parsed = parse(formula)
    raw = load(data)
    frame_args = {"weights": weights, "where": where, "let": list(let or ()), "na": na,
                  "extra_columns": list(dict.fromkeys([*([resample_within] if resample_within else []), *setup.cluster]))}
    obs_mf = model_frame(raw, parsed.variables, **frame_args)
    observed = design_matrices(parsed, obs_mf)
    beta, source = _truth_and_source(observed, obs_mf, truth, setup, resample_within)
    idx = term_indices(observed.column_names, terms)
    plan = _sim_design(raw, parsed, frame_args, obs_mf, observed, setup.design, resample_within, setup.cluster)
    model = residual_model(setup.residuals, source)
    fits, responses = _run(plan, beta, model, setup, idx, keep_responses, progress)
    names = tuple(observed.column_names[i] for i in idx)
    truth_s = pd.Series(beta[idx], index=list(names), dtype=float)
    df = float(np.count_nonzero(_root(plan.weights, len(plan.x))) - plan.x.shape[1])
    summary = summarize(fits, truth_s, setup.level, df)
    return SimulationResult(
        summary=summary, estimates={e: f.coef for e, f in fits.items()}, std_errors={e: f.se for e, f in fits.items()},
        converged={e: f.ok for e, f in fits.items()}, terms=names, truth=truth_s, n_trials=setup.n_trials, seed=setup.seed,
        residuals=setup.residuals, design=setup.design.name, residuals_description=model.description,
        design_description=_design_sentence(setup.design, plan, obs_mf), responses=responses, level=setup.level,
        formula=formula, estimators=setup.labels, data=plan.frame, prior_weights=plan.weights, df_resid=df,
    )


# ----------------------------------------------------------------------------- truth and residual source


def _truth_and_source(observed: DesignMatrices, mf: ModelFrame, truth, setup: _Setup, within: str | None):
    w = mf.weights
    root = _root(w, len(observed.y))
    ols = least_squares(observed.x * root[:, None], observed.y * root)
    if not ols.kept.all():
        aliased = [n for n, k in zip(observed.column_names, ols.kept) if not k]
        raise DataError(f"the design is singular ({', '.join(aliased)} aliased); simulation needs full rank: remove those terms")
    beta = ols.coef
    if isinstance(truth, str):
        if truth not in ESTIMATORS:
            raise OptionError(f"truth {truth!r} is neither an estimator ({', '.join(ESTIMATORS)}) nor a mapping of terms")
        fitted = ESTIMATORS[truth](observed.x, observed.y[None], w, setup.options)
        if not fitted.ok[0]:
            raise DataError(f"the {truth} fit on the data did not converge, so it cannot give the true coefficients")
        beta = fitted.coef[0]
    source = _source(observed, root, beta, mf, within)
    if isinstance(truth, Mapping):
        beta = beta.copy()
        for name, value in truth.items():
            beta[term_indices(observed.column_names, [name])[0]] = float(value)
    elif truth is not None and not isinstance(truth, str):
        raise OptionError(f"truth must be None, an estimator name or a mapping term -> value, got {type(truth).__name__}")
    return beta, source


def _source(observed: DesignMatrices, root: np.ndarray, beta: np.ndarray, mf: ModelFrame, within: str | None) -> ResidualSource:
    pos = root > 0
    xw = observed.x[pos] * root[pos, None]
    resid = root[pos] * (observed.y[pos] - observed.x[pos] @ beta)
    df = int(pos.sum()) - observed.x.shape[1]
    xtx_inv = least_squares(xw, np.zeros(len(xw))).xtx_inv
    leverage = np.einsum("ij,jk,ik->i", xw, xtx_inv, xw)
    groups = mf.frame[within].to_numpy()[pos] if within else None
    return ResidualSource(observed.x[pos], resid, float(np.sqrt(resid @ resid / df)), leverage, groups)


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


@dataclass(frozen=True)
class _Plan:
    """The rows trials are simulated on: design, prior weights, noise factor 1/sqrt(w0 of template), groups."""

    x: np.ndarray
    weights: np.ndarray | None
    noise: np.ndarray
    groups: np.ndarray | None
    frame: pd.DataFrame
    cluster: tuple[str, ...] = ()

    def clusters(self, rows: np.ndarray | None = None) -> Clusters | None:
        """The cluster codes of the simulated rows (of ``rows`` only, when given)."""
        if not self.cluster:
            return None
        return make_clusters({c: self.frame[c].to_numpy() if rows is None else self.frame[c].to_numpy()[rows]
                              for c in self.cluster})


def _sim_design(raw, parsed, frame_args, obs_mf: ModelFrame, observed: DesignMatrices, spec: DesignSpec, within,
                cluster: tuple[str, ...] = ()) -> _Plan:
    if spec.min_trials is None:
        groups = obs_mf.frame[within].to_numpy() if within else None
        return _Plan(observed.x, obs_mf.weights, noise_factor(obs_mf.weights, len(observed.y)), groups, obs_mf.frame,
                     cluster)
    raw = raw.reset_index(drop=True)
    rebuilt = rebuild_trials(raw, spec, parsed.regressors, usable=np.isin(np.arange(len(raw)), obs_mf.frame.index))
    mf = model_frame(rebuilt, parsed.variables, **{**frame_args, "extra_columns": [*frame_args["extra_columns"], TEMPLATE]})
    sim = design_matrices(parsed, mf)
    if tuple(sim.column_names) != tuple(observed.column_names):
        raise DataError(f"design {spec.name!r} changes the model's columns ({', '.join(sim.column_names)}); "
                        "the trial scheme must keep every level the data has")
    template = pd.Index(obs_mf.frame.index).get_indexer(mf.frame[TEMPLATE].to_numpy())
    keep = template >= 0  # rows copying a row the real fit did not use (filtered, NA) have no noise level
    w_obs = None if obs_mf.weights is None else obs_mf.weights[template[keep]]
    weights = None if mf.weights is None else mf.weights[keep]
    groups = mf.frame[within].to_numpy()[keep] if within else None
    frame = mf.frame.loc[keep].drop(columns=TEMPLATE)
    return _Plan(sim.x[keep], weights, noise_factor(w_obs, int(keep.sum())), groups, frame, cluster)


def _design_sentence(spec: DesignSpec, plan: _Plan, obs_mf: ModelFrame) -> str:
    if spec.min_trials is None:
        return f"Observed design: the data's own {len(plan.x)} rows with their prior weights."
    rows = f" The simulated design has {len(plan.x)} rows (the data {len(obs_mf.frame)})."
    return (spec.description + rows + " Each row's error keeps the variance of the configuration it copies in the data, "
            "so only the estimators' weights follow the new trial counts.")


# ----------------------------------------------------------------------------- trials


def _run(plan: _Plan, beta, model: ResidualModel, setup: _Setup, idx, keep_responses, progress):
    total, m = setup.n_trials, len(plan.x)
    out = {e: (np.full((total, len(idx)), np.nan), np.full((total, len(idx)), np.nan), np.zeros(total, bool))
           for e in setup.labels}
    responses = np.empty((total, m)) if keep_responses else None
    mean = plan.x @ beta
    _keep_freed_memory()
    starts = list(range(0, total, CHUNK))
    done = 0
    # Chunks are independent (each has its own random stream and rows of the outputs), and numpy
    # releases the GIL in the partitions and products that dominate, so cores work on chunks side
    # by side; the numbers do not depend on the number of workers.
    with _one_blas_thread(), ThreadPoolExecutor(max_workers=_workers(len(starts))) as pool:
        jobs = [pool.submit(_chunk, plan, mean, model, setup, idx, out, responses, b, s) for b, s in enumerate(starts)]
        for job in as_completed(jobs):
            done += job.result()
            if progress is not None:
                progress(done, total)
    return {e: BatchFit(*v) for e, v in out.items()}, responses


@functools.cache
def _keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory rather than return it to the system (once per process).

    Every IRWLS iteration allocates several T x n temporaries (1.7 MB at 250 trials x 832 rows).
    With glibc's defaults each is a fresh mmap, or heap memory trimmed away as soon as it is freed,
    so its pages fault in again on first touch: a third of the simulation's time. Raising the mmap
    threshold to 32 MiB and the trim threshold to 256 MiB lets the process reuse those blocks; the
    cost is that up to that much freed memory stays with the process. No-op off glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    return bool(mallopt(M_TRIM_THRESHOLD, 256 << 20)) and bool(mallopt(M_MMAP_THRESHOLD, 32 << 20))


def _workers(n_chunks: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n_chunks, cores))


def _one_blas_thread():
    """Run the batched products on one BLAS thread: with p ~ 10 columns, threads cost more in
    synchronisation than they save, and on a busy machine they made the trials six times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency; without it, BLAS's default
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _chunk(plan: _Plan, mean, model: ResidualModel, setup: _Setup, idx, out, responses, b: int, start: int) -> int:
    """Draw chunk ``b``'s responses from its own random stream and fit them with every estimator."""
    stop = min(start + CHUNK, setup.n_trials)
    rng = np.random.default_rng(np.random.SeedSequence(setup.seed, spawn_key=(b,)))
    y = mean + model.draw(rng, stop - start, plan.x, plan.groups) * plan.noise
    if responses is not None:
        responses[start:stop] = y
    for name in setup.estimators:
        fit = ESTIMATORS[name](plan.x, y, plan.weights, setup.options)
        for label, estimator, kind in setup.variants:
            if estimator == name:
                _store(out[label], fit if kind == "classic" else sandwich_fit(fit, kind, plan), idx, start, stop)
    return stop - start


def sandwich_fit(fit: BatchFit, kind: str, plan: _Plan) -> BatchFit:
    """``fit`` with the standard errors of sandwich covariance ``kind`` in place of its own."""
    xw, score, dpsi, rows = fit.sandwich
    clusters = plan.clusters(rows)
    try:
        cov = sandwich_many(xw, score, dpsi, kind, clusters)
    except SingularDesignError:  # some trial's bread is singular: the others still count
        cov = np.stack([_one_sandwich(xw, score[t], None if dpsi is None else dpsi[t], kind, clusters)
                        for t in range(len(score))])
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    return BatchFit(fit.coef, se, fit.ok & np.isfinite(se).all(axis=1), fit.sandwich)


def _one_sandwich(xw, score, dpsi, kind, clusters) -> np.ndarray:
    try:
        return sandwich_many(xw, score[None], None if dpsi is None else dpsi[None], kind, clusters)[0]
    except SingularDesignError:
        return np.full((xw.shape[1], xw.shape[1]), np.nan)


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
