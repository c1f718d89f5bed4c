"""Can the data tell a floor from a slope? Profile likelihoods, confounding, and floor-or-no-floor.

- Profile-likelihood intervals (least squares): for a coefficient (or a floor cell, a linear
  function of coefficients) the profile ``S(v) = min S(θ) subject to c·θ = v`` and the bounds,
  ``τ(v) = sign(v − v̂)·√(S(v) − S(θ̂))/s``, and the interval where ``|τ| ≤ t(1 − α/2, n − q)``:
  MASS's ``confint.nls`` (profile t), solved to 1e-7 in τ instead of interpolated, by Newton
  steps on τ whose slope comes free with each solve (dS/dv is the Lagrange multiplier of
  ``c·θ = v``), each solve started on the line through its solved neighbours. A floor's
  lower limit stops at its bound when τ has not reached the cutoff there.
- Confounding: a slope term's SE inflated beyond its SE under the nested law (E = 0) by more than
  a stated factor, or a floor whose profile is flat from its bound to half the cell's smallest
  error, gives an :class:`IdentificationWarning` with the numbers and the sizes that would
  separate floor and slope.
- Floor or no floor: the likelihood-ratio test of E = 0 on the boundary. One floor cell: the
  statistic is a 50:50 mixture of χ²₀ and χ²₁ (Self and Liang 1987). K cells (``E ~ EvalSet``):
  a chi-bar-square ``Σ_j w_j χ²_j`` whose weights are the probabilities that the projection of a
  N(0, V) draw onto the cone of feasible floors has j free dimensions, V the floor coefficients'
  covariance at the null; computed by Monte Carlo (seeded) over the cone's faces. The χ²_K tail is
  given as a conservative bound. Then AIC of both laws and the held-out error at the largest size.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import IdentificationWarning, OptionError, SingularDesignError
from ..estimation.least_squares import kept_columns
from ..inference.distributions import chi2_sf
from ..inference.tests import t_quantile
from .problem import Estimate, LawProblem, at_bound, covariance, estimate, loglik
from .result import FloorTest, Identification
from .solver import Constraints, NlsState, lm_solve, null_space, project_feasible

CHIBAR_DRAWS = 20000
CHIBAR_MAX_CELLS = 10
FLAT_SHARE = 0.5  # a floor profile reaching half the cell's smallest error is "flat"
PROFILE_TOL = 1e-7


def named(value: str | None) -> str:
    """A law's floor, slope, size input or nested law, which the callers here have checked exist."""
    if value is None:
        raise OptionError("this law has no floor, slope or size input to look at")
    return value


# ----------------------------------------------------------------------------- the nested law


def nested_problem(problem: LawProblem) -> LawProblem | None:
    """The same problem with the nested law's fixings (E = 0) as equalities, its bounds dropped."""
    law, design = problem.design.law, problem.design
    if law.nested is None:
        return None
    fixed = [p for p in law.nested[1] if not design.param(p).fixed_at_zero]
    if not fixed:
        return None
    cons = problem.cons
    keep = np.ones(len(cons.g), dtype=bool)
    for name in fixed:
        sl = design.slices[name]
        keep &= ~np.any(cons.g[:, sl] != 0, axis=1) if len(cons.g) else keep
    out = Constraints(cons.g[keep], cons.h[keep], tuple(lab for lab, k in zip(cons.labels, keep) if k))
    for name in fixed:
        for j in range(design.slices[name].start, design.slices[name].stop):
            out = out.with_equality(np.eye(design.n_coef)[j], 0.0)
    return problem.with_cons(out)


def fit_nested(problem: LawProblem, norm, opts) -> tuple[LawProblem, Estimate] | None:
    """The nested law (E = 0) fitted by the same estimator, or None when the law has none."""
    nested = nested_problem(problem)
    if nested is None:
        return None
    return nested, estimate(nested, norm, fixed_scale=opts.fixed_scale, control=opts.control)


# ----------------------------------------------------------------------------- profiles


def profile_terms(problem: LawProblem, est: Estimate, norm, opts, which: bool | Sequence[str], scale: float,
                  df: float) -> pd.DataFrame | None:
    """Profile-likelihood intervals of the chosen terms (least squares only; None otherwise)."""
    if norm is not None or which is False:
        return None
    targets = _targets(problem, which)
    if not targets:
        return None
    q = t_quantile(opts.level, df)
    guess_cov = _guess_cov(problem, est, scale)
    rows, done = [], {}
    for label, c in targets:
        key = tuple(np.round(c, 12))
        if key not in done:
            se = math.sqrt(max(float(c @ guess_cov @ c), 0.0)) if guess_cov is not None else 0.0
            done[key] = _profile_one(problem, est, c, q, scale, se, opts.control, guess_cov)
        rows.append({"term": label, **done[key]})
    return pd.DataFrame(rows).set_index("term")


