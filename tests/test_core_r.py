"""Every figure R reports on curves_a, matched by powerlaw_stats.fit.

Tolerances (relative, with an absolute floor of the same size times the largest |value| of the
vector, so entries near zero such as residuals compare sensibly):
- least squares, HC and Breusch–Pagan: 1e-9. Both sides solve the same QR problem in double
  precision; the differences we see are ~1e-13, so 1e-9 leaves room for BLAS differences only.
- M-estimation: 1e-7. R iterated to acc 1e-12 and so do we here, but IRWLS optima are only
  determined to about sqrt(acc) in the weights of observations near the Huber corner. Our IRWLS
  ends in Newton steps at such a tight acc (estimation/irwls.py, NEWTON_SWITCH): it takes at most
  R's iterations, and exactly R's with that tail switched off (or at MASS's defaults).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import powerlaw_stats as ps
from powerlaw_stats.estimation import irwls as irwls_module

DATA = Path(__file__).parent / "data"
R = json.loads((DATA / "curves_a.R.json").read_text())
CSV = DATA / "curves_a.csv"
FORMULA = R["formula_main"]
LS_RTOL = 1e-9
ROBUST_RTOL = 1e-7
R_TIGHT = {"maxit": 500, "acc": 1e-12}  # fit_reference.R's settings for the tight robust fits

CASES = {
    "ols": dict(method="ols"),
    "wls": dict(method="ols", weights="w"),
    "huber": dict(method="huber", **R_TIGHT),
    "bisquare": dict(method="bisquare", **R_TIGHT),
    "huber_weighted": dict(method="huber", weights="w", **R_TIGHT),
    "bisquare_weighted": dict(method="bisquare", weights="w", **R_TIGHT),
    "huber_case_weighted": dict(method="huber", weights="w", weight_type="case", **R_TIGHT),
    "huber_weighted_r_defaults": dict(method="huber", weights="w", r_defaults=True),
    "ols_params_cinic": dict(method="ols", where='train_set == "cinic10"'),
}
LS_CASES = ["ols", "wls", "ols_params_cinic"]
ROBUST_CASES = [k for k in CASES if k not in LS_CASES]


def close(actual, expected, rtol):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    atol = rtol * np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def fits():
    out = {}
    for key, kwargs in CASES.items():
        formula = R["formula_params"] if key == "ols_params_cinic" else FORMULA
        out[key] = ps.fit(formula, CSV, **kwargs)
    return out


def tol(key):
    return LS_RTOL if key in LS_CASES else ROBUST_RTOL


def by_term(result):
    return {name.replace(" ", ""): i for i, name in enumerate(result.params.index)}


COEF_FIELDS = ["estimate", "std_error", "t_value", "p_value", "ci_low", "ci_high"]


@pytest.mark.parametrize("field", COEF_FIELDS)
@pytest.mark.parametrize("key", list(CASES))
def test_coefficients(fits, key, field):
    res = fits[key]
    ci = res.conf_int()
    ours = {
        "estimate": res.params, "std_error": res.bse, "t_value": res.tvalues, "p_value": res.pvalues,
        "ci_low": ci.iloc[:, 0], "ci_high": ci.iloc[:, 1],
    }[field]
    ref = R[key]["coefficients"]
    index = by_term(res)
    assert sorted(index) == sorted(r["term"] for r in ref), "term names differ from R's"
    got = [ours.iloc[index[r["term"]]] for r in ref]
    want = [r[field] for r in ref]
    if field == "p_value":  # p-values span 300 orders of magnitude: compare each relative to itself
        np.testing.assert_allclose(got, want, rtol=tol(key) * 10, atol=0)
    else:
        close(got, want, tol(key))


@pytest.mark.parametrize("field", ["fitted", "residuals"])
@pytest.mark.parametrize("key", list(CASES))
def test_fitted_and_residuals(fits, key, field):
    res = fits[key]
    ours = res.fittedvalues if field == "fitted" else res.resid
    close(ours, R[key][field], tol(key))


@pytest.mark.parametrize("key", LS_CASES)
def test_least_squares_summary(fits, key):
    res, ref = fits[key], R[key]
    s = res.ls_summary
    close([res.scale, s.rsquared, s.rsquared_adj, s.fvalue], [ref["sigma"], ref["r_squared"], ref["adj_r_squared"],
                                                              ref["fstatistic"][0]], LS_RTOL)
    assert res.df_resid == ref["df_residual"]
    assert s.f_df == (ref["fstatistic"][1], ref["fstatistic"][2])


@pytest.mark.parametrize("kind", ["HC0", "HC1", "HC3"])
@pytest.mark.parametrize("key", LS_CASES)
def test_hc_standard_errors(key, kind):
    formula = R["formula_params"] if key == "ols_params_cinic" else FORMULA
    res = ps.fit(formula, CSV, vcov=kind, **{k: v for k, v in CASES[key].items() if k != "method"})
    ref = R[key]["hc_se"][kind]
    index = by_term(res)
    close([res.bse.iloc[index[t]] for t in ref], list(ref.values()), LS_RTOL)
    assert res.vcov == kind


BP_CASES = [
    ("ols", "bptest_studentized", dict(studentize=True)),
    ("ols", "bptest_classic", dict(studentize=False)),
    ("ols", "bptest_studentized", dict(studentize=True, whitened=True)),  # unweighted: identical
    ("wls", "bptest_studentized", dict(studentize=True, whitened=False)),
    ("wls", "bptest_classic", dict(studentize=False, whitened=False)),
    ("wls", "bptest_whitened", dict(studentize=True, whitened=True)),
    ("wls", "bptest_whitened", dict(studentize=True)),  # the default for a weighted fit
    ("ols_params_cinic", "bptest_studentized", dict(studentize=True)),
    ("ols_params_cinic", "bptest_classic", dict(studentize=False)),
]


@pytest.mark.parametrize(("key", "variant", "kwargs"), BP_CASES)
def test_breusch_pagan(fits, key, variant, kwargs):
    bp = ps.breusch_pagan(fits[key], **kwargs)
    ref = R[key][variant]
    close([bp.statistic], [ref["statistic"]], LS_RTOL)
    assert bp.df == ref["df"]
    if ref["p_value"] > 1e-300:
        np.testing.assert_allclose(bp.pvalue, ref["p_value"], rtol=1e-8)
    else:
        assert bp.pvalue < 1e-300


def test_breusch_pagan_of_robust_fit_tests_its_least_squares_fit(fits):
    bp = ps.breusch_pagan(fits["huber_weighted"], whitened=True)
    close([bp.statistic], [R["wls"]["bptest_whitened"]["statistic"]], LS_RTOL)


@pytest.mark.parametrize("key", ROBUST_CASES)
def test_robust_scale_weights_convergence(fits, key, monkeypatch):
    res, ref = fits[key], R[key]
    close([res.scale], [ref["scale"]], ROBUST_RTOL)
    close(res.weights, ref["weights"], ROBUST_RTOL)
    assert res.converged == ref["converged"]
    if CASES[key].get("r_defaults"):
        assert res.n_iter == ref["iterations"]  # same algorithm, same settings: the same path
        return
    assert res.n_iter <= ref["iterations"]  # the Newton tail ends it sooner
    monkeypatch.setattr(irwls_module, "NEWTON_SWITCH", 0.0)  # MASS's iteration throughout: R's path
    plain = ps.fit(FORMULA, CSV, **CASES[key])
    close([plain.scale], [ref["scale"]], ROBUST_RTOL)
    assert (plain.n_iter, plain.converged) == (ref["iterations"], ref["converged"])


def test_term_names_are_rs(fits):
    assert list(fits["ols"].params.index)[:3] == ["(Intercept)", "I(log2(TS) - IXMin)", "mix1"]
    assert fits["ols"].term("I(log2(TS)-IXMin):CinicTr1:CinicEv1") == "I(log2(TS) - IXMin):CinicTr1:CinicEv1"


def test_table_sorted_by_abs_t_in_seed_columns(fits):
    tab = fits["wls"].table()
    assert list(tab.columns) == ["Estimate", "2.5 %", "97.5 %", "Std. Error", "t value", "Pr(>|t|)"]
    t = tab["t value"].abs().to_numpy()
    assert np.all(np.diff(t) <= 0)
    assert list(fits["wls"].table(sort="none").index) == list(fits["wls"].params.index)


def test_result_is_frozen(fits):
    res = fits["ols"]
    with pytest.raises(AttributeError):
        res.scale = 1.0
    with pytest.raises(ValueError):
        res.resid[0] = 0.0


def test_json_document_has_the_documented_keys(fits):
    doc = fits["huber_weighted"].to_dict(breusch_pagan=ps.breusch_pagan(fits["huber_weighted"]))
    for key in ["method", "formula", "nobs", "df_resid", "scale", "converged", "n_iter", "dropped_rows", "coefficients",
                "breusch_pagan"]:
        assert key in doc
    assert set(doc["coefficients"][0]) == {"term", "estimate", "std_error", "t_value", "p_value", "ci_low", "ci_high"}
    assert set(doc["breusch_pagan"]) == {"statistic", "df", "p_value", "method"}
    json.dumps(doc, allow_nan=False)
