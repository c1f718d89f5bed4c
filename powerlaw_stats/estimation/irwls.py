"""M-estimation by iteratively reweighted least squares, MASS ``rlm`` step for step, with a Newton tail.

IRWLS is written for a batch of T responses sharing one design, so a single fit is the batch of
one and the simulation runs a thousand trials with the same code. Scale steps: MASS's MAD about
zero (weighted for case weights) or Huber's proposal 2.

IRWLS converges linearly (the change shrinks about fivefold a step), so reaching a tight optimum
(acc 1e-10) took three times the steps MASS's acc 1e-4 takes. When ``acc`` is below MASS's 1e-4
(:data:`NEWTON_ACC`), a trial whose step changed its residuals by at most :data:`NEWTON_SWITCH`
(1e-3) takes Newton steps on the same estimating equations instead (see :class:`IrwlsControl`);
they reach the same fixed point in two or three steps. A Newton step that fails or goes too far
is replaced by the IRWLS step, and the trial tries again nearer the optimum. At ``acc >= 1e-4``
(MASS's settings) no trial ever takes a Newton step: those fits are MASS's, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from ..options import ScaleEst, check_option
from .least_squares import WeightedSolver
from .norms import Norm

MAD_CONSTANT = 0.6745  # MASS divides the median absolute residual by this, not 1/1.4826
# A trial takes Newton steps once a step changed its residuals by at most NEWTON_SWITCH (MASS's relative
# change), and only where acc < NEWTON_ACC, MASS's default: at MASS's settings no trial ever takes a
# Newton step and every number is MASS's, bit for bit. NEWTON_SWITCH = 0 switches the tail off (the tests
# that follow R's IRWLS path step for step at a tight acc do so).
NEWTON_SWITCH = 1e-3
NEWTON_ACC = 1e-4
# How far a first Newton step may go: NEWTON_REACH times the IRWLS step before it, or more where IRWLS
# creeps (see _first_reach); NEWTON_RATE caps the rate that reasoning trusts. A refused trial tries again
# once its IRWLS change has fallen NEWTON_RETRY-fold below the change at the refusal, NEWTON_TRIES tries in all.
NEWTON_REACH = 10.0
NEWTON_RATE = 0.9
NEWTON_TRIES = 3
NEWTON_RETRY = 0.1


# ----------------------------------------------------------------------------- scale estimates


def mad_scale(resid: np.ndarray, case_weights: np.ndarray | None = None) -> np.ndarray:
    """MASS's scale: median absolute residual about zero / 0.6745, row by row (weighted for case).

    Examples
    --------
    >>> mad_scale(np.array([[1.0, -2.0, 3.0]])).round(6)
    array([2.965159])
    """
    if case_weights is None:
        return row_median(np.abs(resid)) / MAD_CONSTANT
    return weighted_mad(resid, case_weights)


def row_median(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)``, bit for bit, partitioning ``a`` in place (it must be a scratch array).

    One selection pass and a max instead of numpy's copy and two-pivot partition: the median is
    the hottest line of a batched IRWLS iteration.

    Examples
    --------
    >>> row_median(np.array([[3.0, 1.0, 2.0, 10.0]]))
    array([2.5])
    """
    n = a.shape[-1]
    half = n // 2
    a.partition(half, axis=-1)
    upper = a[..., half]
    if n % 2:
        return upper.copy()
    return (a[..., :half].max(axis=-1) + upper) / 2


def weighted_mad(resid: np.ndarray, case_weights: np.ndarray) -> np.ndarray:
    """MASS's ``wmad``: the weighted median of |r| (cumulative share crossing 0.5) / 0.6745."""
    a = np.abs(np.atleast_2d(resid))
    order = np.argsort(a, axis=1, kind="stable")
    xs = np.take_along_axis(a, order, axis=1)
    share = np.cumsum(case_weights[order], axis=1)
    share /= share[:, -1:]
    below = (share < 0.5).sum(axis=1)
    rows = np.arange(a.shape[0])
    upper = np.minimum(below + 1, a.shape[1] - 1)
    exact = share[rows, below] > 0.5
    value = np.where(exact, xs[rows, below], 0.5 * (xs[rows, below] + xs[rows, upper]))
    return value / MAD_CONSTANT