def _targets(problem: LawProblem, which) -> list[tuple[str, np.ndarray]]:
    design = problem.design
    law = design.law
    p = design.n_coef
    coefs = {name: np.eye(p)[i] for i, name in enumerate(design.names)}
    cells = {}
    if law.floor is not None and not design.param(law.floor).fixed_at_zero:
        pd_ = design.param(law.floor)
        for cell, label in zip(pd_.cells, pd_.cell_labels):
            g = np.zeros(p)
            g[design.slices[law.floor]] = cell
            cells[f"{law.floor}[{label}]"] = g
    if which is True:
        chosen = [p_ for p_ in (law.slope, law.floor) if p_ is not None]
        if not chosen:
            return list(coefs.items())
        names = [n for prm in chosen for n in design.param(prm).names]
        return [(n, coefs[n]) for n in names] + list(cells.items())
    out = []
    every_cell = f"{law.floor}[*]"
    for name in which:
        if name in coefs:
            out.append((name, coefs[name]))
        elif name in cells:
            out.append((name, cells[name]))
        elif name == every_cell and cells:  # every floor cell, without knowing their labels beforehand
            out.extend(cells.items())
        else:
            raise OptionError(f"cannot profile {name!r}: not a coefficient or floor cell "
                              f"({', '.join(list(coefs) + list(cells) + ([every_cell] if cells else []))})")
    return out


def _guess_cov(problem: LawProblem, est: Estimate, scale: float) -> np.ndarray | None:
    # step sizes for the profile search: the covariance without the active bounds (a pinned
    # floor has no SE of its own but still needs a sensible first step)
    _, jac = problem.resid_jac(est.theta)
    basis = null_space(problem.cons.a, jac.shape[1]) if problem.cons.a is not None else np.eye(jac.shape[1])
    jn = jac @ basis
    try:
        return basis @ np.linalg.inv(jn.T @ jn) @ basis.T * scale**2
    except np.linalg.LinAlgError:
        return None


def _lower_bound(problem: LawProblem, c: np.ndarray) -> float | None:
    g, h = problem.cons.g, problem.cons.h
    for row, bound in zip(g, h):
        if np.allclose(row, c, rtol=0, atol=1e-12):
            return float(bound)
    return None


def _profile_one(problem: LawProblem, est: Estimate, c: np.ndarray, q: float, scale: float, se: float,
                 control, cov: np.ndarray | None = None) -> dict:
    v0 = float(c @ est.theta)
    step = q * (se if se > 0 else max(abs(v0), 1e-3) * 0.1)
    bound = _lower_bound(problem, c)
    search = _ProfileSearch(problem, est, c, scale, control, _trace(c, cov))
    out = {"estimate": v0}
    for side, direction in (("upper", 1.0), ("lower", -1.0)):
        limit, at_bound, open_ = _one_side(search, v0, direction, step, q, bound if direction < 0 else None)
        out[side] = limit
        out[f"{side}_at_bound"] = at_bound
        out[f"open_{side}"] = open_
    out["evaluations"] = search.count
    return out


def _trace(c: np.ndarray, cov: np.ndarray | None) -> np.ndarray:
    """How the other coefficients follow ``c·θ`` along the profile, to first order: ``Σc / c'Σc``.

    Moving along ``c`` alone leaves every correlated coefficient behind, which the solver then
    has to walk back; without a usable covariance that is still the start.
    """
    if cov is not None:
        var = float(c @ cov @ c)
        if var > 0 and np.all(np.isfinite(cov)):
            return cov @ c / var
    return c / float(c @ c)


