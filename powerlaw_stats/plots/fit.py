"""Diagnostic figures of a fit: learning curves, QQ plots, residual histograms and residual plots.

Every function takes a :class:`~powerlaw_stats.results.FitResult` (and optionally a matplotlib
Axes to draw into) and returns the :class:`matplotlib.figure.Figure`; nothing is ever shown.
Figures are built on matplotlib's object API, not pyplot, so no GUI backend and no global state are
involved, and matplotlib is imported only when a figure is made: ``import powerlaw_stats`` stays
free of it.

Residuals come in two kinds here. *Raw* residuals are ``y - fitted`` in the response's units.
*Weighted* residuals are ``sqrt(w0 * w) * (y - fitted)``: ``w0`` the prior (inverse-variance)
weights, ``w`` the final IRWLS weights (1 for least squares). They are the residuals of the last
weighted least-squares step, the ones the estimator actually treats as exchangeable.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError
from ..estimation.methods import label_words
from ..files import write_atomic
from ..formula import factor_levels, parse
from ..options import PlotKind
from ..results import FitResult
from .layout import SIDE_BY_SIDE, SINGLE, Margins, bars, fixed_figure, title
from .layout import key as colour_key

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS: tuple[str, ...] = ("png", "svg")
SIZE_NAMES: tuple[str, ...] = ("TS", "train_size")  # preferred x of a learning curve
LINE_STYLES: tuple[str, ...] = ("-", "--", ":", "-.")
MARKERS: tuple[str, ...] = ("o", "^", "s", "D")
DODGE = 0.035  # log2 units: points of different effect levels at one size are nudged apart to stay visible
PNG_COMPRESSION = 3  # zlib level: a quarter faster to encode than the default 6, files under 1 % larger
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_SALT = "powerlaw-stats"  # the salt of SVG's element ids (any fixed string)
SVG_FONTTYPE = "none"  # SVG texts as <text> elements, not glyph outlines
DPI = 150  # raster figures: sharp on a high-density screen and in print; SVG has no resolution
HIST_HEADROOM = 1.45  # the histogram's y axis reaches this times its tallest bar or curve: the key sits above them

# how a learning-curve legend says a column's value in words: the schema's names (docs/schema.md)
AXIS_WORDS = {"TS": "training-set size", "train_size": "training-set size", "param": "parameters",
              "params": "parameters"}
_LEVEL_WORDS: dict[str, Callable[[str], str]] = {
    "TrainSet": "trained on {}".format, "train_set": "trained on {}".format,
    "EvalSet": "evaluated on {}".format, "eval_set": "evaluated on {}".format,
    "CinicTr": lambda v: "trained on CINIC-10" if v in ("1", "True") else "trained on CIFAR-10",
    "CinicEv": lambda v: "evaluated on CINIC-10" if v in ("1", "True") else "evaluated on CIFAR-10",
    "mix": lambda v: "with mixup" if v in ("1", "True") else "without mixup",
    "mixup": lambda v: "with mixup" if v in ("1", "True") else "without mixup",
    "param": "{} parameters".format, "params": "{} parameters".format,
    "width": "width {}".format,
}

# a response in logs is drawn back in its data units: name or pattern -> (label, inverse)
_NAMED_LOGS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "log_err": ("error", lambda v: np.exp2(v)),
}
_LOG_CALL = re.compile(r"^(?:np\.)?(log2|log10|log)\((\w+)\)$")
_INVERSES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"log2": np.exp2, "log10": lambda v: 10.0**v, "log": np.exp}


# ----------------------------------------------------------------------------- figure plumbing


def _figure(ax: Axes | None, size: tuple[float, float] = (6.0, 4.2), margins: Margins = SINGLE) -> tuple[Figure, Axes]:
    """A fresh Agg-backed figure with one Axes placed by fixed ``margins``, or the figure that owns ``ax``."""
    if ax is not None:
        return ax.figure, ax
    fig, axes = fixed_figure(size, margins)
    return fig, axes[0, 0]


def to_bytes(fig: Figure, fmt: str = "png", dpi: int = DPI) -> bytes:
    r"""The figure encoded as PNG or SVG.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> png = to_bytes(qq(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix")))
    >>> png[:4] == b"\x89PNG"
    True
    """
    if fmt not in FORMATS:
        raise OptionError(f"figure format {fmt!r} is not supported; use {' or '.join(FORMATS)}")
    buf = io.BytesIO()
    if fmt == "png":
        fig.savefig(buf, format="rgba", dpi=dpi)  # the pixels Agg draws for PNG, raw
        width = int(fig.get_figwidth() * dpi + 1e-8)  # as Agg sizes its canvas (inches times dpi, truncated, 1e-8 up)
        return png_bytes(np.frombuffer(buf.getbuffer(), np.uint8).reshape(-1, width, 4), dpi)
    from matplotlib import rc_context

    # SVG's ids hash a random salt unless one is set: same figure, same bytes. Texts stay text (the viewer's DejaVu
    # Sans or the sans-serif it falls back to, anchored as drawn) instead of a path per glyph: half the file, and a
    # fifth less time to draw the simulation's panels
    with rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": SVG_FONTTYPE}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata={"Date": None})
    return buf.getvalue()


def png_bytes(rgba: np.ndarray, dpi: float) -> bytes:
    r"""An ``(h, w, 4)`` uint8 RGBA image as a PNG file: RGB when every pixel is opaque, rows unfiltered.

    Pillow's encoder (what ``savefig`` uses) tries all five PNG row filters on every row and keeps
    the best; on a figure's flat colours that costs more than it saves: unfiltered RGB rows at zlib
    level :data:`PNG_COMPRESSION` encode in about 60 % of the time to a file of the same size or smaller.
    The pixels are the same; the file records ``dpi`` as Pillow's does (``pHYs``) and no timestamp.

    Examples
    --------
    >>> png = png_bytes(np.full((2, 3, 4), 255, np.uint8), 150)
    >>> png[:8] == PNG_SIGNATURE, png[16:24].hex()  # width 3, height 2
    (True, '0000000300000002')
    """
    import struct
    import zlib

    height, width = rgba.shape[:2]
    opaque = bool((rgba[..., 3] == 255).all())
    pixels = rgba[..., :3] if opaque else rgba
    rows = np.zeros((height, 1 + width * pixels.shape[2]), np.uint8)  # each row: filter type 0 (none), then its bytes
    rows[:, 1:] = pixels.reshape(height, -1)
    per_metre = round(dpi / 0.0254)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"".join((PNG_SIGNATURE, chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2 if opaque else 6, 0, 0, 0)),
                     chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
                     chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_COMPRESSION)), chunk(b"IEND", b"")))


def save(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write the figure to ``path``; the extension (``.png`` or ``.svg``) picks the format."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise OptionError(f"{path}: unknown figure type {path.suffix or '(none)'!r}; name it .png or .svg")
    if not path.parent.exists():
        raise OptionError(f"{path}: folder {path.parent} does not exist")
    return write_atomic(path, to_bytes(fig, fmt, dpi))


# ----------------------------------------------------------------------------- residuals


def weighted_residuals(result: FitResult) -> np.ndarray:
    """``sqrt(w0 * w) * e``: the residuals of the fit's final weighted least-squares step.

    Case weights (``weight_type="case"`` on an M-estimate) count rows rather than scale their
    variance, so they do not enter.
    """
    w = np.ones(len(result.resid))
    if result.prior_weights is not None and (result.method == "ols" or result.weight_type == "inv.var"):
        w = w * np.asarray(result.prior_weights)
    if result.method != "ols":
        w = w * np.asarray(result.weights)
    return np.sqrt(w) * np.asarray(result.resid)


def normal_quantiles(n: int) -> np.ndarray:
    """Normal quantiles at R's ``ppoints(n)``, the x of ``qqnorm``.

    Examples
    --------
    >>> normal_quantiles(3).round(3).tolist()
    [-0.869, 0.0, 0.869]
    """
    a = 3 / 8 if n <= 10 else 0.5
    return normal_quantiles_at((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))


def _round_ticks(ax: Axes) -> None:
    """About five round ticks per axis, only those in view (:mod:`powerlaw_stats.plots.ticks`)."""
    from .ticks import round_ticks

    round_ticks(ax)


def _method_label(result: FitResult) -> str:
    weighted = "weighted " if result.is_weighted and result.method == "ols" else ""
    return weighted + label_words(result.method, "figure")


# ----------------------------------------------------------------------------- QQ and histogram


def qq(result: FitResult, ax: Axes | None = None, *, weighted: bool = False) -> Figure:
    """Normal QQ plot of the residuals with R's ``qqline`` (through the quartiles).

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> fig = qq(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix"))
    >>> fig.axes[0].get_xlabel()
    'normal quantile'
    """
    fig, ax = _figure(ax, (4.6, 4.2))
    r = weighted_residuals(result) if weighted else np.asarray(result.resid)
    theo, sample = normal_quantiles(len(r)), np.sort(r)
    ax.scatter(theo, sample, s=9, color="#1f77b4", alpha=0.7, linewidths=0)
    q_theo, q_sample = normal_quantiles_at((0.25, 0.75)), np.quantile(r, [0.25, 0.75])
    slope = (q_sample[1] - q_sample[0]) / (q_theo[1] - q_theo[0])
    ax.axline((q_theo[0], q_sample[0]), slope=slope, color="#d62728", lw=1.2, label="line through the quartiles")
    colour_key(ax, [("line through the quartiles", "#d62728")], x=0.03, ha="left", fontsize=8)
    kind = "weighted residual √(w₀w)·e" if weighted else "residual"
    _round_ticks(ax)
    ax.set(xlabel="normal quantile", ylabel=kind)
    title(ax, f"Normal QQ, {'weighted' if weighted else 'raw'} residuals ({_method_label(result)})", 10)
    return fig


def normal_quantiles_at(p: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Normal quantiles at probabilities ``p`` (for R's ``qqline``), by Wichura's AS 241 as R's ``qnorm``.

    The standard library's ``NormalDist.inv_cdf`` is that algorithm; scipy's ``ndtri`` agrees to
    a few units in the last place, and importing scipy cost the report 0.2-0.4 s for this alone.

    Examples
    --------
    >>> normal_quantiles_at((0.25, 0.975)).round(6).tolist()
    [-0.67449, 1.959964]
    """
    inv = NormalDist().inv_cdf
    return np.array([inv(float(q)) for q in np.asarray(p, dtype=float).ravel()])


def residual_histogram(result: FitResult, ax: Axes | None = None, *, weighted: bool = False, bins: int | None = None) -> Figure:
    """Histogram of the residuals (as a density) with the normal of the same mean and SD over it.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> fig = residual_histogram(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix"))
    >>> len(fig.axes[0].lines)
    1
    """
    fig, ax = _figure(ax, (4.6, 4.2))
    r = weighted_residuals(result) if weighted else np.asarray(result.resid)
    heights, edges = np.histogram(r, bins=bins or int(np.clip(np.sqrt(len(r)) * 1.5, 10, 60)), density=True)
    bars(ax, heights, edges, color="#9ecae1", edgecolor="#4a7fb0", linewidth=0.5, label="residuals")
    mu, sd = float(np.mean(r)), float(np.std(r, ddof=1))
    grid = np.linspace(r.min() - 0.5 * sd, r.max() + 0.5 * sd, 300)
    curve = np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
    normal = f"normal (mean {mu:.2g}, SD {sd:.2g})"
    ax.plot(grid, curve, color="#d62728", lw=1.3, label=normal)
    _round_ticks(ax)
    ax.set(xlabel="weighted residual" if weighted else "residual", ylabel="density")
    title(ax, f"Residuals ({_method_label(result)})", 10)
    # the key goes in a band above the tallest bar and the curve's peak, so it never hides a bar
    ax.set_ylim(0, HIST_HEADROOM * float(np.nanmax([np.max(heights), np.max(curve)])))
    colour_key(ax, [("residuals", "#4a7fb0"), (normal, "#d62728")], fontsize=8, marks=("■", "—"))
    return fig


# ----------------------------------------------------------------------------- residual plots


def residuals_vs_fitted(result: FitResult, ax: Axes | None = None) -> Figure:
    """Raw residuals against fitted values; each point as opaque as its final IRWLS weight.

    A point the robust fit ignores (weight 0) is left as an empty ring, so the reader sees where
    the outliers were. Least squares gives every point its full weight.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> fig = residuals_vs_fitted(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", method="huber"))
    >>> fig.axes[0].get_ylabel()
    'residual'
    """
    fig, ax = _figure(ax)
    w = np.ones(len(result.resid)) if result.method == "ols" else np.clip(np.asarray(result.weights), 0.0, 1.0)
    _weighted_scatter(ax, np.asarray(result.fittedvalues), np.asarray(result.resid), w)
    what = "opacity = IRWLS weight" if result.method != "ols" else "all weights 1"
    _round_ticks(ax)
    ax.set(xlabel="fitted value", ylabel="residual")
    title(ax, f"Residuals vs fitted ({_method_label(result)}; {what})", 10)
    return fig


def _weighted_scatter(ax: Axes, x: np.ndarray, y: np.ndarray, alpha: np.ndarray) -> None:
    from matplotlib.colors import to_rgba

    face = np.tile(to_rgba("#1f77b4"), (len(x), 1))  # one colour parsed once, not once per point
    face[:, 3] = alpha
    ax.scatter(x, y, s=14, c=face, edgecolors=(0.12, 0.47, 0.71, 0.35), linewidths=0.5)
    ax.axhline(0.0, color="0.4", lw=0.8)


def weighted_residuals_vs_fitted(result: FitResult, ax: Axes | None = None) -> Figure:
    """Weighted residuals ``sqrt(w0 * w) * e`` against fitted values.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> fig = weighted_residuals_vs_fitted(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", method="bisquare"))
    >>> fig.axes[0].get_ylabel()
    'weighted residual √(w₀w)·e'
    """
    fig, ax = _figure(ax)
    ax.scatter(result.fittedvalues, weighted_residuals(result), s=12, color="#2ca02c", alpha=0.6, linewidths=0)
    ax.axhline(0.0, color="0.4", lw=0.8)
    _round_ticks(ax)
    ax.set(xlabel="fitted value", ylabel="weighted residual √(w₀w)·e")
    title(ax, f"Weighted residuals vs fitted ({_method_label(result)})", 10)
    return fig


def qq_raw_weighted(result: FitResult, axes: tuple[Axes, Axes] | None = None) -> Figure:
    """QQ plots of the raw and of the weighted residuals, side by side (or into the two ``axes`` given).

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> len(qq_raw_weighted(ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", method="huber")).axes)
    2
    """
    if axes is None:
        axes = tuple(fixed_figure((8.6, 4.0), SIDE_BY_SIDE, 1, 2)[1][0])
    left, right = axes
    qq(result, left)
    qq(result, right, weighted=True)
    return left.figure


# ----------------------------------------------------------------------------- learning curves


@dataclass(frozen=True)
class CurveLayout:
    """How a fit's rows become learning curves: the x column, the y in data units, the groupings."""

    x: str
    y_label: str
    y_data: np.ndarray
    y_fitted: np.ndarray
    groups: tuple[str, ...]  # columns whose combinations get a colour each
    effect: str | None  # the factor whose levels get a line style each


def curve_layout(result: FitResult, effect: str | None = None, x: str | None = None) -> CurveLayout:
    """Decide the axes and groupings of the learning-curve plot from the formula and data.

    The x axis is the formula's training-size column (``TS`` or ``train_size``, else its first
    numeric variable); colours are the combinations of the other variables (the factors, and any
    numeric column with few values such as ``param``) except the effect factor, which sets the
    line style.
    """
    frame = _frame(result)
    parsed = parse(result.formula)
    used = [v for v in parsed.variables if v in frame.columns and v != parsed.response]
    factors = set(factor_levels(parsed, frame))
    x = x or _size_column([v for v in used if v not in factors])
    if x not in frame.columns:
        raise DataError(f"no column {x!r} to put on the learning curve's x axis")
    effect_factor = _effect_factor(result, effect, factors)
    groups = tuple(v for v in used if v not in (x, effect_factor) and (v in factors or 1 < frame[v].nunique() <= 8))
    label, inverse = _data_units(parsed.response, frame)
    y = np.asarray(result.design.y) if result.design is not None else np.asarray(result.fittedvalues) + result.resid
    return CurveLayout(x, label, inverse(y), inverse(np.asarray(result.fittedvalues)), groups, effect_factor)


def _frame(result: FitResult) -> pd.DataFrame:
    if result.data is None:
        raise OptionError("this result carries no data; fit it with powerlaw_stats.fit to plot it")
    return result.data.reset_index(drop=True)


def _size_column(numeric: list[str]) -> str:
    for name in SIZE_NAMES:
        if name in numeric:
            return name
    if not numeric:
        raise DataError("the formula reads no numeric column to use as training size; pass x=")
    return numeric[0]


def effect_factor_of(effect: str, factors: list[str]) -> str | None:
    """The factor an effect term such as ``I(log2(TS)-IXMin):mix1`` is about (``mix``), if any.

    Examples
    --------
    >>> effect_factor_of("I(log2(TS)-IXMin):mix1", ["CinicEv", "CinicTr", "mix"])
    'mix'
    """
    parts = [p.replace(" ", "") for p in effect.split(":")]
    hits = [f for f in factors for p in parts if p.startswith(f) and not p.startswith("I(")]
    return max(hits, key=len) if hits else None


def _effect_factor(result: FitResult, effect: str | None, factors: set[str]) -> str | None:
    if not effect or effect in factors:
        return effect or None
    return effect_factor_of(result.term(effect), sorted(factors))  # term() refuses a term not in the model


def _data_units(response: str, frame: pd.DataFrame) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    compact = response.replace(" ", "")
    if compact in _NAMED_LOGS:
        return _NAMED_LOGS[compact]
    match = _LOG_CALL.match(compact)
    if match:
        return match.group(2), _INVERSES[match.group(1)]
    return response, lambda v: v


def learning_curves(result: FitResult, ax: Axes | None = None, *, effect: str | None = None, x: str | None = None) -> Figure:
    """The runs as points and each group's fitted power law as a line, on log-log axes in data units.

    Colour marks the group (a combination of the formula's other factors), line style and marker
    the level of the effect factor (``mix`` for the effect ``I(log2(TS)-IXMin):mix1``). The fitted
    lines join the fitted values at the observed sizes; the model is linear in log size, so on
    log axes they are the power laws themselves.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> from powerlaw_stats.data import datasets
    >>> res = ps.fit(datasets.EXAMPLE_FORMULA, weights=datasets.EXAMPLE_WEIGHTS)
    >>> fig = learning_curves(res, effect=datasets.EXAMPLE_EFFECT)
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_xlabel()
    ('log', 'training-set size')
    """
    lay = curve_layout(result, effect, x)
    frame = _frame(result)
    fig, ax = _figure(ax, (8.0, 5.2))
    keys = _group_keys(frame, lay.groups)
    levels = _group_keys(frame, (lay.effect,)) if lay.effect else pd.Series("", index=frame.index)
    colours, styles = _palette(keys.unique()), dict(zip(sorted(levels.unique(), key=str), range(len(LINE_STYLES))))
    xs = frame[lay.x].to_numpy(dtype=float)
    for (key, level), rows in frame.groupby([keys, levels], sort=True).groups.items():
        idx = np.asarray(rows)  # positions: the frame's index was reset
        _draw_group(ax, xs[idx], lay.y_data[idx], lay.y_fitted[idx], colours[key], styles[level], len(styles))
    _style_curve_axes(ax, lay, xs)
    _curve_legends(ax, colours, styles, lay)
    return fig


def level_words(column: str, value: object) -> str:
    """A column's value as a legend says it: in words for the schema's columns, ``column value`` otherwise.

    Examples
    --------
    >>> level_words("TrainSet", "cinic10"), level_words("mix", 1), level_words("seed", 3)
    ('trained on cinic10', 'with mixup', 'seed 3')
    """
    text = str(value)
    words = _LEVEL_WORDS.get(column)
    return words(text) if words else f"{column} {text}"


def _group_keys(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    if not columns:
        return pd.Series("all runs", index=frame.index)
    parts = [frame[c].map(lambda v, c=c: level_words(c, v)) for c in columns]
    out = parts[0].astype(str)
    for part in parts[1:]:
        out = out + ", " + part.astype(str)
    return out


def _palette(keys) -> dict[str, str]:
    tab = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    return {k: tab[i % len(tab)] for i, k in enumerate(sorted(keys, key=str))}


def _draw_group(ax: Axes, x: np.ndarray, y: np.ndarray, fitted: np.ndarray, colour: str, style: int, n_styles: int) -> None:
    nudge = np.exp2(DODGE * (style - (n_styles - 1) / 2))
    ax.scatter(x * nudge, y, s=10, color=colour, alpha=0.45, marker=MARKERS[style % len(MARKERS)], linewidths=0)
    sizes = np.unique(x)
    line = np.array([fitted[x == s].mean() for s in sizes])
    ax.plot(sizes, line, color=colour, ls=LINE_STYLES[style % len(LINE_STYLES)], lw=1.6)


def _style_curve_axes(ax: Axes, lay: CurveLayout, xs: np.ndarray) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from .ticks import in_view

    ax.set_xscale("log", base=2)
    ax.set_yscale("log" if np.all(lay.y_data > 0) else "linear")
    sizes = np.unique(xs)
    if len(sizes) <= 12:
        ax.set_xticks(sizes)
        ax.xaxis.set_minor_formatter(NullFormatter())
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 100 else f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    if ax.get_yscale() == "log":
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else ""))
    ax.tick_params(axis="both", which="both", labelsize=8)  # minor labels (0.2, 0.5) as small as the major ones
    in_view(ax)  # a log axis's locators return decades beyond the view: no ticks made for them
    ax.set(xlabel=AXIS_WORDS.get(lay.x, lay.x), ylabel=lay.y_label)
    title(ax, "Learning curves: runs and fitted power laws")
    ax.grid(True, which="major", alpha=0.25)


def _curve_legends(ax: Axes, colours: dict[str, str], styles: dict[str, int], lay: CurveLayout) -> None:
    from matplotlib.lines import Line2D

    groups = [Line2D([], [], color=c, lw=2, label=k) for k, c in colours.items()]
    first = ax.legend(handles=groups, loc="lower left", fontsize=7.5, title="runs", title_fontsize=8, framealpha=0.85)
    if lay.effect:
        ax.add_artist(first)
        handles = [Line2D([], [], color="0.2", ls=LINE_STYLES[i % 4], marker=MARKERS[i % 4], ms=4, label=lvl)
                   for lvl, i in styles.items()]
        ax.legend(handles=handles, loc="upper right", fontsize=7.5, title="effect factor", title_fontsize=8, framealpha=0.85)


# ----------------------------------------------------------------------------- dispatch


PLOTS: dict[str, Callable[..., Figure]] = {
    "curves": learning_curves,
    "qq": qq,
    "hist": residual_histogram,
    "resid": residuals_vs_fitted,
    "weights": weighted_residuals_vs_fitted,
}


def plot(kind: PlotKind, result: FitResult, **options) -> Figure:
    """The figure of one ``kind`` (``curves``, ``qq``, ``hist``, ``resid``, ``weights``) for ``result``."""
    if kind not in PLOTS:
        raise OptionError(f"unknown plot kind {kind!r}; choose one of {', '.join(PLOTS)}")
    return PLOTS[kind](result, **options)
