"""Identification of floor and slope, profile intervals at the bound, and the floor-or-no-floor test.

Tolerances, and why:
- the one-cell boundary test's p-value equals ½·P(χ²₁ ≥ LR) to 1e-12 (the same formula);
- chi-bar-square weights for two floor cells estimated from separate data: (¼, ½, ¼) within 0.015
  (20 000 Monte Carlo draws give a standard error of about 0.0035 per weight);
- profile limits solve τ(v) = t(0.975, df) to 1e-7 in τ: checked by refitting at the limit.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from powerlaw_stats.errors import OptionError
from powerlaw_stats.inference.tests import t_quantile
from powerlaw_stats.laws import IdentificationWarning, fit_law
from powerlaw_stats.laws.coverage import DEFAULT_PARAMS, DEFAULT_TRUTH, StudyDesign, simulate_study
from powerlaw_stats.laws.solver import lm_solve

FLOOR_NEAR = {**DEFAULT_TRUTH, "E.(Intercept)": 0.3, "E.EvalSetcinic10": 0.15}


def quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentificationWarning)
        return fit_law(*args, **kwargs)


def test_confounded_floor_warns_with_numbers_and_sizes():
    data = simulate_study(FLOOR_NEAR, design=StudyDesign(n_sizes=3), seed=0)
    with pytest.warns(IdentificationWarning) as record:
        res = fit_law(data, params=DEFAULT_PARAMS, weights="w")
    text = str(record[0].message)
    assert "SE of b.(Intercept) is" in text and "x its SE without a floor" in text
    assert "a flat profile" in text and "Sizes that would separate them" in text and "TS ≈" in text
    ident = res.identification
    assert ident.confounded and ident.warning == text
    assert ident.se_inflation["b.(Intercept)"] > ident.inflation_limit
    assert "E[EvalSet=cifar10]" in ident.flat_floors
    flat = ident.separating.loc["E[EvalSet=cifar10]"]  # the flat floor is reached only beyond the data
    assert flat["size_needed"] > 50000 and flat["input_needed"] > flat["largest_input"]


def test_identified_floor_does_not_warn():
    data = simulate_study(DEFAULT_TRUTH, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentificationWarning)
        res = fit_law(data, params=DEFAULT_PARAMS, weights="w")
    assert not res.identification.confounded and res.identification.warning is None
    assert res.floor_test.p_value < 1e-4


def test_inflation_limit_is_an_option():
    data = simulate_study(DEFAULT_TRUTH, seed=1)
    with pytest.warns(IdentificationWarning, match=r"limit 1.5x"):
        fit_law(data, params=DEFAULT_PARAMS, weights="w", inflation_limit=1.5, profile=False)
    with pytest.raises(OptionError, match="exceed 1"):
        fit_law(data, params=DEFAULT_PARAMS, weights="w", inflation_limit=0.5, profile=False)


def test_profile_limits_solve_the_profile_equation():
    res = quiet(simulate_study(DEFAULT_TRUTH, seed=3), params=DEFAULT_PARAMS, weights="w")
    problem = res.problem
    q = t_quantile(0.95, res.df_resid)
    j = list(res.params.index).index("b.mix1")
    c = np.eye(len(res.params))[j]
    for side in ("lower", "upper"):
        v = res.profile.loc["b.mix1", side]
        cons = problem.cons.with_equality(c, v)
        state = lm_solve(problem.resid_jac, res.params.to_numpy(), cons, curvature=problem.curvature)
        tau = math.sqrt(state.rss - res.rss) / res.scale
        assert abs(tau - q) < 1e-6
    lo, hi = res.conf_int().loc["b.mix1"]
    assert abs(res.profile.loc["b.mix1", "lower"] - lo) < 0.2 * res.bse["b.mix1"]  # near-linear here


def test_floor_at_the_bound_has_a_one_sided_profile():
    data = simulate_study({**DEFAULT_TRUTH, "E.(Intercept)": 0.0, "E.EvalSetcinic10": 0.0}, seed=4)
    res = quiet(data, params={**DEFAULT_PARAMS, "E": "1"}, weights="w")
    row = res.profile.loc["E[all rows]"]
    if res.bound_active:
        assert row["lower"] == 0 and row["lower_at_bound"] and row["upper"] > 0
    else:
        assert row["lower"] >= 0
    assert res.floors.loc["E[all rows]", "profile_upper"] == row["upper"]


def test_profile_terms_can_be_chosen():
    data = simulate_study(DEFAULT_TRUTH, seed=5)
    res = quiet(data, params=DEFAULT_PARAMS, weights="w", profile=["b.mix1", "E[EvalSet=cinic10]"], compare=False)
    assert list(res.profile.index) == ["b.mix1", "E[EvalSet=cinic10]"]
    with pytest.raises(OptionError, match="cannot profile 'b.nope'"):
        fit_law(data, params=DEFAULT_PARAMS, weights="w", profile=["b.nope"], compare=False)


def test_one_cell_boundary_test_is_the_50_50_mixture():
    res = quiet(simulate_study(DEFAULT_TRUTH, seed=6), params={**DEFAULT_PARAMS, "E": "1"}, weights="w")
    ft = res.floor_test
    assert ft.mixture == (0.5, 0.5) and ft.mixture_method.startswith("exact")
    assert abs(ft.p_value - 0.5 * chi2.sf(ft.statistic, 1)) < 1e-12
    assert abs(ft.statistic - 2 * (ft.loglik["saturating"] - ft.loglik["loglinear"])) < 1e-9
    assert ft.aic["saturating"] == pytest.approx(res.aic)


def test_chi_bar_weights_of_two_separate_cells():
    res = quiet(simulate_study(DEFAULT_TRUTH, seed=7),
                params={"E": "EvalSet", "a": "TrainSet*EvalSet", "b": "EvalSet*(mix+TrainSet)"}, weights="w",
                profile=False)
    w = np.array(res.floor_test.mixture)
    assert abs(w.sum() - 1) < 1e-12 and np.max(np.abs(w - [0.25, 0.5, 0.25])) < 0.015
    assert res.floor_test.p_value <= res.floor_test.p_value_conservative


def test_heldout_error_of_the_largest_size():
    res = quiet(simulate_study(DEFAULT_TRUTH, seed=8), params=DEFAULT_PARAMS, weights="w", profile=False)
    held = res.floor_test.heldout
    assert list(held.index) == ["saturating", "loglinear"] and (held["n_heldout"] == 32).all()
    # the truth has a floor: the straight line, extrapolated, undershoots the largest size
    assert held.loc["saturating", "rms_error"] < held.loc["loglinear", "rms_error"]
    assert held.loc["loglinear", "mean_error"] > 0


def test_digits_example_answers_with_both_laws():
    sat = quiet(law="saturating", params={"E": "TrainSet*EvalSet", "a": "mix+TrainSet*EvalSet",
                                          "b": "mix+TrainSet*EvalSet"}, weights="w", profile=["b.mix1"])
    line = fit_law(law="loglinear", params={"a": "mix+TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"}, weights="w",
                   profile=False, compare=False)
    assert sat.params["b.mix1"] < 0 and line.params["b.mix1"] < 0
    assert sat.floor_test.p_value < 1e-6  # a floor is needed on this table
    assert isinstance(sat.floors, pd.DataFrame) and sat.floors["at_bound"].sum() == 2


def test_one_curve_floor_test_for_region():
    from powerlaw_stats.laws.arrays import curve_floor_test

    rng = np.random.default_rng(9)
    x = np.repeat(np.arange(6.0), 4)
    with_floor = np.log2(0.1 + 2.0 ** (-0.8 * x)) + 0.03 * rng.standard_normal(len(x))
    t = curve_floor_test(x, with_floor, np.full(len(x), 0.25))
    assert t.p_value < 1e-6 and t.floor_lower < 0.1 < t.floor_upper and t.aic < t.aic_without_floor
    line = -0.8 * x + 0.03 * rng.standard_normal(len(x))
    s = curve_floor_test(x, line)
    assert s.p_value > 0.01 and s.floor_lower == 0.0 and abs(s.slope - s.slope_without_floor) < 0.05
    assert json.loads(json.dumps(s.to_dict()))["n"] == 24


def test_heldout_check_says_when_the_largest_size_holds_a_level_alone():
    data = simulate_study(DEFAULT_TRUTH, seed=10)
    largest = data["train_size"] == data["train_size"].max()
    data["arm"] = np.where(largest & (data["mixup"] == 1), "late", "early")  # a level seen only at the largest size
    res = quiet(data, params={"E": "EvalSet", "a": "TrainSet", "b": "arm"}, weights="w", profile=False)
    assert res.floor_test.heldout is None and "b.armlate cannot be estimated" in res.floor_test.heldout_note
