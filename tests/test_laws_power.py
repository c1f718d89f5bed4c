"""``simulate_law``/``plan_law`` and ``simulate --law``/``plan --law``: plumbing, exactness and honesty.

Tolerances: the summary is recomputed from the per-study rows, so it must agree to EXACT = 1e-12
relative (the same numbers summed in another order). A candidate design with the pilot's rows must
give the pilot's problem exactly (mean, noise and weight of every row, as multisets): 0 difference.
The plan's pilot-design power and ``simulate_law`` with the same truth and seed run the same
studies, so they are equal. The statistical checks use few studies and generous bounds (SE ratio
within 0.7–1.4 over 60 studies: the SD of 60 estimates is itself uncertain by about 9 %), so they
catch a broken noise scale or a wrong SE (factor 2), not a few per cent; the coverage check with
enough studies to see a few per cent is marked slow.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from powerlaw_stats.cli import app
from powerlaw_stats.cli.law import example_params
from powerlaw_stats.errors import OptionError
from powerlaw_stats.laws.coverage import StudyDesign, simulate_study
from powerlaw_stats.laws.power import _candidate, _law_pilot, plan_law, simulate_law
from powerlaw_stats.scaling.plan import Design

EXACT = 1e-12
PARAMS = example_params("saturating")
SMALL = {"E": "EvalSet", "b": "mix + EvalSet"}  # a quick law on the example: two floors, mixup on the slope


@pytest.fixture(scope="module")
def sim():
    return simulate_law(params=SMALL, weights="w", terms=["b.mix1", "E.(Intercept)"], n_trials=8, seed=3)


def test_truth_is_the_fit_and_the_summary_is_the_studies(sim):
    from powerlaw_stats.laws import fit_law

    fit = fit_law(None, "saturating", SMALL, weights="w", profile=False, compare=False)
    assert sim.truth.to_dict() == fit.params[["b.mix1", "E.(Intercept)"]].to_dict()
    assert math.isclose(sim.sigma, fit.scale, rel_tol=EXACT) and sim.rows == fit.nobs
    ok = sim.studies[sim.studies["ok"]]
    for term, row in sim.summary.set_index("term").iterrows():
        est = ok.loc[ok["term"] == term]
        assert math.isclose(row["mean_estimate"], est["estimate"].mean(), rel_tol=EXACT)
        assert math.isclose(row["se_ratio"], est["se"].mean() / est["estimate"].std(ddof=1), rel_tol=EXACT)
        inside = (est["wald_lower"] <= row["truth"]) & (row["truth"] <= est["wald_upper"])
        assert row["coverage"] == inside.mean() and row["failures"] == 8 - len(est)


def test_same_seed_same_studies_and_truth_overrides(sim):
    again = simulate_law(params=SMALL, weights="w", terms=["b.mix1", "E.(Intercept)"], n_trials=8, seed=3)
    pd.testing.assert_frame_equal(sim.studies, again.studies)
    null = simulate_law(params=SMALL, weights="w", terms=["b.mix1"], truth={"b.mix1": 0.0}, n_trials=2)
    assert null.truth["b.mix1"] == 0.0


@pytest.mark.parametrize("kwargs, words", [
    ({"terms": ["b.nope"]}, "unknown terms b.nope"),
    ({"truth": {"c.x": 1.0}}, "unknown coefficients c.x"),
    ({"n_trials": 1}, "n_trials"),
])
def test_bad_options_are_refused(kwargs, words):
    with pytest.raises(OptionError, match=words):
        simulate_law(params=SMALL, weights="w", **{"n_trials": 2, **kwargs})


def test_noise_has_the_fit_s_scale_on_a_law_with_a_clear_floor():
    # a seed-shaped study whose floors are well inside the data: SEs and their spread must agree
    table = simulate_study(design=StudyDesign(n_sizes=6, runs=4), sigma=0.05, seed=4)
    params = {"E": "EvalSet", "a": "TrainSet*EvalSet", "b": "mix + TrainSet*EvalSet"}
    res = simulate_law(table, "saturating", params, weights="w", terms=["b.mix1"], n_trials=60, seed=1)
    row = res.summary.iloc[0]
    assert 0.7 < row["se_ratio"] < 1.4 and row["failures"] == 0
    assert abs(row["bias"]) < 3 * row["sd_estimate"] / math.sqrt(60)
    assert 0.85 <= row["coverage"] <= 1.0


# ----------------------------------------------------------------------------- plan


@pytest.fixture(scope="module")
def pilot():
    return _law_pilot(None, "saturating", PARAMS, "w", None, (), "drop", "b.mix1", -0.1, ("train_set", "eval_set"))


def _rows(problem, noise, truth):
    a = np.c_[problem.fitted(truth), noise, problem.weights]
    return a[np.lexsort(a.T[::-1])]


def test_a_candidate_with_the_pilot_s_rows_is_the_pilot_s_problem(pilot):
    # the example has at least 4 runs at every size from 80 up: that candidate rebuilds the pilot itself
    truth = pilot.truth.to_numpy()
    p0, n0, _ = _candidate(pilot, Design())
    p1, n1, table = _candidate(pilot, Design(80.0, 4))
    assert len(table) == p0.n and np.array_equal(_rows(p0, n0, truth), _rows(p1, n1, truth))


def test_smaller_designs_keep_each_copied_row_s_noise(pilot):
    p0, n0, _ = _candidate(pilot, Design())
    p1, n1, table = _candidate(pilot, Design(320.0, 2))
    assert sorted(table["train_size"].unique()) == [320, 640, 1280] and p1.n < p0.n
    # every row's noise is one the pilot had at that size: rows copy their own size's pilot rows
    for size in (320, 640, 1280):
        pilot_noise = set(np.round(n0[pilot.used["train_size"].to_numpy() == size], 12))
        assert set(np.round(n1[table["train_size"].to_numpy() == size], 12)) <= pilot_noise


def test_plan_s_pilot_power_is_simulate_law_s_rejection_rate():
    res = plan_law(params=SMALL, weights="w", term="b.mix1", delta=-0.1, min_trials=[4], smallest=[320], n_trials=6,
                   seed=2)
    assert [d.design.label for d in res.designs] == ["pilot design", "sizes from 320, min 4 runs/size"]
    sim = simulate_law(params=SMALL, weights="w", terms=["b.mix1"], truth={"b.mix1": -0.1}, n_trials=6, seed=2)
    assert res.designs[0].power == sim.summary.iloc[0]["rejects"]
    assert res.effect == "b.mix1" and res.delta == -0.1 and res.designs[1].images < res.designs[0].images
    assert json.loads(json.dumps(res.to_dict()))["designs"][0]["design"] == "pilot design"


def test_a_design_that_loses_a_level_says_which():
    with pytest.raises(OptionError, match="design 'sizes from 160, min 4 runs/size, 1 groups'.*one level"):
        plan_law(params=PARAMS, weights="w", term="b.mix1", delta=-0.1, n_groups=[1], min_trials=[4], smallest=[160],
                 include_pilot=False, n_trials=2)


# ----------------------------------------------------------------------------- the command line


def test_cli_simulate_law_json_is_simulate_law_s():
    res = CliRunner().invoke(app, ["simulate", "--law", "saturating", "--param", "E ~ EvalSet", "--param",
                                   "b ~ mix + EvalSet", "--weights", "w", "--coef", "b.mix1", "--trials", "4",
                                   "--seed", "5", "--format", "json", "--quiet"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output[res.output.index("{"):])
    direct = simulate_law(params=["E ~ EvalSet", "b ~ mix + EvalSet"], weights="w", terms=["b.mix1"], n_trials=4,
                          seed=5)
    assert got == json.loads(json.dumps(direct.to_dict(), allow_nan=True).replace("NaN", "null"))


def test_cli_simulate_law_table():
    res = CliRunner().invoke(app, ["simulate", "--law", "saturating", "--trials", "3", "--coef", "b.mix1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "saturating law, least squares" in res.output and "b.mix1" in res.output and "excl. 0" in res.output


@pytest.mark.parametrize("args, flag", [
    (["simulate", "--law", "saturating", "--residuals", "skewed-hetero"], "--residuals"),
    (["simulate", "--law", "saturating", "--design", "min4"], "--design"),
    (["simulate", "--law", "saturating", "--cluster", "run_id"], "--cluster"),
    (["plan", "--law", "saturating", "--delta", "-0.1", "--estimator", "huber"], "--estimator"),
    (["plan", "--law", "saturating", "--delta", "-0.1", "--formula", "log_err ~ mix"], "--formula"),
])
def test_cli_refuses_linear_options_with_a_law(args, flag):
    res = CliRunner().invoke(app, [*args, "--trials", "2", "--quiet"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert res.output.startswith(f"error: {flag} does not apply to")


def test_cli_plan_law_json(tmp_path):
    out = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", "--law", "saturating", "--param", "E ~ EvalSet", "--param", "b ~ mix + EvalSet",
                                   "--weights", "w", "--effect", "b.mix1", "--delta", "-0.1", "--min-trials", "4",
                                   "--smallest", "320", "--trials", "6", "--seed", "2", "--format", "json", "--quiet",
                                   "--output", str(out)])
    assert res.exit_code == 0, res.output
    got = json.loads(out.read_text())
    direct = plan_law(params=["E ~ EvalSet", "b ~ mix + EvalSet"], weights="w", term="b.mix1", delta=-0.1,
                      min_trials=[4], smallest=[320], n_trials=6, seed=2)
    assert got["designs"] == json.loads(json.dumps(direct.to_dict()))["designs"]
    assert got["formula"].startswith("saturating law: E ~ EvalSet")


# ----------------------------------------------------------------------------- honesty (slow)


@pytest.mark.slow
def test_wald_coverage_of_the_slope_effect_under_a_clear_floor():
    """400 studies on a seed-shaped grid whose floors are well inside the data: b.mix1's Wald interval holds 95 %."""
    table = simulate_study(design=StudyDesign(n_sizes=6, runs=4), sigma=0.05, seed=4)
    params = {"E": "EvalSet", "a": "TrainSet*EvalSet", "b": "mix + TrainSet*EvalSet"}
    res = simulate_law(table, "saturating", params, weights="w", terms=["b.mix1"], n_trials=400, seed=7)
    row = res.summary.iloc[0]
    assert abs(row["coverage"] - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 400)  # within 3 Monte Carlo SEs