class _ProfileSearch:
    """τ(v) and dτ/dv at points of one profile, each solve started where the points around v predict."""

    def __init__(self, problem: LawProblem, est: Estimate, c: np.ndarray, scale: float, control, trace: np.ndarray):
        self.problem, self.est, self.c, self.scale, self.control, self.trace = problem, est, c, scale, control, trace
        self.v0 = float(c @ est.theta)
        self.points: list[tuple[float, np.ndarray]] = [(self.v0, est.theta)]  # (v, θ(v)) solved so far
        self.count = 0

    def solve_at(self, v: float, start: np.ndarray) -> NlsState:
        self.count += 1
        c = self.c
        cons = self.problem.cons.with_equality(c, v)
        theta = project_feasible(start + c * (v - c @ start) / (c @ c), cons)
        return lm_solve(self.problem.resid_jac, theta, cons, control=self.control, curvature=self.problem.curvature)

    def guess(self, v: float) -> np.ndarray:
        """θ(v) by the line through the two solved points nearest v (the trace from the estimate at first)."""
        near = sorted(self.points, key=lambda p: abs(p[0] - v))[:2]
        (va, ta) = near[0]
        if len(near) < 2 or near[1][0] == va:
            return ta + self.trace * (v - va)
        vb, tb = near[1]
        return ta + (tb - ta) * ((v - va) / (vb - va))

    def __call__(self, v: float) -> tuple[float, float]:
        """τ(v) and its slope dτ/dv (NaN where it cannot be had)."""
        state = self.solve_at(v, self.guess(v))
        if not np.isfinite(state.rss):
            state = self._walk(v)
        if not np.isfinite(state.rss):
            return math.copysign(math.inf, v - self.v0), math.nan
        self.points.append((v, state.theta))
        t = math.copysign(math.sqrt(max(state.rss - self.est.rss, 0.0)) / self.scale, v - self.v0)
        return t, self._slope(state, v, t)

    def _walk(self, v: float) -> NlsState:
        # moving one coefficient alone can leave the model's domain (a negative floor below the
        # smallest error): then walk there from the nearest solved point, halving the stride until a solve succeeds
        v_from, start = min(self.points, key=lambda p: abs(p[0] - v))
        target = v
        state = None
        for _ in range(30):
            state = self.solve_at(target, start)
            if np.isfinite(state.rss):
                if target == v:
                    return state
                start, v_from, target = state.theta, target, v
            else:
                target = v_from + 0.5 * (target - v_from)
        assert state is not None
        return NlsState(start, math.inf, state.active, False, 0, "the profile left the model's domain")

    def _slope(self, state: NlsState, v: float, t: float) -> float:
        """dτ/dv = (dS/dv) / (2 s² τ), with dS/dv the Lagrange multiplier of ``c·θ = v`` at the solution."""
        if t == 0.0:
            return math.nan
        cons = self.problem.cons.with_equality(self.c, v)
        r, jac = self.problem.resid_jac(state.theta)
        grad = -2.0 * jac.T @ r  # ∇S = Σ multipliers × constraint rows at a constrained minimum
        eq = np.atleast_2d(self.c) if cons.a is None else cons.a  # never None: the profile's equality is last
        rows = np.vstack([eq, cons.g[state.active]]) if len(cons.g) else eq
        mult = np.linalg.lstsq(rows.T, grad, rcond=None)[0]
        slope = float(mult[cons.n_eq - 1]) / (2.0 * self.scale**2 * t)
        return slope if math.isfinite(slope) and slope > 0 else math.nan


def _one_side(tau: Callable, v0: float, direction: float, step: float, q: float, bound: float | None,
              max_expand: int = 40, maxit: int = 60) -> tuple[float, bool, bool]:
    """Solve |τ(v)| = q on one side of the estimate: safeguarded Newton on τ's analytic slope.

    Outward from the estimate until |τ| ≥ q (Newton steps, at most the doubling strides of a plain
    walk), then inside the bracket: Newton where it lands inside, Illinois regula falsi where not.
    """
    if bound is not None and v0 <= bound + 1e-14:
        return bound, True, False
    inside, outside = (v0, -q), None  # (v, |τ| − q) with |τ| < q, and with |τ| ≥ q (f may be inf)
    v, stride, side = v0 + direction * step, step, 0
    for it in range(max_expand + maxit):
        if outside is None and bound is not None and v <= bound:  # only the lower side has a bound
            v = bound
            t_b, _ = tau(bound)
            if abs(t_b) < q:
                return bound, True, False
            t, slope = t_b, math.nan
        else:
            t, slope = tau(v)
        f = abs(t) - q if math.isfinite(t) else math.inf
        if abs(f) < PROFILE_TOL:
            return v, False, False
        if f < 0:
            inside = (v, f)
            if side == -1 and outside is not None:
                outside = (outside[0], outside[1] / 2)  # Illinois: the stale end's value halved
            side = -1
        else:
            outside = (v, f)
            if side == 1:
                inside = (inside[0], inside[1] / 2)
            side = 1
        newton = v - direction * f / slope if math.isfinite(f) and math.isfinite(slope) else math.nan
        if outside is None:
            if it + 1 >= max_expand:
                return v, False, True
            stride *= 2.0
            far = v + direction * stride  # no further than the doubling walk would go
            v = newton if math.isfinite(newton) and 0 < (newton - v) * direction <= stride else far
            continue
        (va, fa), (vb, fb) = inside, outside
        if abs(vb - va) < 1e-12 * (abs(v) + 1e-12):
            return v, False, False
        lo, hi = min(va, vb), max(va, vb)
        if math.isfinite(newton) and lo < newton < hi:
            v = newton
        elif math.isfinite(fb) and fb != fa:
            v = vb - fb * (vb - va) / (fb - fa)
        else:  # the outer end left the model's domain: bisect
            v = 0.5 * (va + vb)
    return inside[0], False, False


