"""A law on one curve given as arrays, without a table or formulas.

For callers that already hold x, y and weights per group (``region``'s per-group checks,
``plan``'s candidate designs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from ..inference.tests import t_quantile
from .design import LawDesign, ParamDesign
from .identification import _profile_one, nested_problem
from .problem import LawProblem, estimate
from .registry import Law, get_law
from .solver import DEFAULT_CONTROL, Constraints


def curve_problem(law: str | Law, inputs: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray | None = None,
                  bounds: bool = True) -> LawProblem:
    """One curve: every parameter a single value (formula ``~ 1``), rows with positive weight."""
    law = get_law(law)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    if len(w) != len(y) or any(len(np.asarray(v)) != len(y) for v in inputs.values()):
        raise OptionError("the inputs, response and weights of a curve must have the same length")
    keep = w > 0
    if law.fit_rows is not None:
        keep &= np.asarray(law.fit_rows({k: np.asarray(v, dtype=float) for k, v in inputs.items()}), dtype=bool)
    one = np.ones((int(keep.sum()), 1))
    params = tuple(ParamDesign(param=p, formula="1", matrix=one, columns=("(Intercept)",), names=(p,),
                               cells=np.ones((1, 1)), cell_of_row=np.zeros(len(one), int), cell_labels=("all rows",))
                   for p in law.params)
    design = LawDesign(law=law, params=params, slices={p: slice(i, i + 1) for i, p in enumerate(law.params)},
                       inputs={k: np.asarray(v, dtype=float)[keep] for k, v in inputs.items()}, y=y[keep],
                       response="y", input_exprs={k: k for k in inputs})
    g, h, labels = design.constraints(bounds)
    return LawProblem(design, w[keep], Constraints(g, h, labels))


@dataclass(frozen=True, kw_only=True)
class CurveFloorTest:
    """Floor or no floor on one curve.

    The fit with a floor, the boundary LR test, AIC of both laws and the floor's profile interval.
    """

    floor: float
    floor_lower: float
    floor_upper: float
    slope: float
    slope_without_floor: float
    statistic: float
    p_value: float
    aic: float
    aic_without_floor: float
    n: int

    def to_dict(self) -> dict:
        """JSON-ready: non-finite numbers become None."""
        out = {}
        for key, value in self.__dict__.items():
            out[key] = value if isinstance(value, int) else (float(value) if math.isfinite(value) else None)
        return out


def curve_floor_test(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, *, level: float = 0.95,
                     law: str | Law = "saturating") -> CurveFloorTest:
    """The saturating law against the straight line on one curve.

    x is log2 size minus its minimum, y log2 error: LR = n·log(RSS₀/RSS₁) with p = ½·P(χ²₁ ≥ LR),
    and the floor's profile interval.

    Examples
    --------
    >>> x = np.repeat(np.arange(6.0), 3)
    >>> y = np.log2(0.1 + 2.0 ** (-0.8 * x)) + np.tile([0.02, -0.02, 0.0], 6)
    >>> t = curve_floor_test(x, y)
    >>> round(t.floor, 2), t.p_value < 1e-6
    (0.1, True)
    """
    from ..inference.distributions import chi2_sf

    law = get_law(law)
    if law.floor is None or law.nested is None or law.slope is None or law.size_input is None:
        raise OptionError(f"law {law.name!r} has no floor to test")
    problem = curve_problem(law, {law.size_input: x}, y, w)
    full = estimate(problem, None)
    nested = nested_problem(problem)
    if nested is None:
        raise OptionError(f"law {law.name!r} has no nested law to test its floor against")
    null = estimate(nested, None)
    n, p = problem.n, len(full.theta)
    if n - p <= 0:
        raise OptionError(f"{n} points leave no residual degrees of freedom for the {law.name} law's {p} parameters")
    # a floor at its bound leaves the straight line's RSS up to rounding: LR is 0 then, and p 1 (the
    # mixture's point mass), not the ½ a rounding-sized positive LR would give
    same = null.rss - full.rss <= 1e-10 * null.rss
    lr = 0.0 if same else n * math.log(null.rss / full.rss) if full.rss > 0 else math.inf
    names = problem.design.names
    scale = math.sqrt(full.rss / (n - p))
    c = np.eye(p)[names.index(law.floor)]
    prof = _profile_one(problem, full, c, t_quantile(level, n - p), scale, 0.0, DEFAULT_CONTROL)

    def aic(rss, k):
        return n * (math.log(2 * math.pi) + 1 - math.log(n) - float(np.sum(np.log(problem.weights))) / n
                    + math.log(rss)) + 2 * (k + 1)

    slope = names.index(law.slope)
    return CurveFloorTest(floor=float(full.theta[names.index(law.floor)]), floor_lower=prof["lower"],
                          floor_upper=prof["upper"], slope=float(full.theta[slope]),
                          slope_without_floor=float(null.theta[slope]), statistic=lr,
                          p_value=0.5 * chi2_sf(lr, 1) if lr > 0 else 1.0, aic=aic(full.rss, p),
                          aic_without_floor=aic(null.rss, p - 1), n=n)