def _proposal2_step(resid, scale, case_weights, k2, n1):
    theta = math.erf(k2 / math.sqrt(2))  # 2Φ(k2) − 1
    gamma = theta + k2**2 * (1 - theta) - 2 * k2 * np.exp(-0.5 * k2**2) / np.sqrt(2 * np.pi)
    capped = np.minimum(resid**2, (k2 * scale[:, None]) ** 2)
    if case_weights is not None:
        capped = capped * case_weights
    return np.sqrt(capped.sum(axis=1) / (n1 * gamma))


# ----------------------------------------------------------------------------- IRWLS


@dataclass(frozen=True, slots=True, kw_only=True)
class IrwlsFit:
    """A batch of IRWLS fits: one row per trial.

    ``resid`` are the working residuals (whitened for inverse-variance weights, raw for case
    weights); ``scale`` and ``weights`` are those of the last step, as MASS reports them.
    """

    coef: np.ndarray
    resid: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class IrwlsControl:
    """Iteration settings: MASS's are maxit=20, acc=1e-4; ours default to a tight optimum.

    Every step computes the scale ``s`` from the current residuals (MAD about zero or proposal
    2) and the weights ``W = w(r/s)`` (times the case weights), exactly as MASS does, and every
    step counts in ``n_iter``; a trial stops when MASS's test holds: the relative change of its
    residuals, ``||r_old - r_new|| / ||r_old||``, is at most ``acc``. The step is MASS's weighted
    least squares, ``b' = (X̃ᵀWX̃)⁻¹X̃ᵀWy``, with one exception, the Newton tail:

    - when ``acc`` is below MASS's 1e-4 (:data:`NEWTON_ACC`), a trial whose last step changed its
      residuals by at most :data:`NEWTON_SWITCH` (1e-3) takes Newton steps (for as long as they are
      taken, however far they go) on the estimating equations ``X̃ᵀ s ψ(r/s) = 0``:
      ``b' = b + (X̃ᵀDX̃ - a∇sᵀ)⁻¹ X̃ᵀWr`` with ``D = ψ'(r/s)`` (times the case weights) and, for the
      unweighted MAD scale, the rank-one term of the scale's dependence on ``b``
      (``a = X̃ᵀ(ψ(u) - uψ'(u))``, ``∇s`` the MAD's gradient). The fixed point is IRWLS's
      (``X̃ᵀWr = 0``), reached in two or three steps where IRWLS takes ten;
    - a Newton step that fails (a singular ``X̃ᵀDX̃``; bisquare's ψ' is negative beyond c/√5) or
      goes too far (a first one more than ten times the IRWLS step before it, or ten times IRWLS's
      estimated distance to its limit where it creeps, a later one further than the step before it)
      is replaced by the IRWLS step from the same point; that trial takes IRWLS steps until its
      change is ten times smaller than at the refusal, then tries Newton again (three tries in all);
    - designs that the solver treats by QR (condition number above ``COND_LIMIT``) and Huber's
      proposal 2 scale keep IRWLS throughout.

    At ``acc >= 1e-4`` (MASS's settings, ``--r-defaults``) no Newton step is taken: the numbers
    and iteration counts are MASS's, bit for bit. At a tighter ``acc`` the iteration count is
    smaller than MASS's would be, and the figures at least as close to the exact optimum.
    """

    maxit: int = 200
    acc: float = 1e-10
    scale_est: ScaleEst = "MAD"
    k2: float = 1.345

    def __post_init__(self) -> None:
        """Refuse settings IRWLS cannot run with."""
        check_option(self.scale_est, ScaleEst, "scale_est")
        if int(self.maxit) < 1 or not self.acc > 0:
            raise OptionError("maxit must be at least 1 and acc positive")

    def to_dict(self) -> dict:
        """The settings as the report's JSON lists them."""
        return {"maxit": self.maxit, "acc": self.acc, "scale_est": self.scale_est}