# ----------------------------------------------------------------------------- identification


def identification(problem: LawProblem, est: Estimate, cov: np.ndarray, norm, opts, prof: pd.DataFrame | None,
                   nested: tuple[LawProblem, Estimate] | None, inflation_limit: float = 4.0,
                   size_of_input: Callable[[float], float] | None = None) -> Identification | None:
    """The confounding verdict with its numbers; warns (:class:`IdentificationWarning`) when confounded."""
    design = problem.design
    law = design.law
    if law.floor is None or law.slope is None or nested is None:
        return None
    if not inflation_limit > 1:
        raise OptionError(f"inflation_limit must exceed 1, got {inflation_limit!r}")
    nested_problem_, nested_est = nested
    cov0, _ = covariance(nested_problem_, nested_est, norm, "classic", None)
    # with the floor free even where it sits on its bound: a floor pinned at zero has no variance
    # of its own, but how much a floor near zero would blur the slope is the question here
    unpinned = Estimate(est.theta, est.rss, np.zeros_like(est.active), est.converged, est.n_iter, est.message,
                        est.scale, est.omega)
    try:
        cov1, _ = covariance(problem, unpinned, norm, "classic", None)
    except SingularDesignError:
        cov1 = cov if opts.vcov == "classic" else covariance(problem, est, norm, "classic", None)[0]
    slope_names = design.param(law.slope).names
    idx = [design.names.index(n) for n in slope_names]
    with np.errstate(divide="ignore", invalid="ignore"):
        infl = pd.Series(np.sqrt(np.diag(cov1)[idx] / np.diag(cov0)[idx]), index=list(slope_names))
    active = tuple(lab for lab, a in zip(problem.cons.labels, at_bound(problem, est)) if a)
    cells = _cell_table(problem, est, prof)
    flat = tuple(cells.index[cells["flat"]])
    sep = _separating(problem, est, cells, size_of_input)
    largest = float(design.inputs[law.size_input].max()) if law.size_input else math.nan
    inflated = infl[infl > inflation_limit]
    confounded = bool(len(inflated) or flat)
    message = _warning_text(inflated, inflation_limit, flat, cells, active, sep, largest, law, size_of_input) \
        if confounded else None
    if message:
        warnings.warn(message, IdentificationWarning, stacklevel=4)
    return Identification(confounded=confounded, inflation_limit=float(inflation_limit), se_inflation=infl,
                          bound_active=active, flat_floors=flat, separating=sep, largest_input=largest, warning=message)


def _cell_table(problem: LawProblem, est: Estimate, prof: pd.DataFrame | None) -> pd.DataFrame:
    design = problem.design
    law = design.law
    floor = named(law.floor)
    pdes = design.param(floor)
    sl = design.slices[floor]
    scale = law.floor_scale or (lambda y: y)
    rows = []
    for k, (cell, label) in enumerate(zip(pdes.cells, pdes.cell_labels)):
        key = f"{floor}[{label}]"
        in_cell = pdes.cell_of_row == k
        smallest = float(scale(design.y[in_cell]).min())
        value = float(cell @ est.theta[sl])
        upper = float(prof.loc[key, "upper"]) if prof is not None and key in prof.index else math.nan
        lower_bound = bool(prof.loc[key, "lower_at_bound"]) if prof is not None and key in prof.index else False
        rows.append({"cell": key, "estimate": value, "profile_upper": upper, "smallest_error": smallest,
                     "flat": bool(lower_bound and upper >= FLAT_SHARE * smallest)})
    return pd.DataFrame(rows).set_index("cell")


