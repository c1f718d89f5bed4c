"""A law on one curve given as arrays: the fit on the sizes seen, the forecast at any size, and its intervals.

Two intervals answer two questions, and are easy to confuse (lmfit's ``eval_uncertainty`` gives
the first; users read it as the second):

- the **confidence band** of the mean curve, ``ŷ ± t·se_fit``, with ``se_fit² = g'Vg`` (g the
  gradient of the law in its parameters at that size, V their covariance): where the *expected*
  error at that size lies. It shrinks as the fit gets more data.
- the **prediction interval** of a new observation, ``ŷ ± t·√(s²/w + se_fit²)``: where *one new
  run* (or, for a curve of means, one new mean of that many runs) will fall, its own noise
  ``s²/w`` included. It never shrinks below the noise.

Both are computed on the law's response scale (log2 error for the log-linear and saturating
laws, error for LCDB's) with Student t on the fit's residual degrees of freedom, and mapped to
the error scale through the (monotone) inverse of that scale, so coverage statements hold on
either.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.frame import evaluate
from ..errors import OptionError, PowerlawStatsError
from ..inference.tests import t_quantile
from ..laws.arrays import curve_problem
from ..laws.problem import covariance, estimate
from ..laws.registry import Law, get_law
from ..laws.solver import NlsControl

# response expression of a law -> (error to response, response to error)
RESPONSE_SCALES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "log_err": (np.log2, np.exp2),
    "error": (lambda e: np.asarray(e, dtype=float), lambda y: np.asarray(y, dtype=float)),
}
# a forecast needs no more digits than the data have; a law that drifts along a direction the sizes
# seen cannot pin (pow3's c → 0 on a few anchors) stops after 100 steps and says it did not converge
BACKTEST_CONTROL = NlsControl(maxit=100, tol=1e-8)


@dataclass(frozen=True)
class CurveForecast:
    """A law fitted to the sizes seen and evaluated at other sizes (arrays over those sizes).

    ``predicted``, ``ci_*`` and ``pi_*`` are on the error scale; ``se_fit`` on the law's response
    scale. Intervals are NaN when the fit leaves no residual degrees of freedom or its covariance
    is singular (``message`` says which).
    """

    law: str
    converged: bool
    message: str
    df: float
    scale: float
    predicted: np.ndarray
    se_fit: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray


def law_inputs(law: Law, sizes: np.ndarray, smallest: float) -> dict[str, np.ndarray]:
    """The law's inputs at training sizes ``sizes`` (``x = log2(TS) − IXMin`` with IXMin = log2(smallest))."""
    frame = pd.DataFrame({"TS": np.asarray(sizes, dtype=float), "train_size": np.asarray(sizes, dtype=float)})
    namespace = {"IXMin": math.log2(smallest)}
    return {name: np.broadcast_to(np.asarray(evaluate(expr, frame, namespace, f"input {name}"), dtype=float),
                                  (len(frame),)).copy() for name, expr in law.inputs.items()}


def response_scale(law: Law) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The maps error → response and back for the law's response, refused for a response that is not one of them."""
    if law.response not in RESPONSE_SCALES:
        raise OptionError(f"law {law.name!r} is fitted to {law.response!r}; forecasting curves of error needs a law "
                          f"fitted to one of {', '.join(RESPONSE_SCALES)}")
    return RESPONSE_SCALES[law.response]


def forecast_curve(law: str | Law, sizes: np.ndarray, error: np.ndarray, at: np.ndarray, *,
                   weights: np.ndarray | None = None, at_weights: np.ndarray | None = None, level: float = 0.95,
                   control: NlsControl = BACKTEST_CONTROL) -> CurveForecast:
    """Fit ``law`` to one curve (``error`` at ``sizes``) and forecast the error at sizes ``at``.

    ``weights`` are inverse-variance weights of the points seen (a curve of means: the number of
    runs behind each mean, divided by their average); ``at_weights`` those of the new
    observations the prediction interval is for (1: an observation as noisy as an average point).

    Examples
    --------
    >>> n = 2.0 ** np.arange(4, 12)
    >>> err = 0.05 + 2.0 * n ** -0.5
    >>> f = forecast_curve("pow3", n[:6], err[:6] * (1 + 0.01 * np.cos(np.arange(6))), n[6:])
    >>> bool(np.all(f.pi_low <= f.predicted) and np.all(f.predicted <= f.pi_high)), f.df
    (True, 3.0)
    """
    law = get_law(law)
    to_response, to_error = response_scale(law)
    sizes, error, at = (np.asarray(v, dtype=float) for v in (sizes, error, at))
    w = np.ones(len(sizes)) if weights is None else np.asarray(weights, dtype=float)
    w_at = np.ones(len(at)) if at_weights is None else np.asarray(at_weights, dtype=float)
    smallest = float(sizes.min())
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = to_response(error)
    problem = curve_problem(law, law_inputs(law, sizes, smallest), y, w)
    est = estimate(problem, None, control=control)
    values = {p: np.full(len(at), est.theta[k]) for k, p in enumerate(law.params)}
    new_inputs = law_inputs(law, at, smallest)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = np.asarray(law.mean(values, new_inputs), dtype=float)
        predicted = to_error(mean)
    nan = np.full(len(at), np.nan)
    try:
        cov, df = covariance(problem, est, None, "classic", None)
    except PowerlawStatsError as exc:  # no residual df, or parameters the seen sizes cannot tell apart
        return CurveForecast(law.name, est.converged, str(exc), math.nan, math.nan, predicted, nan, nan, nan, nan, nan)
    grad = law.gradient(values, new_inputs)
    g = np.column_stack([np.broadcast_to(np.asarray(grad[p], dtype=float), (len(at),)) for p in law.params])
    with np.errstate(invalid="ignore", over="ignore"):
        se_fit = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov, g), 0.0))
        s2 = est.rss / df
        q = t_quantile(level, df)
        spread = np.sqrt(s2 / w_at + se_fit**2)
        band = (to_error(mean - q * se_fit), to_error(mean + q * se_fit))
        interval = (to_error(mean - q * spread), to_error(mean + q * spread))
    return CurveForecast(law.name, est.converged, est.message, float(df), math.sqrt(s2), predicted, se_fit,
                         band[0], band[1], interval[0], interval[1])
