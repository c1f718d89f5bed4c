"""fit_mixed beyond R's numbers: formula reading, refusals, invariances, the Satterthwaite contrast.

Numerical tolerances: invariances (row order, weight scale) hold to 1e-7 relative, the optimizer's
own precision in theta; the t test of a unit contrast equals the coefficient's row exactly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from powerlaw_stats.errors import DataError, FormulaError, OptionError, PowerlawStatsError
from powerlaw_stats.estimation.mixed_terms import has_random_effects, split_formula
from powerlaw_stats.mixed import MixedControl, fit_mixed, with_split_id

MIXED = Path(__file__).parent / "data" / "mixed"
CURVES = Path(__file__).parent / "data" / "curves_a.csv"
SEED_RHS = "I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pd.read_csv(MIXED / "sleepstudy.csv")


@pytest.fixture(scope="module")
def slope_fit(sleep):
    return fit_mixed("Reaction ~ Days + (Days|Subject)", sleep)


# ----------------------------------------------------------------------------- formulas


@pytest.mark.parametrize("formula, fixed, bars", [
    ("y ~ x + (1|g)", "y ~ x", ["(1 | g)"]),
    ("y ~ (1|g)", "y ~ 1", ["(1 | g)"]),
    ("y ~ I(a+b)*(c+d) + (1 + x | g) + (0 + x | h)", "y ~ I(a+b)*(c+d)", ["(1 + x | g)", "(0 + x | h)"]),
    ("y ~ x + (1|a/b/c)", "y ~ x", ["(1 | a)", "(1 | b:a)", "(1 | c:b:a)"]),
    ("y ~ x + (1|a:b)", "y ~ x", ["(1 | a:b)"]),
    ("y ~ x + (x*z || g)", "y ~ x", ["(1 | g)", "(0 + x | g)", "(0 + z | g)", "(0 + x:z | g)"]),
    ("y ~ x + (0 + x || g)", "y ~ x", ["(0 + x | g)"]),
    ("y ~ x - 1 + (1|g)", "y ~ x - 1", ["(1 | g)"]),
])
def test_split_formula(formula, fixed, bars):
    split = split_formula(formula)
    assert split.fixed == fixed
    assert [b.text for b in split.bars] == bars


@pytest.mark.parametrize("formula, message", [
    ("y ~ x*(1|g)", "added with '+'"),
    ("y ~ x + (1|)", "grouping factor"),
    ("y ~ x + (1|log(g))", "column names"),
    ("y ~ x + ((1|g)", "unbalanced"),
    ("y ~ x + + (1|g)", "empty term"),
])
def test_bad_bars_are_refused_in_one_line(formula, message):
    with pytest.raises(FormulaError, match=message.replace("(", r"\(").replace("+", r"\+")):
        split_formula(formula)


def test_has_random_effects():
    assert has_random_effects("log_err ~ x + (1|run_id)")
    assert not has_random_effects("log_err ~ I(log2(TS)-IXMin)*mix")


def test_uncorrelated_spellings_agree(sleep):
    a = fit_mixed("Reaction ~ Days + (Days||Subject)", sleep)
    b = fit_mixed("Reaction ~ Days + (1|Subject) + (0 + Days|Subject)", sleep)
    np.testing.assert_allclose(a.variance_components, b.variance_components, rtol=1e-10)
    assert list(a.variance_components.index) == ["Subject:(Intercept)", "Subject:Days", "Residual"]


def test_component_names_of_a_random_slope(slope_fit):
    assert list(slope_fit.variance_components.index) == [
        "Subject:(Intercept)", "Subject:Days", "Subject:(Intercept),Days", "Residual"]
    assert list(slope_fit.ranef["Subject"].columns) == ["(Intercept)", "Days"]


# ----------------------------------------------------------------------------- refusals and data


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "bisquare"}, "CR1"),
    ({"method": "huber"}, "CR1"),
    ({"method": "lasso"}, "unknown method"),
    ({"vcov": "HC1"}, "not offered with random effects"),
    ({"vcov": "CR2", "cluster": ["Subject", "Days"]}, "one cluster column"),
    ({"vcov": "model", "cluster": "Subject"}, "applies to vcov 'CR2'"),
    ({"reml": "yes"}, "reml must be"),
])
def test_refusals(sleep, kwargs, message):
    with pytest.raises(OptionError, match=message):
        fit_mixed("Reaction ~ Days + (1|Subject)", sleep, **kwargs)


def test_formula_without_bars_points_to_fit(sleep):
    with pytest.raises(FormulaError, match="fit"):
        fit_mixed("Reaction ~ Days", sleep)


def test_grouping_checks(sleep):
    with pytest.raises(DataError, match="single level"):
        fit_mixed("Reaction ~ Days + (1|Subject)", sleep, where="Subject == 308")
    with pytest.raises(DataError, match="levels for"):
        fit_mixed("Reaction ~ Days + (1|row)", sleep.assign(row=np.arange(len(sleep))))
    with pytest.raises(DataError, match="no column 'Subjekt'"):
        fit_mixed("Reaction ~ Days + (1|Subjekt)", sleep)


def test_errors_are_powerlaw_stats_errors(sleep):
    with pytest.raises(PowerlawStatsError):
        fit_mixed("Reaction ~ Days + (1|Subject)", sleep, control=MixedControl(max_iter=0))


def test_split_id_is_derived_from_the_schema():
    d = pd.read_csv(CURVES, dtype={"run_id": str})
    assert "split_id" not in d.columns
    res = fit_mixed(f"log_err ~ {SEED_RHS} + (1|split_id)", d)
    assert res.ngroups == {"split_id": with_split_id(d).split_id.nunique()}


def test_na_rows_and_zero_weights_are_counted(sleep):
    d = sleep.copy()
    d.loc[3, "Reaction"] = np.nan
    d["w"] = 1.0
    d.loc[5, "w"] = 0.0
    res = fit_mixed("Reaction ~ Days + (1|Subject)", d, weights="w")
    assert res.nobs == len(d) - 2
    assert res.dropped_reasons == {"NA in Reaction": 1, "weight 0": 1}
    ref = fit_mixed("Reaction ~ Days + (1|Subject)", d.drop(index=[3, 5]))
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-9)


# ----------------------------------------------------------------------------- invariances


def test_row_order_does_not_matter(sleep, slope_fit):
    shuffled = sleep.sample(frac=1.0, random_state=3).reset_index(drop=True)
    res = fit_mixed("Reaction ~ Days + (Days|Subject)", shuffled)
    np.testing.assert_allclose(res.params, slope_fit.params, rtol=1e-7)
    np.testing.assert_allclose(res.variance_components, slope_fit.variance_components, rtol=1e-6)


def test_weight_scale_moves_sigma_only():  # lme4's weights are relative precisions
    d = pd.read_csv(CURVES, dtype={"run_id": str})
    a = fit_mixed(f"log_err ~ {SEED_RHS} + (1|run_id)", d, weights="w")
    b = fit_mixed(f"log_err ~ {SEED_RHS} + (1|run_id)", d, weights="4*w")
    np.testing.assert_allclose(b.params, a.params, rtol=1e-7)
    np.testing.assert_allclose(b.bse, a.bse, rtol=1e-6)
    # residual variance sigma^2 / (4 w) = the old sigma^2 / w: sigma doubles, the run variance stays
    assert b.scale == pytest.approx(2 * a.scale, rel=1e-6)
    np.testing.assert_allclose(b.theta, a.theta / 2, rtol=1e-6)
    assert b.variance_components["run_id"] == pytest.approx(a.variance_components["run_id"], rel=1e-6)


def test_refit_by_ml_starts_from_the_reml_fit(slope_fit, sleep):
    ml = slope_fit.refit(reml=False)
    direct = fit_mixed("Reaction ~ Days + (Days|Subject)", sleep, reml=False)
    assert not ml.reml and ml.loglik == pytest.approx(direct.loglik, abs=1e-8)
    assert slope_fit.refit(reml=True) is slope_fit


# ----------------------------------------------------------------------------- inference


def test_unit_contrast_is_the_coefficient_row(slope_fit):
    test = slope_fit.t_test([0.0, 1.0])
    assert test["estimate"] == pytest.approx(slope_fit.params["Days"])
    assert test["df"] == pytest.approx(slope_fit.df_satterthwaite["Days"])
    assert test["p_value"] == pytest.approx(slope_fit.pvalues["Days"])
    with pytest.raises(OptionError, match="one per fixed effect"):
        slope_fit.t_test([1.0])


def test_conf_int_uses_satterthwaite_df(slope_fit):
    ci = slope_fit.conf_int(0.05)
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    # lmerTest's confint: 251.4051 ± qt(0.975, 17.00000) * 6.824556
    assert ci.loc["(Intercept)", "2.5 %"] == pytest.approx(251.405104848484 - 2.109815577833 * 6.82455626155296, rel=1e-6)
    with pytest.raises(OptionError):
        slope_fit.conf_int(1.5)


def test_to_dict_carries_variance_components(slope_fit):
    out = slope_fit.to_dict()
    assert list(out["variance_components"])[-1] == "Residual"
    assert out["df_method"] == "Satterthwaite"
    assert [r["term"] for r in out["coefficients"]] == ["(Intercept)", "Days"]


def test_a_true_zero_variance_is_a_singular_fit_not_a_failure():
    rng = np.random.default_rng(5)
    d = pd.DataFrame({"g": np.repeat(np.arange(20), 5), "x": rng.normal(size=100)})
    d["y"] = 1 + 0.5 * d.x + rng.normal(size=100)
    res = fit_mixed("y ~ x + (1|g)", d)
    assert res.converged
    if res.theta[0] == 0:
        assert res.is_singular and res.variance_components["g"] == 0


def test_fit_mixed_stays_light():
    probe = ("import sys\nfrom powerlaw_stats.mixed import fit_mixed\n"
             "fit_mixed('log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)')\n"
             "print(' '.join(m for m in ('scipy.stats', 'scipy.special', 'scipy.optimize', 'statsmodels.api', "
             "'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
