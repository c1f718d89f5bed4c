"""The report's "Is there a floor?" section: its numbers, its words, its figure, and when it is left out.

Tolerances: the section's numbers are ``fit_law``'s on the report's rows, so they are compared
with a direct ``fit_law`` on the bundled example to SAME = 1e-10 relative (the report passes the
rows with IXMin as a ``let`` constant instead of a column, which may reorder floating-point
operations but changes nothing else; the fits themselves converge to 1e-10 or better). The page
shows numbers rounded by ``num``/``pval``, so the page is checked for those strings. The
floor-only study is one simulated table with a fixed seed: its verdicts are facts about that table,
with margins checked (the floor shift's profile interval far from zero) so they are not knife-edge.
"""

from __future__ import annotations

import json
import math
import warnings

import pytest
from typer.testing import CliRunner

from powerlaw_stats.cli import app
from powerlaw_stats.data import datasets
from powerlaw_stats.formats import num
from powerlaw_stats.laws import fit_law
from powerlaw_stats.laws.coverage import DEFAULT_TRUTH, StudyDesign, simulate_study
from powerlaw_stats.report import build_report
from powerlaw_stats.report.floor import FloorCheck, Reading, headline, law_formulas

SAME = 1e-10  # relative; see the docstring
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"
EFFECT = "I(log2(TS)-IXMin):mix1"
GROUPS = "TrainSet*EvalSet"


@pytest.fixture(scope="module")
def report():
    return build_report(trials=0)