def irwls(
    xw: np.ndarray,
    yw: np.ndarray,
    norm: Norm,
    *,
    case_weights: np.ndarray | None = None,
    control: IrwlsControl = IrwlsControl(),
    start: np.ndarray | IrwlsStart | None = None,
    solver: WeightedSolver | None = None,
) -> IrwlsFit:
    """M-estimation by iteratively reweighted least squares, MASS ``rlm`` step for step, with a Newton tail.

    ``yw`` holds one response per row (T × n); trials iterate together but each keeps its own
    scale, weights and convergence, and stops changing once it has converged. Below MASS's acc,
    once a trial's change is at most :data:`NEWTON_SWITCH` it takes Newton steps
    (:class:`IrwlsControl` states the rule; at MASS's acc 1e-4 there are none). ``start`` is the
    starting coefficients (T × p; None: least squares) or an :class:`IrwlsStart` that several
    norms share; ``solver`` a :class:`WeightedSolver` of ``xw`` set up by the caller, if any.

    Examples
    --------
    >>> from powerlaw_stats.estimation.norms import Huber
    >>> x = np.column_stack([np.ones(20), np.arange(20.0)])
    >>> y = (1 + 0.5 * np.arange(20.0) + np.sin(np.arange(20.0)))[None]
    >>> y[0, 19] += 10  # one gross outlier
    >>> fit = irwls(x, y, Huber())
    >>> fit.coef.round(4), bool(fit.converged[0])
    (array([[1.138 , 0.4921]]), True)
    """
    yw = np.atleast_2d(yw)
    solver = WeightedSolver(xw, trials=yw.shape[0]) if solver is None else solver
    if not isinstance(start, IrwlsStart):
        coef = _least_squares_start(yw, case_weights, solver) if start is None else start
        start = irwls_start(xw, yw, coef, case_weights=case_weights, scale_est=control.scale_est, own=True)
    state = _start_state(start)
    work = _Work(yw, start)
    for _ in range(int(control.maxit)):
        if work.size == 0:
            break
        _irwls_step(xw, norm, case_weights, control, state, work, solver)
    work.leave(np.ones(work.size, dtype=bool), state)  # trials still iterating at maxit keep their last step
    return IrwlsFit(**{k: state[k] for k in ("coef", "resid", "scale", "weights", "converged", "n_iter")})


@dataclass(frozen=True, slots=True, kw_only=True)
class IrwlsStart:
    """Where IRWLS starts: coefficients, their working residuals and MASS's scales of them.

    ``scale`` is the start's scale as MASS reports it before any step (1.4826 × the median
    absolute residual, or the weighted MAD for case weights); ``first`` the MAD scale of the first
    step, computed from the same median (None for Huber's proposal 2, which steps from ``scale``).
    The Huber and bisquare fits of a batch start from the same least-squares fit, so one start
    serves both; ``own`` says the residuals may be overwritten (a start nobody else holds).
    """

    coef: np.ndarray
    resid: np.ndarray
    scale: np.ndarray
    first: np.ndarray | None
    own: bool = False


def irwls_start(xw: np.ndarray, yw: np.ndarray, coef: np.ndarray, *, resid: np.ndarray | None = None,
                case_weights: np.ndarray | None = None, scale_est: ScaleEst = "MAD", own: bool = False) -> IrwlsStart:
    """The start at ``coef`` (T × p); ``resid``, when given, must be ``yw - coef @ xw.T`` as computed here."""
    resid = yw - coef @ xw.T if resid is None else resid
    if case_weights is not None:
        scale = weighted_mad(resid, case_weights)
        return IrwlsStart(coef=coef, resid=resid, scale=scale, first=scale if scale_est == "MAD" else None, own=own)
    # one partition gives both MASS's start scale and the first step's: np.median and row_median agree to the
    # bit, except that np.median is NaN on a row holding a NaN, which the row's sum of squares tells
    median = row_median(np.abs(resid))
    scale = 1.4826 * median
    scale[np.isnan(np.einsum("ij,ij->i", resid, resid))] = np.nan
    return IrwlsStart(coef=coef, resid=resid, scale=scale, first=median / MAD_CONSTANT if scale_est == "MAD" else None,
                      own=own)


def _least_squares_start(yw, case_weights, solver: WeightedSolver) -> np.ndarray:
    t, n = yw.shape
    w0 = np.ones((t, n)) if case_weights is None else np.broadcast_to(case_weights, (t, n))
    return solver.solve(np.asarray(w0, dtype=float), yw)


