"""The power-law-region check: the lack-of-fit test holds its level, the one-break fit finds a planted break."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.errors import OptionError
from powerlaw_stats.scaling.region import check_group, hinge_rss, lack_of_fit, segmented_fit

CURVES = Path(__file__).parent / "data" / "curves_a.csv"
ALPHA = 0.05
N_NULL = 2000  # pure power laws: the rejection rate's Monte-Carlo SD is sqrt(0.05 * 0.95 / 2000) = 0.0049
RATE_TOL = 4 * np.sqrt(ALPHA * (1 - ALPHA) / N_NULL)  # four Monte-Carlo SDs
N_COVER = 200  # break intervals: coverage Monte-Carlo SD 0.015
PSI_TOL = 0.25  # log2 units: a break planted between sizes one doubling apart, noise SD 0.03
CLOSED_FORM_TOL = 1e-10  # F statistics computed two ways from the same sums of squares


def _curve(rng, psi: float | None, *, sizes=8, reps=6, sd=0.03, slope=-0.6, bend=0.5, side="small") -> pd.DataFrame:
    """Runs of one curve: a power law, bent at log2 size ``psi`` (steeper below it on the small side)."""
    x = np.repeat(10.0 + np.arange(sizes), reps)
    mean = slope * x
    if psi is not None:
        mean = mean + bend * (np.maximum(psi - x, 0) if side == "small" else np.maximum(x - psi, 0))
    return pd.DataFrame({"train_size": 2.0**x, "trials": reps, "error": np.exp2(mean + sd * rng.standard_normal(len(x)))})


def test_lack_of_fit_equals_the_nested_model_f_test():
    sm = pytest.importorskip("statsmodels.formula.api")
    from statsmodels.stats.anova import anova_lm

    d = _curve(np.random.default_rng(1), 12.5).assign(x=lambda f: np.log2(f["train_size"]), y=lambda f: np.log2(f["error"]))
    line = sm.ols("y ~ x", d).fit()
    cells = sm.ols("y ~ C(x)", d).fit()
    ref = anova_lm(line, cells)
    ours = lack_of_fit(d["x"].to_numpy(), d["y"].to_numpy())
    assert ours.statistic == pytest.approx(ref["F"].iloc[1], rel=CLOSED_FORM_TOL)
    assert ours.pvalue == pytest.approx(ref["Pr(>F)"].iloc[1], rel=1e-8)
    assert (ours.df_lack, ours.df_pure) == (int(ref["df_diff"].iloc[1]), int(ref["df_resid"].iloc[1]))


def test_weighted_lack_of_fit_equals_the_nested_wls_f_test():
    sm = pytest.importorskip("statsmodels.formula.api")
    from statsmodels.stats.anova import anova_lm

    d = _curve(np.random.default_rng(11), 12.5).assign(x=lambda f: np.log2(f["train_size"]), y=lambda f: np.log2(f["error"]))
    w = 1.0 / (1.0 + (d["x"] - 10.0).to_numpy())  # inverse variances falling with size
    ref = anova_lm(sm.wls("y ~ x", d, weights=w).fit(), sm.wls("y ~ C(x)", d, weights=w).fit())
    ours = lack_of_fit(d["x"].to_numpy(), d["y"].to_numpy(), w)
    assert ours.statistic == pytest.approx(ref["F"].iloc[1], rel=CLOSED_FORM_TOL)


def test_scaling_all_weights_changes_nothing():
    rng = np.random.default_rng(2)
    x = np.repeat(np.arange(5.0), 4)
    y = -0.5 * x + 0.1 * rng.standard_normal(len(x))
    w = np.full(len(x), 3.0)  # scaling all weights changes neither F nor p
    a, b = lack_of_fit(x, y), lack_of_fit(x, y, w)
    assert a.statistic == pytest.approx(b.statistic, rel=CLOSED_FORM_TOL) and a.pvalue == pytest.approx(b.pvalue, rel=1e-9)


def test_segmented_fit_is_the_global_least_squares_break():
    rng = np.random.default_rng(3)
    d = _curve(rng, 12.4)
    x, y = np.log2(d["train_size"].to_numpy()), np.log2(d["error"].to_numpy())
    brk = segmented_fit(x, y)
    fine = np.linspace(11.0, 16.0, 200_001)
    rss, _ = hinge_rss(x, y, np.ones(len(x)), fine)
    assert brk.rss <= rss.min() + 1e-12
    assert abs(brk.log2_location - fine[rss.argmin()]) < 1e-4
    assert brk.ci_low < brk.location < brk.ci_high


@pytest.mark.parametrize("side, psi", [("small", 12.5), ("small", 13.5), ("large", 14.5)])
def test_finds_a_planted_break(side, psi):
    rng = np.random.default_rng(4)
    frames = [_curve(rng, psi, side=side).assign(train_set=f"t{g}") for g in range(3)]
    res = ps.region(pd.concat(frames, ignore_index=True), groups="train_set", side=side)
    for g in res.groups:
        assert g.lack_of_fit.pvalue < 1e-6 and not g.in_region
        assert abs(g.breakpoint.log2_location - psi) < PSI_TOL
        sizes = np.asarray(g.sizes)
        expected = sizes[sizes < 2**psi] if side == "small" else sizes[sizes > 2**psi]
        assert g.flagged_sizes == tuple(expected)
        assert g.lack_of_fit_kept.pvalue > 1e-3  # what remains is a power law again
    end = res.recommended_min_size if side == "small" else res.recommended_max_size
    assert end == (2 ** np.ceil(psi) if side == "small" else 2 ** np.floor(psi))


def test_break_interval_covers_at_about_its_level():
    rng = np.random.default_rng(8)
    x = np.repeat(10.0 + np.arange(8), 6)
    hits = []
    for _ in range(N_COVER):
        brk = segmented_fit(x, -0.6 * x + 0.3 * np.maximum(12.5 - x, 0) + 0.04 * rng.standard_normal(len(x)))
        hits.append(brk.ci_low < 2**12.5 < brk.ci_high)
    assert np.mean(hits) > 0.95 - 4 * np.sqrt(0.95 * 0.05 / N_COVER)  # profile intervals are, if anything, conservative


def test_passes_a_pure_power_law_at_its_nominal_rate():
    rng = np.random.default_rng(5)
    x = np.repeat(10.0 + np.arange(5), 4)
    rejected = np.mean([lack_of_fit(x, -0.7 * x + 0.05 * rng.standard_normal(len(x))).pvalue < ALPHA
                        for _ in range(N_NULL)])
    assert abs(rejected - ALPHA) < RATE_TOL


def test_region_passes_pure_power_laws_at_its_nominal_rate():
    rng = np.random.default_rng(6)
    n = 400  # whole pipeline, fewer groups: rate within 4 SD = 0.044
    frames = [_curve(rng, None, sizes=5, reps=4).assign(train_set=f"g{g:03d}") for g in range(n)]
    res = ps.region(pd.concat(frames, ignore_index=True), groups="train_set", alpha=ALPHA, adjust="none")
    flagged = np.mean([not g.in_region for g in res.groups])
    assert abs(flagged - ALPHA) < 4 * np.sqrt(ALPHA * (1 - ALPHA) / n)
    assert all(bool(g.flagged_sizes) == (not g.in_region) for g in res.groups)


def test_holm_and_bonferroni_equal_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    from powerlaw_stats.scaling.region import bonferroni, holm

    p = np.random.default_rng(9).uniform(0, 0.2, 25)
    for ours, method in ((holm, "holm"), (bonferroni, "bonferroni")):
        np.testing.assert_allclose(ours(p), multitest.multipletests(p, method=method)[1], rtol=1e-14)


def test_adjustment_spares_a_lone_borderline_group():
    rng = np.random.default_rng(10)
    frames = [_curve(rng, None, sizes=5, reps=4).assign(train_set=f"g{g:02d}") for g in range(40)]
    d = pd.concat(frames, ignore_index=True)
    raw = ps.region(d, groups="train_set", adjust="none")
    holm = ps.region(d, groups="train_set")
    assert any(not g.in_region for g in raw.groups)  # with 40 pure power laws, some fail at 0.05 unadjusted
    assert all(g.in_region for g in holm.groups) and holm.recommended_min_size == 1024
    assert all(h.pvalue_adjusted >= r.lack_of_fit.pvalue for h, r in zip(holm.groups, raw.groups))


def test_too_few_sizes_gives_no_test_and_keeps_everything():
    g = check_group(np.repeat([100.0, 200.0], 3), np.array([1.0, 1.1, 0.9, 0.5, 0.6, 0.4]), None)
    assert g.lack_of_fit is None and g.breakpoint is None and g.in_region and g.min_size == 100.0


def test_defaults_on_the_seed_table_and_refusals():
    res = ps.region(CURVES)
    assert res.group_columns == ("train_set", "eval_set", "width", "mixup") and len(res.groups) == 16
    with pytest.raises(OptionError):
        ps.region(CURVES, side="middle")
    with pytest.raises(OptionError):
        ps.region(CURVES, alpha=1.5)


def test_cli_json_table_and_plot(tmp_path):
    rng = np.random.default_rng(7)
    d = pd.concat([_curve(rng, 12.5).assign(train_set=f"t{g}") for g in range(2)], ignore_index=True)
    d.to_csv(tmp_path / "d.csv", index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["region", str(tmp_path / "d.csv"), "--groups", "train_set", "--format", "json",
                              "--plot", str(tmp_path / "r.png"), "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["recommended_min_size"] == 8192 and len(doc["groups"]) == 2
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    table = runner.invoke(app, ["region", str(tmp_path / "d.csv"), "--groups", "train_set"])
    assert table.exit_code == 0 and "recommended minimum size: 8192" in table.output
    bad = runner.invoke(app, ["region", str(tmp_path / "d.csv"), "--side", "middle"])
    assert bad.exit_code == 1 and "side must be one of" in bad.output
