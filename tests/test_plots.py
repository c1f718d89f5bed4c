"""Diagnostic figures: what each draws is checked against the fit's own numbers, not just that it draws.

Tolerances: figures hold float64 copies of the fit's arrays, so drawn data equal the computed values
to float rounding (EXACT); the QQ reference line is checked through its two defining points.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.plots import fit as plots
from powerlaw_stats.plots.layout import bar_sizes, blank

EXACT = 1e-12  # drawn data are the fit's arrays, transformed by exp2 at most
# the seed study's own table (fixed, real runs), so these checks do not move when the bundled example changes
CURVES_A = Path(__file__).parent / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
EFFECT = "I(log2(TS)-IXMin):mix1"
METHODS = ("ols", "huber", "bisquare")
SIGNATURES = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml"}


@pytest.fixture(scope="module")
def fits() -> dict:
    return {m: ps.fit(FORMULA, CURVES_A, method=m, weights="w") for m in METHODS}


@pytest.mark.parametrize("kind", sorted(plots.PLOTS))
@pytest.mark.parametrize("fmt", plots.FORMATS)
def test_every_kind_encodes_in_every_format(fits, kind, fmt):
    fig = plots.plot(kind, fits["huber"])
    assert plots.to_bytes(fig, fmt).startswith(SIGNATURES[fmt])


def test_svg_is_the_same_bytes_every_time(fits):
    # matplotlib hashes a random salt into SVG's element ids unless svg.hashsalt is set: the report's SVG
    # panels would differ on every run without it
    fig = plots.residual_histogram(fits["ols"])
    assert plots.to_bytes(fig, "svg") == plots.to_bytes(fig, "svg")



def test_png_is_the_pixels_matplotlib_draws_at_150_dpi(fits):
    # to_bytes encodes Agg's pixels itself (unfiltered RGB rows): the image must be the one savefig writes
    import io

    from PIL import Image

    fig = plots.qq_raw_weighted(fits["huber"])
    ours = Image.open(io.BytesIO(plots.to_bytes(fig)))
    theirs = io.BytesIO()
    fig.savefig(theirs, format="png", dpi=plots.DPI)
    reference = Image.open(theirs)
    assert ours.size == reference.size == (1290, 600) and ours.mode == "RGB"
    assert np.array_equal(np.asarray(ours.convert("RGBA")), np.asarray(reference.convert("RGBA")))
    assert round(ours.info["dpi"][0]) == plots.DPI


@pytest.mark.parametrize("width", [2.26, 3.0, 4.02])  # 2.26 * 150 and 4.02 * 150 fall a hair below a whole pixel
def test_png_has_the_size_savefig_gives(width):
    import io

    from matplotlib.figure import Figure
    from PIL import Image

    fig = Figure(figsize=(width, 1.38))
    fig.add_subplot().plot([0, 1], [1, 0])
    reference = io.BytesIO()
    fig.savefig(reference, format="png", dpi=plots.DPI)
    ours, theirs = Image.open(io.BytesIO(plots.to_bytes(fig))), Image.open(reference)
    assert ours.size == theirs.size and np.array_equal(np.asarray(ours.convert("RGBA")), np.asarray(theirs.convert("RGBA")))


def test_png_keeps_transparency_where_a_pixel_has_some():
    import io

    from PIL import Image

    rgba = np.full((3, 2, 4), 200, np.uint8)
    rgba[0, 0, 3] = 0
    image = Image.open(io.BytesIO(plots.png_bytes(rgba, 72)))
    assert image.mode == "RGBA" and np.array_equal(np.asarray(image), rgba)


def test_svg_writes_texts_as_text_not_glyph_outlines(fits):
    svg = plots.to_bytes(plots.qq(fits["ols"]), "svg").decode()
    assert "<text" in svg and "normal quantile" in svg  # the label is searchable text
    assert 'id="DejaVuSans-' not in svg  # no glyph paths defined for it


@pytest.mark.parametrize("kind", sorted(plots.PLOTS))
def test_every_tick_matplotlib_makes_is_drawn(fits, kind):
    # locators return locations beyond the view (a decade on a log axis); matplotlib makes a tick for each,
    # formats and places it on every draw, then drops it: plots.ticks.InView hands over only those in view
    fig = plots.plot(kind, fits["huber"])
    plots.to_bytes(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for locs in (axis.get_majorticklocs(), axis.get_minorticklocs()):
                assert np.all((locs >= lo - 1e-9 * (hi - lo)) & (locs <= hi + 1e-9 * (hi - lo))), (kind, locs, lo, hi)


@pytest.mark.parametrize("kind", ["qq", "hist", "resid", "weights"])
def test_linear_axes_have_a_few_round_ticks(fits, kind):
    # matplotlib's automatic locator puts up to ten labels on a 6-inch axis; these figures get four to seven
    fig = plots.plot(kind, fits["huber"])
    plots.to_bytes(fig)
    for axis in (fig.axes[0].xaxis, fig.axes[0].yaxis):
        locs = axis.get_majorticklocs()
        assert 3 <= len(locs) <= 7, locs
        steps = np.diff(locs) / 10.0 ** np.floor(np.log10(np.diff(locs)))
        assert np.allclose(steps, steps[0]) and any(np.isclose(steps[0], s) for s in (1, 2, 2.5, 5))


def test_ticks_in_view_change_what_is_made_not_what_is_drawn(fits):
    # the learning curves' log axes with InView against the same figure with the plain locators: same pixels
    from powerlaw_stats.plots.ticks import InView

    fig = plots.learning_curves(fits["ols"], effect=EFFECT)
    wrapped = plots.to_bytes(fig)
    ax = fig.axes[0]
    shown = len(ax.yaxis.get_minorticklocs())
    for axis in (ax.xaxis, ax.yaxis):
        assert isinstance(axis.get_major_locator(), InView) and isinstance(axis.get_minor_locator(), InView)
        axis.set_major_locator(axis.get_major_locator().inner)
        axis.set_minor_locator(axis.get_minor_locator().inner)
    assert plots.to_bytes(fig) == wrapped
    assert len(ax.yaxis.get_minorticklocs()) > shown  # the plain locator's extra ticks are all out of view


@pytest.mark.parametrize("draw", [
    lambda r, axes: plots.residuals_vs_fitted(r, None if axes is None else axes[0]),
    lambda r, axes: plots.weighted_residuals_vs_fitted(r, None if axes is None else axes[0]),
    lambda r, axes: plots.qq_raw_weighted(r, None if axes is None else (axes[0], axes[1])),
], ids=["resid", "wresid", "qq"])
def test_a_blanked_figure_drawn_again_gives_the_bytes_of_a_fresh_one(fits, draw):
    # the report draws each estimator's figures into the last estimator's axes (blank keeps axes and ticks)
    first = draw(fits["bisquare"], None)
    plots.to_bytes(first)
    again = draw(fits["huber"], blank(first).axes)
    assert again is first
    assert plots.to_bytes(again) == plots.to_bytes(draw(fits["huber"], None))


@pytest.mark.parametrize(("first", "then"), [(plots.residuals_vs_fitted, plots.weighted_residuals_vs_fitted),
                                             (plots.weighted_residuals_vs_fitted, plots.residuals_vs_fitted),
                                             (plots.qq, plots.residual_histogram)],
                         ids=["resid-wresid", "wresid-resid", "qq-hist"])
def test_a_figure_of_another_kind_drawn_into_blanked_axes_is_the_fresh_one(fits, first, then):
    # the report draws the weighted residual plot into the residual plot's axes, and the histogram into the QQ plot's
    fig = first(fits["bisquare"])
    plots.to_bytes(fig)
    assert then(fits["huber"], blank(fig).axes[0]) is fig
    assert plots.to_bytes(fig) == plots.to_bytes(then(fits["huber"]))


@pytest.mark.parametrize("kind", sorted(plots.PLOTS))
def test_drawing_into_a_given_axes_returns_its_figure(fits, kind):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot(kind, fits["ols"], ax=ax) is fig
    assert ax.has_data()


def test_learning_curves_lines_are_the_fitted_power_laws_in_data_units(fits):
    res = fits["ols"]
    ax = plots.learning_curves(res, effect=EFFECT).axes[0]
    assert (ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel()) == ("log", "log", "training-set size", "error")
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    assert len(lines) == 8  # 4 groups (CinicTr x CinicEv) x 2 levels of mix
    assert len({ln.get_color() for ln in lines}) == 4 and {ln.get_linestyle() for ln in lines} == {"-", "--"}
    frame = res.data.reset_index(drop=True)
    fitted = np.exp2(res.fittedvalues)
    for ln in lines:
        x, y = np.asarray(ln.get_xdata()), np.asarray(ln.get_ydata())
        assert set(x) <= set(frame["TS"])  # sizes, not log sizes
        # each point of the line is the fitted error of some rows at that size
        for xi, yi in zip(x, y):
            assert np.min(np.abs(fitted[frame["TS"].to_numpy() == xi] - yi)) < EXACT


def test_learning_curve_points_are_every_run(fits):
    res = fits["ols"]
    ax = plots.learning_curves(res, effect=EFFECT).axes[0]
    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    np.testing.assert_allclose(np.sort(ys), np.sort(res.data["error"].to_numpy()), rtol=EXACT)


def test_learning_curves_without_effect_use_one_line_style(fits):
    ax = plots.learning_curves(fits["ols"]).axes[0]
    assert {ln.get_linestyle() for ln in ax.get_lines() if len(ln.get_xdata()) > 1} == {"-"}


def test_effect_factor_is_found_in_interaction_terms():
    assert plots.effect_factor_of("I(log2(TS) - IXMin):mix1", ["CinicEv", "CinicTr", "mix"]) == "mix"
    assert plots.effect_factor_of("CinicTr1:CinicEv1", ["CinicEv", "CinicTr", "mix"]) in ("CinicTr", "CinicEv")
    assert plots.effect_factor_of("I(log2(TS) - IXMin)", ["mix"]) is None


def test_unknown_effect_term_is_refused(fits):
    with pytest.raises(ps.PowerlawStatsError, match="no term 'nope'"):
        plots.learning_curves(fits["ols"], effect="nope")


@pytest.mark.parametrize("method", METHODS)
def test_weighted_residuals_are_the_final_weighted_step(fits, method):
    res = fits[method]
    w = res.prior_weights * (1.0 if method == "ols" else res.weights)
    np.testing.assert_allclose(plots.weighted_residuals(res), np.sqrt(w) * res.resid, rtol=EXACT, atol=EXACT)


def test_weighted_least_squares_residuals_give_the_residual_standard_error(fits):
    res = fits["ols"]
    r = plots.weighted_residuals(res)
    assert abs(np.sqrt(r @ r / res.df_resid) / res.scale - 1) < 1e-10


@pytest.mark.parametrize("weighted", [False, True])
def test_qq_plots_sorted_residuals_against_normal_quantiles_with_quartile_line(fits, weighted):
    res = fits["bisquare"]
    ax = plots.qq(res, weighted=weighted).axes[0]
    pts = ax.collections[0].get_offsets()
    r = plots.weighted_residuals(res) if weighted else res.resid
    np.testing.assert_allclose(pts[:, 1], np.sort(r), rtol=EXACT)
    np.testing.assert_allclose(pts[:, 0], plots.normal_quantiles(len(r)), rtol=EXACT)
    line = ax.get_lines()[0]
    (x0, y0), slope = line._xy1, line._slope
    q = plots.normal_quantiles_at((0.25, 0.75))
    np.testing.assert_allclose(y0 + slope * (q - x0), np.quantile(r, [0.25, 0.75]), rtol=1e-10)


def test_normal_quantiles_match_r_ppoints():
    # R: qnorm(ppoints(5)) and qnorm(ppoints(11))
    np.testing.assert_allclose(plots.normal_quantiles(5), [-1.1797611, -0.4972006, 0.0, 0.4972006, 1.1797611], atol=1e-7)
    np.testing.assert_allclose(plots.normal_quantiles(11)[:2], [-1.6906216, -1.0968036], atol=1e-7)


def test_histogram_overlay_is_a_density_with_the_residuals_moments(fits):
    res = fits["ols"]
    ax = plots.residual_histogram(res).axes[0]
    x, y = ax.get_lines()[0].get_data()
    area = np.sum((y[1:] + y[:-1]) / 2 * np.diff(x))
    assert 0.98 < area < 1.0  # the grid spans about ±4 SD
    widths, heights = bar_sizes(ax.collections[0])  # the bars are one collection (plots/layout.py)
    bars = np.sum(widths * heights)
    assert abs(bars - 1) < 1e-9  # density=True


@pytest.mark.parametrize("method", METHODS)
def test_residual_points_are_as_opaque_as_their_irwls_weight(fits, method):
    res = fits[method]
    coll = plots.residuals_vs_fitted(res).axes[0].collections[0]
    alpha = coll.get_facecolors()[:, 3]
    expect = np.ones(len(res.resid)) if method == "ols" else np.clip(res.weights, 0, 1)
    np.testing.assert_allclose(alpha, expect, atol=EXACT)
    np.testing.assert_allclose(coll.get_offsets()[:, 1], res.resid, rtol=EXACT)


def test_bisquare_rejects_show_as_transparent_points(fits):
    res = fits["bisquare"]
    alpha = plots.residuals_vs_fitted(res).axes[0].collections[0].get_facecolors()[:, 3]
    assert np.sum(alpha == 0) == np.sum(res.weights == 0) > 0


def test_qq_pair_has_raw_and_weighted(fits):
    fig = plots.qq_raw_weighted(fits["huber"])
    titles = [ax.get_title() for ax in fig.axes]
    assert "raw" in titles[0] and "weighted" in titles[1]


def test_qq_pair_draws_into_given_axes(fits):
    from matplotlib.figure import Figure

    fig = Figure()
    axes = fig.subplots(2, 2)
    assert plots.qq_raw_weighted(fits["huber"], axes=(axes[1, 0], axes[1, 1])) is fig
    assert not axes[0, 0].has_data() and axes[1, 0].has_data() and axes[1, 1].has_data()
    np.testing.assert_allclose(axes[1, 1].collections[0].get_offsets()[:, 1],
                               np.sort(plots.weighted_residuals(fits["huber"])), rtol=EXACT)


def test_save_picks_format_by_extension(tmp_path, fits):
    fig = plots.qq(fits["ols"])
    for fmt, sig in SIGNATURES.items():
        assert plots.save(fig, tmp_path / f"f.{fmt}").read_bytes().startswith(sig)
    with pytest.raises(ps.PowerlawStatsError, match="name it .png or .svg"):
        plots.save(fig, tmp_path / "f.jpg")


def test_plotting_never_touches_pyplot_and_import_stays_light():
    code = ("import sys, powerlaw_stats.plots.fit, powerlaw_stats.report\n"
            "light = 'matplotlib' not in sys.modules\n"
            "import powerlaw_stats as ps\n"
            "powerlaw_stats.plots.fit.learning_curves(ps.fit('log_err ~ I(log2(TS)-IXMin)*mix'))\n"
            "print(light, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


# ----------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("kind", sorted(plots.PLOTS))
@pytest.mark.parametrize("fmt", plots.FORMATS)
def test_cli_plot_writes_the_figure(tmp_path, kind, fmt):
    out = tmp_path / f"fig.{fmt}"
    res = CliRunner().invoke(app, ["plot", "--kind", kind, "--method", "huber", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(SIGNATURES[fmt])
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


def test_cli_plot_on_a_file_with_formula(tmp_path):
    out = tmp_path / "c.png"
    args = ["plot", str(CURVES_A), "-f", "log_err ~ I(log2(TS)-IXMin)*mix", "--effect", "mix", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert out.exists()


@pytest.mark.parametrize("args, message", [
    (["--kind", "violin", "--out", "{d}/a.png"], "--kind 'violin' is not one of"),
    (["--out", "{d}/a.pdf"], "name the file .png or .svg"),
    (["--out", "{d}/missing/a.png"], "does not exist"),
    (["--effect", "nope", "--out", "{d}/a.png"], "no term 'nope'"),
    (["--method", "lad", "--out", "{d}/a.png"], "unknown method 'lad'"),
    (["{d}/none.csv", "-f", "log_err ~ TS", "--out", "{d}/a.png"], "no such file"),
])
def test_cli_plot_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    res = CliRunner().invoke(app, ["plot", *(a.format(d=tmp_path) for a in args)])
    assert res.exit_code == 1
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