def _separating(problem: LawProblem, est: Estimate, cells: pd.DataFrame, size_of_input) -> pd.DataFrame:
    """Per floor cell: the floor to separate, and the input where the reducible part falls to it."""
    design = problem.design
    law = design.law
    values = design.values(est.theta)
    pdes = design.param(named(law.floor))
    x = design.inputs[named(law.size_input)]
    rows = []
    for k, key in enumerate(cells.index):
        est_floor, upper = cells.loc[key, "estimate"], cells.loc[key, "profile_upper"]
        floor = est_floor if est_floor > 1e-12 else upper
        in_cell = pdes.cell_of_row == k
        a, b = values["a"][in_cell], values[named(law.slope)][in_cell]
        with np.errstate(divide="ignore", invalid="ignore"):
            x_star = np.where(b < 0, (np.log2(floor) - a) / b, np.inf) if floor > 0 else np.full(len(a), np.inf)
        needed = float(np.max(x_star)) if len(x_star) else math.nan
        rows.append({"cell": key, "floor": float(floor), "input_needed": needed,
                     "size_needed": size_of_input(needed) if size_of_input and np.isfinite(needed) else math.nan,
                     "largest_input": float(x[in_cell].max())})
    return pd.DataFrame(rows).set_index("cell")


def _warning_text(inflated, limit, flat, cells, active, sep, largest, law, size_of_input) -> str:
    parts = []
    if len(inflated):
        parts.append("; ".join(f"SE of {n} is {v:.1f}x its SE without a floor" for n, v in inflated.items())
                     + f" (limit {limit:g}x)")
    for key in flat:
        parts.append(f"{key}: the profile interval reaches from the bound 0 to {cells.loc[key, 'profile_upper']:.4g}, "
                     f"past half the cell's smallest error {cells.loc[key, 'smallest_error']:.4g} (a flat profile)")
    if active:
        parts.append(f"at the bound E = 0: {', '.join(active)} (the Wald intervals of slope terms then treat the "
                     "floor as known; use the profile intervals)")
    need = []
    for key, row in sep.iterrows():
        if np.isfinite(row["input_needed"]) and row["input_needed"] > row["largest_input"]:
            size = f" (TS ≈ {row['size_needed']:.3g})" if np.isfinite(row["size_needed"]) else ""
            need.append(f"{key}: a floor of {row['floor']:.3g} is reached only at {law.size_input} = "
                        f"{row['input_needed']:.2f}{size}, beyond the data's {row['largest_input']:.2f}")
    text = f"the {law.name} law's floor and slope are confounded: " + "; ".join(parts)
    if need:
        text += ". Sizes that would separate them: " + "; ".join(need) + " (see plan)"
    return text


# ----------------------------------------------------------------------------- floor or no floor


def floor_test(problem: LawProblem, est: Estimate, norm, opts, nested: tuple[LawProblem, Estimate] | None,
               cov_null: np.ndarray | None = None) -> FloorTest | None:
    """LR test of E = 0 (boundary mixture), AIC of both laws, held-out error at the largest size."""
    if nested is None:
        return None
    law = problem.design.law
    nested_name = named(law.nested[0] if law.nested else None)
    nested_problem_, nested_est = nested
    heldout, note = _heldout(problem, nested_problem_, norm, opts)
    if norm is not None:
        return FloorTest(statistic=math.nan, p_value=None, p_value_conservative=None, mixture=(), mixture_method="",
                         loglik={}, aic={}, heldout=heldout, heldout_note=note, nested_law=nested_name,
                         note="the likelihood-ratio test and AIC need least squares (method 'ols')")
    n = problem.n
    # floors at their bound leave the nested law's RSS up to rounding: LR is 0 then (p 1), not rounding noise
    same = nested_est.rss - est.rss <= 1e-10 * nested_est.rss
    lr = 0.0 if same else n * math.log(nested_est.rss / est.rss) if est.rss > 0 else math.inf
    weights, method = chibar_weights(nested_problem_, nested_est, seed=opts.seed)
    k = len(weights) - 1
    p_mix = None if not weights else float(sum(w * _chi2_tail(lr, j) for j, w in enumerate(weights)))
    n_floor = len(problem.design.param(named(law.floor)).names)
    ll1, ll0 = loglik(problem, est.rss), loglik(nested_problem_, nested_est.rss)
    n1, n0 = len(problem.design.names) + 1, len(problem.design.names) - n_floor + 1
    return FloorTest(statistic=lr, p_value=p_mix, p_value_conservative=_chi2_tail(lr, max(k, n_floor)),
                     mixture=tuple(float(w) for w in weights), mixture_method=method,
                     loglik={law.name: ll1, nested_name: ll0},
                     aic={law.name: -2 * ll1 + 2 * n1, nested_name: -2 * ll0 + 2 * n0},
                     heldout=heldout, heldout_note=note, nested_law=nested_name)