@pytest.fixture(scope="module")
def direct():
    """The saturating and log-linear laws fitted straight from the example, as docs/laws.md shows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sat = fit_law(None, "saturating", {"E": GROUPS, "a": f"mix + {GROUPS}", "b": f"mix + {GROUPS}"},
                      weights=datasets.EXAMPLE_WEIGHTS, profile=["b.mix1"])
        line = fit_law(None, "loglinear", {"a": f"mix + {GROUPS}", "b": f"mix + {GROUPS}"},
                       weights=datasets.EXAMPLE_WEIGHTS, profile=False, compare=False)
    return sat, line


@pytest.fixture(scope="module")
def floor_only(tmp_path_factory):
    """A study where mixup lowers only the floor (E.mix1 < 0, b.mix1 = 0): a straight line mistakes it for a slope."""
    truth = {**DEFAULT_TRUTH, "b.mix1": 0.0, "E.mix1": -0.025}
    params = {"E": "mix + EvalSet", "a": "TrainSet*EvalSet", "b": "mix + TrainSet*EvalSet"}
    table = simulate_study(truth, params, design=StudyDesign(n_sizes=6, runs=4), sigma=0.05, seed=1)
    path = tmp_path_factory.mktemp("floor") / "floor_only.csv"
    table.to_csv(path, index=False)
    return build_report(path, FORMULA, weights="w", effect=EFFECT, trials=0)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=SAME, abs_tol=1e-12)


# ----------------------------------------------------------------------------- the formulas


def test_the_linear_formula_splits_into_the_laws_parameters():
    f = law_formulas(FORMULA, EFFECT, "mix")
    assert f.a == f.b == "1 + mix + TrainSet + EvalSet + TrainSet:EvalSet"
    assert f.floor == "1 + TrainSet + EvalSet + TrainSet:EvalSet"  # one floor per group, shared by mix's levels
    assert f.floor_with_effect == f.a and f.term == "b.mix1"
    assert law_formulas(FORMULA, "mix1", "mix").term == "a.mix1"  # an effect on the intercept


@pytest.mark.parametrize("formula, words", [
    ("log_err ~ mix", "no size term"),
    ("err ~ I(log2(TS)-IXMin)*mix", "not log_err"),
    ("log_err ~ log2(TS)*mix + I(log2(TS)-IXMin)", "other than through"),
])
def test_a_formula_the_law_cannot_mirror_says_why(formula, words):
    assert words in law_formulas(formula, None, None)


# ----------------------------------------------------------------------------- the numbers


def test_floor_test_and_effect_are_fit_law_s(report, direct):
    sat, line = direct
    got = report.results["floor"]
    ft = sat.floor_test
    assert _close(got["floor_test"]["statistic"], ft.statistic) and _close(got["floor_test"]["p_value"], ft.p_value)
    assert all(_close(got["floor_test"]["aic"][k], v) for k, v in ft.aic.items())
    base, shared = got["readings"][:2]
    assert _close(base["estimate"], float(line.params["b.mix1"])) and _close(base["std_error"], float(line.bse["b.mix1"]))
    assert _close(shared["estimate"], float(sat.params["b.mix1"])) and _close(shared["std_error"], float(sat.bse["b.mix1"]))
    prof = sat.profile.loc["b.mix1"]
    assert _close(shared["profile_low"], float(prof["lower"])) and _close(shared["profile_high"], float(prof["upper"]))
    assert got["bound_active"] == list(sat.bound_active)


def test_the_straight_line_reading_is_the_report_s_least_squares_fit(report):
    ols = report.results["fits"]["ols"]
    row = next(c for c in ols["coefficients"] if c["term"] == report.results["effect"])
    base = report.results["floor"]["readings"][0]
    assert math.isclose(base["estimate"], row["estimate"], rel_tol=1e-9)
    assert math.isclose(base["std_error"], row["std_error"], rel_tol=1e-9)


def test_results_json_is_plain_json(report):
    doc = json.loads(report.json())["floor"]
    assert doc["term"] == "b.mix1" and doc["law"] == "saturating"
    assert [r["when"] for r in doc["readings"]] == [
        "without a floor", "with a floor per group", "with the effect free to move the floor too"]
    assert doc["depends_on_floor"] is False and doc["headline"]


# ----------------------------------------------------------------------------- the words and the page


def test_page_shows_the_test_the_floors_and_the_readings(report):
    section = next(s for s in report.sections if s.id == "floor")
    md = section.md()
    ft = report.results["floor"]["floor_test"]
    # after "When rows depend" (6); the backtest is 8
    assert section.title == "7. Is there a floor?" and report.sections[-1].title.startswith("9.")
    assert f"LR = {num(ft['statistic'])}" in md and num(ft["aic"]["saturating"], 6) in md
    assert "floor-curves.png" in md and "0 (at the bound)" in md
    for r in report.results["floor"]["readings"]:
        assert num(r["estimate"]) in md and num(r["profile_low"]) in md
    assert "The answer does not depend on the floor." in md


def test_headline_follows_the_answer_in_the_conclusion_and_the_json(report):
    sentence = report.results["floor"]["headline"]
    assert sentence.startswith("With an error floor allowed")
    assert report.answer.endswith(sentence) and report.results["conclusion"]["answer"] == report.answer
    assert sentence in report.sections[-1].md() and sentence in report.results["conclusion"]["text"][0]


def test_the_figure_is_written(report, tmp_path):
    out = report.write(tmp_path / "rep")
    assert (out / "figures" / "floor-curves.png").stat().st_size > 10_000
    assert "Is there a floor?" in (out / "index.html").read_text()


def test_a_floor_only_effect_is_not_read_as_a_slope_once_the_floor_may_move(floor_only):
    doc = floor_only.results["floor"]
    line, _, moved = doc["readings"]
    assert line["profile_high"] < 0  # the straight line sees mixup steepen the slope
    assert moved["profile_low"] < 0 < moved["profile_high"]  # the law with mixup in the floor does not
    shift = moved["floor_shift"]
    assert shift["term"] == "E.mix1" and shift["profile_high"] < -0.01  # it finds the floor's shift, far from 0
    assert doc["depends_on_floor"] is True and doc["floor_test"]["p_value"] < 1e-6
    assert "may be a change of floor" in doc["headline"] and floor_only.answer.endswith(doc["headline"])
    md = next(s for s in floor_only.sections if s.id == "floor").md()
    assert "The answer depends on the floor." in md


def _reading(estimate: float, low: float, high: float, when: str) -> Reading:
    return Reading(label=when, law="saturating", formulas={}, estimate=estimate, std_error=0.01, ci_low=low,
                   ci_high=high, profile_low=low, profile_high=high, p_value=0.5, when=when)


def test_headline_when_only_the_floor_law_sees_an_effect():
    forms = law_formulas(FORMULA, EFFECT, "mix")
    check = FloorCheck(formulas=forms, readings=(_reading(-0.01, -0.03, 0.01, "without a floor"),
                                                 _reading(-0.05, -0.08, -0.02, "with a floor per group")),
                       depends=True)
    assert "clearly different from zero where the straight line saw no change" in headline(check)


def test_readings_agree_only_on_the_same_side_of_zero():
    neg, pos, zero = (_reading(-0.1, -0.2, -0.05, "a"), _reading(0.1, 0.05, 0.2, "b"), _reading(0.0, -0.1, 0.1, "c"))
    assert neg.agrees_with(neg) and zero.agrees_with(_reading(0.05, -0.01, 0.2, "d"))
    assert not neg.agrees_with(pos) and not neg.agrees_with(zero)


# ----------------------------------------------------------------------------- leaving it out


def test_a_formula_without_the_law_s_size_term_skips_the_section_and_says_why():
    rep = build_report(None, "log_err ~ log2(TS)*(mix+TrainSet*EvalSet)", weights="w", effect="log2(TS):mix1",
                       trials=0)
    assert rep.results["floor"] == {"skipped": law_formulas("log_err ~ log2(TS)*mix", None, None)}
    assert "Skipped: the formula has no size term" in next(s for s in rep.sections if s.id == "floor").md()
    assert "floor" not in rep.answer


def test_no_floor_leaves_the_section_out_and_says_so_in_the_command(tmp_path):
    rep = build_report(trials=0, floor=False)
    assert "floor" not in [s.id for s in rep.sections] and "floor" not in rep.results
    assert rep.results["command"].endswith("--no-floor")
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["report", "--trials", "0", "--no-floor", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert not (out / "figures" / "floor-curves.png").exists()
