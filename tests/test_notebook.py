"""Issue 12's "a result that reads well in a notebook" and the figures' items.

- every result has a short ``repr`` (REPR_MAX characters: a screenful; a fit's was 50,753, an
  effect's 35,854) and an ``_repr_html_`` holding a table;
- ``summary()`` prints R's ``summary.lm`` text: the coefficient rows and the three lines under them
  as R prints them for the same fit (r_refs.json, captured by make_r_refs.R);
- a tidy coefficient frame (``tidy()`` or ``to_frame()``), one row per term;
- ``resid``, ``fittedvalues`` and ``weights`` are Series on the rows of the data that were used;
- the package namespace holds no ``sys``/``importlib``/``types``; ``powerlaw-stats --version``;
- ``plot`` says what it wrote; the residual histogram's legend covers no bar; learning-curve
  legends and axes in words; raster figures at 150 dpi or more.
Exact comparisons only (text, names, shapes); the summary's numbers are R's printed digits.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from refdata import DATA, R_REFS, r_table

import powerlaw_stats as ps
from powerlaw_stats.plots import fit as plots

REPR_MAX = 1500
CURVES = DATA / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
MIN_DPI = 150


@pytest.fixture(scope="module")
def results() -> dict:
    return {
        "fit": ps.fit(FORMULA, CURVES, weights="w"),
        "fit+bootstrap": ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", CURVES, bootstrap=99),
        "effect": ps.effect(CURVES, factor="mix", groups=["CinicTr", "CinicEv"]),
        "simulate": ps.simulate("log_err ~ I(log2(TS)-IXMin)*mix", CURVES, n_trials=20, estimators=("ols",)),
        "region": ps.region(CURVES),
    }


@pytest.mark.parametrize("kind", ["fit", "fit+bootstrap", "effect", "simulate", "region"])
def test_short_repr(results, kind):
    text = repr(results[kind])
    assert len(text) < REPR_MAX, f"{kind}: repr is {len(text)} characters"


@pytest.mark.parametrize("kind", ["fit", "fit+bootstrap", "effect", "simulate", "region"])
def test_html_repr_is_a_table(results, kind):
    html = results[kind]._repr_html_()
    assert isinstance(html, str) and "<table" in html


def test_summary_prints_rs_text():
    res = ps.fit("mpg ~ wt + qsec", r_table("mtcars"))
    ours = res.summary()
    text = str(ours)  # a string, or an object whose str() is the text
    r_lines = R_REFS["mtcars_summary"]["summary_text"]
    for line in r_lines:
        if line.startswith(("(Intercept)", "wt ", "qsec ", "Residual standard error", "Multiple R-squared", "F-statistic")):
            assert " ".join(line.split()) in " ".join(text.split()), f"R prints {line!r}"
    assert "Coefficients:" in text


def test_tidy_coefficient_frame(results):
    res = results["fit"]
    frame = res.tidy() if hasattr(res, "tidy") else res.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(res.params)
    terms = frame["term"].tolist() if "term" in frame.columns else list(frame.index)
    assert terms == list(res.params.index)
    np.testing.assert_array_equal(frame["estimate"].to_numpy(), res.params.to_numpy())


@pytest.mark.parametrize("method", ["ols", "huber", "mm"])
def test_resid_fitted_weights_are_series_on_the_rows_used(method):
    aq = r_table("airquality")
    aq.index = [f"day{i}" for i in range(len(aq))]  # a non-default index must survive
    res = ps.fit("Ozone ~ Wind + Temp", aq, method=method)
    used = aq.index[aq[["Ozone", "Wind", "Temp"]].notna().all(axis=1)]
    for name in ("resid", "fittedvalues", "weights"):
        value = getattr(res, name)
        assert isinstance(value, pd.Series), f"{name} is a {type(value).__name__}"
        assert list(value.index) == list(used), name


def test_namespace_holds_no_stray_modules():
    leaked = [name for name in ("sys", "importlib", "types") if name in dir(ps) or hasattr(ps, name)]
    assert leaked == []


def test_version_option():
    proc = subprocess.run([sys.executable, "-c", "from powerlaw_stats.cli import main; main()", "--version"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ps.__version__ in proc.stdout


def test_plot_says_what_it_wrote(tmp_path):
    out = tmp_path / "curves.png"
    proc = subprocess.run([sys.executable, "-c", "from powerlaw_stats.cli import main; main()", "plot", str(CURVES),
                           "-f", "log_err ~ I(log2(TS)-IXMin)*mix", "--effect", "mix", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and str(out.name) in proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- figures


def _bars_under_key(fig) -> tuple[int, int]:
    from matplotlib.transforms import Bbox

    fig.draw_without_rendering()
    ax = fig.axes[0]
    box = Bbox.union([t.get_window_extent() for t in ax.texts])  # the key: coloured words (plots/layout.py)
    bars = [ax.transData.transform(p.vertices) for p in ax.collections[0].get_paths()]
    bars = [Bbox([v.min(axis=0), v.max(axis=0)]) for v in bars if np.ptp(v[:, 1]) > 0]
    return len(bars), sum(b.overlaps(box) for b in bars)


@pytest.mark.parametrize("shape", ["uniform", "normal", "skewed"])
def test_residual_histogram_key_covers_no_bar(shape):
    # uniform residuals fill the top right corner where the legend used to sit
    rng = np.random.default_rng(3)
    x = rng.normal(size=400)
    noise = {"uniform": rng.uniform(-1, 1, 400), "normal": rng.normal(size=400), "skewed": rng.exponential(size=400)}[shape]
    res = ps.fit("y ~ x", pd.DataFrame({"x": x, "y": x + noise}))
    for weighted in (False, True):
        bars, covered = _bars_under_key(plots.residual_histogram(res, weighted=weighted))
        assert bars > 5 and covered == 0


def test_learning_curve_legend_and_axis_in_words():
    res = ps.fit("log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)", CURVES, weights="w")
    ax = plots.learning_curves(res, effect="mix").axes[0]
    assert ax.get_xlabel() == "training-set size"
    labels = [t.get_text() for legend in ax.findobj(lambda a: type(a).__name__ == "Legend") for t in legend.get_texts()]
    assert labels and not [t for t in labels if re.search(r"\w=\w", t)], labels  # no "EvalSet=cifar10"
    assert any("trained on" in t for t in labels) and any("evaluated on" in t for t in labels), labels


def test_figures_are_written_at_150_dpi_or_more(tmp_path):
    from PIL import Image

    out = tmp_path / "hist.png"
    proc = subprocess.run([sys.executable, "-c", "from powerlaw_stats.cli import main; main()", "plot", str(CURVES),
                           "-f", "log_err ~ I(log2(TS)-IXMin)*mix", "--kind", "hist", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        assert min(img.info["dpi"]) >= MIN_DPI - 0.5  # PNG stores dots per metre: 150 dpi reads back as 149.9994


def test_report_figures_are_150_dpi_or_more(tmp_path):
    from PIL import Image

    folder = ps.build_report(trials=20).write(tmp_path / "report")
    pngs = list(Path(folder, "figures").glob("*.png"))
    assert pngs
    for png in pngs:
        with Image.open(png) as img:
            assert min(img.info["dpi"]) >= MIN_DPI - 0.5, png.name
