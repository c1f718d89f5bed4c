"""Issue 12's silent wrong answers and R-parity defects, items 1-9: one test (or a few) per item,
each against R's own answer on R's own data (tests/data/r_datasets/r_refs.json, written by
make_r_refs.R) or against NIST's data. Only the public API: ``ps.fit``, the result's attributes,
the CLI's ``app``.

Tolerances (relative, with an absolute floor of the same size times the largest |value|):
- least squares and sandwich SEs: 1e-9. R and we solve the same problems by QR in double
  precision; we see 1e-13 to 1e-15 on these tables, so 1e-9 leaves room for BLAS only.
- M-estimates converged tightly (R: acc 1e-12, maxit 1000): 1e-7. The optimum is only determined
  to about sqrt(acc) in the weights of observations near the Huber corner; the issue's goal for
  the ill-conditioned Longley and Wampler4 designs is this same 1e-7.
- MM against lmrob at its defaults: R stops its S refinement at refine.tol 1e-7, from candidates
  that depend on its random subsamples (R's own scale moves by 2-4e-7 between seeds on mtcars and
  stackloss). With R's stopping rules reproduced, phones (where the refinement ends at the same
  point from any start) agrees to 1e-8; hills and stackloss to 5e-7. Our tight MM is compared with
  the same lmrob fit at 1e-6 (it converges past R's stopping point).
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from refdata import R_REFS, assert_close, compact, nist_table, num, r_table
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.errors import PowerlawStatsError

LS_RTOL = 1e-9
ROBUST_RTOL = 1e-7
TIGHT = {"acc": 1e-12, "maxit": 1000}  # make_r_refs.R's TIGHT
MM_TIGHT_RTOL = 1e-6
MM_R_DEFAULTS_RTOL = {"phones": 1e-8, "hills": 5e-7, "stackloss": 5e-7}
STACKLOSS = 'Q("stack.loss") ~ Q("Air.Flow") + Q("Water.Temp") + Q("Acid.Conc.")'


def coefs(ref: dict, field: str = "estimate") -> np.ndarray:
    return num(ref["coefficients"][field])


def quiet_fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ps.fit(*args, **kwargs)


# ----------------------------------------------------------------------------- 1. ^ is a power


def test_1_caret_inside_I_is_a_power_on_an_integer_column():
    # today: I(hp^2) is Python's XOR on the integer column hp: -0.0317 instead of R's -6.595e-05
    ref = R_REFS["mtcars_hp2"]["lm"]
    res = ps.fit("mpg ~ wt + I(hp^2)", r_table("mtcars"))
    assert [compact(n) for n in res.params.index] == ref["coefficients"]["term"]
    assert_close(res.params, coefs(ref), LS_RTOL)
    assert_close(res.bse, coefs(ref, "std_error"), LS_RTOL)


def test_1_caret_inside_I_is_a_power_on_a_float_column():
    # today: a confusing "Cannot perform 'xor' with a dtyped [float64] array" error
    ref = R_REFS["mtcars_wt2"]["lm"]
    res = ps.fit("mpg ~ wt + I(wt^2)", r_table("mtcars"))
    assert_close(res.params, coefs(ref), LS_RTOL)


def test_1_caret_in_weights_and_let_is_a_power():
    mtcars = r_table("mtcars")
    by_caret = ps.fit("mpg ~ wt", mtcars, weights="1/hp^2")
    by_python = ps.fit("mpg ~ wt", mtcars, weights="1/hp**2")
    assert_close(by_caret.params, by_python.params, LS_RTOL)
    ref = R_REFS["mtcars_hp2"]["lm"]
    res = ps.fit("mpg ~ wt + hp2", mtcars, let=["hp2=hp^2"])
    assert_close(res.params, coefs(ref), LS_RTOL)


# ----------------------------------------------------------------------------- 2. cluster column in the formula


def test_2_cluster_column_also_in_formula_with_na_rows():
    # today: pandas' "truth value of a Series is ambiguous" (a 53-line traceback from the CLI)
    ref = R_REFS["airquality_month"]
    res = ps.fit("Ozone ~ Wind + C(Month)", r_table("airquality"), cluster="Month")
    assert res.nobs == ref["lm"]["nobs"]
    assert_close(res.params, coefs(ref["lm"]), LS_RTOL)
    # sandwich::vcovCL(type = "HC1", cadjust = TRUE) is G/(G-1) (n-1)/(n-p) times the clustered sandwich: our CR1
    assert_close(res.bse, num(ref["cr1_month"]), LS_RTOL)


def test_2_cluster_column_in_formula_from_the_cli(tmp_path):
    path = tmp_path / "airquality.csv"
    r_table("airquality").to_csv(path, index=False)
    out = CliRunner().invoke(app, ["fit", str(path), "-f", "Ozone ~ Wind + C(Month)", "--cluster", "Month", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output


# ----------------------------------------------------------------------------- 3. R's na.omit


def test_3_quoted_name_with_na_rows_is_dropped_as_na():
    # today: refused as "Q("Solar.R") is not finite in 5 of 116 rows"
    ref = R_REFS["airquality_solar"]["lm"]
    res = ps.fit('Ozone ~ Q("Solar.R")', r_table("airquality"))
    assert res.nobs == ref["nobs"]
    assert_close(res.params, coefs(ref), LS_RTOL)


def test_3_dropped_rows_counts_rows_not_na_cells():
    # today: 44 (37 NA in Ozone + 7 in Solar.R) where R dropped 42 rows
    ref = R_REFS["airquality_solar"]
    res = ps.fit('Ozone ~ Q("Solar.R")', r_table("airquality"))
    assert res.dropped_rows == ref["n_source"] - ref["lm"]["nobs"] == ref["lm"]["n_dropped"] == 42


def test_3_na_in_the_weight_column_drops_the_row_as_r_does():
    # today: WeightsError "19 values are NaN or infinite"; R (and docs/formulas.md) drop those rows
    ref = R_REFS["airquality_na_weights"]["lm"]
    aq = r_table("airquality")
    aq["w"] = np.where(aq["Day"] % 5 == 0, np.nan, 1 / aq["Temp"])
    res = ps.fit("Ozone ~ Wind", aq, weights="w")
    assert res.nobs == ref["nobs"]
    assert_close(res.params, coefs(ref), LS_RTOL)
    assert_close(res.bse, coefs(ref, "std_error"), LS_RTOL)


def test_3_log_of_a_negative_value_drops_the_row_with_a_warning_that_counts_it():
    # R: log(-1) is NaN with a warning, and lm's na.omit drops the row. Today the fit stops instead.
    ref = R_REFS["log_negative"]
    data = pd.DataFrame(ref["data"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ps.fit("y ~ log(x)", data)
    assert res.nobs == ref["lm"]["nobs"] == len(data) - 1
    assert_close(res.params, coefs(ref["lm"]), LS_RTOL)
    messages = [str(w.message) for w in caught]
    assert any(re.search(r"\b1 row", m) for m in messages), messages


def _row_numbers(message: str) -> set[int]:
    tail = message.split("row", 1)[1] if "row" in message else ""
    return {int(n) for n in re.findall(r"\d+", tail)}


def test_3_row_numbers_in_messages_are_one_based_negative_weight():
    data = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "x": [1.0, 2, 4, 3, 5, 7], "w": [1.0, 1, -1, 1, 1, 1]})
    with pytest.raises(PowerlawStatsError) as err:
        ps.fit("y ~ x", data, weights="w")
    rows = _row_numbers(str(err.value))
    assert 3 in rows and 2 not in rows, str(err.value)  # the third data row, not position 2


def test_3_row_numbers_in_messages_are_one_based_na_fail():
    aq = r_table("airquality")  # Ozone is NA in data rows 5, 10, 25, 26, 27 (1-based)
    with pytest.raises(PowerlawStatsError) as err:
        ps.fit("Ozone ~ Wind", aq, na="fail")
    first = sorted(np.flatnonzero(aq["Ozone"].isna().to_numpy())[:5] + 1)
    rows = _row_numbers(str(err.value))
    assert set(first) <= rows and 4 not in rows, str(err.value)


# ----------------------------------------------------------------------------- 4. rank decisions and scale


def test_4_mm_fits_pontius_whose_x_is_near_a_million():
    # NIST Pontius: x ~ 1e6, so x^2 ~ 1e12. Was "the design is singular"; R's lmrob fits it.
    ref = R_REFS["pontius_mm"]["lmrob"]
    res = quiet_fit("y ~ x + I(x**2)", nist_table("Pontius"), method="mm")
    assert_close(res.params, coefs(ref), MM_TIGHT_RTOL)
    assert_close(res.bse, coefs(ref, "std_error"), MM_TIGHT_RTOL)
    assert_close(res.scale, num(ref["scale"]), MM_TIGHT_RTOL)


def test_4_rank_decision_does_not_depend_on_units():
    # the same model with x in millions: every method must fit both, with the same fitted values
    pontius = nist_table("Pontius")
    scaled = pontius.assign(x=pontius["x"] / 1e6)
    for method in ("ols", "huber", "bisquare", "mm"):
        raw = quiet_fit("y ~ x + I(x**2)", pontius, method=method)
        small = quiet_fit("y ~ x + I(x**2)", scaled, method=method)
        assert_close(np.asarray(raw.fittedvalues), np.asarray(small.fittedvalues), 1e-8, method)


# ----------------------------------------------------------------------------- 5. R's names


def test_5_factor_has_rs_names():
    ref = R_REFS["mtcars_factor_am"]["lm"]
    res = ps.fit("mpg ~ 0 + factor(am)", r_table("mtcars"))
    assert list(res.params.index) == ref["coefficients"]["term"] == ["factor(am)0", "factor(am)1"]
    assert_close(res.params, coefs(ref), LS_RTOL)


def test_5_factor_with_intercept_has_rs_names():
    ref = R_REFS["mtcars_factor_cyl"]["lm"]
    res = ps.fit("mpg ~ wt + factor(cyl)", r_table("mtcars"))
    assert list(res.params.index) == ref["coefficients"]["term"]
    assert_close(res.params, coefs(ref), LS_RTOL)


def test_5_as_factor_is_accepted_with_rs_names():
    res = ps.fit("mpg ~ 0 + as.factor(am)", r_table("mtcars"))
    assert list(res.params.index) == ["as.factor(am)0", "as.factor(am)1"]


def test_5_no_bracketed_names_anywhere():
    # today: C(am)[0], C(am)[1]
    names = list(ps.fit("mpg ~ 0 + C(am)", r_table("mtcars")).params.index)
    names += list(ps.fit("mpg ~ C(cyl) + wt", r_table("mtcars")).params.index)
    assert not [n for n in names if "[" in n or "]" in n], names


# ----------------------------------------------------------------------------- 6. robust fits on ill-conditioned designs

ILL_CONDITIONED = {
    "longley_nist": ("y ~ x1 + x2 + x3 + x4 + x5 + x6", "Longley"),
    "wampler4": ("y ~ x + I(x**2) + I(x**3) + I(x**4) + I(x**5)", "Wampler4"),
}


@pytest.mark.parametrize("psi", ["huber", "bisquare"])
@pytest.mark.parametrize("case", sorted(ILL_CONDITIONED))
def test_6_robust_fits_on_ill_conditioned_designs_match_r(case, psi):
    # today on Longley: 1.9e-7 (Huber) and 1.1e-6 (bisquare) from R; Wampler4 Huber 2.7e-7
    # every coefficient to 1e-7 of itself: Longley's run from 3e6 to 0.03, so no floor from the largest
    formula, table = ILL_CONDITIONED[case]
    ref = R_REFS[case][f"{psi}_tight"]
    res = quiet_fit(formula, nist_table(table), method=psi, **TIGHT)
    np.testing.assert_allclose(res.params, coefs(ref), rtol=ROBUST_RTOL, err_msg="estimates")
    np.testing.assert_allclose(res.bse, coefs(ref, "std_error"), rtol=ROBUST_RTOL, err_msg="standard errors")
    np.testing.assert_allclose(res.scale, num(ref["scale"]), rtol=ROBUST_RTOL, err_msg="scale")


@pytest.mark.parametrize("psi", ["huber", "bisquare"])
def test_6_robust_fits_on_longley_converge_at_the_default_tolerance(psi):
    # today: 200 iterations without meeting acc 1e-10 (each step's normal equations square the condition number)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ps.fit("y ~ x1 + x2 + x3 + x4 + x5 + x6", nist_table("Longley"), method=psi)
    assert res.converged and res.n_iter < 200
    assert not [w for w in caught if "converge" in str(w.message)]


def test_6_huber_with_all_weights_one_is_least_squares_to_the_last_digits():
    # Wampler4: every Huber weight is 1, so Huber's one IRWLS step is the least-squares solve itself
    formula, table = ILL_CONDITIONED["wampler4"]
    data = nist_table(table)
    huber = ps.fit(formula, data, method="huber")
    ols = ps.fit(formula, data)
    assert np.all(np.asarray(huber.weights) == 1.0)
    assert_close(huber.params, ols.params, 1e-10)


# ----------------------------------------------------------------------------- 7. refuse what R refuses


def test_7_constant_response_is_refused_or_reported_as_r_does():
    # today: R-squared -inf and F = -2 (R: "essentially perfect fit" warning, R-squared NaN or noise)
    data = pd.DataFrame(R_REFS["constant_response"]["data"])
    try:
        res = quiet_fit("y ~ x", data)
    except PowerlawStatsError as exc:
        assert len(str(exc).splitlines()) == 1
        return
    s = res.ls_summary
    assert math.isnan(s.rsquared) or 0.0 <= s.rsquared <= 1.0, s.rsquared
    assert math.isnan(s.fvalue) or s.fvalue >= 0.0, s.fvalue


def test_7_string_response_is_refused():
    # today: a 0/1 dummy of the first level is fitted silently
    with pytest.raises(PowerlawStatsError, match="group"):
        ps.fit("group ~ weight", r_table("PlantGrowth"))


def test_7_least_squares_case_weights_are_applied_or_refused():
    # today: --weight-type case is silently ignored by OLS (inverse-variance weights used instead)
    ref = R_REFS["mtcars_case_weights"]["lm"]
    try:
        res = ps.fit("mpg ~ wt", r_table("mtcars"), weights="cyl", weight_type="case")
    except PowerlawStatsError:
        return
    assert res.df_resid == ref["df_resid"]
    assert_close(res.params, coefs(ref), LS_RTOL)
    assert_close(res.bse, coefs(ref, "std_error"), LS_RTOL)


# ----------------------------------------------------------------------------- 8. conf_int(alpha)


def test_8_conf_int_takes_alpha_as_statsmodels_does():
    ref = R_REFS["mtcars_hp2"]["lm"]
    res = ps.fit("mpg ~ wt + I(hp**2)", r_table("mtcars"))  # ** so that item 1 does not decide this test
    assert_close(res.conf_int(alpha=0.05).to_numpy(), num(ref["confint_95"]), LS_RTOL)
    assert_close(res.conf_int(0.10).to_numpy(), num(ref["confint_90"]), LS_RTOL)  # positional: alpha, not level


def test_8_conf_int_default_is_the_fits_level():
    ref = R_REFS["mtcars_hp2"]["lm"]
    res = ps.fit("mpg ~ wt + I(hp**2)", r_table("mtcars"), level=0.90)
    assert_close(res.conf_int().to_numpy(), num(ref["confint_90"]), LS_RTOL)


# ----------------------------------------------------------------------------- 9. lmrob's defaults

R_DEFAULT_CASES = {"phones": ("calls ~ year", "phones"), "hills": ("time ~ dist + climb", "hills"),
                   "stackloss": (STACKLOSS, "stackloss")}


@pytest.mark.parametrize("case", sorted(R_DEFAULT_CASES))
def test_9_r_defaults_reproduce_lmrob_defaults(case):
    # today the S step iterates to a tight optimum even with r_defaults: 2-3e-6 from R's scale
    formula, table = R_DEFAULT_CASES[case]
    ref = R_REFS[case]["lmrob"]
    res = quiet_fit(formula, r_table(table), method="mm", r_defaults=True)
    rtol = MM_R_DEFAULTS_RTOL[case]
    assert_close(res.scale, num(ref["scale"]), rtol, "S scale")
    assert_close(res.params, coefs(ref), rtol, "estimates")
    assert res.n_iter == ref["n_iter"]
