"""The report's "How far can these curves be trusted?" section: the backtest's numbers, its words, when it is skipped.

Tolerances: the section refits each curve with the backtest's own task (``run_task``) on the
report's rows, taking the error as 2^log_err where the backtest reads the error column; the two
differ by an ulp, so forecasts and intervals agree with ``backtest`` to SAME = 1e-9 relative (the
nonlinear fits stop at 1e-10 or better) and coverage, a share of whole runs, exactly. The
known-truth check draws 60 straight-line curves with a fixed seed: the intervals are exact there
(a linear model with t quantiles), so coverage of the 240 held-out runs must lie within the
verdict's own allowance (two binomial SEs over curves, 5.6 points) of 95 %, and the sentence must
say the intervals hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from powerlaw_stats.extrapolation.backtest import backtest
from powerlaw_stats.report import build_report
from powerlaw_stats.report.trust import LAWS, trust_check, trust_words

SAME = 1e-9


@pytest.fixture(scope="module")
def report():
    return build_report(trials=0)


def test_the_section_is_the_backtest_at_the_largest_size(report):
    doc = report.results["trust"]
    curves = [*report.results["data"]["group_columns"], report.results["data"]["effect_factor"]]
    bt = backtest(None, laws=LAWS, cutoffs=(0.8,), groups=curves)  # 5 sizes: 80 % of them seen, the largest held out
    assert doc["n_curves"] == bt.n_curves == 8 and doc["held_out_sizes"] == [1280.0]
    ours = pd.DataFrame(doc["predictions"])
    assert list(ours[["curve", "law"]].itertuples(index=False)) == list(bt.predictions[["curve", "law"]].itertuples(index=False))
    for col in ("observed", "predicted", "pi_low", "pi_high"):
        np.testing.assert_allclose(ours[col], bt.predictions[col], rtol=SAME)
    assert ours["covered"].tolist() == bt.predictions["covered"].tolist()
    for row in doc["by_law"]:
        p = bt.predictions[bt.predictions.law == row["law"]]
        assert row["coverage"] == pytest.approx(np.average(p.covered, weights=p.runs), rel=1e-12)
        assert row["median_miss"] == pytest.approx(np.median(np.abs(p.predicted / p.observed - 1)), rel=SAME)
        assert row["rmse_log2"] == pytest.approx(np.sqrt(np.mean(np.log2(p.predicted / p.observed) ** 2)), rel=SAME)
        assert row["runs"] == 64 and row["curves"] == 8
    assert doc["distance"] == pytest.approx(1 / 3)  # 640 -> 1280 is one doubling past three (80 -> 640)


def test_the_page_shows_the_table_and_the_sentence_before_the_conclusion(report):
    ids = [s.id for s in report.sections]
    assert ids.index("trust") == ids.index("conclusion") - 1
    section = next(s for s in report.sections if s.id == "trust")
    md = section.md()
    assert section.title == "8. How far can these curves be trusted?" and report.sections[-1].title.startswith("9.")
    by_law = {r["law"]: r for r in report.results["trust"]["by_law"]}
    for law, name in (("loglinear", "log-linear"), ("saturating", "saturating")):
        assert f"| {name} | 8 | {by_law[law]['median_miss']:.1%} |" in md
        assert f"| 64 | {by_law[law]['coverage']:.1%} |" in md
    assert "held 77% and 80% of the 64 runs held out: fewer than they claim" in md  # the straight line's 77 % is short
    assert "How far can these curves be trusted?" in report.html()


def straight_lines(n_curves=60, seed=3, sigma=0.15) -> pd.DataFrame:
    """Curves of 4 runs at 6 doubling sizes on a straight line in log2 error, normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_curves):
        a, b = -1.0 + 0.3 * rng.random(), -0.4 - 0.2 * rng.random()
        for k in range(6):
            for _ in range(4):
                rows.append({"g": c, "TS": 100.0 * 2**k, "log_err": a + b * k + sigma * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_intervals_that_hold_are_said_to_hold():
    check = trust_check("log_err ~ I(log2(TS)-IXMin)*g", straight_lines(), ("g",), 0.95)
    line = next(t for t in check.laws if t.law == "loglinear")
    assert line.runs == 240 and abs(line.coverage - 0.95) < 2 * np.sqrt(0.95 * 0.05 / 60), line.coverage
    sat = next(t for t in check.laws if t.law == "saturating")  # its delta method runs a little short: 92.5 % here
    assert sat.coverage > 0.95 - 2 * np.sqrt(0.95 * 0.05 / 60)
    assert "held 95% and 92% of the 240 runs held out: about the share they claim" in trust_words(check)


def test_a_formula_the_laws_cannot_mirror_skips_the_section_and_says_why():
    rep = build_report(None, "error ~ I(log2(TS)-IXMin)*mix", weights="w", trials=0, floor=False)
    said = "the response is error, not log_err (log2 error), which both laws model"
    assert rep.results["trust"]["skipped"] == said
    assert f"Skipped: {said}." in next(s for s in rep.sections if s.id == "trust").md()
    t = pd.DataFrame({"param": [1, 2, 3, 4], "TS": [100, 200, 400, 800], "log_err": [-1.0, -1.5, -2.0, -2.4]})
    assert "does not use the training size TS" in trust_check("log_err ~ log2(param)", t, (), 0.95).skipped


def test_curves_of_two_sizes_are_skipped():
    t = pd.DataFrame({"TS": [100, 200] * 3, "log_err": [-1.0, -1.5] * 3, "g": list("aabbcc")})
    assert "three sizes or more" in trust_check("log_err ~ log2(TS)*g", t, ("g",), 0.95).skipped
