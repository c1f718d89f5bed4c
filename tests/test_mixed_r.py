"""Linear mixed models against lme4 1.1-31 / lmerTest 3.1-3 (tests/data/mixed/make_mixed_refs.R).

R fitted every model with nloptwrap's BOBYQA run to 1e-13 in theta, so its numbers are the
optimum rather than where lme4's default tolerance stops (``default_theta`` in each JSON: about
1e-5 relative away on sleepstudy). Tolerances:
- fixed effects: |β − β_R| ≤ 1e-5 of R's standard error;
- standard errors, theta and variance components: 1e-5 relative. Variance components that R puts
  at zero (a singular fit, where BOBYQA stops at theta ~ 1e-8 and we reach the bound exactly)
  compare absolutely, to 1e-10 of the total variance;
- Satterthwaite df: 1e-3 relative (lmerTest and we both differentiate numerically; we see ≤ 1e-6);
- p-values: 1e-4 relative (they move with df);
- logLik, AIC, BIC and the likelihood-ratio statistic: 1e-6 absolute;
- residuals, fitted values and conditional modes: 1e-5 of the residual standard deviation;
- profile intervals: 2e-4 relative (1e-4 absolute for correlations): lme4 interpolates its profile
  with splines between grid points, we solve for each end; they differ by up to 5e-5 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from powerlaw_stats.data.tables import read_table
from powerlaw_stats.mixed import anova as likelihood_ratio_test
from powerlaw_stats.mixed import fit_mixed

MIXED = Path(__file__).parent / "data" / "mixed"
CASES = sorted(p.stem for p in MIXED.glob("*.json") if not p.stem.startswith("lrt_"))
PROFILED = [c for c in CASES if json.loads((MIXED / f"{c}.json").read_text())["profile"]]
# the digits profile takes ~15 s (crossed factors, 3 parameters): kept for the slow run
SLOW_PROFILES = {"digits_crossed_w_reml"}


def reference(name: str) -> dict:
    return json.loads((MIXED / f"{name}.json").read_text())


_FITS: dict[str, object] = {}


def fitted(name: str):
    if name not in _FITS:
        ref = reference(name)
        data = read_table(MIXED / ref["data"])
        if "run_id" in data:
            data["run_id"] = data["run_id"].astype(str)
        let = [f"{k}={v!r}" for k, v in (ref["let"] or {}).items()]
        _FITS[name] = fit_mixed(ref["formula"], data, weights=ref["weights"], reml=ref["REML"], let=let)
    return _FITS[name]


@pytest.mark.parametrize("name", CASES)
def test_fixed_effects(name):
    res, ref = fitted(name), reference(name)["fixef"]
    assert list(res.params.index) == ref["names"]
    se = np.array(ref["std_error"])
    assert np.max(np.abs(res.params.to_numpy() - ref["estimate"]) / se) < 1e-5
    np.testing.assert_allclose(res.bse, se, rtol=1e-5)
    np.testing.assert_allclose(res.tvalues, ref["t_value"], rtol=1e-5)
    np.testing.assert_allclose(res.df_satterthwaite, ref["df"], rtol=1e-3)
    np.testing.assert_allclose(res.pvalues, ref["p_value"], rtol=1e-4, atol=1e-300)
    np.testing.assert_allclose(res.cov_params, reference(name)["vcov"], rtol=1e-5, atol=1e-5 * se.min() ** 2)


@pytest.mark.parametrize("name", CASES)
def test_variance_components(name):
    res, ref = fitted(name), reference(name)
    vc = ref["varcorr"]
    assert list(res.varcorr.grp) == vc["grp"]
    assert list(res.varcorr.var1) == vc["var1"] and list(res.varcorr.var2) == vc["var2"]
    expected = np.array(vc["vcov"])
    total = expected[[v == "" for v in vc["var2"]]].sum()
    zero = np.abs(expected) < 1e-10 * total
    np.testing.assert_allclose(res.varcorr.vcov[~zero], expected[~zero], rtol=1e-5)
    np.testing.assert_allclose(res.varcorr.vcov[zero], 0.0, atol=1e-10 * total)
    assert res.variance_components.index[-1] == "Residual"
    np.testing.assert_allclose(res.variance_components.to_numpy(), res.varcorr.vcov.to_numpy())
    theta = np.array(ref["theta"])
    np.testing.assert_allclose(res.theta, theta, rtol=1e-5, atol=1e-6)
    assert list(res.theta_names) == ref["theta_names"]
    assert res.is_singular == ref["is_singular"]
    assert res.ngroups == ref["ngroups"]


@pytest.mark.parametrize("name", CASES)
def test_likelihood_and_criteria(name):
    res, ref = fitted(name), reference(name)
    assert res.nobs == ref["nobs"]
    assert res.npar == ref["loglik_df"]
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert res.aic == pytest.approx(ref["aic"], abs=1e-6)
    assert res.bic == pytest.approx(ref["bic"], abs=1e-6)
    assert res.criterion == pytest.approx(ref["deviance"], abs=1e-6)
    assert res.converged


@pytest.mark.parametrize("name", CASES)
def test_residuals_fitted_and_modes(name):
    res, ref = fitted(name), reference(name)
    atol = 1e-5 * res.scale
    np.testing.assert_allclose(res.resid, ref["resid"], rtol=0, atol=atol)
    np.testing.assert_allclose(res.fittedvalues, ref["fitted"], rtol=0, atol=atol)
    for block in ref["ranef"]:
        ours = res.ranef[block["group"]]
        theirs = pd.DataFrame(np.array(block["values"]).reshape(len(block["levels"]), -1),
                              index=block["levels"], columns=block["columns"])
        assert list(ours.columns) == list(theirs.columns)
        np.testing.assert_allclose(ours.loc[theirs.index].to_numpy(), theirs.to_numpy(), rtol=0, atol=atol)


@pytest.mark.parametrize("name", [c for c in PROFILED if c not in SLOW_PROFILES]
                         + [pytest.param(c, marks=pytest.mark.slow) for c in sorted(SLOW_PROFILES)])
def test_profile_intervals(name):
    res, ref = fitted(name), reference(name)["profile"]
    ci = res.profile_intervals(ref["level"])
    assert list(ci.index) == ref["names"]
    for label, lo, hi, (ours_lo, ours_hi) in zip(ref["names"], ref["lower"], ref["upper"], ci.to_numpy()):
        atol = 1e-4 if label.startswith("cor_") else 1e-12
        assert ours_lo == pytest.approx(lo, rel=2e-4, abs=atol), label
        assert ours_hi == pytest.approx(hi, rel=2e-4, abs=atol), label


LRT = {
    "sleepstudy_slope": ("sleepstudy_int_reml", "sleepstudy_slope_reml"),
    "sleepstudy_corr": ("sleepstudy_uncorr_reml", "sleepstudy_slope_reml"),
    "curves_a_split": ("curves_a_run_reml", "curves_a_crossed_reml"),
    "curves_a_mix": ("curves_a_crossed_nomix_reml", "curves_a_crossed_reml"),
}


@pytest.mark.parametrize("name", sorted(LRT))
def test_likelihood_ratio_tests(name):
    ref = json.loads((MIXED / f"lrt_{name}.json").read_text())
    small, big = (fitted(n) for n in LRT[name])
    test = likelihood_ratio_test(big, small)  # either order, as anova() sorts by parameters
    assert test.statistic == pytest.approx(ref["chisq"], abs=1e-6)
    assert test.df == ref["df"]
    assert test.pvalue == pytest.approx(ref["p_value"], rel=1e-5)
    assert list(test.npar) == ref["npar"]
    np.testing.assert_allclose(test.loglik, ref["loglik"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(test.aic, ref["aic"], rtol=0, atol=1e-6)
    assert test.refitted
