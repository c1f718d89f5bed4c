"""`powerlaw-stats simulate` through typer's CliRunner, and the simulation figures.

JSON keeps 17 significant digits, so the CLI's numbers must equal the library's to 1e-12
(relative); anything looser would hide a rendering bug.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.plots import simulation as psim
from powerlaw_stats.plots.layout import bar_sizes
from powerlaw_stats.simulation.simulate import SUMMARY_COLUMNS

CSV = str(Path(__file__).parent / "data" / "curves_a.csv")
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
EFFECT = "I(log2(TS)-IXMin):mix1"
RTOL = 1e-12
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def base(*extra):
    return ("simulate", CSV, "--formula", FORMULA, "--weights", "w", "--trials", 60, "--coef", EFFECT, *extra)


@pytest.fixture(scope="module")
def library():
    return ps.simulate(FORMULA, CSV, weights="w", n_trials=60, terms=[EFFECT], residuals="skewed-hetero", design="n", seed=3)


def test_json_equals_the_library(tmp_path, library):
    out = tmp_path / "sim.json"
    res = run(*base("--residuals", "skewed-hetero", "--design", "n", "--seed", 3, "--format", "json", "--output", out))
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert {k: doc[k] for k in ("n_trials", "seed", "residuals", "design")} == \
        {"n_trials": 60, "seed": 3, "residuals": "skewed-hetero", "design": "n"}
    assert len(doc["results"]) == 3 and set(doc["results"][0]) == set(SUMMARY_COLUMNS)
    for row, want in zip(doc["results"], library.summary.to_dict("records")):
        assert row["estimator"] == want["estimator"] and row["term"] == want["term"]
        for key in ("truth", "mean_estimate", "sd_estimate", "mean_se", "se_ratio", "coverage", "rmse"):
            np.testing.assert_allclose(row[key], want[key], rtol=RTOL)


def test_vcov_and_cluster_put_each_se_beside_the_classic_one():
    res = run(*base("--estimators", "ols,huber", "--cluster", "run_id", "--vcov", "classic,CR1,CR3", "--format", "json"))
    assert res.exit_code == 0, res.output
    labels = [r["estimator"] for r in json.loads(res.stdout)["results"]]
    assert labels == ["ols", "ols+CR1", "ols+CR3", "huber", "huber+CR1", "huber+CR3"]
    table = run(*base("--estimators", "ols", "--cluster", "run_id"))
    assert table.exit_code == 0 and "Least squares:" in table.stdout and "CR1" in table.stdout and "…" not in table.stdout
    bad = run(*base("--vcov", "CR1"))
    assert bad.exit_code == 1 and "name the cluster column" in bad.output


def test_table_has_one_table_per_estimator_and_the_descriptions():
    res = run(*base("--estimators", "ols,huber"))
    assert res.exit_code == 0, res.output
    assert "Least squares:" in res.stdout and "Huber M-estimation" in res.stdout and "Bisquare" not in res.stdout
    assert "Normal residuals" in res.stdout and "Observed design" in res.stdout and "60 trials, seed 0" in res.stdout


def test_csv_is_the_summary():
    res = run(*base("--format", "csv", "--estimators", "ols"))
    assert res.exit_code == 0, res.output
    from io import StringIO

    frame = pd.read_csv(StringIO(res.stdout))
    assert list(frame.columns) == list(SUMMARY_COLUMNS) and len(frame) == 1


def test_plots_written(tmp_path):
    res = run(*base("--estimators", "ols,bisquare", "--plots", tmp_path / "figs", "--plot-format", "svg", "--format", "json"))
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == ["estimates_bisquare_normal_observed.svg", "estimates_ols_normal_observed.svg",
                     "se_bisquare_normal_observed.svg", "se_ols_normal_observed.svg", "summary_normal_observed.svg"]
    assert (tmp_path / "figs" / "summary_normal_observed.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(("args", "words"), [
    (("--residuals", "cauchy"), "unknown residual model 'cauchy'"),
    (("--design", "balanced"), "unknown design 'balanced'"),
    (("--estimators", "ols,lasso"), "unknown estimator 'lasso'"),
    (("--coef", "mix2"), "no coefficient 'mix2'"),
    (("--trials", 1), "n_trials must be an integer of at least 2"),
    (("--format", "xml"), "--format 'xml' is not one of"),
    (("--weights", "wt"), "no column 'wt'"),
    (("--output", "/nonexistent/dir/x.json"), "folder /nonexistent/dir does not exist"),
    (("--plots", "/nonexistent/dir/figs"), "folder /nonexistent/dir does not exist"),
])
def test_errors_are_one_line(args, words):
    res = run(*base(*args))
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], res.stderr
    assert "Traceback" not in res.output


def test_design_without_schema_columns_is_one_line(tmp_path):
    path = tmp_path / "t.csv"
    pd.read_csv(CSV).drop(columns="n_splits").to_csv(path, index=False)
    res = run("simulate", path, "--formula", FORMULA, "--weights", "w", "--trials", 5, "--design", "min4")
    assert res.exit_code == 1 and "lacks n_splits" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_nothing_is_written_on_error(tmp_path):
    out = tmp_path / "sim.json"
    res = run(*base("--residuals", "nope", "--format", "json", "--output", out))
    assert res.exit_code == 1 and not out.exists() and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- figures


def test_panels_draw_the_seeds_lines(library):
    est_ax = psim.estimate_histogram(library, "huber").axes[0]
    truth, mean = (ln.get_xdata()[0] for ln in est_ax.lines)
    assert truth == pytest.approx(library.truth.iloc[0]) and mean == pytest.approx(np.nanmean(library.estimates["huber"][:, 0]))
    assert [ln.get_color() for ln in est_ax.lines] == [psim.TRUTH_COLOUR, psim.MEAN_COLOUR]
    se_ax = psim.se_histogram(library, "huber").axes[0]
    measured, mean_se = (ln.get_xdata()[0] for ln in se_ax.lines)
    row = library.row("huber", EFFECT)
    assert measured == pytest.approx(row["sd_estimate"]) and mean_se == pytest.approx(row["mean_se"])
    _, heights = bar_sizes(se_ax.collections[0])  # the bars are one collection (plots/layout.py)
    assert heights.sum() == 60 - row["failures"]


def test_summary_figure_has_a_row_per_scenario_and_a_point_per_estimator(library):
    other = ps.simulate(FORMULA, CSV, weights="w", n_trials=30, terms=[EFFECT], estimators=("ols", "huber"))
    fig = psim.summary_figure([library, other])
    ratio_ax, cover_ax = fig.axes
    assert [t.get_text() for t in ratio_ax.get_yticklabels()] == ["skewed-hetero / n", "normal / observed"]
    by_label = {ln.get_label(): ln for ln in cover_ax.lines if not ln.get_label().startswith("_")}
    assert set(by_label) == {"least squares", "Huber IRWLS", "bisquare IRWLS"}
    assert len(by_label["bisquare IRWLS"].get_xdata()) == 1 and len(by_label["least squares"].get_xdata()) == 2
    assert by_label["least squares"].get_xdata()[1] == pytest.approx(other.row("ols", EFFECT)["coverage"])
    assert psim.to_bytes(fig, "png")[:4] == b"\x89PNG"


def test_figure_errors(library):
    with pytest.raises(ps.PowerlawStatsError, match="was not simulated"):
        psim.estimate_histogram(library, "mm")
    with pytest.raises(ps.PowerlawStatsError, match="was not simulated"):
        psim.se_histogram(library, "ols", term="mix1")
    with pytest.raises(ps.PowerlawStatsError, match="at least one"):
        psim.summary_figure([])
