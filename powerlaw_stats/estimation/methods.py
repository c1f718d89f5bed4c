"""The registry of estimators: one frozen :class:`Method` per name, the only list of them.

``fit`` runs a method's single fit, ``simulate`` and ``plan`` its batched fit, the wild bootstrap
its resampling; the report, the figures and the command line take its names and words from here.
Every method sees the prior weights through one of three :class:`Weighting` rules (MASS's and
robustbase's), so how weights act is written once per rule, not once per caller.

Adding an estimator is one more record here and its numbers in a module beside this one. A method
need not be IRWLS-shaped: its single fit gets the whole :class:`Problem` (design, response, prior
weights, clusters, settings) and returns an :class:`ArrayFit`; ``design`` may build its own model
matrices from the parsed formula (a mixed model's Z); ``fit_many`` and ``resample`` may be None
until it has them, and simulate, plan and the bootstrap then refuse it in one clear line.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from ..errors import ConvergenceWarning, DataError, OptionError, SingularDesignError
from ..inference.covariance import Clusters, classic_cov, make_clusters, sandwich_many
from ..inference.tests import LeastSquaresSummary, ls_summary
from ..options import CLUSTER_KINDS, SeLabel, VcovKind, WeightType, unknown
from .irwls import IrwlsControl, IrwlsStart, irwls, irwls_start, m_scores, rlm_sigma, rlm_sigma_of
from .least_squares import ManyResponses, WeightedSolver, least_squares
from .mm import MM_TUNING, MMControl, m_step, mm_covariance, mm_estimate
from .norms import Bisquare, make_norm
from .shared import SharedWork

WordStyle = Literal["title", "prose", "figure"]
TIGHT = IrwlsControl()  # our IRWLS default: iterate to a tight optimum (200 steps, 1e-10)
MASS = IrwlsControl(maxit=20, acc=1e-4)  # MASS::rlm's defaults, --r-defaults


# ----------------------------------------------------------------------------- the records


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """How a method is asked to run: the typed controls of every estimator, validated where built.

    ``weight_type`` says how prior weights act (MASS's ``wt.method``), ``vcov`` which covariance
    to report, ``also_vcov`` more covariances of the same estimate (a single fit computes them
    beside ``vcov``, into :attr:`ArrayFit.more_cov`, instead of being fitted again for each),
    ``tuning`` the psi constant (None: MASS's default), ``irwls`` and ``mm`` the iteration
    settings of M- and MM-estimation, ``seed`` MM's subsampling seed.
    """

    weight_type: WeightType = "inv.var"
    vcov: VcovKind = "classic"
    also_vcov: tuple[VcovKind, ...] = ()
    tuning: float | None = None
    irwls: IrwlsControl = TIGHT
    mm: MMControl = field(default_factory=MMControl)
    seed: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One model's arrays as a method takes them.

    ``x`` (n × p) and ``y`` (n) are the design and response on the original scale; ``clusters``
    maps cluster column names to their values on the same rows (empty: not clustered).
    """

    x: np.ndarray
    y: np.ndarray
    prior_weights: np.ndarray | None
    column_names: tuple[str, ...]
    intercept: bool
    settings: Settings = field(default_factory=Settings)
    clusters: Mapping[str, np.ndarray] = field(default_factory=dict)

    def cluster_codes(self, rows: np.ndarray | None = None) -> Clusters | None:
        """The cluster codes of the rows used (all when ``rows`` is None), or None when not clustered."""
        if not self.clusters:
            return None
        return make_clusters({name: v if rows is None else v[rows] for name, v in self.clusters.items()})


@dataclass(frozen=True, slots=True, kw_only=True)
class Whitened:
    """A design as an estimator sees it once the prior weights act.

    ``xw`` holds the rows used (``rows``: a mask over the data's rows, None for all), multiplied
    by ``sqrt(w)`` for inverse-variance weights; ``root`` is ``sqrt(w)`` over every row (ones
    without weights); ``case`` the case weights when they count rows instead (then ``xw`` is X).
    """

    xw: np.ndarray
    root: np.ndarray
    rows: np.ndarray | None = None
    case: np.ndarray | None = None

    def response(self, y: np.ndarray) -> np.ndarray:
        """``y`` (n, or T × n) transformed as the design was."""
        if self.rows is not None:
            return np.atleast_2d(y)[:, self.rows] * self.root[self.rows]
        return y if self.case is not None else y * self.root


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayFit:
    """A single fit's numbers, before names are put on them.

    ``coef`` has NaN for aliased columns (``kept`` False); ``cov`` is the covariance of the kept
    coefficients (``settings.vcov``'s), ``more_cov`` those of ``settings.also_vcov`` by kind;
    ``fitted`` is on the original scale; ``weights`` the final IRWLS weights (the prior weights
    for least squares); ``s_coef`` the S-estimate an MM fit started from.
    """

    coef: np.ndarray
    kept: np.ndarray
    cov: np.ndarray
    df: float
    fitted: np.ndarray
    scale: float
    weights: np.ndarray
    nobs: int
    converged: bool = True
    n_iter: int = 0
    tuning: float | None = None
    ls_summary: LeastSquaresSummary | None = None
    s_coef: np.ndarray | None = None
    more_cov: Mapping[VcovKind, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scores:
    """What a sandwich covariance needs from a batch: see :func:`~powerlaw_stats.inference.covariance.sandwich_many`.

    ``score_resid`` holds ``s psi(r/s)`` per trial (T × rows), ``dpsi`` ``psi'(r/s)`` (None for
    least squares); ``rows`` marks the data rows used (None: all).
    """

    xw: np.ndarray
    score_resid: np.ndarray
    dpsi: np.ndarray | None = None
    rows: np.ndarray | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchFit:
    """One estimator on a batch of trials: coefficients and its classic SEs (T × p), usable trials (T,).

    ``scores`` feeds the sandwich covariances (None where the method keeps none: case weights).
    """

    coef: np.ndarray
    se: np.ndarray
    ok: np.ndarray
    scores: Scores | None = None


class FitMany(Protocol):
    """A batched fit: one estimator on every row of ``y`` (T × n) sharing the design ``x`` and prior weights ``w0``.

    ``shared``, when given, is the chunk's view of a :class:`~powerlaw_stats.estimation.shared.SharedWork`:
    pieces that other estimators of the same chunk, or other chunks on the same design, computed already.
    """

    def __call__(self, x: np.ndarray, y: np.ndarray, w0: np.ndarray | None, settings: Settings,
                 shared: SharedWork | None = None) -> BatchFit:
        """Fit every row of ``y``."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """What a resampling starts from: the fit's coefficients (NaN where aliased), scale, df and S start."""

    coef: np.ndarray
    scale: float
    df_resid: float
    tuning: float | None = None
    s_coef: np.ndarray | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resampling:
    """One fit set up for the wild bootstrap: whitened design, fitted values, residuals, the refit and SE.

    ``refit(Y)`` maps responses (B × n) to coefficients (B × p) and converged flags; ``se(Y, coef)``
    gives the standard error the fit reports, on each replicate.
    """

    xw: np.ndarray
    fitted: np.ndarray
    resid: np.ndarray
    coef: np.ndarray
    refit: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    se: Callable[[np.ndarray, np.ndarray], np.ndarray]
    clusters: Clusters | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Weighting:
    """How a method's prior weights act: the rule's name and its whitening."""

    name: str
    whiten: Callable[[np.ndarray, np.ndarray | None, WeightType], Whitened]


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodWords:
    """A method's name in each place it is shown: a table's title, a sentence, a figure."""

    title: str
    prose: str
    figure: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Method:
    """One estimator as every consumer needs it; names and numbers follow R (lm, MASS::rlm, robustbase::lmrob).

    Attributes
    ----------
    name : the key in :data:`METHODS` and the ``--method`` value.
    words : how the method is named in tables, prose and figures.
    weighting : how prior weights act (and which weight types the method takes).
    vcov_kinds : the covariances it offers, ``"classic"`` (its own, R's) first.
    classic_label : what its classic covariance is called in a fit's footer and JSON.
    fit : the single fit behind :func:`powerlaw_stats.fit`.
    fit_many : the batched fit of many responses on one design (simulate, plan), or None.
    resample : sets a fit up for the wild bootstrap, or None.
    simulated_by_default : whether simulate and the report check it unless told otherwise (MM's
        batched fit costs about 25 times the other three together per trial).
    sandwich_weights : the weight types its sandwich covariances accept.
    control_of : picks its iteration settings out of :class:`Settings` (None: closed form).
    """

    name: str
    words: MethodWords
    weighting: Weighting
    vcov_kinds: tuple[VcovKind, ...]
    classic_label: str
    fit: Callable[[Problem], ArrayFit]
    fit_many: FitMany | None = None
    resample: Callable[[Problem, Estimate], Resampling] | None = None
    simulated_by_default: bool = True
    sandwich_weights: tuple[WeightType, ...] = ("inv.var", "case")
    control_of: Callable[[Settings], IrwlsControl | MMControl | None] = lambda settings: None

    def control(self, settings: Settings) -> IrwlsControl | MMControl | None:
        """The iteration settings this method runs with (None for a closed-form fit)."""
        return self.control_of(settings)


# ----------------------------------------------------------------------------- weighting


def _root(w0: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if w0 is None else np.sqrt(np.asarray(w0, dtype=float))


def whiten_all(x: np.ndarray, w0: np.ndarray | None, weight_type: WeightType = "inv.var") -> Whitened:
    """Least squares (R's ``lm.wfit``): every row times ``sqrt(w)``; a zero weight gives a zero row.

    Examples
    --------
    >>> whiten_all(np.ones((2, 1)), np.array([4.0, 0.0])).xw.ravel().tolist()
    [2.0, 0.0]
    """
    root = _root(w0, x.shape[0])
    return Whitened(xw=x * root[:, None], root=root)


def whiten_or_count(x: np.ndarray, w0: np.ndarray | None, weight_type: WeightType = "inv.var") -> Whitened:
    """M-estimation (MASS's ``wt.method``): inverse-variance weights whiten, case weights count rows in IRWLS.

    Examples
    --------
    >>> whiten_or_count(np.ones((2, 1)), np.array([4.0, 1.0]), "case").case.tolist()
    [4.0, 1.0]
    """
    root = _root(w0, x.shape[0])
    if w0 is not None and weight_type == "case":
        return Whitened(xw=x, root=root, case=np.asarray(w0, dtype=float))
    return Whitened(xw=x if w0 is None else x * root[:, None], root=root)


def whiten_positive(x: np.ndarray, w0: np.ndarray | None, weight_type: WeightType = "inv.var") -> Whitened:
    """MM (robustbase ``lmrob``): rows of weight zero are set aside, the others whitened; no case weights.

    Examples
    --------
    >>> whiten_positive(np.ones((3, 1)), np.array([4.0, 0.0, 1.0])).xw.ravel().tolist()
    [2.0, 1.0]
    """
    if w0 is not None and weight_type == "case":
        raise OptionError("method 'mm' treats prior weights as inverse variances (as lmrob does); "
                          "drop --weight-type case")
    root = _root(w0, x.shape[0])
    rows = root > 0
    return Whitened(xw=x[rows] * root[rows, None], root=root, rows=rows)


INVERSE_VARIANCE = Weighting(name="least squares", whiten=whiten_all)
M_ESTIMATION = Weighting(name="M-estimation", whiten=whiten_or_count)
POSITIVE_ROWS = Weighting(name="MM-estimation", whiten=whiten_positive)


# ----------------------------------------------------------------------------- shared pieces


def _full_rank(kept: np.ndarray, problem: Problem, method: str) -> None:
    if not kept.all():
        aliased = [n for n, k in zip(problem.column_names, kept) if not k]
        raise SingularDesignError(f"the design is singular ({', '.join(aliased)} aliased); {method} needs "
                                  "full rank: remove those terms or use method 'ols', which reports them as NA")


def enough_rows(n: int, p: int, method: str) -> None:
    """Refuse a fit with no more rows than coefficients: it has no residual degrees of freedom.

    Examples
    --------
    >>> try:
    ...     enough_rows(3, 3, "huber")
    ... except SingularDesignError as exc:
    ...     print(str(exc).split(";")[0])
    3 rows for 3 coefficients leave no residual degrees of freedom
    """
    if n <= p:
        raise SingularDesignError(f"{n} rows for {p} coefficients leave no residual degrees of freedom; {method} needs "
                                  "more rows than coefficients: add data or drop terms")


def _warn_if_not_converged(method: str, converged: bool, n_iter: int, acc: float) -> None:
    if not converged:
        warnings.warn(f"{method} IRWLS did not converge in {n_iter} iterations (acc {acc:g}); "
                      "the estimates are the last iterate", ConvergenceWarning, stacklevel=4)


def _xtx_inv_diag(xw: np.ndarray) -> np.ndarray:
    return np.diag(least_squares(xw, np.zeros(len(xw))).xtx_inv)


def _finite(*arrays: np.ndarray) -> np.ndarray:
    return np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in arrays])


def _mm_scores(resid: np.ndarray, scale: np.ndarray, control: MMControl) -> tuple[np.ndarray, np.ndarray]:
    # the scale is held at its S value, as robustbase's .vcov.w does
    norm = Bisquare(control.m_tuning)
    u = resid / scale[:, None]
    return scale[:, None] * norm.psi(u), norm.dpsi(u)


def _sandwich_se(xw: np.ndarray, clusters: Clusters | None, kind: VcovKind,
                 scores: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]):
    """SE from a sandwich of ``kind``; ``scores(Y, coef)`` gives the scores and psi' (or None)."""
    def se(y: np.ndarray, coef: np.ndarray) -> np.ndarray:
        cov = sandwich_many(xw, *scores(y, coef), kind, clusters)
        return np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    return se


def covariances(settings: Settings, cov_of: Callable[[VcovKind], np.ndarray]
                ) -> tuple[np.ndarray, dict[VcovKind, np.ndarray]]:
    """``settings.vcov``'s covariance and each of ``settings.also_vcov``'s, by ``cov_of(kind)`` on one estimate.

    Examples
    --------
    >>> covariances(Settings(vcov="HC0", also_vcov=("classic",)), lambda kind: np.eye(1) * len(kind))
    (array([[3.]]), {'classic': array([[7.]])})
    """
    return cov_of(settings.vcov), {kind: cov_of(kind) for kind in settings.also_vcov if kind != settings.vcov}


# ----------------------------------------------------------------------------- least squares (lm)


def ls_fit(problem: Problem) -> ArrayFit:
    """R's ``lm`` with prior weights: aliased columns are NA, the covariance classic, HC or CR.

    Case weights are frequency weights: the fit of the table with each row repeated that many
    times (the same coefficients, ``sum(w) - p`` residual degrees of freedom), as ``lm`` gives it.
    """
    w0, settings = problem.prior_weights, problem.settings
    wh = whiten_all(problem.x, w0)
    yw = wh.response(problem.y)
    ls = least_squares(wh.xw, yw)
    case = w0 is not None and settings.weight_type == "case"
    n = float(np.sum(w0)) if case else int(np.count_nonzero(wh.root))
    df = n - ls.rank
    if df <= 0:
        raise SingularDesignError(f"{n:g} rows for {ls.rank} coefficients leave no residual degrees of freedom; "
                                  "a fit needs more rows than coefficients: add data or drop terms")
    cov, more_cov = covariances(settings, lambda kind: classic_cov(ls.xtx_inv, ls.resid, df) if kind == "classic" else
                                sandwich_many(wh.xw[:, ls.kept], ls.resid[None], None, kind, problem.cluster_codes(),
                                              bread_inv=ls.xtx_inv)[0])
    weights = np.ones(len(yw)) if w0 is None else w0
    nobs = int(round(n)) if case else int(np.count_nonzero(weights))
    return ArrayFit(coef=ls.coef, kept=ls.kept, cov=cov, more_cov=more_cov, df=float(df),
                    fitted=problem.x[:, ls.kept] @ ls.coef[ls.kept],
                    scale=float(np.sqrt(ls.resid @ ls.resid / df)), weights=weights, nobs=nobs,
                    ls_summary=ls_summary(yw, wh.root, ls.resid, ls.rank, df, problem.intercept))


def ls_fit_many(x: np.ndarray, y: np.ndarray, w0: np.ndarray | None, settings: Settings,
                shared: SharedWork | None = None) -> BatchFit:
    """(Weighted) least squares for every row of ``y``: R's ``lm`` coefficients and classic SEs.

    Examples
    --------
    >>> x = np.column_stack([np.ones(5), np.arange(5.0)])
    >>> fit = ls_fit_many(x, np.array([[0.0, 1, 2, 3, 5]]), None, Settings())
    >>> fit.coef.round(3), fit.se.round(3)
    (array([[-0.2,  1.2]]), array([[0.283, 0.115]]))
    """
    shared = SharedWork() if shared is None else shared
    wh = shared.design("whiten_all", lambda: whiten_all(x, w0))
    coef, resid = _least_squares_of_chunk(shared, x, y, w0)
    rows = float(np.sum(w0)) if w0 is not None and settings.weight_type == "case" else np.count_nonzero(wh.root)
    df = rows - x.shape[1]
    if df <= 0:
        raise DataError(f"{np.count_nonzero(wh.root)} rows for {x.shape[1]} coefficients leave no residual degrees of freedom")
    se = np.sqrt(np.einsum("tn,tn->t", resid, resid)[:, None] / df * _xtx_inv_diag_of(shared, x, w0))
    return BatchFit(coef=coef, se=se, ok=_finite(coef, se), scores=Scores(xw=wh.xw, score_resid=resid))


def _least_squares_of_chunk(shared: SharedWork, x: np.ndarray, y: np.ndarray, w0: np.ndarray | None):
    """The chunk's weighted least squares (coefficients, whitened residuals): "ols"'s estimate and every M start."""
    wh = shared.design("whiten_all", lambda: whiten_all(x, w0))
    solver = shared.design("least squares", lambda: ManyResponses(wh.xw))
    return shared.chunk("least squares", lambda: solver.fit(wh.response(y)))


def _xtx_inv_diag_of(shared: SharedWork, x: np.ndarray, w0: np.ndarray | None) -> np.ndarray:
    """The diagonal of (X̃ᵀX̃)⁻¹, X̃ = X·sqrt(w) for either weight type: what classic SEs scale."""
    return shared.design("xtx_inv_diag", lambda: _xtx_inv_diag(whiten_all(x, w0).xw))


def ls_resample(problem: Problem, est: Estimate) -> Resampling:
    """Least squares in closed form on the kept columns: replicates are one product with the hat matrix."""
    kept = ~np.isnan(est.coef)
    xw = whiten_all(problem.x, problem.prior_weights).xw[:, kept]
    yw = whiten_all(problem.x, problem.prior_weights).response(problem.y)
    ls = least_squares(xw, yw)
    hat = ls.xtx_inv @ xw.T  # p × n: coef = Y @ hat.T
    df = est.df_resid

    def refit(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return y @ hat.T, np.ones(len(y), dtype=bool)

    def classic(y: np.ndarray, coef: np.ndarray) -> np.ndarray:
        r = y - coef @ xw.T
        return np.sqrt(np.outer((r**2).sum(axis=1) / df, np.diag(ls.xtx_inv)))

    kind, clusters = problem.settings.vcov, problem.cluster_codes()
    se = classic if kind == "classic" else _sandwich_se(xw, clusters, kind, lambda y, c: (y - c @ xw.T, None))
    return Resampling(xw=xw, fitted=xw @ ls.coef, resid=ls.resid, coef=ls.coef, refit=refit, se=se, clusters=clusters)


# ----------------------------------------------------------------------------- M-estimation (MASS::rlm)


def m_fit(psi: str) -> Callable[[Problem], ArrayFit]:
    """The single IRWLS fit with ``psi`` ("huber", "bisquare"): MASS ``rlm`` from the least-squares start."""

    def fit(problem: Problem) -> ArrayFit:
        settings = problem.settings
        norm = make_norm(psi, settings.tuning)
        wh = whiten_or_count(problem.x, problem.prior_weights, settings.weight_type)
        yw, case = wh.response(problem.y), wh.case
        enough_rows(int(np.count_nonzero(wh.root)) if case is None else int(np.count_nonzero(case)), wh.xw.shape[1], psi)
        # X·sqrt(w) for either weight type: the start's design, and the one summary.rlm inverts
        xtilde = wh.xw * wh.root[:, None] if case is not None else wh.xw
        start = least_squares(xtilde, yw * wh.root) if case is not None else least_squares(xtilde, yw)
        _full_rank(start.kept, problem, psi)
        res = irwls(wh.xw, yw[None], norm, case_weights=case, control=settings.irwls, start=start.coef[None])
        _warn_if_not_converged(psi, res.converged[0], int(res.n_iter[0]), settings.irwls.acc)
        p = wh.xw.shape[1]

        def cov_of(kind: VcovKind) -> np.ndarray:
            if kind == "classic":  # full rank, so the start's (X̃ᵀX̃)⁻¹ is over every column
                return float(rlm_sigma(res.resid, res.scale, norm, p, case)[0]) ** 2 * start.xtx_inv
            return sandwich_many(wh.xw, *m_scores(res.resid, res.scale, norm), kind, problem.cluster_codes())[0]

        cov, more_cov = covariances(settings, cov_of)
        coef = res.coef[0]
        return ArrayFit(coef=coef, kept=start.kept, cov=cov, more_cov=more_cov,
                        df=(len(yw) if case is None else float(case.sum())) - p,
                        fitted=problem.x @ coef, scale=float(res.scale[0]), weights=res.weights[0], nobs=len(yw),
                        converged=bool(res.converged[0]), n_iter=int(res.n_iter[0]),
                        tuning=norm.k if hasattr(norm, "k") else norm.c)

    fit.__name__ = fit.__qualname__ = f"{psi}_fit"
    return fit


def m_fit_many(psi: str) -> FitMany:
    """The batched IRWLS estimator with ``psi``: MASS ``rlm`` for every row of ``y``, as ``fit`` runs it."""

    def fit_many(x: np.ndarray, y: np.ndarray, w0: np.ndarray | None, settings: Settings,
                 shared: SharedWork | None = None) -> BatchFit:
        alone = shared is None  # then nothing else holds the start's residuals and IRWLS may overwrite them
        shared = SharedWork() if shared is None else shared
        norm = make_norm(psi)
        wt = settings.weight_type
        wh = shared.design(("whiten_or_count", wt), lambda: whiten_or_count(x, w0, wt))
        yw, case = shared.chunk(("response", wt), lambda: wh.response(y)), wh.case
        start = shared.chunk(("irwls start", wt, settings.irwls.scale_est),
                             lambda: _m_start(shared, x, y, w0, settings, alone))
        solver = shared.design(("weighted solver", wt, len(y) > 1), lambda: WeightedSolver(wh.xw, trials=len(y)))
        res = irwls(wh.xw, yw, norm, case_weights=case, control=settings.irwls, start=start, solver=solver)
        score, dpsi = m_scores(res.resid, res.scale, norm)
        sigma = rlm_sigma_of(score, dpsi, x.shape[1], case)
        se = sigma[:, None] * np.sqrt(_xtx_inv_diag_of(shared, x, w0))
        # case weights enter IRWLS itself, so the sandwich (which takes inverse-variance weights) has no scores
        scores = None if case is not None else Scores(xw=wh.xw, score_resid=score, dpsi=dpsi)
        return BatchFit(coef=res.coef, se=se, ok=res.converged & _finite(res.coef, se), scores=scores)

    fit_many.__name__ = fit_many.__qualname__ = f"{psi}_fit_many"
    return fit_many


def _m_start(shared: SharedWork, x: np.ndarray, y: np.ndarray, w0: np.ndarray | None, settings: Settings,
             own: bool) -> IrwlsStart:
    """MASS's start, the (case- or inverse-variance-) weighted least-squares fit, with its scales.

    That fit is the "ols" fit of the same chunk: for inverse-variance weights its whitened residuals
    are IRWLS's working residuals too; case weights leave IRWLS's residuals unweighted.
    """
    wt = settings.weight_type
    wh = shared.design(("whiten_or_count", wt), lambda: whiten_or_count(x, w0, wt))
    coef, resid = _least_squares_of_chunk(shared, x, y, w0)
    yw = shared.chunk(("response", wt), lambda: wh.response(y))
    return irwls_start(wh.xw, yw, coef, resid=None if wh.case is not None else resid, case_weights=wh.case,
                       scale_est=settings.irwls.scale_est, own=own)


def m_resample(psi: str) -> Callable[[Problem, Estimate], Resampling]:
    """IRWLS from the estimate for each replicate; the classic SE is MASS's on the replicate."""

    def resample(problem: Problem, est: Estimate) -> Resampling:
        settings, w0 = problem.settings, problem.prior_weights
        wh = whiten_or_count(problem.x, w0, settings.weight_type)
        xw, case = wh.xw, wh.case
        norm = make_norm(psi, est.tuning)
        coef = est.coef
        p = xw.shape[1]
        xtilde_inv = least_squares(problem.x * wh.root[:, None], np.zeros(len(problem.y))).xtx_inv
        scale = {"now": np.array([est.scale])}  # the replicates' scales, once refitted

        def refit(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            fit = irwls(xw, y, norm, case_weights=case, control=settings.irwls, start=np.repeat(coef[None], len(y), axis=0))
            scale["now"] = fit.scale
            return fit.coef, fit.converged

        def classic(y: np.ndarray, c: np.ndarray) -> np.ndarray:
            sigma = rlm_sigma(y - c @ xw.T, scale["now"], norm, p, case)
            return sigma[:, None] * np.sqrt(np.diag(xtilde_inv))[None]

        kind, clusters = settings.vcov, problem.cluster_codes()
        se = classic if kind == "classic" else _sandwich_se(xw, clusters, kind,
                                                            lambda y, c: m_scores(y - c @ xw.T, scale["now"], norm))
        resid = wh.response(problem.y) - xw @ coef
        return Resampling(xw=xw, fitted=xw @ coef, resid=resid, coef=coef, refit=refit, se=se, clusters=clusters)

    return resample


# ----------------------------------------------------------------------------- MM (robustbase::lmrob)


def mm_fit(problem: Problem) -> ArrayFit:
    """Robustbase's ``lmrob``: an S-estimate (breakdown 0.5), then bisquare IRWLS at its scale (95 % efficiency)."""
    settings = problem.settings
    wh = whiten_positive(problem.x, problem.prior_weights, settings.weight_type)
    xw, yw, rows = wh.xw, wh.response(problem.y)[0], wh.rows
    assert rows is not None  # whiten_positive always marks the rows it keeps
    enough_rows(int(rows.sum()), xw.shape[1], "mm")
    _full_rank(least_squares(xw, yw).kept, problem, "mm")
    fit = mm_estimate(xw, yw[None], settings.mm, settings.seed)
    _warn_if_not_converged("mm", bool(fit.converged[0]), int(fit.n_iter[0]), settings.mm.acc)
    cov, more_cov = covariances(settings, lambda kind: mm_covariance(xw, fit.resid, fit.s_resid, fit.scale, settings.mm)[0]
                                if kind == "classic" else sandwich_many(xw, *_mm_scores(fit.resid, fit.scale, settings.mm),
                                                                        kind, problem.cluster_codes(rows))[0])
    weights = np.zeros(len(problem.y))
    weights[rows] = fit.weights[0]
    coef = fit.coef[0]
    return ArrayFit(coef=coef, kept=np.ones(len(coef), dtype=bool), cov=cov, more_cov=more_cov,
                    df=float(rows.sum() - xw.shape[1]),
                    fitted=problem.x @ coef, scale=float(fit.scale[0]), weights=weights, nobs=int(rows.sum()),
                    converged=bool(fit.converged[0]), n_iter=int(fit.n_iter[0]), tuning=MM_TUNING, s_coef=fit.s_coef[0])


def mm_fit_many(x: np.ndarray, y: np.ndarray, w0: np.ndarray | None, settings: Settings,
                shared: SharedWork | None = None) -> BatchFit:
    """MM for every row of ``y`` on the raw design, as ``fit(method="mm")`` runs it.

    Zero-weight rows are set aside, as lmrob does (``scores.rows`` marks the rows kept). MM starts
    from its own S-estimate, so it takes nothing from ``shared``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = np.column_stack([np.ones(30), rng.normal(size=30)])
    >>> fit = mm_fit_many(x, x @ [1.0, 2.0] + rng.normal(0, 0.1, (3, 30)), None, Settings())
    >>> fit.coef.shape, bool(fit.ok.all()), bool((fit.se < 0.1).all())
    ((3, 2), True, True)
    """
    control = settings.mm
    wh = whiten_positive(x, w0, settings.weight_type)
    fit = mm_estimate(wh.xw, wh.response(y), control, settings.seed)
    cov = mm_covariance(wh.xw, fit.resid, fit.s_resid, fit.scale, control)
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    score, dpsi = _mm_scores(fit.resid, fit.scale, control)
    return BatchFit(coef=fit.coef, se=se, ok=fit.converged & _finite(fit.coef, se),
                    scores=Scores(xw=wh.xw, score_resid=score, dpsi=dpsi, rows=wh.rows))


def mm_resample(problem: Problem, est: Estimate) -> Resampling:
    """The bisquare M-step from the estimate at the S scale, which the bootstrap holds fixed."""
    settings = problem.settings
    wh = whiten_positive(problem.x, problem.prior_weights, settings.weight_type)
    xw, yw, control = wh.xw, wh.response(problem.y)[0], settings.mm
    coef, s_coef, scale = est.coef, np.asarray(est.s_coef), float(est.scale)

    def refit(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, ok, _ = m_step(xw, y, np.repeat(coef[None], len(y), axis=0), np.full(len(y), scale), control)
        return c, ok

    def classic(y: np.ndarray, c: np.ndarray) -> np.ndarray:
        cov = mm_covariance(xw, y - c @ xw.T, y - s_coef @ xw.T, np.full(len(y), scale), control)
        return np.sqrt(np.diagonal(cov, axis1=1, axis2=2))

    kind, clusters = settings.vcov, problem.cluster_codes(wh.rows)
    se = classic if kind == "classic" else _sandwich_se(
        xw, clusters, kind, lambda y, c: _mm_scores(y - c @ xw.T, np.full(len(y), scale), control))
    return Resampling(xw=xw, fitted=xw @ coef, resid=yw - xw @ coef, coef=coef, refit=refit, se=se, clusters=clusters)


# ----------------------------------------------------------------------------- the registry

_ROBUST_VCOV: tuple[VcovKind, ...] = ("classic", "HC0", "HC1", "CR1", "CR3")

OLS = Method(
    name="ols", words=MethodWords(title="Least squares", prose="least squares", figure="least squares"),
    weighting=INVERSE_VARIANCE, vcov_kinds=("classic", "HC0", "HC1", "HC3", "CR1", "CR3"), classic_label="classic",
    fit=ls_fit, fit_many=ls_fit_many, resample=ls_resample, sandwich_weights=("inv.var",),
)
HUBER = Method(
    name="huber", words=MethodWords(title="Huber M-estimation (IRWLS)", prose="Huber", figure="Huber IRWLS"),
    weighting=M_ESTIMATION, vcov_kinds=_ROBUST_VCOV, classic_label="rlm (MASS, XtX)",
    fit=m_fit("huber"), fit_many=m_fit_many("huber"), resample=m_resample("huber"), sandwich_weights=("inv.var",),
    control_of=lambda settings: settings.irwls,
)
BISQUARE = Method(
    name="bisquare", words=MethodWords(title="Bisquare M-estimation (IRWLS)", prose="bisquare", figure="bisquare IRWLS"),
    weighting=M_ESTIMATION, vcov_kinds=_ROBUST_VCOV, classic_label="rlm (MASS, XtX)",
    fit=m_fit("bisquare"), fit_many=m_fit_many("bisquare"), resample=m_resample("bisquare"), sandwich_weights=("inv.var",),
    control_of=lambda settings: settings.irwls,
)
MM = Method(
    name="mm", words=MethodWords(title="MM-estimation (S start, bisquare M-step)", prose="MM", figure="MM"),
    weighting=POSITIVE_ROWS, vcov_kinds=_ROBUST_VCOV, classic_label="lmrob (avar1)",
    fit=mm_fit, fit_many=mm_fit_many, resample=mm_resample, simulated_by_default=False, sandwich_weights=("inv.var",),
    control_of=lambda settings: settings.mm,
)

# name -> method, in the order tables and the report list them; a new estimator is one more entry
METHODS: dict[str, Method] = {m.name: m for m in (OLS, HUBER, BISQUARE, MM)}
DEFAULT_SIMULATED: tuple[str, ...] = tuple(m.name for m in METHODS.values() if m.simulated_by_default)


# ----------------------------------------------------------------------------- lookups


def method(name: object, what: str = "method") -> Method:
    """The registered method called ``name``; an unknown name is refused with the known ones.

    Examples
    --------
    >>> method("huber").words.title
    'Huber M-estimation (IRWLS)'
    """
    if name not in METHODS:
        raise OptionError(unknown(what, name, tuple(METHODS)))
    return METHODS[str(name)]


def label_words(label: SeLabel | str, style: WordStyle = "prose") -> str:
    """An estimate's label in words: the method's name in ``style``, and its SE when not the classic one.

    Examples
    --------
    >>> label_words("huber+CR1"), label_words("mm", "figure"), label_words("lasso")
    ('Huber with CR1 SEs', 'MM', 'lasso')
    """
    label = SeLabel.parse(label)
    known = METHODS.get(label.method)
    name = label.method if known is None else getattr(known.words, style)
    return name if label.kind == "classic" else f"{name} with {label.kind} SEs"


def check_settings(m: Method, settings: Settings, cluster: tuple[str, ...]) -> None:
    """Refuse a covariance, a weight type or cluster columns the method cannot combine.

    ``settings.also_vcov`` is checked as ``vcov`` is, except that it may hold non-clustered
    kinds beside a clustered ``vcov`` (the classic SE beside CR1, say).
    """
    vcov, kinds = settings.vcov, (settings.vcov, *settings.also_vcov)
    for kind in kinds:
        if kind not in m.vcov_kinds:
            where = "applies to least squares only" if kind in OLS.vcov_kinds else "is unknown"
            raise OptionError(f"vcov {kind!r} {where}; for method {m.name!r} choose one of {', '.join(m.vcov_kinds)}")
    if len(cluster) > 2:
        raise OptionError(f"cluster by one or two columns, got {len(cluster)}: {', '.join(cluster)}")
    for kind in kinds:
        if kind in CLUSTER_KINDS and not cluster:
            raise OptionError(f"vcov {kind!r} is cluster-robust: name the cluster column(s), e.g. --cluster run_id")
    if cluster and vcov not in CLUSTER_KINDS:
        raise OptionError(f"--cluster needs vcov CR1 or CR3, not {vcov!r}")
    if any(kind != "classic" for kind in kinds) and settings.weight_type not in m.sandwich_weights:
        raise OptionError(f"sandwich covariances of {m.words.prose} take inverse-variance weights; "
                          "use --weight-type inv.var")


def batched(m: Method) -> FitMany:
    """The method's batched fit; a method without one is refused in one line."""
    if m.fit_many is None:
        raise OptionError(f"method {m.name!r} has no batched fit yet, so it cannot be simulated; "
                          f"use {', '.join(DEFAULT_SIMULATED)}")
    return m.fit_many


def with_kind(settings: Settings, kind: VcovKind) -> Settings:
    """The same settings asking for covariance ``kind``."""
    return dataclasses.replace(settings, vcov=kind)