def _start_state(start: IrwlsStart) -> dict:
    # every trial writes its resid, weights, coef and scale here when it stops, so these need no values yet
    t, n = start.resid.shape
    return {
        "coef": np.empty_like(start.coef), "resid": np.empty((t, n)), "scale": np.empty(t), "weights": np.empty((t, n)),
        "converged": np.zeros(t, dtype=bool), "n_iter": np.zeros(t, dtype=int),
    }


class _Work:
    """The trials still iterating, packed into the leading rows of buffers allocated once.

    Each IRWLS step needs a few T × n arrays (|r|, the weights, the weighted response, the new
    residuals, the step); allocating them afresh every step, and gathering and scattering the
    active trials' rows of the full arrays once some have converged, cost more than the
    arithmetic. Here the active trials' residuals and weights live in the first ``size`` rows of
    buffers that trade roles from step to step, a trial's final numbers are written to the
    result once, when it stops, and the residuals and responses are repacked only when trials
    stop, in order, straight into a spare buffer. The weights are not repacked: every step
    computes them afresh, so until then ``weight_rows`` says where each trial's are. Every
    trial's arithmetic is what it was on the full arrays (the same rows in the same order), so
    the numbers are the same to the bit.
    """

    def __init__(self, yw: np.ndarray, start: IrwlsStart) -> None:
        self.ids = np.arange(yw.shape[0])
        self.y, self.y_spare = yw, None  # the caller's responses until a trial stops, then packed copies
        self.coef, self.scale = start.coef, start.scale  # replaced, never written into
        self.first = start.first  # the first step's scale, already known from the start
        self.resid = start.resid if start.own else start.resid.copy()
        self.weights = np.ones_like(self.resid)
        self.weight_rows: np.ndarray | None = None  # the row of ``weights`` of each active trial (None: its own)
        self.spare = (np.empty_like(self.resid), np.empty_like(self.resid))
        self.change = np.full(yw.shape[0], np.inf)  # each trial's last relative change of its residuals
        self.prev_change = np.full(yw.shape[0], np.inf)  # and the one before (their ratio: IRWLS's rate)
        self.newton_below = np.full(yw.shape[0], NEWTON_SWITCH)  # a trial takes a Newton step once its change is this small
        self.refusals = np.zeros(yw.shape[0], dtype=int)  # how many of a trial's Newton steps were refused
        self.after_newton = np.zeros(yw.shape[0], dtype=bool)  # trials whose last step was a Newton step
        self.newton_buffer: np.ndarray | None = None  # the Gram weights of Newton steps, allocated at the first one

    def newton_rows_buffer(self) -> np.ndarray:
        """The active trials' rows of a T × n buffer for Newton steps, allocated the first time one is taken."""
        if self.newton_buffer is None:
            self.newton_buffer = np.empty_like(self.resid)
        return self.rows(self.newton_buffer)

    @property
    def size(self) -> int:
        """How many trials are still iterating."""
        return len(self.ids)

    def rows(self, buffer: np.ndarray) -> np.ndarray:
        """The active trials' rows of ``buffer``."""
        return buffer[: self.size]

    def advance(self, coef: np.ndarray, scale: np.ndarray) -> None:
        """Take one step's numbers: the weights and residuals the step wrote into the spare buffers."""
        self.coef, self.scale = coef, scale
        (self.weights, self.resid), self.spare = self.spare, (self.weights, self.resid)
        self.weight_rows = None

    def leave(self, gone: np.ndarray, state: dict) -> None:
        """Write the numbers of the trials in ``gone`` (a mask over the active ones) to ``state``; keep the rest.

        Called between steps, when the spare buffers hold nothing needed.
        """
        if not gone.any():
            return
        m, ids, keep = self.size, self.ids[gone], ~gone
        weight_rows = np.arange(m) if self.weight_rows is None else self.weight_rows
        for key, value in (("coef", self.coef), ("scale", self.scale), ("resid", self.resid[:m])):
            state[key][ids] = value[gone]
        state["weights"][ids] = self.weights[weight_rows[gone]]
        self.ids, self.coef, self.scale = self.ids[keep], self.coef[keep], self.scale[keep]
        self.change, self.prev_change, self.after_newton = self.change[keep], self.prev_change[keep], self.after_newton[keep]
        self.newton_below, self.refusals = self.newton_below[keep], self.refusals[keep]
        self.weight_rows = weight_rows[keep]
        if self.size == 0:
            return
        kept = np.flatnonzero(keep)
        self.resid, self.spare = _take_rows(self.resid[:m], kept, self.spare[1]), (self.spare[0], self.resid)
        if self.y_spare is None:
            packed = self.y[kept]
            self.y, self.y_spare = packed, np.empty_like(packed)
        else:
            self.y, self.y_spare = _take_rows(self.y[:m], kept, self.y_spare), self.y


