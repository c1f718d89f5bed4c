"""Fixed layouts and cheap artists: every figure is drawn exactly once, by the PNG or SVG encoder.

A layout engine (constrained or tight layout, ``bbox_inches="tight"``) measures every text box
of a figure in an extra draw before the real one. The package's figures have known contents, so
each kind gets its margins in inches, chosen once: :func:`fixed_figure` places the axes with them
and the encoder draws the figure a single time. Titles sit at a fixed height (:func:`title`)
instead of being searched for a place above tick labels that these axes never have at the top,
and histograms are one collection of bars (:func:`bars`) instead of a patch per bar.

Matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass(frozen=True, kw_only=True)
class Margins:
    """Space around and between the axes, in inches: it stays the same whatever the figure's size."""

    left: float = 0.8  # y tick labels and the y label
    right: float = 0.15
    top: float = 0.35  # a one-line title
    bottom: float = 0.55  # x tick labels and the x label
    wspace: float = 0.0  # between columns
    hspace: float = 0.0  # between rows


SINGLE = Margins()  # one axes with a one-line title, tick labels and axis labels
SIDE_BY_SIDE = Margins(wspace=0.85)  # two such axes in a row, each with its own y label


def fixed_figure(size: tuple[float, float], margins: Margins = SINGLE, nrows: int = 1, ncols: int = 1,
                 **subplots) -> tuple[Figure, np.ndarray]:
    """A figure of ``size`` inches with an ``nrows`` x ``ncols`` grid of axes placed by ``margins``.

    Returns the figure and its axes as a 2-d array (``squeeze=False``).

    Examples
    --------
    >>> fig, axes = fixed_figure((6.0, 4.0), nrows=1, ncols=2)
    >>> axes.shape, fig.get_layout_engine() is None
    ((1, 2), True)
    """
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=size)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    place(fig, margins, nrows, ncols)
    return fig, axes


def place(fig: Figure, margins: Margins, nrows: int = 1, ncols: int = 1) -> None:
    """Set the figure's subplot parameters from ``margins`` in inches."""
    width, height = fig.get_figwidth(), fig.get_figheight()
    axes_w = (width - margins.left - margins.right - (ncols - 1) * margins.wspace) / ncols
    axes_h = (height - margins.top - margins.bottom - (nrows - 1) * margins.hspace) / nrows
    fig.subplots_adjust(left=margins.left / width, right=1 - margins.right / width, top=1 - margins.top / height,
                        bottom=margins.bottom / height, wspace=margins.wspace / axes_w, hspace=margins.hspace / axes_h)


def title(ax: Axes, text: str, fontsize: float | None = None) -> None:
    """The axes' title at a fixed height just above it.

    Matplotlib otherwise looks, on every draw, for tick labels above the axes to dodge, measuring
    all of the y axis's labels to find none.
    """
    ax.set_title(text, y=1.0, **({} if fontsize is None else {"fontsize": fontsize}))


def bars(ax: Axes, heights: np.ndarray, edges: np.ndarray, *, color: str, edgecolor: str, linewidth: float,
         label: str | None = None):
    """A histogram's bars as one collection (one artist however many bars), the axes scaled to them.

    Returns the :class:`~matplotlib.collections.PolyCollection`; bar ``i`` spans ``edges[i]`` to
    ``edges[i + 1]`` and rises to ``heights[i]``.
    """
    from matplotlib.collections import PolyCollection

    heights, edges = np.asarray(heights, dtype=float), np.asarray(edges, dtype=float)
    lo, hi = edges[:-1], edges[1:]
    zero = np.zeros_like(heights)
    verts = np.stack([np.column_stack(c) for c in ((lo, zero), (lo, heights), (hi, heights), (hi, zero))], axis=1)
    coll = PolyCollection(verts, facecolors=color, edgecolors=edgecolor, linewidths=linewidth, label=label)
    ax.add_collection(coll, autolim=True)
    ax.autoscale_view()
    return coll


def bar_sizes(coll) -> tuple[np.ndarray, np.ndarray]:
    """Widths and heights of the bars :func:`bars` drew (what a test sums to check a histogram).

    Examples
    --------
    >>> fig, axes = fixed_figure((3.0, 2.0))
    >>> widths, heights = bar_sizes(bars(axes[0, 0], np.array([1.0, 3.0]), np.array([0.0, 0.5, 1.0]), color="b",
    ...                                  edgecolor="k", linewidth=0.5))
    >>> widths.tolist(), heights.tolist()
    ([0.5, 0.5], [1.0, 3.0])
    """
    spans = np.array([np.ptp(path.vertices, axis=0) for path in coll.get_paths()]).reshape(-1, 2)
    return spans[:, 0], spans[:, 1]


def key(ax: Axes, entries: Sequence[tuple[str, str]], *, x: float = 0.5, y: float = 0.97, ha: str = "center",
        fontsize: float = 7.5, marks: Sequence[str] = ()) -> list:
    """A legend as coloured words: one line per ``(text, colour)`` entry, top down from ``(x, y)`` in axes units.

    Each entry starts with its mark (``marks``, by default a dash: a line's key) and is written in
    its artist's colour. A matplotlib legend packs boxes, handles and texts anew on every draw,
    several times the cost of the texts alone; the coloured words say the same.

    Examples
    --------
    >>> fig, axes = fixed_figure((3.0, 2.0))
    >>> [t.get_text() for t in key(axes[0, 0], [("truth 1", "g"), ("mean 2", "r")])]
    ['— truth 1', '— mean 2']
    """
    from matplotlib.transforms import offset_copy

    marks = tuple(marks) or ("—",) * len(entries)
    return [ax.text(x, y, f"{mark} {text}", color=colour, fontsize=fontsize, ha=ha, va="top",
                    transform=offset_copy(ax.transAxes, ax.figure, y=-1.35 * fontsize * i, units="points"))
            for i, ((text, colour), mark) in enumerate(zip(entries, marks))]


def blank(fig: Figure) -> Figure:
    """Take the data, texts and titles out of ``fig``'s axes and forget their data limits; keep the axes and ticks.

    Drawing the next figure of the same kind into these axes gives the same bytes as a fresh figure
    (tests/test_plots.py compares them) without making the axes and their ticks again, about a fifth
    of a figure's time. What the drawing functions set each time (labels, locators, limits) they set
    anew; autoscaling is switched back on, as a fresh axes has it.

    Examples
    --------
    >>> fig, axes = fixed_figure((3.0, 2.0))
    >>> _ = axes[0, 0].plot([0.0, 1.0], [2.0, 3.0])
    >>> [len(ax.lines) for ax in blank(fig).axes], bool(axes[0, 0].dataLim.width < 0)
    ([0], True)
    """
    from matplotlib.transforms import Bbox

    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
            artist.remove()
        ax.dataLim.set_points(Bbox.null().get_points())
        ax.ignore_existing_data_limits = True
        ax.set_autoscale_on(True)
        ax.set_title("")
    return fig
