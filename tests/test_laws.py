"""The law engine: registry, designs, the constrained fit, and parity with R (nlme::gnls, stats::nls).

Tolerances, and why:
- against R (tests/data/laws/law_refs.json, made by make_law_refs.R): coefficients within 1e-5 of
  their SE, SEs (classic, sandwich HC0, vcovCL CR1) to 1e-4 relative, residual SE to 1e-6 and
  logLik/AIC/BIC to 1e-6 absolute. Observed: coefficients 2.4e-7 SE, SEs 8e-8, sigma 4e-16,
  logLik 1e-12; what is left is R's convergence (nls stops at a relative offset near 1e-9,
  gnls at its tolerance 1e-6 or 1e-8, we at 1e-10).
- profile intervals: within 2e-3 SE of MASS's confint.nls, which interpolates the profile t by a
  spline between profile points where we solve τ = t(0.975) to 1e-7 (observed 6.3e-4 SE).
- fits with the floor bound active (nls "port", E written cell by cell with lower = 0): our
  residual sum of squares at most R's plus 1e-9 relative (R's port stops early), fitted values
  within 1e-5 (observed 3.4e-6).
- the log-linear law against powerlaw_stats.fit (the same linear model): 1e-10, both exact.
- analytic gradients against central differences: 1e-6 relative.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import OptionError, PowerlawStatsError
from powerlaw_stats.laws import LAWS, IdentificationWarning, fit_law, get_law
from powerlaw_stats.laws.design import parse_params
from powerlaw_stats.laws.problem import estimate

DATA = Path(__file__).parent / "data"
REFS = json.loads((DATA / "laws" / "law_refs.json").read_text())
PATHS = {"digits_curves.csv": None, "curves_a.csv": DATA / "curves_a.csv"}
CASES = [k for k in REFS if k != "versions"]
COEF_SE_TOL, SE_RTOL, SIGMA_TOL, LL_TOL, PROFILE_SE_TOL = 1e-5, 1e-4, 1e-6, 1e-6, 2e-3


def quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentificationWarning)
        return fit_law(*args, **kwargs)


def ref_fit(name, **kwargs):
    ref = REFS[name]
    params = {"E": ref["E"], "a": ref["a"], "b": ref["b"]}
    return quiet_fit(PATHS[ref["data"]], params=params, weights="w", **kwargs)


# ----------------------------------------------------------------------------- R parity


@pytest.mark.parametrize("name", CASES)
def test_unbounded_fit_matches_gnls_and_nls(name):
    ref = REFS[name]
    res = ref_fit(name, bounds=False, profile=False, compare=False)
    assert list(res.params.index) == ref["gnls"]["names"]  # nlme's names, E alone for E ~ 1
    se = res.bse.to_numpy()
    for fit in ("gnls", "nls"):
        r = ref[fit]
        assert np.max(np.abs(res.params.to_numpy() - r["coef"]) / se) < COEF_SE_TOL
        assert np.max(np.abs(se / np.array(r["se"]) - 1)) < SE_RTOL
        assert abs(res.scale - r["sigma"]) < SIGMA_TOL
        assert abs(res.loglik - r["logLik"]) < LL_TOL
        assert abs(res.aic - r["AIC"]) < LL_TOL and abs(res.bic - r["BIC"]) < LL_TOL
    assert res.nobs == ref["n"] and res.df_resid == ref["nls"]["df"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("vcov, key", [("HC0", "hc0_se"), ("CR1", "cr1_se")])
def test_sandwich_ses_match_sandwich_package(name, vcov, key):
    kwargs = {"cluster": "run_id"} if vcov == "CR1" else {"vcov": vcov}
    res = ref_fit(name, bounds=False, profile=False, compare=False, **kwargs)
    assert np.max(np.abs(res.bse.to_numpy() / np.array(REFS[name]["nls"][key]) - 1)) < SE_RTOL


@pytest.mark.parametrize("name", [c for c in CASES if REFS[c].get("profile")])
def test_profile_intervals_match_mass_confint(name):
    ref = REFS[name]
    res = ref_fit(name, bounds=False, compare=False)
    names = list(res.params.index)
    counts = {p: sum(n.split(".")[0] == p for n in names) for p in "Eab"}
    nls_names = [p if counts[p] == 1 else f"{p}{i + 1}" for p in "Eab" for i in range(counts[p])]
    prof = ref["profile"]
    for parm, lo, hi in zip(prof["parm"], prof["lower"], prof["upper"]):
        term = names[nls_names.index(parm)]
        row = res.profile.loc[term]
        assert abs(row["lower"] - lo) / res.bse[term] < PROFILE_SE_TOL, term
        assert abs(row["upper"] - hi) / res.bse[term] < PROFILE_SE_TOL, term


@pytest.mark.parametrize("name", [c for c in CASES if REFS[c].get("bounded")])
def test_bounded_fit_matches_nls_port_with_lower_bounds(name):
    ref = REFS[name]["bounded"]
    res = ref_fit(name, profile=False, compare=False)
    assert res.bound_active  # every bounded reference has a floor cell at zero
    assert res.rss <= ref["rss"] * (1 + 1e-9)
    assert np.max(np.abs(res.fittedvalues[:10] - np.array(ref["fitted"]))) < 1e-5
    floors = res.floors
    assert (floors.loc[floors["at_bound"], "estimate"] == 0).all()
    assert floors.loc[floors["at_bound"], "std_error"].isna().all()


# ----------------------------------------------------------------------------- registry and designs


def test_registry_holds_the_laws_and_their_records():
    assert {"loglinear", "saturating", "chinchilla"} <= set(LAWS)
    sat = get_law("saturating")
    assert sat.params == ("E", "a", "b") and dict(sat.lower) == {"E": 0.0}
    assert sat.nested[0] == "loglinear" and dict(sat.nested[1]) == {"E": "0"}
    with pytest.raises(OptionError, match="unknown law"):
        get_law("pow9")


def _central_gradient(law, values, inputs, h=1e-6):
    out = {}
    for p in law.params:
        up = {**values, p: values[p] + h}
        down = {**values, p: values[p] - h}
        out[p] = (law.mean(up, inputs) - law.mean(down, inputs)) / (2 * h)
    return out


@pytest.mark.parametrize("name, values, inputs", [
    ("loglinear", {"a": np.array([-1.0, 0.3]), "b": np.array([-0.7, -0.2])}, {"x": np.array([0.0, 3.0])}),
    ("saturating", {"E": np.array([0.0, 0.05, -0.01]), "a": np.array([-1.0, 0.3, 0.1]), "b": np.array([-0.7, -0.2, -0.5])},
     {"x": np.array([0.0, 3.0, 1.0])}),
    ("chinchilla", {"a": np.array([6.0, 6.2]), "b": np.array([7.0, 7.6]), "e": np.array([0.5, 0.6]),
                    "alpha": np.array([0.3, 0.35]), "beta": np.array([0.3, 0.37])},
     {"N": np.array([1e8, 5e9]), "D": np.array([1e9, 2e11])}),
])
def test_analytic_gradients_match_differences(name, values, inputs):
    law = LAWS[name]
    grad = law.gradient(values, inputs)
    num = _central_gradient(law, values, inputs)
    for p in law.params:
        np.testing.assert_allclose(grad[p], num[p], rtol=1e-6, atol=1e-9)


def test_saturating_mean_is_the_log_of_floor_plus_power():
    law = LAWS["saturating"]
    v = {"E": np.array([0.0, 0.1]), "a": np.array([-1.0, -1.0]), "b": np.array([-0.5, -0.5])}
    x = {"x": np.array([2.0, 2.0])}
    np.testing.assert_allclose(law.mean(v, x), np.log2(v["E"] + 2 ** (-2.0)), rtol=1e-14)


def test_parameter_formulas_in_both_spellings():
    law = LAWS["saturating"]
    assert parse_params(law, {"E": "~ EvalSet", "b": "b ~ mix"}) == {"E": "EvalSet", "a": "1", "b": "mix"}
    assert parse_params(law, ["E ~ 0", "a ~ TrainSet"]) == {"E": "0", "a": "TrainSet", "b": "1"}
    for bad, match in [(["Q ~ 1"], "no parameter 'Q'"), (["E ~ 1", "E ~ EvalSet"], "twice"),
                       (["EvalSet"], "PARAM ~ TERMS"), ({"E": ""}, "empty formula"), ({"E": "a ~ 1"}, "names 'a'")]:
        with pytest.raises(OptionError, match=match):
            parse_params(law, bad)


def test_coefficient_names_follow_nlme():
    res = quiet_fit(law="saturating", params={"E": "EvalSet", "a": "1", "b": "mix + TrainSet"}, weights="w",
                    profile=False, compare=False)
    assert list(res.params.index) == ["E.(Intercept)", "E.EvalSetsklearn_digits", "a", "b.(Intercept)", "b.mix1",
                                      "b.TrainSetsklearn_digits"]


# ----------------------------------------------------------------------------- the log-linear law


SEED = "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"


def _fit_name(law_name: str) -> str:
    param, _, col = law_name.partition(".")
    col = col or "(Intercept)"
    x = "I(log2(TS) - IXMin)"
    if param == "a":
        return col
    return x if col == "(Intercept)" else f"{x}:{col}"


@pytest.mark.parametrize("law, params", [("loglinear", {}), ("saturating", {"E": "0"})])
@pytest.mark.parametrize("vcov", ["classic", "HC1", "HC3"])
def test_floor_fixed_at_zero_is_the_seed_regression(law, params, vcov):
    formulas = {**params, "a": "mix+TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"}
    res = fit_law(law=law, params=formulas, weights="w", vcov=vcov, profile=False, compare=False)
    ref = ps.fit(SEED, weights="w", vcov=vcov)
    names = [_fit_name(n) for n in res.params.index]
    np.testing.assert_allclose(res.params.to_numpy(), ref.params[names].to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.bse.to_numpy(), ref.bse[names].to_numpy(), rtol=1e-10)
    assert abs(res.scale - ref.scale) < 1e-12 and res.df_resid == ref.df_resid
    np.testing.assert_allclose(res.fittedvalues, ref.fittedvalues, atol=1e-12)


# ----------------------------------------------------------------------------- the fit


def test_floor_at_its_bound_is_reported():
    res = quiet_fit(law="saturating", params={"E": "1", "a": "TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"},
                    weights="w", profile=False, compare=False)
    assert res.bound_active == ("E[all rows]",)
    assert res.params["E"] == 0 and np.isnan(res.bse["E"]) and np.isnan(res.pvalues["E"])
    assert res.floors.loc["E[all rows]", "at_bound"]
    free = quiet_fit(law="saturating", params={"E": "1", "a": "TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"},
                     weights="w", bounds=False, profile=False, compare=False)
    assert free.params["E"] < 0 and free.rss < res.rss  # R's gnls answer: a negative floor


def test_default_starts_find_the_best_of_many_random_starts():
    params = {"E": "TrainSet*EvalSet", "a": "mix+TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"}
    res = quiet_fit(law="saturating", params=params, weights="w", profile=False, compare=False)
    rng = np.random.default_rng(7)
    best = np.inf
    for _ in range(12):
        start = res.params.to_numpy() * (1 + 0.5 * rng.standard_normal(len(res.params)))
        est = estimate(res.problem, None, start=start)
        if est.converged:
            best = min(best, est.rss)
    assert res.rss <= best * (1 + 1e-10)
    assert res.converged and res.message == "converged"


def test_start_option_is_checked():
    with pytest.raises(OptionError, match="values for 3 coefficients"):
        fit_law(law="saturating", weights="w", start=[0.0, 1.0], profile=False, compare=False)
    with pytest.raises(OptionError, match="missing"):
        fit_law(law="saturating", weights="w", start={"E": 0.0}, profile=False, compare=False)
    res = fit_law(law="saturating", weights="w", start={"E": 0.01, "a": -1.0, "b": -0.5}, profile=False, compare=False)
    assert res.converged


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "mm"}, "unknown method"), ({"vcov": "HC3", "method": "huber"}, "not available"),
    ({"vcov": "CR1"}, "cluster-robust"), ({"cluster": "run_id", "vcov": "HC1"}, "CR1 or CR3"),
    ({"level": 1.5}, "between 0 and 1"), ({"inputs": {"z": "TS"}}, "reads inputs"),
    ({"params": {"E": "nonsense_col"}}, "nonsense_col"),
])
def test_bad_options_are_one_clear_error(kwargs, match):
    with pytest.raises(PowerlawStatsError, match=match):
        fit_law(law="saturating", weights="w", **{"profile": False, "compare": False, **kwargs})


def test_zero_error_rows_are_refused_with_the_rows():
    data = ps.load_example().copy()
    data.loc[3, "error"] = 0.0
    with pytest.raises(PowerlawStatsError, match="not finite in 1 of 576 rows.*data rows 4"):
        fit_law(data, law="saturating", weights="w", profile=False, compare=False)


def test_where_let_and_zero_weights():
    res = quiet_fit(law="saturating", params={"b": "mix"}, weights="w", where="eval_set == train_set",
                    profile=False, compare=False)
    assert res.nobs == 288 and res.dropped_rows == 288
    data = ps.load_example().copy()
    data["w0"] = np.where(np.arange(len(data)) < 10, 0.0, 1.0 / data["trials"])
    zero = quiet_fit(data, law="saturating", params={"b": "mix"}, weights="w0", profile=False, compare=False)
    assert zero.nobs == 566 and len(zero.fittedvalues) == 576 and (zero.weights[:10] == 0).all()
    shifted = quiet_fit(law="saturating", params={"a": "mix", "b": "mix"}, weights="w", let=["IXMin=log2(160)"],
                        profile=False, compare=False)
    base = quiet_fit(law="saturating", params={"a": "mix", "b": "mix"}, weights="w", profile=False, compare=False)
    # moving the origin of x by one doubling moves a by one slope and leaves the fit unchanged
    assert abs(shifted.rss - base.rss) < 1e-9 * base.rss


def test_result_is_frozen_and_serialises():
    res = quiet_fit(law="saturating", params={"E": "EvalSet", "b": "mix"}, weights="w")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.scale = 1.0
    with pytest.raises(ValueError):
        res.resid[0] = 1.0
    doc = json.loads(json.dumps(res.to_dict()))
    assert doc["law"] == "saturating" and doc["formulas"]["E"] == "EvalSet"
    assert {c["term"] for c in doc["coefficients"]} == set(res.params.index)
    ci = res.conf_int(alpha=0.1)
    assert list(ci.columns) == ["5 %", "95 %"] and res.conf_int(level=0.9).equals(ci)
    table = res.table()
    assert {"profile lower", "profile upper"} <= set(table.columns)


@pytest.mark.parametrize("name", ["powerlaw_stats.laws.registry", "powerlaw_stats.laws.design",
                                  "powerlaw_stats.laws.fit", "powerlaw_stats.laws.bootstrap",
                                  "powerlaw_stats.laws.coverage", "powerlaw_stats.laws.arrays",
                                  "powerlaw_stats.laws.result"])
def test_docstring_examples(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentificationWarning)
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_fit_law_does_not_load_heavy_modules():
    import subprocess
    import sys

    code = ("import sys, warnings\nwarnings.simplefilter('ignore')\nfrom powerlaw_stats.laws import fit_law\n"
            "fit_law(law='saturating', params={'E': 'EvalSet', 'b': 'mix'}, weights='w')\n"
            "print(' '.join(m for m in ('scipy.stats', 'scipy.special', 'scipy.optimize', 'matplotlib', 'statsmodels.api')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_simulated_floor_is_recovered():
    rng = np.random.default_rng(3)
    rows = []
    for ev, floor in (("c10", 0.05), ("cin", 0.2)):
        for mix in (0, 1):
            for k in range(6):
                for run in range(4):
                    err = floor + 2 ** ((-0.7 - 0.1 * mix) * k)
                    rows.append({"train_size": 1000 * 2**k, "eval_set": ev, "mixup": mix, "trials": 4,
                                 "error": err * 2 ** (0.03 * rng.standard_normal()), "run_id": f"{ev}{mix}{k}{run}"})
    data = pd.DataFrame(rows)
    res = fit_law(data, params={"E": "EvalSet", "b": "mix"}, weights="w")
    floors = res.floors["estimate"].to_numpy()
    assert abs(floors[0] - 0.05) < 0.01 and abs(floors[1] - 0.2) < 0.02
    lo, hi = res.conf_int().loc["b.mix1"]
    assert lo < -0.1 < hi
    assert res.floor_test.p_value < 1e-6 and not res.identification.confounded


def test_predict_reproduces_the_fit_and_extrapolates():
    res = quiet_fit(law="saturating", params={"E": "EvalSet", "b": "mix"}, weights="w", profile=False, compare=False)
    rows = np.arange(len(res.fittedvalues))
    np.testing.assert_allclose(res.predict(rows, x=res.problem.design.inputs["x"]), res.fittedvalues, rtol=1e-14)
    far = res.predict(np.zeros(3, int), x=np.array([10.0, 20.0, 40.0]))  # far beyond the data: down to the floor
    assert np.all(np.diff(far) <= 0)
    np.testing.assert_allclose(far[-1], np.log2(res.parameter_values()["E"].iloc[0] + 2.0 ** (
        res.parameter_values()["a"].iloc[0] + 40 * res.parameter_values()["b"].iloc[0])), rtol=1e-12)
    with pytest.raises(OptionError, match="needs the inputs x"):
        res.predict([0])
