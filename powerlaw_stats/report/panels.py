"""The simulation section's figures, drawn with :mod:`powerlaw_stats.plots.simulation`.

Each scenario (residual model × design) gets one figure holding the seed's pair of histograms for
every estimator, one estimator per row: the estimates of the effect term (green line at the truth,
red at their mean) and its estimated standard errors (green at the measured SE, the SD of the
estimates; red at their mean). Rows share each column's x axis, so the estimators' spreads compare
at a glance. The whole check also gets the summary figure: SE ratio and coverage per estimator
and scenario. One figure per scenario rather than one per histogram keeps the page short and
costs one layout pass instead of eight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from ..options import SeLabel
from ..plots import simulation as plots_simulation
from ..plots.layout import blank
from .analysis import estimator_name
from .blocks import Figure
from .check import Scenario, SimulationCheck
from .sections import figure_block

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure as MplFigure

ROW_HEIGHT = 2.45  # inches per estimator row: room for the title, histogram and key
WIDTH = 9.6
# Fixed margins in inches instead of a layout engine: the panels' content is known, and constrained
# layout measured every text box again on each figure (a third of the section's drawing time).
# The scenario is named once, above the panels, so each panel's title is one line.
TOP_IN, BOTTOM_IN, GAP_IN = 0.7, 0.5, 0.42
# SVG: a histogram is a few shapes, so the vector file is no larger than the 150 dpi PNG (548 KB against 552 KB for
# the default report's four scenarios) and drawing and encoding it takes about a quarter less time (no text or
# shapes rasterised, no zlib); the fit sections' scatter plots stay PNG, whose size does not grow with the points
VECTOR: Final = "svg"


def scenario_panels(sc: Scenario, term: str) -> list[Figure]:
    """One figure for the scenario: estimates (left) and estimated SEs (right), one row per estimator.

    Examples
    --------
    >>> from powerlaw_stats.data import datasets
    >>> from powerlaw_stats.report.check import run_check
    >>> check = run_check(datasets.EXAMPLE_FORMULA, None, datasets.load_example(), weights=datasets.EXAMPLE_WEIGHTS,
    ...                   where=None, let=(), term=datasets.EXAMPLE_EFFECT, n_trials=20, seed=0, level=0.95,
    ...                   estimators=("ols", "huber"))
    >>> [f.name for f in scenario_panels(check.scenarios[1], check.term)]
    ['sim-skewed-hetero-n']
    >>> summary_panel(check).data[:5]
    b'<?xml'
    """
    return ScenarioPanels(term)(sc)


class ScenarioPanels:
    """Draws scenario after scenario into one matplotlib figure, blanked in between.

    The scenarios of a check share their estimators, so their figures share the layout: all but the
    first reuse its axes and ticks (:func:`~powerlaw_stats.plots.layout.blank`), the same bytes for
    about a fifth less time. A scenario with another layout gets a fresh figure.
    """

    def __init__(self, term: str) -> None:
        self.term = term
        self._fig: MplFigure | None = None
        self._shape: tuple[int, int] | None = None

    def __call__(self, sc: Scenario) -> list[Figure]:
        """The scenario's figure block (see :func:`scenario_panels`)."""
        sim = sc.result
        estimators = [e for e in sim.estimators or sim.estimates if e in sim.estimates]
        rows = _by_estimator(estimators)
        cols = 1 + max(len(labels) for labels in rows)
        fig, axes = self._layout(len(rows), cols)
        for ax_row, labels in zip(axes, rows):
            plots_simulation.estimate_histogram(sim, labels[0], self.term, ax=ax_row[0], scenario_title=False)
            for ax, label in zip(ax_row[1:], labels):
                plots_simulation.se_histogram(sim, label, self.term, ax=ax, scenario_title=False)
        for ax in axes[:-1].ravel():
            ax.set_xlabel("")  # the columns share x: the bottom row names it
        fig.suptitle(plots_simulation.scenario_words(sim), y=1 - 0.12 / fig.get_figheight(), va="top", fontsize=10.5)
        names = ", ".join(estimator_name(labels[0]) for labels in rows)
        ses = (f"Right: the standard errors each fit reported, one column per kind of SE ({', '.join(_kinds(rows))}), "
               if cols > 2 else "Right: the standard errors each fit reported ")
        caption = (f"{sc.name.capitalize()}, {sim.n_trials} trials. Left: the estimates of `{self.term}` (green: the "
                   f"truth; red: their mean; a gap is bias). {ses}(green: the measured SE, "
                   f"the SD of the estimates on the left; red: their mean; red left of green means the SE is too small). "
                   f"Rows: {names}; failed fits are left out.")
        return [figure_block(f"sim-{sc.residuals}-{sc.design}", fig, caption, f"simulation panels, {sc.name}", VECTOR)]

    def _layout(self, n_rows: int, n_cols: int) -> tuple[MplFigure, np.ndarray]:
        """A figure with ``n_rows`` x ``n_cols`` axes: the last one, blanked, when it has that layout."""
        from matplotlib.figure import Figure as MplFigure

        if self._fig is not None and self._shape == (n_rows, n_cols):
            return self._fig, np.array(blank(self._fig).axes).reshape(n_rows, n_cols)
        fig = MplFigure(figsize=(WIDTH * n_cols / 2, ROW_HEIGHT * n_rows))
        axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex="col")
        _fixed_margins(fig, n_rows)
        self._fig, self._shape = fig, (n_rows, n_cols)
        return fig, axes


def _by_estimator(labels: list[str]) -> list[list[str]]:
    """Labels grouped by estimator, in order: ``[["ols", "ols+CR1"], ["huber", "huber+CR1"]]``.

    The variants of one estimator share its estimates, so they share a row: one histogram of the
    estimates and one of the SEs per kind.
    """
    rows: dict[str, list[str]] = {}
    for label in labels:
        rows.setdefault(SeLabel.parse(label).method, []).append(label)
    return list(rows.values())


def _kinds(rows: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(SeLabel.parse(label).kind for labels in rows for label in labels))


def _fixed_margins(fig, rows: int) -> None:
    height = fig.get_figheight()
    axes_height = (height - TOP_IN - BOTTOM_IN - (rows - 1) * GAP_IN) / rows
    narrow = WIDTH / fig.get_figwidth()  # side margins keep their inches however many columns
    fig.subplots_adjust(left=0.07 * narrow, right=1 - 0.015 * narrow, top=1 - TOP_IN / height, bottom=BOTTOM_IN / height,
                        wspace=0.18, hspace=GAP_IN / axes_height)


def summary_panel(check: SimulationCheck) -> Figure:
    """The check's summary: SE ratio and coverage of every estimator in every scenario."""
    fig = plots_simulation.summary_figure([sc.result for sc in check.scenarios], check.term)
    caption = ("SE ratio (mean reported SE over the SD of the estimates) and coverage of the confidence interval, per "
               "estimator and scenario; dashed lines mark the right answers. Points left of the line on the left "
               "panel are standard errors that claim more precision than the estimator has.")
    return figure_block("sim-summary", fig, caption, "simulation summary: SE ratio and coverage", VECTOR)
