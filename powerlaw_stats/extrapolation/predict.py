"""A fitted law at training sizes of the user's choosing: forecast, band and interval per group.

:func:`predict_sizes` evaluates a :class:`~powerlaw_stats.laws.LawFit` at new training sizes for
every group its parameter formulas tell apart (``b ~ mix``: one curve per mixup level), and says
how far beyond the data each size lies, in units of the observed log-size range: 0 inside the
sizes seen, 1 as far beyond the largest size as the data reach from smallest to largest.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from ..data.frame import evaluate
from ..errors import OptionError
from ..options import PredictInterval, check_option
from .intervals import RESPONSE_SCALES

FAR = 1.0  # beyond this distance (one observed log-size range past the data) predict warns


class ExtrapolationWarning(UserWarning):
    """A forecast far beyond the sizes seen: the law's form, not the data, carries it."""


def _group_columns(fit) -> list[str]:
    """The data columns the parameter formulas read, in the table's order."""
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", " ".join(fit.formulas.values())))
    return [c for c in fit.data.columns if c in tokens]


def _cells(fit) -> np.ndarray:
    """One data row (position) per distinct combination of the parameters' design rows."""
    blocks = [d.matrix for d in fit.designs.values() if not d.fixed_at_zero]
    joint = np.hstack(blocks) if blocks else np.zeros((len(fit.data), 0))
    _, first = np.unique(np.round(joint, 12), axis=0, return_index=True)
    return np.sort(first)


def extrapolation_distance(sizes: np.ndarray, seen_min: float, seen_max: float) -> np.ndarray:
    """How far each size lies outside [seen_min, seen_max], in units of the observed log-size range.

    Examples
    --------
    >>> extrapolation_distance(np.array([100.0, 1000.0, 10000.0]), 10.0, 1000.0).round(12).tolist()
    [0.0, 0.0, 0.5]
    """
    span = max(np.log2(seen_max) - np.log2(seen_min), 1e-12)
    logs = np.log2(np.asarray(sizes, dtype=float))
    return np.maximum(np.maximum(logs - np.log2(seen_max), np.log2(seen_min) - logs), 0.0) / span


def predict_sizes(fit, sizes, *, interval: PredictInterval = "prediction", level: float | None = None,
                  weights: float | None = None) -> pd.DataFrame:
    """The fitted law at training sizes ``sizes`` for every group, with its interval.

    Parameters
    ----------
    fit : LawFit
        A law fitted by :func:`powerlaw_stats.laws.fit_law` whose inputs are read from TS.
    sizes : sequence of float
        Training sizes to predict at.
    interval : "confidence" or "prediction"
        The mean curve's band, or the interval for one new run (see :meth:`LawFit.predict`).
    level : float, optional
        Coverage of the interval; the fit's level by default.
    weights : float, optional
        Prior weight of the new observation (with weights ``1/trials``: ``1/k`` for one mean of k
        runs); by default the average prior weight of the rows fitted (R's ``predict.lm`` assumes 1).

    Returns
    -------
    DataFrame
        One row per (group, size): the group columns, ``TS``, ``distance`` (0 inside the data),
        ``fit``, ``se_fit``, ``lower``, ``upper`` on the law's response scale, and ``error``,
        ``error_lower``, ``error_upper`` on the error scale where the response is log2 error or error.

    Examples
    --------
    >>> from powerlaw_stats.laws import fit_law
    >>> res = fit_law(law="loglinear", params={"b": "mix", "a": "mix"}, weights="w", profile=False, compare=False,
    ...               where="train_set == 'mnist5k' and eval_set == 'mnist5k'")
    >>> tab = predict_sizes(res, [640, 5120])
    >>> tab[["mix", "TS", "distance"]].round(12).values.tolist()
    [[0.0, 640.0, 0.0], [0.0, 5120.0, 0.5], [1.0, 640.0, 0.0], [1.0, 5120.0, 0.5]]
    >>> bool((tab.lower < tab.fit).all() and (tab.error_lower < tab.error_upper).all())
    True
    """
    check_option(interval, PredictInterval, "interval")
    from ..laws.registry import get_law

    law = get_law(fit.law)
    sizes = np.atleast_1d(np.asarray(sizes, dtype=float))
    if sizes.size == 0 or not np.all(np.isfinite(sizes) & (sizes > 0)):
        raise OptionError("sizes to predict at must be positive numbers, e.g. --at 100000")
    if fit.data is None or "TS" not in fit.data.columns or law.size_input is None:
        raise OptionError(f"law {law.name!r} does not read a training size TS; predict needs one that does")
    cells = _cells(fit)
    rows = np.repeat(cells, len(sizes))
    new = fit.data.iloc[rows].reset_index(drop=True).copy()
    new["TS"] = np.tile(sizes, len(cells))
    inputs = {k: np.broadcast_to(np.asarray(evaluate(expr, new, fit.namespace, f"input {k}"), dtype=float),
                                 (len(new),)) for k, expr in fit.inputs.items()}
    pred = fit.predict(rows, interval=interval, level=level, weights=weights, **inputs)
    seen = fit.data["TS"].to_numpy(dtype=float)[fit.weights > 0] if len(fit.weights) == len(fit.data) else \
        fit.data["TS"].to_numpy(dtype=float)
    out = new[_group_columns(fit)].copy()
    out["TS"] = new["TS"].to_numpy()
    out["distance"] = extrapolation_distance(out["TS"].to_numpy(), float(seen.min()), float(seen.max()))
    out = pd.concat([out, pred], axis=1)
    if law.response in RESPONSE_SCALES and fit.response == law.response:
        to_error = RESPONSE_SCALES[law.response][1]
        for col, src in (("error", "fit"), ("error_lower", "lower"), ("error_upper", "upper")):
            out[col] = to_error(out[src].to_numpy())
    if (out["distance"] > FAR).any():
        warnings.warn(f"predicting {out['distance'].max():.1f} observed log-size ranges beyond the data: the law's "
                      "form, not the data, carries these numbers (see the backtest)", ExtrapolationWarning,
                      stacklevel=2)
    return out
