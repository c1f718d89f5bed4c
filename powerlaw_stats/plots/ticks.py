"""Tick locators that give matplotlib only the ticks it will draw.

Matplotlib makes a tick (five artists: two marks, two labels and a grid line) for every location
its locator returns, formats and places each on every draw, and only then drops those outside the
view: a quarter of the report's tick locations were never drawn, and on a log axis with minor
ticks most of them. :class:`InView` wraps any locator and keeps the locations inside the view, so
the figure looks the same and those ticks are never made. :func:`round_ticks` puts four to seven
round ticks on a linear axis, about as many as R's ``pretty()``, where matplotlib's automatic
locator fits up to ten into a wide axes: fewer labels to shape and render on every draw.

Imported only when a figure is made (it imports matplotlib).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import Locator, MaxNLocator

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes

ROUND_STEPS = (1, 2, 2.5, 5, 10)  # matplotlib's automatic locator's steps: the same round numbers, fewer of them
ROUND_BINS = 6  # intervals per axis at most: R's pretty() aims at 5; one more keeps a unit step on a 6-unit axis
SLACK = 1e-6  # of the view's width (in the axis's scale): a location this close to the edge is kept, as matplotlib draws it


class InView(Locator):
    """``inner``'s locations that lie in the axis's view; limits and autoscaling are ``inner``'s.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> ax.set_xlim(0.05, 0.95)
    (0.05, 0.95)
    >>> ax.xaxis.set_major_locator(InView(MaxNLocator(5)))
    >>> ax.xaxis.get_majorticklocs().round(6).tolist()  # MaxNLocator alone also returns 0.0 and 1.0
    [0.2, 0.4, 0.6, 0.8]
    """

    def __init__(self, inner: Locator) -> None:
        self.inner = inner

    def set_axis(self, axis) -> None:
        """Bind both locators to ``axis``."""
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def __call__(self) -> np.ndarray:
        """The inner locator's locations inside the view interval."""
        locs = np.asarray(self.inner(), dtype=float)
        if self.axis is None or not len(locs):
            return locs
        scale = self.axis.get_transform()
        ends = np.sort(scale.transform(np.asarray(self.axis.get_view_interval(), dtype=float)))
        at = scale.transform(locs)
        slack = SLACK * (ends[1] - ends[0])
        keep = np.isfinite(at) & (at >= ends[0] - slack) & (at <= ends[1] + slack)
        return locs[keep]

    def tick_values(self, vmin: float, vmax: float):
        """The inner locator's locations between ``vmin`` and ``vmax``."""
        return self.inner.tick_values(vmin, vmax)

    def view_limits(self, vmin: float, vmax: float):
        """The inner locator's view limits (autoscaling is unchanged)."""
        return self.inner.view_limits(vmin, vmax)

    def nonsingular(self, v0: float, v1: float):
        """The inner locator's widening of an empty range."""
        return self.inner.nonsingular(v0, v1)


def round_ticks(ax: Axes, x: bool = True, y: bool = True) -> None:
    """At most :data:`ROUND_BINS` intervals of round numbers on the axes' linear x and/or y axis, only those in view.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> ax.set_xlim(-0.33, 0.47)
    (-0.33, 0.47)
    >>> round_ticks(ax)
    >>> ax.xaxis.get_majorticklocs().round(6).tolist()
    [-0.2, 0.0, 0.2, 0.4]
    """
    for axis, on in ((ax.xaxis, x), (ax.yaxis, y)):
        if on:
            axis.set_major_locator(InView(MaxNLocator(ROUND_BINS, steps=ROUND_STEPS)))


def in_view(ax: Axes) -> None:
    """Wrap the axes' current major and minor locators in :class:`InView` (after any ``set_*scale``)."""
    for axis in (ax.xaxis, ax.yaxis):
        for get, put in ((axis.get_major_locator, axis.set_major_locator), (axis.get_minor_locator, axis.set_minor_locator)):
            locator = get()
            if not isinstance(locator, InView):
                put(InView(locator))
