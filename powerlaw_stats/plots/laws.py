"""Learning curves under several laws at once: one panel per group, each law's curve through the runs.

The report's "Is there a floor?" section draws the straight line (log-linear law) and the
saturating law on the same runs, so the reader sees where a floor bends the curve and where the
two readings part. Built on matplotlib's object API, imported only when a figure is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import OptionError
from .fit import LINE_STYLES
from .layout import title as set_title

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure

    from ..laws import LawFit

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
GRID = 60  # points per drawn curve
PANEL_IN = (4.2, 3.1)  # inches per panel
MARGINS_IN = {"left": 0.65, "right": 0.15, "top": 0.75, "bottom": 0.55, "wspace": 0.3, "hspace": 0.45}


def law_curves(fits: Mapping[str, LawFit], *, size: str, panels: Sequence[str] = (), colour: str | None = None,
               unlog: Callable[[np.ndarray], np.ndarray] = np.exp2, y_label: str = "error") -> Figure:
    """Each law's curve through the runs, one panel per combination of ``panels``, one colour per ``colour`` level.

    ``fits`` are fits of laws with a size input ``x`` on the same rows (label → fit; the first is
    drawn solid, the next dashed, ...); ``size`` is the data column on the x axis (x is
    ``log2(size)`` minus a constant); ``unlog`` turns the response back into data units. A law with
    a floor draws it as a dotted line where it is above zero.

    Examples
    --------
    >>> import warnings
    >>> from powerlaw_stats.laws import fit_law
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     fits = {law: fit_law(None, law, {"b": "mix + EvalSet", "a": "mix + EvalSet"}, weights="w", profile=False,
    ...                          compare=False) for law in ("loglinear", "saturating")}
    >>> fig = law_curves(fits, size="TS", panels=("EvalSet",), colour="mix")
    >>> len(fig.axes), fig.axes[0].get_xscale()
    (2, 'log')
    """
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D

    first = next(iter(fits.values()))
    frame, rows, offset = _rows(first, size)
    keys = _keys(frame, panels)
    levels = frame[colour].astype(str) if colour else pd.Series("", index=frame.index)
    colours = {lv: COLOURS[i % len(COLOURS)] for i, lv in enumerate(sorted(levels.unique()))}
    panel_keys = sorted(keys.unique())
    ncol = min(len(panel_keys), 2)
    nrow = -(-len(panel_keys) // ncol)
    fig = MplFigure(figsize=(PANEL_IN[0] * ncol + 0.8, PANEL_IN[1] * nrow + 1.3))
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False).ravel())
    ts = frame[size].to_numpy(dtype=float)
    grid_ts = np.exp2(np.linspace(np.log2(ts.min()), np.log2(ts.max()), GRID))
    y = unlog(np.asarray(first.fittedvalues) + np.asarray(first.resid))
    for ax, key in zip(axes, panel_keys):
        for level, hue in colours.items():
            idx = np.flatnonzero((keys == key).to_numpy() & (levels == level).to_numpy() & rows)
            if not len(idx):
                continue
            ax.scatter(ts[idx], y[idx], s=7, color=hue, alpha=0.35, linewidths=0)
            for k, res in enumerate(fits.values()):
                curve = res.predict(np.full(GRID, idx[0]), x=np.log2(grid_ts) - offset)
                ax.plot(grid_ts, unlog(curve), color=hue, ls=LINE_STYLES[k % len(LINE_STYLES)], lw=1.5)
                _floor_line(ax, res, idx[0], hue)
        _style(ax, key, size, y_label)
    for ax in axes[len(panel_keys):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color="0.25", ls=LINE_STYLES[k % len(LINE_STYLES)], label=label)
               for k, label in enumerate(fits)]
    handles += [Line2D([], [], color=hue, marker="o", ls="", label=f"{colour}={lv}") for lv, hue in colours.items() if colour]
    handles.append(Line2D([], [], color="0.25", ls=(0, (1, 2)), label="floor E"))
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 5), fontsize=8, frameon=False)
    width, height = fig.get_figwidth(), fig.get_figheight()
    fig.subplots_adjust(left=MARGINS_IN["left"] / width, right=1 - MARGINS_IN["right"] / width,
                        top=1 - MARGINS_IN["top"] / height, bottom=MARGINS_IN["bottom"] / height,
                        wspace=MARGINS_IN["wspace"], hspace=MARGINS_IN["hspace"])
    return fig


def _rows(res: LawFit, size: str) -> tuple[pd.DataFrame, np.ndarray, float]:
    """The fit's rows, which of them it used, and the constant in ``x = log2(size) − offset``."""
    if res.data is None or size not in res.data.columns:
        raise OptionError(f"the fit carries no column {size!r} to put on the x axis")
    frame = res.data.reset_index(drop=True)
    used = np.ones(len(frame), bool) if res.prior_weights is None else np.asarray(res.prior_weights) > 0
    x = res.problem.design.inputs.get("x") if res.problem is not None else None  # type: ignore[attr-defined]
    if x is None:
        raise OptionError(f"law {res.law!r} has no size input x to draw against {size!r}")
    offset = float(np.median(np.log2(frame[size].to_numpy(dtype=float)[used]) - x))
    return frame, used, offset


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    if not columns:
        return pd.Series("all runs", index=frame.index)
    parts = [f"{c}=" + frame[c].astype(str) for c in columns]  # whole columns at once, not a Python call per row
    out = parts[0]
    for part in parts[1:]:
        out = out + ", " + part
    return out


def _floor_line(ax, res: LawFit, row: int, hue: str) -> None:
    # the saturating law's floor E is on the error scale, the figure's y axis
    if res.law != "saturating":
        return
    floor = float(res.parameter_values()["E"].iloc[row])
    if floor > 1e-12:
        ax.axhline(floor, color=hue, ls=(0, (1, 2)), lw=1.0)


def _style(ax, title: str, size: str, y_label: str) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from .ticks import in_view

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 100 else f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    low, high = ax.get_ylim()
    # label more minor ticks the less of a decade the axis spans
    shown = "23456789" if high / low < 3 else "2345" if high / low < 12 else "25"
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in shown else ""))
    ax.tick_params(axis="both", which="both", labelsize=7.5)  # minor labels (0.2, 0.5) as small as the major ones
    in_view(ax)  # log locators return decades beyond the view: no ticks made for them
    set_title(ax, title, 8.5)
    ax.set_xlabel(size, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.grid(True, which="major", alpha=0.25)
