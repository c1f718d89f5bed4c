"""A fitted law's learning curves extended beyond the data, with the prediction interval and the band.

Takes the table :func:`~powerlaw_stats.extrapolation.predict.predict_sizes` makes on a grid of
sizes (one per interval) and the fit's data; draws error against training size on log-log axes,
one colour per group, the data as points, the fitted curve solid where it has data and dashed
beyond, the confidence band dark and the prediction interval light, and a line at the largest
size seen.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .fit import _figure

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure


def forecast_figure(fit, up_to: float, *, level: float | None = None, n_points: int = 60) -> Figure:
    """Every group's fitted curve from the smallest size seen to ``up_to``, with both intervals.

    Examples
    --------
    >>> from powerlaw_stats.laws import fit_law
    >>> res = fit_law(law="loglinear", params={"b": "mix"}, weights="w", profile=False, compare=False,
    ...               where="train_set == 'mnist5k' and eval_set == 'mnist5k'")
    >>> fig = forecast_figure(res, 40960)
    >>> len(fig.axes[0].lines) >= 2
    True
    """
    from ..extrapolation.predict import ExtrapolationWarning, _group_columns, predict_sizes

    seen = fit.data["TS"].to_numpy(dtype=float)
    grid = np.geomspace(seen.min(), max(float(up_to), seen.max()), n_points)
    with warnings.catch_warnings():  # the dashed line and the marked largest size say it on the figure
        warnings.simplefilter("ignore", ExtrapolationWarning)
        conf = predict_sizes(fit, grid, interval="confidence", level=level)
        pred = predict_sizes(fit, grid, interval="prediction", level=level)
    if "error" not in conf.columns:
        from ..errors import OptionError

        raise OptionError(f"law {fit.law!r} is not fitted to error or log2 error; its forecast cannot be drawn as error")
    groups = _group_columns(fit)
    fig, ax = _figure(None, (6.4, 4.4))
    colours = [f"C{i}" for i in range(10)]
    keys = conf[groups].drop_duplicates().itertuples(index=False) if groups else [()]
    for i, key in enumerate(keys):
        sel = np.ones(len(conf), bool)
        rows = np.ones(len(fit.data), bool)
        for g, v in zip(groups, key):
            sel &= (conf[g] == v).to_numpy()
            rows &= (fit.data[g] == v).to_numpy()
        c = colours[i % len(colours)]
        label = ", ".join(f"{g}={v}" for g, v in zip(groups, key)) or fit.law
        ts, inside = conf.TS[sel].to_numpy(), conf.distance[sel].to_numpy() == 0
        ax.fill_between(ts, pred.error_lower[sel], pred.error_upper[sel], color=c, alpha=0.12, lw=0)
        ax.fill_between(ts, conf.error_lower[sel], conf.error_upper[sel], color=c, alpha=0.3, lw=0)
        ax.plot(ts[inside], conf.error[sel][inside], color=c, lw=1.6, label=label)
        ax.plot(ts[~inside], conf.error[sel][~inside], color=c, lw=1.6, ls="--")
        err = np.exp2(fit.data.loc[rows, fit.response]) if fit.response == "log_err" else fit.data.loc[rows, "error"]
        ax.scatter(fit.data.loc[rows, "TS"], err, s=10, color=c, alpha=0.6)
    ax.axvline(seen.max(), color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training size (TS)")
    ax.set_ylabel("error")
    lev = fit.level if level is None else level
    ax.set_title(f"{fit.law} law beyond the data: {lev:.0%} band (dark) and prediction interval (light)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


__all__ = ["forecast_figure"]
