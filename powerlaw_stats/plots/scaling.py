"""Figures of the scaling-study tools: the power-law region of each group, and power against cost.

Like :mod:`powerlaw_stats.plots.fit`: matplotlib's object API, each function takes an optional Axes and
returns the Figure, nothing is shown, and matplotlib loads only when a figure is made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..errors import OptionError
from .fit import _figure

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..scaling.plan import PlanResult
    from ..scaling.region import GroupRegion, RegionResult

RUN_COLOUR = "#7f7f7f"  # replicate runs
LINE_COLOUR = "#1f77b4"  # the straight line (power law) on all sizes
BREAK_COLOUR = "#d62728"  # the one-break fit, its break and interval
FLAG_COLOUR = "#ff7f0e"  # sizes outside the power-law region
TARGET_COLOUR = "#000000"  # the power wanted
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P")


def region_panel(group: GroupRegion, ax: Axes | None = None, *, response: str = "log_err") -> Figure:
    """One group's runs on log2 size, the straight line, the one-break fit with its break and interval.

    Flagged sizes are drawn in orange; the title carries the lack-of-fit p-value.
    """
    fig, ax = _figure(ax)
    x, y = np.log2(group.x), group.y
    flagged = np.isin(group.x, np.asarray(group.flagged_sizes))
    ax.scatter(x[~flagged], y[~flagged], s=10, color=RUN_COLOUR, alpha=0.6, label="runs")
    if flagged.any():
        ax.scatter(x[flagged], y[flagged], s=14, color=FLAG_COLOUR, label="outside the region")
    xs = np.linspace(x.min(), x.max(), 200)
    ax.plot(xs, group.line[0] + group.line[1] * xs, color=LINE_COLOUR, lw=1.2, ls="--", label="straight line")
    brk = group.breakpoint
    if brk is not None:
        ax.plot(xs, brk.predict(xs), color=BREAK_COLOUR, lw=1.4, label="one-break fit")
        ax.axvspan(math.log2(brk.ci_low), math.log2(brk.ci_high), color=BREAK_COLOUR, alpha=0.12, lw=0)
        ax.axvline(brk.log2_location, color=BREAK_COLOUR, lw=0.8, ls=":")
    ax.set_xlabel("log2 size")
    ax.set_ylabel(response)
    p = "n/a" if group.lack_of_fit is None else f"{group.lack_of_fit.pvalue:.2g}"
    ax.set_title(f"{group.label}\nlack of fit p = {p}", fontsize=8)
    return fig


def region_figure(result: RegionResult, *, columns: int = 4, max_groups: int = 32) -> Figure:
    """A grid of :func:`region_panel`, one per group (the first ``max_groups``), with one legend."""
    from matplotlib.figure import Figure

    groups = result.groups[:max_groups]
    if not groups:
        raise OptionError("the region check has no groups to draw")
    cols = min(columns, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(3.3 * cols, 2.9 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, group in zip(axes, groups):
        region_panel(group, ax, response=result.response)
    for ax in axes[len(groups):]:
        ax.set_axis_off()
    handles: dict = {}
    labels: dict = {}
    for ax in axes[:len(groups)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
            labels[lab] = lab
    fig.legend(list(handles.values()), list(labels), loc="outside lower center", ncols=len(labels), fontsize=8)
    fig.suptitle(f"Power-law region per group (break interval {result.level:.0%}, test level {result.alpha:g})", fontsize=10)
    return fig


def power_cost(result: PlanResult, ax: Axes | None = None) -> Figure:
    """Power of every candidate design against its cost (log scale).

    One series per minimum number of trials, with the power wanted as a line and the recommended
    design ringed.
    """
    fig, ax = _figure(ax, (6.4, 4.4))
    series: dict[str, list] = {}
    for d in result.designs:
        key = "pilot design" if d.design.observed else d.design.runs_label + (
            f", {d.n_groups} groups" if d.design.n_groups is not None else "")
        series.setdefault(key, []).append(d)
    for i, (key, points) in enumerate(series.items()):
        points = sorted(points, key=lambda p: p.cost)
        cost = np.array([p.cost for p in points])
        power = np.array([p.power for p in points])
        err = 2 * np.array([p.power_se for p in points])
        ax.errorbar(cost, power, yerr=err, marker=MARKERS[i % len(MARKERS)], ms=5, lw=1, capsize=2, label=key)
    ax.axhline(result.power_wanted, color=TARGET_COLOUR, lw=1, ls="--", label=f"power wanted ({result.power_wanted:g})")
    best = result.recommended
    if best is not None:
        ax.scatter([best.cost], [best.power], s=180, facecolors="none", edgecolors=BREAK_COLOUR, lw=1.6,
                   label=f"recommended: {best.design.label}", zorder=5)
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"cost ({result.cost_unit})")
    ax.set_ylabel(f"power (CI at {result.level:.0%} excludes 0)")
    ax.set_title(f"{result.effect} = {result.delta:g}: {result.estimator}, {result.residuals} residuals, "
                 f"{result.n_trials} studies each (bars ±2 MC SE)", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    return fig