def _chi2_tail(x: float, df: int) -> float:
    if df == 0:
        return 1.0 if x <= 0 else 0.0
    return chi2_sf(x, df)


def chibar_weights(nested_problem_: LawProblem, nested_est: Estimate, *, seed: int = 1,
                   draws: int = CHIBAR_DRAWS) -> tuple[tuple[float, ...], str]:
    """Chi-bar-square weights ``w_0..w_k`` for testing the floor coefficients at zero on their cone."""
    design = nested_problem_.design
    law = design.law
    sl = design.slices[named(law.floor)]
    cells = design.param(named(law.floor)).cells
    k = sl.stop - sl.start
    if len(cells) == 1 and k == 1:
        return (0.5, 0.5), "exact: one floor cell, 50:50 mixture of chi2(0) and chi2(1)"
    if len(cells) > CHIBAR_MAX_CELLS:
        return (), f"more than {CHIBAR_MAX_CELLS} floor cells: only the conservative chi2({k}) bound is given"
    _, jac = nested_problem_.resid_jac(nested_est.theta)
    try:
        info_inv = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return (), "the information at E = 0 is singular: only the conservative bound is given"
    v = info_inv[sl, sl]
    return _cone_dimensions(v, cells, seed, draws), (
        f"Monte Carlo over the faces of the floor cone ({draws} draws, seed {seed}; weights to about ±0.004)")


def _cone_dimensions(v: np.ndarray, m: np.ndarray, seed: int, draws: int) -> tuple[float, ...]:
    k = v.shape[0]
    prec = np.linalg.inv(v)
    z = np.random.default_rng(seed).standard_normal((draws, k)) @ np.linalg.cholesky(v).T
    zt = np.ascontiguousarray(z.T)  # draws along the rows' length: each check below reduces k short rows, not draws
    best = np.full(draws, np.inf)
    dim = np.zeros(draws, dtype=int)
    for size in range(len(m) + 1):
        for subset in itertools.combinations(range(len(m)), size):
            basis = null_space(m[list(subset)], k)
            d = basis.shape[1]
            if d == 0:
                theta = np.zeros_like(zt)
            else:
                proj = basis @ np.linalg.solve(basis.T @ prec @ basis, basis.T @ prec)
                theta = proj @ zt
            rows = np.flatnonzero(np.logical_and.reduce(m @ theta >= -1e-10, axis=0))  # draws whose projection fits
            diff = zt[:, rows] - theta[:, rows]
            obj = np.einsum("ji,jk,ki->i", diff, prec, diff)
            better = obj < best[rows] - 1e-12
            best[rows[better]], dim[rows[better]] = obj[better], d
    return tuple(float(np.mean(dim == j)) for j in range(k + 1))


def _heldout(problem: LawProblem, nested_problem_: LawProblem, norm, opts) -> tuple[pd.DataFrame | None, str | None]:
    law = problem.design.law
    if law.size_input is None:
        return None, f"the {law.name} law names no size input"
    x = problem.design.inputs[law.size_input]
    test = np.isclose(x, x.max())
    train = np.flatnonzero(~test)
    lost = [n for p in problem.design.params if not p.fixed_at_zero
            for n, k in zip(p.names, kept_columns(p.matrix[train])) if not k]
    if lost:
        return None, f"without the largest size {', '.join(lost)} cannot be estimated (levels seen only there)"
    rows = []
    try:
        for name, prob in ((law.name, problem), (named(law.nested[0] if law.nested else None), nested_problem_)):
            fit = estimate(prob.subset(train), norm, fixed_scale=opts.fixed_scale, control=opts.control)
            held = prob.subset(np.flatnonzero(test))
            r = held.y - held.fitted(fit.theta)
            w = held.weights
            rows.append({"law": name, "rms_error": math.sqrt(float(np.sum(w * r**2) / np.sum(w))),
                         "mean_error": float(np.sum(w * r) / np.sum(w)), "n_heldout": int(test.sum()),
                         "heldout_input": float(x.max())})
    except (SingularDesignError, OptionError) as exc:
        return None, f"the fit without the largest size fails: {exc}"
    return pd.DataFrame(rows).set_index("law"), None
