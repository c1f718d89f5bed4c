"""Figures of a simulation (:func:`powerlaw_stats.simulate`): the seed study's panels and a summary.

Per estimator and residual model, the seed showed two histograms: the estimates of the term with a
green line at the truth and a red one at their mean (is the estimator unbiased?), and the
estimated standard errors with a green line at the *measured* SE (the SD of the estimates) and a
red one at their mean (does the SE formula tell the truth?). :func:`summary_figure` puts the SE
ratio and the coverage of every estimator, residual model and design side by side.

Like :mod:`powerlaw_stats.plots.fit`: matplotlib's object API, each function takes an optional Axes and
returns the Figure, nothing is shown, and matplotlib loads only when a figure is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import OptionError
from ..estimation.methods import label_words
from ..files import check_output_folder, write_together
from ..formula import find_term
from .fit import FORMATS, HIST_HEADROOM, _figure, to_bytes
from .layout import Margins, bars, fixed_figure, key, place, title

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..simulation.simulate import SimulationResult

TRUTH_COLOUR = "#2ca02c"  # green: what the estimator should hit (truth; the measured SE)
MEAN_COLOUR = "#d62728"  # red: what it hit on average (mean estimate; mean estimated SE)
ESTIMATOR_MARKERS = ("o", "s", "^", "D", "v")
HISTOGRAM_MARGINS = Margins(left=0.65, top=0.55, bottom=0.5, wspace=0.6)  # two-line titles above the histograms
SUMMARY_MARGINS = Margins(top=0.4, bottom=0.5, wspace=0.25)  # the left and right margins hold tick labels and legend
__all__ = ["FORMATS", "estimate_histogram", "estimator_panels", "figure_files", "panel_files", "se_histogram", "summary_figure",
           "to_bytes", "write_figures"]


def _column(sim: SimulationResult, term: str | None) -> int:
    if term is None:
        return 0
    i = find_term(sim.terms, term)
    if i is not None:
        return i
    raise OptionError(f"term {term!r} was not simulated; the simulation kept {', '.join(sim.terms)}")


def _values(sim: SimulationResult, estimator: str, term: str | None, table: dict) -> tuple[np.ndarray, int]:
    if estimator not in table:
        raise OptionError(f"estimator {estimator!r} was not simulated; it ran {', '.join(table)}")
    j = _column(sim, term)
    values = table[estimator][:, j]
    return values[np.isfinite(values)], j


def _label(sim: SimulationResult, estimator: str, scenario: bool = True) -> str:
    name = label_words(estimator, "figure")
    return f"{name}\n{scenario_words(sim)}" if scenario else name


def scenario_words(sim: SimulationResult) -> str:
    """The simulation's residual model and design in words, as the panels' titles name them."""
    return f"{sim.residuals} residuals, design {sim.design}"


def _histogram(ax: Axes, values: np.ndarray, lines: Sequence[tuple[float, str, str]]) -> None:
    bins = int(np.clip(np.sqrt(max(len(values), 1)) * 1.2, 10, 50))
    from matplotlib.ticker import MaxNLocator

    from .ticks import InView

    heights, edges = np.histogram(values, bins=bins)
    bars(ax, heights, edges, color="#c6dbef", edgecolor="#4a7fb0", linewidth=0.4)
    ax.xaxis.set_major_locator(InView(MaxNLocator(5)))
    ax.yaxis.set_major_locator(InView(MaxNLocator(4, steps=[1, 2, 5, 10], integer=True)))  # counts: a few round numbers
    for x, colour, label in lines:
        ax.axvline(x, color=colour, lw=1.8, label=label)
    key(ax, [(label, colour) for _, colour, label in lines], x=0.02, ha="left")
    # a band above the tallest bar holds the key, so it never hides a bar (the vertical lines run through it)
    top = float(np.max(heights)) if len(heights) else 1.0
    ax.set_ylim(0, (HIST_HEADROOM + 0.1 * max(len(lines) - 2, 0)) * (top if top > 0 else 1.0))


def estimate_histogram(sim: SimulationResult, estimator: str, term: str | None = None, ax: Axes | None = None, *,
                       scenario_title: bool = True) -> Figure:
    """Histogram of one term's estimates; green line at the truth, red at the mean estimate.

    ``term`` defaults to the first simulated term. Failed trials are left out. ``scenario_title=False``
    leaves the residual model and design out of the title, for a figure that names them once.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> sim = ps.simulate("log_err ~ I(log2(TS)-IXMin)*mix", weights="w", n_trials=40, terms=["I(log2(TS)-IXMin):mix1"])
    >>> [ln.get_color() for ln in estimate_histogram(sim, "huber").axes[0].lines]
    ['#2ca02c', '#d62728']
    """
    fig, ax = _figure(ax, (4.8, 3.4), HISTOGRAM_MARGINS)
    values, j = _values(sim, estimator, term, sim.estimates)
    truth = float(sim.truth.iloc[j])
    _histogram(ax, values, [(truth, TRUTH_COLOUR, f"truth {truth:.4g}"),
                            (float(values.mean()), MEAN_COLOUR, f"mean estimate {values.mean():.4g}")])
    ax.set(xlabel=f"estimate of {sim.terms[j]}", ylabel="trials")
    title(ax, f"Estimates, {_label(sim, estimator, scenario_title)}", 9.5)
    return fig


def se_histogram(sim: SimulationResult, estimator: str, term: str | None = None, ax: Axes | None = None, *,
                 scenario_title: bool = True) -> Figure:
    """Histogram of one term's estimated SEs; green line at the measured SE (SD of the estimates), red at the mean SE.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> sim = ps.simulate("log_err ~ I(log2(TS)-IXMin)*mix", weights="w", n_trials=40, estimators=("ols",))
    >>> len(se_histogram(sim, "ols", "mix1").axes[0].lines)
    2
    """
    fig, ax = _figure(ax, (4.8, 3.4), HISTOGRAM_MARGINS)
    ses, j = _values(sim, estimator, term, sim.std_errors)
    estimates, _ = _values(sim, estimator, term, sim.estimates)
    measured = float(np.std(estimates, ddof=1)) if len(estimates) > 1 else float("nan")
    _histogram(ax, ses, [(measured, TRUTH_COLOUR, f"measured SE (SD of estimates) {measured:.3g}"),
                         (float(ses.mean()), MEAN_COLOUR, f"mean estimated SE {ses.mean():.3g}")])
    ax.set(xlabel=f"estimated SE of {sim.terms[j]}", ylabel="trials")
    title(ax, f"Standard errors, {_label(sim, estimator, scenario_title)}", 9.5)
    return fig


def estimator_panels(sim: SimulationResult, estimator: str, term: str | None = None) -> Figure:
    """The seed's pair for one estimator: estimates (left) and estimated SEs (right), one figure.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> sim = ps.simulate("log_err ~ I(log2(TS)-IXMin)*mix", weights="w", n_trials=40, estimators=("ols",))
    >>> len(estimator_panels(sim, "ols").axes)
    2
    """
    fig, axes = fixed_figure((9.6, 3.5), HISTOGRAM_MARGINS, 1, 2)
    left, right = axes[0]
    estimate_histogram(sim, estimator, term, ax=left)
    se_histogram(sim, estimator, term, ax=right)
    return fig


def _scenario_label(sim: SimulationResult) -> str:
    return f"{sim.residuals} / {sim.design}"


def summary_figure(results: Sequence[SimulationResult], term: str | None = None) -> Figure:
    """SE ratio (mean SE / SD of estimates) and coverage, per estimator, for each residual model × design.

    One row per simulation (labelled "residuals / design"), one marker per estimator; the dashed
    lines mark the right answers (ratio 1, coverage = the level).

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> f = "log_err ~ I(log2(TS)-IXMin)*mix"
    >>> sims = [ps.simulate(f, weights="w", n_trials=40, residuals=r) for r in ("normal", "empirical")]
    >>> [a.get_xlabel() for a in summary_figure(sims).axes]
    ['SE ratio (mean SE / SD of estimates)', 'coverage of the 95% interval']
    """
    if not results:
        raise OptionError("summary_figure needs at least one simulation result")
    from matplotlib.figure import Figure

    estimators = list(dict.fromkeys(e for sim in results for e in sim.estimators or sim.estimates))
    height = max(1.2 + 0.55 * len(results), 0.6 + 0.2 * len(estimators))  # room for the legend's entries
    fig = Figure(figsize=(10.5, height))
    ratio_ax, cover_ax = fig.subplots(1, 2, sharey=True)
    labels = [_scenario_label(s) for s in results]
    names = [label_words(e, "figure") for e in estimators]
    # margins from the longest texts, in inches: tick labels at 10 pt and legend entries at 7.5 pt
    place(fig, dataclasses.replace(SUMMARY_MARGINS, left=0.3 + _text_inches(labels, 10),
                                   right=0.55 + _text_inches(names, 7.5)), 1, 2)
    for k, estimator in enumerate(estimators):
        _summary_points(ratio_ax, cover_ax, results, estimator, term, k, len(estimators))
    level = results[0].level
    ratio_ax.axvline(1.0, color="#555", lw=1, ls="--")
    cover_ax.axvline(level, color="#555", lw=1, ls="--")
    ratio_ax.set_yticks(range(len(results)), labels)
    ratio_ax.invert_yaxis()
    from .ticks import round_ticks

    for ax in (ratio_ax, cover_ax):
        round_ticks(ax, y=False)
    ratio_ax.set_xlabel("SE ratio (mean SE / SD of estimates)")
    cover_ax.set_xlabel(f"coverage of the {level:.0%} interval")
    name = results[0].terms[_column(results[0], term)]
    fig.suptitle(f"Do the standard errors of {name} tell the truth?", fontsize=10)
    fig.legend(*cover_ax.get_legend_handles_labels(), loc="upper right", fontsize=7.5, frameon=False,
               bbox_to_anchor=(1.0, cover_ax.get_position().y1 + 0.1 / height))
    return fig


def _text_inches(texts: Sequence[str], points: float) -> float:
    """About the width of the longest text in inches: DejaVu Sans averages 0.6 em a character."""
    return max((len(t) for t in texts), default=0) * 0.6 * points / 72


def _summary_points(ratio_ax, cover_ax, results, estimator, term, k, n_est) -> None:
    offset = (k - (n_est - 1) / 2) * min(0.15, 0.7 / max(n_est - 1, 1))  # many SE kinds stay within their scenario's row
    rows = [(i, s.summary[(s.summary["estimator"] == estimator)].iloc[_column(s, term)])
            for i, s in enumerate(results) if estimator in s.estimates]
    y = [i + offset for i, _ in rows]
    style = {"marker": ESTIMATOR_MARKERS[k % len(ESTIMATOR_MARKERS)], "ls": "none", "ms": 6,
             "label": label_words(estimator, "figure")}
    ratio_ax.plot([r["se_ratio"] for _, r in rows], y, **style)
    cover_ax.plot([r["coverage"] for _, r in rows], y, **style)


def panel_files(sim: SimulationResult, fmt: str = "png", term: str | None = None) -> dict[str, bytes]:
    """Every panel of one simulation, encoded: ``{file name: bytes}``, two files per estimator.

    Names read ``estimates_<estimator>_<residuals>_<design>.<fmt>`` and ``se_…``.
    """
    if fmt not in FORMATS:
        raise OptionError(f"figure format {fmt!r} is not supported; use {' or '.join(FORMATS)}")
    files = {}
    for estimator in sim.estimates:
        stem = f"{estimator}_{sim.residuals}_{sim.design}"
        files[f"estimates_{stem}.{fmt}"] = to_bytes(estimate_histogram(sim, estimator, term), fmt)
        files[f"se_{stem}.{fmt}"] = to_bytes(se_histogram(sim, estimator, term), fmt)
    return files


def figure_files(sim: SimulationResult, fmt: str = "png", term: str | None = None) -> dict[str, bytes]:
    """The panels and the summary figure of ``term``, encoded: file name -> bytes."""
    files = panel_files(sim, fmt, term)
    files[f"summary_{sim.residuals}_{sim.design}.{fmt}"] = to_bytes(summary_figure([sim], term), fmt)
    return files


def write_figures(sim: SimulationResult, directory: str | Path, fmt: str = "png", term: str | None = None) -> list[Path]:
    """Write the panels and the summary figure into ``directory`` (created if its parent exists).

    All figures are drawn before any is written, and they land together or not at all
    (:func:`powerlaw_stats.files.write_together`).
    """
    directory = Path(directory)
    check_output_folder(directory, "--plots")
    return write_together({directory / name: data for name, data in figure_files(sim, fmt, term).items()})