def _take_rows(a: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    # mode "clip" writes straight into out; the default ("raise") gathers into a temporary first
    np.take(a, rows, axis=0, out=out[: len(rows)], mode="clip")
    return out


def _next_scale(resid, prev, case_weights, control, n1, scratch: np.ndarray):
    if control.scale_est == "MAD":
        if case_weights is None:
            return row_median(np.abs(resid, out=scratch)) / MAD_CONSTANT
        return mad_scale(resid, case_weights)
    return _proposal2_step(resid, prev, case_weights, control.k2, n1)


def _irwls_step(xw, norm, case_weights, control, state, work: _Work, solver: WeightedSolver) -> None:
    resid = work.rows(work.resid)
    n1 = (xw.shape[0] if case_weights is None else case_weights.sum()) - xw.shape[1]
    newton = _newton_rows(work, solver, control)
    medians = None
    if work.first is not None:  # the first step's scale came with the start
        scale, work.first = work.first, None
    else:
        scale = _next_scale(resid, work.scale, case_weights, control, n1, work.rows(work.spare[0]))
        if newton is not None and control.scale_est == "MAD" and case_weights is None:
            medians = _median_pair(work.rows(work.spare[0]))  # the partition _next_scale left there
    zero = scale == 0  # a perfect fit: MASS stops and calls it converged, keeping its last step
    if zero.any():
        state["converged"][work.ids[zero]] = True
        work.leave(zero, state)
        scale = scale[~zero]
        if work.size == 0:
            return
        resid = work.rows(work.resid)
        newton = _newton_rows(work, solver, control)
        medians = None if medians is None or newton is None else (medians[0][~zero], medians[1][~zero])
    tilt = None if medians is None else _mad_gradient(xw, resid, medians, work.newton_rows_buffer(), newton)
    u = np.divide(resid, scale[:, None], out=work.rows(work.spare[0]))
    weights = norm.weight(u, out=u)
    gram_weights = None if newton is None else _newton_weights(norm, weights, case_weights, work)
    if case_weights is not None:
        np.multiply(weights, case_weights, out=weights)
    y, new_resid = work.rows(work.y), work.rows(work.spare[1])
    if newton is None:
        coef = solver.solve(weights, y, scratch=new_resid)
    else:
        coef = _newton_solve(solver, weights, gram_weights, y, resid, work.coef, newton, scratch=new_resid,
                             tilt=None if tilt is None else (tilt, scale))
    np.subtract(y, np.matmul(coef, xw.T, out=new_resid), out=new_resid)
    before = np.einsum("ij,ij->i", resid, resid)
    if newton is None:
        step = np.subtract(resid, new_resid, out=resid)  # the old residuals are not needed again
        change = np.sqrt(np.einsum("ij,ij->i", step, step) / np.maximum(1e-20, before))
    else:  # the old residuals stay for a refused step; the Gram weights' buffer takes the step
        change = _relative_change(resid, new_resid, before, out=gram_weights)
        _refuse_newton(xw, solver, weights, y, resid, before, coef, new_resid, change, newton, work)
    work.advance(coef, scale)
    work.prev_change, work.change = work.change, change
    state["n_iter"][work.ids] += 1
    failed = ~np.isfinite(change)
    done = (change <= control.acc) & ~failed
    state["converged"][work.ids[done]] = True
    work.leave(done | failed, state)


def _relative_change(resid: np.ndarray, new_resid: np.ndarray, before: np.ndarray,
                     out: np.ndarray | None = None) -> np.ndarray:
    # MASS's irls.delta, as the IRWLS step computes it, but leaving the old residuals as they are
    step = np.subtract(resid, new_resid, out=out)
    return np.sqrt(np.einsum("ij,ij->i", step, step) / np.maximum(1e-20, before))


# ----------------------------------------------------------------------------- the Newton tail


def _newton_rows(work: _Work, solver: WeightedSolver, control: IrwlsControl) -> np.ndarray | None:
    """Which active trials take a Newton step now (None: none of them).

    Only where ``acc`` is below :data:`NEWTON_ACC` (MASS's 1e-4, whose fits stay MASS's to the bit);
    then a trial does once its last step changed its residuals by at most :data:`NEWTON_SWITCH`
    (after a refused Newton step: by at most the smaller change that :func:`_refuse_newton` set), and
    keeps doing so while its Newton steps are taken, however far the first one went: a Newton step
    that lands near the optimum from where IRWLS crept leaves an IRWLS step tiny against the next
    Newton step's reach, which refused good steps and left the trial creeping.
    Never on a design the solver treats by QR (``solver.exact``): there the steps keep R's accuracy,
    which the normal equations would not.
    Never with Huber's proposal 2: its scale is a fixed-point iteration of its own, which sets the
    pace there; Newton steps on the coefficients saved one step in twenty and let MASS's test (on
    the residuals) pass while the scale was still twice as far from its limit as IRWLS leaves it.
    """
    if solver.exact or control.scale_est != "MAD" or not control.acc < NEWTON_ACC:
        return None
    rows = (work.change <= work.newton_below) | work.after_newton
    return rows if rows.any() else None


def _newton_weights(norm: Norm, weights: np.ndarray, case_weights: np.ndarray | None, work: _Work) -> np.ndarray:
    """The Gram weights of the step: ``ψ'(u)`` (times the case weights), from the weights ``w(u)``.

    Written into a buffer of ``work`` for every row (one pass beats gathering the Newton trials'
    rows); :func:`_newton_solve` overwrites the other trials' rows with their IRWLS weights.
    """
    out = norm.dpsi_from_weight(weights, out=work.newton_rows_buffer())
    if case_weights is not None:
        np.multiply(out, case_weights, out=out)
    return out


def _newton_solve(solver: WeightedSolver, weights, slopes, y, resid, coef, newton, scratch, tilt=None) -> np.ndarray:
    """The step's coefficients: IRWLS's for the trials not in ``newton``, ``b + (X̃ᵀDX̃)⁻¹ X̃ᵀ W r`` for those in it.

    ``W r`` is ``s ψ(r/s)`` (times the case weights) and ``D`` = ``slopes``; one batched solve
    serves both kinds, since an IRWLS step is the same solve with ``W`` as the Gram weights and
    ``W y`` as the right-hand side, computed as :meth:`WeightedSolver.solve` computes it.

    ``tilt`` = (∇s, s) takes the MAD scale's dependence on the coefficients into the Newton
    matrix: the estimating equations are ``F(b) = X̃ᵀ s(b) ψ(r/s(b))``, whose Jacobian is
    ``-(X̃ᵀDX̃ - a ∇sᵀ)`` with ``a = X̃ᵀ(ψ(u) - u ψ'(u))``. Without it the scale, recomputed at every
    step, leaves Newton a linear rate (about 0.1 here); with it, by Sherman–Morrison on the same
    Gram matrix, the step is Newton's on the equations the iteration actually solves.
    """
    everyone = newton.all()
    if everyone and tilt is not None:  # both right-hand sides in one solve
        gradient, scale = tilt
        both = np.empty((len(weights), 2, weights.shape[1]))
        np.multiply(weights, resid, out=both[:, 0])
        _tilt_rhs(weights, slopes, resid, scale, out=both[:, 1])
        out, extra = np.moveaxis(solver.solve_weighted(slopes, both), 1, 0)
        factor = np.einsum("ij,ij->i", gradient, out) / (1.0 - np.einsum("ij,ij->i", gradient, extra))
        return coef + out + extra * factor[:, None]
    if everyone:
        rhs = np.multiply(weights, resid, out=scratch)
    else:
        np.copyto(slopes, weights, where=~newton[:, None])  # the other rows' Gram weights are IRWLS's
        rhs = np.multiply(weights, y, out=scratch, where=~newton[:, None])
        np.multiply(weights, resid, out=rhs, where=newton[:, None])
    gram = solver.gram(slopes)
    out = solver.solve_weighted(slopes, rhs, gram=gram)
    if tilt is not None:
        gradient, scale = tilt
        extra = solver.solve_weighted(slopes, _tilt_rhs(weights, slopes, resid, scale, out=scratch), gram=gram)
        factor = np.einsum("ij,ij->i", gradient, out) / (1.0 - np.einsum("ij,ij->i", gradient, extra))
        np.add(out, extra * factor[:, None], out=out, where=newton[:, None])
    if everyone:
        return np.add(out, coef, out=out)
    return np.add(out, coef, out=out, where=newton[:, None])


def _tilt_rhs(weights, slopes, resid, scale, out: np.ndarray) -> np.ndarray:
    """``ψ(u) - u ψ'(u)`` = ``u (w - ψ')``, zero in the rows whose Gram weights are their IRWLS weights."""
    a = np.subtract(weights, slopes, out=out)
    np.multiply(a, resid, out=a)
    return np.divide(a, scale[:, None], out=a)


def _median_pair(partitioned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two middle values (one twice for odd n) of rows that :func:`row_median` has partitioned."""
    half = partitioned.shape[1] // 2
    upper = partitioned[:, half].copy()
    return (partitioned[:, :half].max(axis=1) if partitioned.shape[1] % 2 == 0 else upper), upper


def _mad_gradient(xw: np.ndarray, resid: np.ndarray, medians: tuple[np.ndarray, np.ndarray],
                  scratch: np.ndarray, newton: np.ndarray) -> np.ndarray:
    """∇s of MASS's MAD scale ``median|r| / 0.6745`` with respect to the coefficients, per trial (T × p).

    The median is the mean of the two middle |r_i| (r = y - X̃b), so it moves with
    ``-sign(r_i) x̃_i / 2`` for each of them (a tie picks one row twice: only the step's speed depends on it).
    Only the trials in ``newton`` use it: the others' rows are zero, and searching them would cost
    as much as searching the Newton trials' (the step after the switch has most trials still on IRWLS).
    """
    if newton.all():
        return _mad_gradient_of(xw, resid, medians, scratch)
    grad = np.zeros((len(resid), xw.shape[1]))
    at = np.flatnonzero(newton)
    grad[at] = _mad_gradient_of(xw, resid[at], (medians[0][at], medians[1][at]), scratch[: len(at)])
    return grad


def _mad_gradient_of(xw: np.ndarray, resid: np.ndarray, medians: tuple[np.ndarray, np.ndarray],
                     scratch: np.ndarray) -> np.ndarray:
    rows = np.arange(len(resid))
    absr = np.abs(resid, out=scratch)
    grad = np.zeros((len(resid), xw.shape[1]))
    for value in medians:
        at = (absr == value[:, None]).argmax(axis=1)
        grad -= np.sign(resid[rows, at])[:, None] * xw[at]
    return grad / (2 * MAD_CONSTANT)


def _refuse_newton(xw, solver, weights, y, resid, before, coef, new_resid, change, newton, work: _Work) -> None:
    """Replace, in place, each Newton step that failed or went too far by the IRWLS step from the same point.

    Far from the optimum (bisquare's ψ' is negative beyond c/√5) X̃ᵀDX̃ may be singular or
    indefinite and the step may lead away. A trial's first Newton step may change its residuals
    by up to :data:`NEWTON_REACH` times its last IRWLS step, more where IRWLS creeps and so is
    further from its limit (:func:`_first_reach`), each later one by no more than the step before: a
    step that fails or goes further is replaced by the IRWLS step from the same point, in the same
    iteration. That trial then takes IRWLS steps until its change has fallen :data:`NEWTON_RETRY`
    (tenfold) below the change at the refusal and tries Newton again, :data:`NEWTON_TRIES` times in
    all; after that, IRWLS only. (Bisquare trials whose IRWLS creeps at a rate near 1 saw a first
    Newton step go 10-80 times the IRWLS change, or a second one not contract, and then crept to
    acc 1e-10 for a hundred steps or more; nearer the optimum, the same Newton steps succeed.)
    """
    reach = np.where(work.after_newton, 1.0, _first_reach(work.change, work.prev_change)) * work.change
    bad = newton & ~(change <= reach)  # NaN: refused too
    work.after_newton = newton & ~bad
    refused = np.flatnonzero(bad)
    if refused.size == 0:
        return
    coef[refused] = solver.solve(weights[refused], y[refused])
    new_resid[refused] = y[refused] - coef[refused] @ xw.T
    change[refused] = _relative_change(resid[refused], new_resid[refused], before[refused])
    work.refusals[refused] += 1
    again = work.refusals[refused] < NEWTON_TRIES
    work.newton_below[refused] = np.where(again, NEWTON_RETRY * np.minimum(work.change[refused], NEWTON_SWITCH), -np.inf)


def _first_reach(change: np.ndarray, prev_change: np.ndarray) -> np.ndarray:
    """How many times its last IRWLS change a trial's first Newton step may change its residuals.

    IRWLS converging at the rate ``ρ`` (its last change over the one before) is still about
    ``ρ/(1-ρ)`` times its last change from its limit (9 times at ρ = 0.9, 19 at 0.95): a Newton step
    straight to the limit goes that far, and further where the rate is still rising. So the tenfold
    margin applies to that distance: ``NEWTON_REACH × max(1, ρ/(1-ρ))``, with ``ρ``
    capped at :data:`NEWTON_RATE` (at most 90 times the change, also where the IRWLS step grew); a
    trial with no step before it gets NEWTON_REACH's margin alone.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = change / prev_change
    rate = np.where(rate <= NEWTON_RATE, rate, np.where(rate > NEWTON_RATE, NEWTON_RATE, 0.0))  # NaN: no rate known
    return NEWTON_REACH * np.maximum(1.0, rate / (1.0 - rate))


# ----------------------------------------------------------------------------- MASS's covariance of an M-estimate


def rlm_sigma(
    resid: np.ndarray, scale: np.ndarray, norm: Norm, p: int, case_weights: np.ndarray | None = None
) -> np.ndarray:
    """MASS ``summary.rlm`` (method "XtX"): the factor σ with Cov(b) = σ² (X̃ᵀX̃)⁻¹, per trial.

    ``resid`` are working residuals (T × n) and ``scale`` the final s (T,). Huber's small-sample
    correction κ is included, exactly as MASS applies it.
    """
    return rlm_sigma_of(*m_scores(resid, scale, norm), p, case_weights)


def m_scores(resid: np.ndarray, scale: np.ndarray, norm: Norm) -> tuple[np.ndarray, np.ndarray]:
    """``s ψ(r/s)`` and ``ψ'(r/s)`` per trial (T × n): what MASS's covariance and a sandwich are made of.

    ``s ψ(u)`` is written as MASS writes it, ``r w(u)``; the two differ in the last bit.
    """
    resid = np.atleast_2d(resid)
    u = resid / np.asarray(scale, dtype=float).reshape(-1, 1)
    return resid * norm.weight(u), norm.dpsi(u)


def rlm_sigma_of(spsi: np.ndarray, dpsi: np.ndarray, p: int, case_weights: np.ndarray | None = None) -> np.ndarray:
    """:func:`rlm_sigma` from the scores of :func:`m_scores`, for a caller that needs them too."""
    if case_weights is None:
        n = spsi.shape[1]
        big_s = (spsi**2).sum(axis=1) / (n - p)
        m = dpsi.mean(axis=1)
        kappa = 1 + p * dpsi.var(axis=1, ddof=1) / (n * m**2)
    else:
        nn = case_weights.sum()
        big_s = (case_weights * spsi**2).sum(axis=1) / (nn - p)
        m1 = (case_weights * dpsi).sum(axis=1)
        m2 = (case_weights * dpsi**2).sum(axis=1)
        m = m1 / nn
        kappa = 1 + p * (m2 - m1**2 / nn) / (nn - 1) / (nn * m**2)
    return np.sqrt(big_s) * kappa / m
