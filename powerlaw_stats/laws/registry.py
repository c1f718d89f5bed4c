"""The law registry: one frozen :class:`Law` per curve family, all fitted by the same machinery.

A law is a mean function of a few named *parameters* and *inputs*. Each parameter is linear in
its own one-sided formula (``E ~ EvalSet``, ``b ~ mix + TrainSet*EvalSet``, ``"0"`` fixes it at
zero), so a parameter's value differs row by row, and every law gets factor effects on every
parameter for free: the engine builds one design per parameter, names its coefficients
``<param>.<column>`` as ``nlme::gnls`` does (just ``<param>`` for ``~ 1``), and chains the law's
gradient with the designs into the Jacobian.

Laws today:

- ``loglinear``: ``log2 err = a + b·x``, ``x = log2(TS) − IXMin`` (the seed's model, linear);
- ``saturating``: ``log2 err = log2(E + 2^(a + b·x))``, a floor ``E ≥ 0`` on the error scale;
  ``E = 0`` is exactly ``loglinear``;
- ``chinchilla``: Hoffmann et al.'s ``ln L = ln(e^e + e^(a − α ln N) + e^(b − β ln D))``, i.e.
  ``L = E + A/N^α + B/D^β`` with ``E = e^e``, ``A = e^a``, ``B = e^b``, fitted (by default) with
  a Huber loss of fixed scale 1 and ``δ = 1e-3`` in log space, as Besiroglu et al. (2024) refit it.

How to add a law
----------------
Write its mean and gradient as functions of ``values`` (parameter name → one value per row) and
``inputs`` (input name → one value per row), give default formulas, the inputs' default
expressions over the data, the response expression and its scale, per-row lower bounds, and a
start function, then add a :class:`Law` to :data:`LAWS` (here for a built-in law; at run time
``LAWS[law.name] = law`` registers one from outside). Nothing else changes: ``fit_law``
reads everything from the record. For example LCDB's ``pow3`` (``err = a − b·n^−c``, fitted on the
error scale rather than the log scale) is::

    def _pow3_mean(v, i):
        return v["a"] - v["b"] * i["n"] ** -v["c"]

    def _pow3_gradient(v, i):
        t = i["n"] ** -v["c"]
        return {"a": np.ones_like(t), "b": -t, "c": v["b"] * t * np.log(i["n"])}

    LAWS["pow3"] = Law(name="pow3", params=("a", "b", "c"), inputs={"n": "TS"}, response="error",
                       response_scale="error", mean=_pow3_mean, gradient=_pow3_gradient,
                       default_params={"a": "1", "b": "1", "c": "1"}, lower={"c": 0.0}, starts=...)

(``pow4``, ``mmf4``, ``wbl4``, ``exp3``, ``vap3``, ``log2`` and ``last1`` of Mohr, Viering et al.
2022 follow the same pattern.) A start function receives a :class:`StartProblem` and returns
candidate coefficient vectors; the engine refines the best few. Where some parameters enter the
mean linearly once the others are fixed (``a`` and ``b`` of ``pow3`` given ``c``; ``A`` and ``B``
of ``chinchilla`` given ``E``, ``α``, ``β`` on the loss scale), solve them by least squares inside
the start function (variable projection): ``chinchilla``'s starts do.

Bounds are per row: ``lower={"E": 0.0}`` means ``E_i ≥ 0`` at every distinct row of E's design
(each *cell* of ``E ~ EvalSet``), which the solver keeps as linear inequality constraints on the
coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

Values = Mapping[str, np.ndarray]
MeanFn = Callable[[Values, Values], np.ndarray]
GradientFn = Callable[[Values, Values], dict[str, np.ndarray]]
HessianFn = Callable[[Values, Values], dict[tuple[str, str], np.ndarray]]

LN2 = math.log(2.0)


@dataclass(frozen=True)
class StartProblem:
    """What a start function sees: the response, inputs, per-parameter designs and prior weights.

    ``designs[p]`` is parameter p's model matrix (n × k_p, k_p = 0 when fixed at zero) and
    ``slices[p]`` its coefficients' place in the full vector of ``n_coef``.
    """

    y: np.ndarray
    inputs: Values
    designs: Mapping[str, np.ndarray]
    slices: Mapping[str, slice]
    weights: np.ndarray
    n_coef: int

    def assemble(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        """A full coefficient vector from per-parameter pieces (missing pieces are zero)."""
        theta = np.zeros(self.n_coef)
        for name, sl in self.slices.items():
            if name in parts and sl.stop > sl.start:
                theta[sl] = parts[name]
        return theta

    def constant(self, param: str, value: float) -> np.ndarray:
        """Coefficients of ``param`` that give ``value`` on every row, as nearly as its design allows."""
        z = self.designs[param]
        if z.shape[1] == 0:
            return np.zeros(0)
        return np.linalg.lstsq(z, np.full(len(z), float(value)), rcond=None)[0]


StartFn = Callable[[StartProblem], list[np.ndarray]]


def _frozen(d: Mapping) -> Mapping:
    return MappingProxyType(dict(d))


@dataclass(frozen=True, kw_only=True)
class Law:
    """One curve family, as every consumer (fit, profile, simulate, plan, region) needs it.

    Attributes
    ----------
    name, summary : registry key and the formula in words.
    params : parameter names, in the order of the coefficient vector.
    inputs : input name → default expression over the data (``{"x": "log2(TS) - IXMin"}``).
    response, response_scale : default response expression and what scale it is on.
    mean, gradient : the mean function of per-row parameter values and inputs, and its partial
        derivatives in each parameter (per row); the engine multiplies them into the designs.
    hessian : optional second partial derivatives per row, keyed by parameter pairs (p, q) with
        p before q in ``params`` (pairs left out are zero); without it the solver differences the
        gradient, which costs one gradient evaluation per free coefficient and Newton step.
    default_params : default one-sided formula of each parameter (``"1"``: one value).
    lower : per-row lower bound of a parameter's value (``{"E": 0.0}``).
    starts : candidate starting coefficient vectors from a :class:`StartProblem`.
    nested : ``(law name, fixings)``: the law this one becomes when the fixings hold
        (``("loglinear", {"E": "0"})``), for the floor-or-no-floor comparison.
    floor, slope : the parameter that is the floor and the one that is the slope, if any: the
        identification diagnostics look at them; ``floor_scale`` maps the response to the floor's
        scale (``2^y`` for log2 error).
    size_input : the input whose largest value is the largest size (held-out check), or None.
    method, tuning, fixed_scale : the default estimator; ``fixed_scale`` holds the scale of the
        robust loss fixed (a Huber loss with threshold ``tuning·fixed_scale``) instead of MAD.
    reference : where the law comes from.
    fit_rows : which rows the law is fitted to, from the inputs (``last1``: the rows at the largest
        size); the other rows keep their fitted values. None: every row with positive weight.
    """

    name: str
    summary: str
    params: tuple[str, ...]
    inputs: Mapping[str, str]
    response: str
    response_scale: str
    mean: MeanFn
    gradient: GradientFn
    hessian: HessianFn | None = None
    default_params: Mapping[str, str]
    lower: Mapping[str, float] = field(default_factory=dict)
    starts: StartFn
    nested: tuple[str, Mapping[str, str]] | None = None
    floor: str | None = None
    floor_scale: Callable[[np.ndarray], np.ndarray] | None = None
    slope: str | None = None
    size_input: str | None = None
    method: str = "ols"
    tuning: float | None = None
    fixed_scale: float | None = None
    reference: str = ""
    fit_rows: Callable[[Values], np.ndarray] | None = None

    def __post_init__(self) -> None:
        """Freeze the mappings and check that formulas and bounds name the law's parameters."""
        for name in ("inputs", "default_params", "lower"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        if self.nested is not None:
            object.__setattr__(self, "nested", (self.nested[0], _frozen(self.nested[1])))
        unknown = (set(self.default_params) | set(self.lower)) - set(self.params)
        if unknown or set(self.default_params) != set(self.params):
            raise ValueError(f"law {self.name!r}: formulas and bounds must name exactly its parameters")


# ----------------------------------------------------------------------------- shared start helpers


def weighted_lstsq(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares coefficients (minimum-norm where x is rank deficient)."""
    root = np.sqrt(w)
    return np.linalg.lstsq(x * root[:, None], y * root, rcond=None)[0]


def _log_linear_parts(p: StartProblem, z: np.ndarray) -> dict[str, np.ndarray]:
    """A and b of ``z = a + b·x`` by weighted least squares: the model is linear in both."""
    za, zb = p.designs["a"], p.designs["b"]
    x = p.inputs["x"]
    coef = weighted_lstsq(np.column_stack([za, zb * x[:, None]]), z, p.weights)
    return {"a": coef[: za.shape[1]], "b": coef[za.shape[1]:]}


# ----------------------------------------------------------------------------- loglinear


def _loglinear_mean(v: Values, i: Values) -> np.ndarray:
    return v["a"] + v["b"] * i["x"]


def _loglinear_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    return {"a": np.ones_like(i["x"]), "b": np.asarray(i["x"], dtype=float)}


def _loglinear_starts(p: StartProblem) -> list[np.ndarray]:
    return [p.assemble(_log_linear_parts(p, p.y))]


# ----------------------------------------------------------------------------- saturating

FLOOR_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 0.9, 0.97)  # of each floor cell's smallest error


def _saturating_mean(v: Values, i: Values) -> np.ndarray:
    # log2(E + 2^u) = u + log2(1 + E·2^-u): E = 0 gives u exactly and a small floor keeps full
    # precision; a negative E (unbounded fits) is fine while E + 2^u > 0 and NaN beyond, which the
    # solver treats as an infinite objective
    u = v["a"] + v["b"] * i["x"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return u + np.log1p(v["E"] * np.exp2(-u)) / LN2


def _saturating_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    u = v["a"] + v["b"] * i["x"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        share = 1.0 / (1.0 + v["E"] * np.exp2(-u))  # the reducible part's share of the error: d f / d u
        return {"E": share * np.exp2(-u) / LN2, "a": share, "b": share * i["x"]}


def _saturating_hessian(v: Values, i: Values) -> dict[tuple[str, str], np.ndarray]:
    # with t = 2^-u and s = 1/(1 + E t): f_EE = -s²t²/ln2, f_Eu = -s²t, f_uu = ln2·s²·E·t,
    # and u = a + b·x carries x into every b derivative
    u = v["a"] + v["b"] * i["x"]
    x = np.asarray(i["x"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.exp2(-u)
        s = 1.0 / (1.0 + v["E"] * t)
        f_ee, f_eu, f_uu = -(s * t) ** 2 / LN2, -s * s * t, LN2 * s * s * v["E"] * t
    return {("E", "E"): f_ee, ("E", "a"): f_eu, ("E", "b"): f_eu * x, ("a", "a"): f_uu, ("a", "b"): f_uu * x,
            ("b", "b"): f_uu * x * x}


def _saturating_starts(p: StartProblem) -> list[np.ndarray]:
    """The log-linear fit (E = 0), then a profile over the floor.

    For a grid of floors (fractions of each E cell's smallest observed error) a and b come from the
    linear fit of log2(err − E).
    """
    starts = [p.assemble(_log_linear_parts(p, p.y))]
    ze = p.designs["E"]
    if ze.shape[1] == 0:
        return starts
    err = np.exp2(p.y)
    _, cell = np.unique(ze, axis=0, return_inverse=True)
    cell = cell.ravel()
    smallest = np.full(cell.max() + 1, np.inf)
    np.minimum.at(smallest, cell, err)
    for frac in FLOOR_FRACTIONS[1:]:
        e_rows = frac * smallest[cell]
        theta_e = np.linalg.lstsq(ze, e_rows, rcond=None)[0]
        e_fit = ze @ theta_e
        if np.any(e_fit < -1e-12 * np.max(np.abs(e_rows))):
            continue  # this design cannot give every cell that floor without a negative one
        z = np.log2(np.maximum(err - e_fit, 1e-3 * err))
        starts.append(p.assemble({"E": theta_e, **_log_linear_parts(p, z)}))
    return starts


# ----------------------------------------------------------------------------- chinchilla (Hoffmann et al.)

CHINCHILLA_GRID = {"alpha": (0.2, 0.35, 0.6), "beta": (0.2, 0.35, 0.6), "E": (0.5, 0.8, 0.95)}


def _chinchilla_shares(v: Values, i: Values) -> tuple[np.ndarray, np.ndarray]:
    # the three terms e, a − α ln N, b − β ln D; their log-sum-exp and each one's share of the sum
    t = np.stack([np.broadcast_to(v["e"], i["N"].shape), v["a"] - v["alpha"] * np.log(i["N"]),
                  v["b"] - v["beta"] * np.log(i["D"])])
    top = t.max(axis=0)
    ex = np.exp(t - top)
    total = ex.sum(axis=0)
    return top + np.log(total), ex / total


def _chinchilla_mean(v: Values, i: Values) -> np.ndarray:
    return _chinchilla_shares(v, i)[0]


def _chinchilla_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    share = _chinchilla_shares(v, i)[1]
    return {"e": share[0], "a": share[1], "alpha": -share[1] * np.log(i["N"]),
            "b": share[2], "beta": -share[2] * np.log(i["D"])}


def _chinchilla_starts(p: StartProblem) -> list[np.ndarray]:
    """A grid over (E, α, β), with A and B solved, not searched.

    Given E, α and β, A and B enter the loss linearly, so they come from non-negative least squares
    on the loss scale (variable projection).
    """
    loss = np.exp(p.y)
    n_inv, d_inv = np.log(p.inputs["N"]), np.log(p.inputs["D"])
    starts = []
    for frac in CHINCHILLA_GRID["E"]:
        e_val = frac * loss.min()
        for alpha in CHINCHILLA_GRID["alpha"]:
            for beta in CHINCHILLA_GRID["beta"]:
                cols = np.column_stack([np.exp(-alpha * n_inv), np.exp(-beta * d_inv)])
                ab = _two_column_nnls(cols, loss - e_val)
                a_val, b_val = np.log(np.maximum(ab, 1e-12 * loss.mean()))
                starts.append(p.assemble({
                    "e": p.constant("e", math.log(e_val)), "a": p.constant("a", a_val), "b": p.constant("b", b_val),
                    "alpha": p.constant("alpha", alpha), "beta": p.constant("beta", beta)}))
    return starts


def _two_column_nnls(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # non-negative least squares on two columns: the unconstrained solution, else the better of the
    # two one-column fits clipped at zero (the optimum lies on one of these faces)
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    if (coef >= 0).all():
        return coef
    best, best_rss = np.zeros(2), float(y @ y)
    for j in range(2):
        c = max(0.0, float(x[:, j] @ y / (x[:, j] @ x[:, j])))
        rss = float(np.sum((y - c * x[:, j]) ** 2))
        if rss < best_rss:
            best, best_rss = np.eye(2)[j] * c, rss
    return best


# ----------------------------------------------------------------------------- the registry

LOGLINEAR = Law(
    name="loglinear", summary="log2 err = a + b·x,  x = log2(TS) − IXMin",
    params=("a", "b"), inputs={"x": "log2(TS) - IXMin"}, response="log_err", response_scale="log2 error",
    mean=_loglinear_mean, gradient=_loglinear_gradient, hessian=lambda v, i: {}, default_params={"a": "1", "b": "1"},
    starts=_loglinear_starts, slope="b", size_input="x",
    reference="the seed study: log error linear in log training size, intercept and slope by group",
)

SATURATING = Law(
    name="saturating", summary="log2 err = log2(E + 2^(a + b·x)),  x = log2(TS) − IXMin,  E ≥ 0",
    params=("E", "a", "b"), inputs={"x": "log2(TS) - IXMin"}, response="log_err", response_scale="log2 error",
    mean=_saturating_mean, gradient=_saturating_gradient, hessian=_saturating_hessian,
    default_params={"E": "1", "a": "1", "b": "1"},
    lower={"E": 0.0}, starts=_saturating_starts, nested=("loglinear", {"E": "0"}), floor="E", floor_scale=np.exp2,
    slope="b",
    size_input="x",
    reference="Hestness et al. (2017) and every scaling-law study since: error = E + A·n^b, fitted in log error",
)

CHINCHILLA = Law(
    name="chinchilla", summary="ln L = ln(e^e + e^(a − α ln N) + e^(b − β ln D)),  L = E + A/N^α + B/D^β",
    params=("a", "b", "e", "alpha", "beta"), inputs={"N": "N", "D": "D"}, response="log(loss)",
    response_scale="natural log of the loss", mean=_chinchilla_mean, gradient=_chinchilla_gradient,
    default_params={"a": "1", "b": "1", "e": "1", "alpha": "1", "beta": "1"}, starts=_chinchilla_starts,
    method="huber", tuning=1e-3, fixed_scale=1.0,
    reference="Hoffmann et al. (2022), approach 3, as refitted by Besiroglu et al. (2024): Huber loss, delta 1e-3, log space",
)

# the one registry of laws; a user (or the backtest) may add its own at run time: LAWS[law.name] = law
LAWS: dict[str, Law] = {law.name: law for law in (LOGLINEAR, SATURATING, CHINCHILLA)}


def get_law(name: str | Law) -> Law:
    """The law called ``name`` (a :class:`Law` passes through).

    Examples
    --------
    >>> get_law("saturating").params
    ('E', 'a', 'b')
    """
    if isinstance(name, Law):
        return name
    if name not in LAWS:
        from ..errors import OptionError

        raise OptionError(f"unknown law {name!r}; choose one of {', '.join(LAWS)}")
    return LAWS[name]


# ----------------------------------------------------------------------------- LCDB's curve models
#
# Mohr, Viering et al. (2022) fit these to the error-free side of a curve (accuracy) with no bounds
# and five random starts; here they are written for the error (1 − accuracy), which is the same
# family for every one of them but vap3 (kept as LCDB states it, on accuracy: err = 1 − e^(...)),
# fitted by the same solver as every law, from starts that solve the linear parameters by least
# squares on a grid of the others (variable projection). A bound is set only where the function
# is undefined or flips shape beyond it (exponents ≥ 0, mmf4's b > 0).

LCDB_REFERENCE = "Mohr, Viering, Loog, van Rijn (2022), LCDB 1.0, ECML PKDD; their fit_database.py"


def _n(i: Values) -> np.ndarray:
    return np.asarray(i["n"], dtype=float)


def _spread_sizes(p: StartProblem, k: int = 4) -> np.ndarray:
    """Sizes spread over the observed range (geometric), the scale grids of the starts are built on."""
    n = _n(p.inputs)
    return np.geomspace(max(float(n.min()), 1e-12), max(float(n.max()), 1e-12), k)


def _projected_starts(p: StartProblem, grid: list[dict[str, float]], columns: Callable[[dict[str, float]], np.ndarray],
                      linear: tuple[str, str]) -> list[np.ndarray]:
    """For each grid point of the nonlinear parameters, the two linear ones by weighted least squares."""
    starts = []
    for point in grid:
        cols = columns(point)
        if not np.all(np.isfinite(cols)):
            continue
        coef = weighted_lstsq(cols, p.y, p.weights)
        parts = {name: p.constant(name, value) for name, value in point.items()}
        parts.update({linear[0]: p.constant(linear[0], coef[0]), linear[1]: p.constant(linear[1], coef[1])})
        starts.append(p.assemble(parts))
    return starts


EXPONENTS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5)


def _pow3_mean(v: Values, i: Values) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return v["a"] + v["b"] * _n(i) ** -v["c"]


def _pow3_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    n = _n(i)
    with np.errstate(over="ignore", invalid="ignore"):
        t = n ** -v["c"]
        return {"a": np.ones_like(n), "b": t, "c": -v["b"] * t * np.log(n)}


def _pow3_starts(p: StartProblem) -> list[np.ndarray]:
    n = _n(p.inputs)
    return _projected_starts(p, [{"c": c} for c in EXPONENTS],
                             lambda g: np.column_stack([np.ones_like(n), n ** -g["c"]]), ("a", "b"))


def _pow4_mean(v: Values, i: Values) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return v["a"] + v["b"] * (_n(i) + v["d"]) ** -v["c"]


def _pow4_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    m = _n(i) + v["d"]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        t = m ** -v["c"]
        return {"a": np.ones_like(m), "b": t, "c": -v["b"] * t * np.log(m), "d": -v["c"] * v["b"] * t / m}


def _pow4_starts(p: StartProblem) -> list[np.ndarray]:
    n = _n(p.inputs)
    shifts = (0.0, 0.5 * float(n.min()), 2.0 * float(n.min()))
    return _projected_starts(p, [{"c": c, "d": d} for c in EXPONENTS for d in shifts],
                             lambda g: np.column_stack([np.ones_like(n), (n + g["d"]) ** -g["c"]]), ("a", "b"))


def _mmf4_parts(v: Values, i: Values) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        t = _n(i) ** v["d"]
        return t, v["b"] + t


def _mmf4_mean(v: Values, i: Values) -> np.ndarray:
    t, s = _mmf4_parts(v, i)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return (v["a"] * v["b"] + v["c"] * t) / s


def _mmf4_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    t, s = _mmf4_parts(v, i)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        dt = (v["c"] - v["a"]) * v["b"] / s**2
        return {"a": v["b"] / s, "b": (v["a"] - v["c"]) * t / s**2, "c": t / s, "d": dt * t * np.log(_n(i))}


def _mmf4_starts(p: StartProblem) -> list[np.ndarray]:
    # err = a·b/(b + n^d) + c·n^d/(b + n^d): given b and d, a (error at n → 0) and c (at n → ∞) are linear
    n = _n(p.inputs)
    grid = [{"b": float(m) ** d, "d": d} for d in (0.5, 1.0, 2.0) for m in _spread_sizes(p)]
    return _projected_starts(p, grid, lambda g: np.column_stack([g["b"] / (g["b"] + n ** g["d"]),
                                                                 n ** g["d"] / (g["b"] + n ** g["d"])]), ("a", "c"))


def _wbl4_mean(v: Values, i: Values) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return v["c"] + v["b"] * np.exp(-v["a"] * _n(i) ** v["d"])


def _wbl4_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    n = _n(i)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        t = n ** v["d"]
        e = np.exp(-v["a"] * t)
        return {"a": -v["b"] * e * t, "b": e, "c": np.ones_like(n), "d": -v["b"] * e * v["a"] * t * np.log(n)}


def _wbl4_starts(p: StartProblem) -> list[np.ndarray]:
    n = _n(p.inputs)
    grid = [{"a": float(m) ** -d, "d": d} for d in (0.25, 0.5, 1.0) for m in _spread_sizes(p)]
    return _projected_starts(p, grid, lambda g: np.column_stack([np.exp(-g["a"] * n ** g["d"]), np.ones_like(n)]),
                             ("b", "c"))


def _exp3_mean(v: Values, i: Values) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return v["a"] * np.exp(-v["b"] * _n(i)) + v["c"]


def _exp3_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    n = _n(i)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-v["b"] * n)
        return {"a": e, "b": -v["a"] * n * e, "c": np.ones_like(n)}


def _exp3_starts(p: StartProblem) -> list[np.ndarray]:
    n = _n(p.inputs)
    grid = [{"b": 1.0 / float(m)} for m in _spread_sizes(p, 6)]
    return _projected_starts(p, grid, lambda g: np.column_stack([np.exp(-g["b"] * n), np.ones_like(n)]), ("a", "c"))


def _vap3_exponent(v: Values, i: Values) -> np.ndarray:
    n = _n(i)
    return v["a"] + v["b"] / n + v["c"] * np.log(n)


def _vap3_mean(v: Values, i: Values) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return 1.0 - np.exp(_vap3_exponent(v, i))


def _vap3_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    n = _n(i)
    with np.errstate(over="ignore", invalid="ignore"):
        g = -np.exp(_vap3_exponent(v, i))
    return {"a": g, "b": g / n, "c": g * np.log(n)}


def _vap3_starts(p: StartProblem) -> list[np.ndarray]:
    # log accuracy = a + b/n + c·ln n is linear: its least-squares fit (accuracies kept positive)
    n = _n(p.inputs)
    acc = np.log(np.clip(1.0 - p.y, 1e-6, None))
    coef = weighted_lstsq(np.column_stack([np.ones_like(n), 1.0 / n, np.log(n)]), acc, p.weights)
    return [p.assemble({k: p.constant(k, c) for k, c in zip("abc", coef)})]


def _log2_mean(v: Values, i: Values) -> np.ndarray:
    return v["b"] - v["a"] * np.log(_n(i))


def _log2_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    n = _n(i)
    return {"a": -np.log(n), "b": np.ones_like(n)}


def _log2_starts(p: StartProblem) -> list[np.ndarray]:
    n = _n(p.inputs)
    coef = weighted_lstsq(np.column_stack([-np.log(n), np.ones_like(n)]), p.y, p.weights)
    return [p.assemble({"a": p.constant("a", coef[0]), "b": p.constant("b", coef[1])})]


def _last1_mean(v: Values, i: Values) -> np.ndarray:
    return np.broadcast_to(v["a"], _n(i).shape).astype(float)


def _last1_gradient(v: Values, i: Values) -> dict[str, np.ndarray]:
    return {"a": np.ones_like(_n(i))}


def _last1_starts(p: StartProblem) -> list[np.ndarray]:
    return [p.assemble({"a": p.constant("a", float(np.average(p.y, weights=p.weights)))})]


def _largest_size(i: Values) -> np.ndarray:
    n = _n(i)
    return n == n.max()


def _lcdb_law(name: str, summary: str, params: tuple[str, ...], mean: MeanFn, gradient: GradientFn, starts: StartFn,
              lower: Mapping[str, float] | None = None, **extra) -> Law:
    return Law(name=name, summary=summary, params=params, inputs={"n": "TS"}, response="error", response_scale="error",
               mean=mean, gradient=gradient, default_params=dict.fromkeys(params, "1"), lower=lower or {},
               starts=starts, size_input="n", reference=LCDB_REFERENCE, **extra)


LCDB_LAWS: tuple[Law, ...] = (
    _lcdb_law("pow3", "err = a + b·n^(−c),  n = TS,  c ≥ 0", ("a", "b", "c"), _pow3_mean, _pow3_gradient, _pow3_starts,
              {"c": 0.0}),
    _lcdb_law("pow4", "err = a + b·(n + d)^(−c),  c ≥ 0, d ≥ 0", ("a", "b", "c", "d"), _pow4_mean, _pow4_gradient,
              _pow4_starts, {"c": 0.0, "d": 0.0}),
    _lcdb_law("mmf4", "err = (a·b + c·n^d) / (b + n^d)  (Morgan–Mercer–Flodin),  b > 0, d ≥ 0", ("a", "b", "c", "d"),
              _mmf4_mean, _mmf4_gradient, _mmf4_starts, {"b": 1e-12, "d": 0.0}),
    _lcdb_law("wbl4", "err = c + b·exp(−a·n^d)  (Weibull),  a ≥ 0, d ≥ 0", ("a", "b", "c", "d"), _wbl4_mean,
              _wbl4_gradient, _wbl4_starts, {"a": 0.0, "d": 0.0}),
    _lcdb_law("exp3", "err = a·exp(−b·n) + c,  b ≥ 0", ("a", "b", "c"), _exp3_mean, _exp3_gradient, _exp3_starts,
              {"b": 0.0}),
    _lcdb_law("vap3", "err = 1 − exp(a + b/n + c·ln n)  (vapour pressure, on accuracy as LCDB fits it)", ("a", "b", "c"),
              _vap3_mean, _vap3_gradient, _vap3_starts),
    _lcdb_law("log2", "err = b − a·ln n", ("a", "b"), _log2_mean, _log2_gradient, _log2_starts,
              hessian=lambda v, i: {}),
    _lcdb_law("last1", "err = a, the error at the largest size seen (LCDB's last-value baseline)", ("a",), _last1_mean,
              _last1_gradient, _last1_starts, hessian=lambda v, i: {}, fit_rows=_largest_size),
)
for _law in LCDB_LAWS:
    LAWS[_law.name] = _law
