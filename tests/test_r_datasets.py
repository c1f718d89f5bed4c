"""R's own data sets fitted by R and by us: lm (with summary.lm's statistics), sandwich's HC
standard errors, lmtest's bptest, MASS::rlm Huber and bisquare (tight and at MASS's defaults, with
the iteration count), robustbase::lmrob. References: tests/data/r_datasets/r_refs.json
(make_r_refs.R). Coefficients are compared in R's order; formulas spell R's ``I(hp^2)`` as
``I(hp**2)`` and R's dotted names as ``Q("...")`` so that these comparisons do not depend on
issue 12's items 1 and 5, which have their own tests (test_r_parity_items.py).

Tolerances (relative, with an absolute floor of the same size times the largest |value|):
- least squares, HC standard errors, Breusch–Pagan: 1e-9 (both sides solve the same QR problem
  in double precision; we see 1e-13 to 1e-15). Except Longley's HC standard errors: R's sandwich
  is 3e-9 to 3.5e-8 from the exact values there (condition number about 5e9), so ours are compared
  with a 50-digit computation (longley_hc_mp.json, make_longley_hc.py) at 1e-10 (we see 5e-12),
  and R's with the same at 1e-7 to show the reference is right. HC3 divides by (1 - h_i)^2 with
  leverages from (X'X)^-1, which loses digits on this design: ours are 4.6e-9 from exact, R's
  5.0e-9, so HC3 gets 1e-8 (leverages from the QR's Q would keep it near 1e-12).
- rlm, tight (acc 1e-12) and at MASS's defaults (acc 1e-4, maxit 20; the same iterations, counted
  alike): 1e-7, as in test_core_r.py. At MASS's defaults the iteration count is R's; at the tight
  setting our IRWLS ends in Newton steps (estimation/irwls.py, NEWTON_SWITCH), so it takes at most
  R's count, and with that tail switched off it takes exactly R's.
- our tight MM against lmrob at its defaults: 5e-6. lmrob stops its S refinement at refine.tol
  1e-7 on the coefficients; where that refinement converges slowly its S scale is still 1-3e-6
  from the optimum we iterate to (hills, phones, stackloss), and the M-step inherits that scale.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from refdata import R_DIR, R_REFS, assert_close, compact, num, r_table

import powerlaw_stats as ps
from powerlaw_stats.estimation import irwls as irwls_module

LS_RTOL = 1e-9
EXACT_HC_RTOL = {"HC0": 1e-10, "HC1": 1e-10, "HC3": 1e-8}
R_HC_RTOL = 1e-7  # R's sandwich on Longley against the 50-digit answer
LONGLEY_HC = json.loads((R_DIR / "longley_hc_mp.json").read_text())
ROBUST_RTOL = 1e-7
MM_RTOL = 5e-6
TIGHT = {"acc": 1e-12, "maxit": 1000}

CASES = {  # reference key: (our formula, table)
    "mtcars_hp2": ("mpg ~ wt + I(hp**2)", "mtcars"),
    "stackloss": ('Q("stack.loss") ~ Q("Air.Flow") + Q("Water.Temp") + Q("Acid.Conc.")', "stackloss"),
    "hills": ("time ~ dist + climb", "hills"),
    "phones": ("calls ~ year", "phones"),
    "plantgrowth": ("weight ~ group", "PlantGrowth"),
    "longley": ('Employed ~ Q("GNP.deflator") + GNP + Unemployed + Q("Armed.Forces") + Population + Year', "longley"),
    "airquality_month": ("Ozone ~ Wind + C(Month)", "airquality"),
    "mtcars_summary": ("mpg ~ wt + qsec", "mtcars"),
}
ROBUST_CASES = ["mtcars_hp2", "stackloss", "hills", "phones", "plantgrowth"]
SAME_NAMES = ["hills", "phones", "plantgrowth", "mtcars_summary"]  # no Q(), C() or ** in the formula
ROBUST = {"huber_tight": ("huber", TIGHT), "bisquare_tight": ("bisquare", TIGHT),
          "huber_r_defaults": ("huber", {"r_defaults": True}), "bisquare_r_defaults": ("bisquare", {"r_defaults": True})}


def fit(case: str, **kwargs):
    formula, table = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MASS's defaults do not converge on phones: R warns too
        return ps.fit(formula, r_table(table), **kwargs)


@pytest.fixture(scope="module")
def ols() -> dict:
    return {case: fit(case) for case in CASES}


# ----------------------------------------------------------------------------- least squares


@pytest.mark.parametrize("case", sorted(CASES))
def test_lm_coefficient_table(ols, case):
    ref = R_REFS[case]["lm"]["coefficients"]
    res = ols[case]
    for ours, field in ((res.params, "estimate"), (res.bse, "std_error"), (res.tvalues, "t_value"), (res.pvalues, "p_value")):
        assert_close(ours, num(ref[field]), LS_RTOL, field)


@pytest.mark.parametrize("case", sorted(CASES))
def test_lm_summary_statistics(ols, case):
    ref = R_REFS[case]["lm"]
    res, s = ols[case], ols[case].ls_summary
    assert res.nobs == ref["nobs"] and res.df_resid == ref["df_resid"]
    assert_close([res.scale, s.rsquared, s.rsquared_adj], num([ref["sigma"], ref["r_squared"], ref["adj_r_squared"]]), LS_RTOL)
    f = ref["fstatistic"]
    assert s.f_df == (num(f["numdf"]), num(f["dendf"]))
    assert_close([s.fvalue, s.f_pvalue], num([f["value"], f["p_value"]]), LS_RTOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_lm_confidence_intervals(ols, case):
    ref = R_REFS[case]["lm"]
    assert_close(ols[case].conf_int().to_numpy(), num(ref["confint_95"]), LS_RTOL)


@pytest.mark.parametrize("case", SAME_NAMES)
def test_lm_term_names_are_rs(ols, case):
    assert [compact(n) for n in ols[case].params.index] == R_REFS[case]["lm"]["coefficients"]["term"]


@pytest.mark.parametrize("kind", ["HC0", "HC1", "HC3"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sandwich_hc_standard_errors(case, kind):
    ours = fit(case, vcov=kind).bse
    if case == "longley":
        exact = num(LONGLEY_HC[kind])
        np.testing.assert_allclose(ours, exact, rtol=EXACT_HC_RTOL[kind], err_msg=kind)
        np.testing.assert_allclose(num(R_REFS[case]["lm"][kind]), exact, rtol=R_HC_RTOL, err_msg=f"R's {kind}")
        return
    assert_close(ours, num(R_REFS[case]["lm"][kind]), LS_RTOL, kind)


@pytest.mark.parametrize("case", [c for c in sorted(CASES) if "bptest" in R_REFS[c]])
def test_breusch_pagan_matches_lmtest(ols, case):
    ref = R_REFS[case]["bptest"]
    for key, studentize in (("studentized", True), ("classic", False)):
        bp = ps.breusch_pagan(ols[case], studentize=studentize, whitened=False)
        assert bp.df == ref[key]["df"]
        assert_close([bp.statistic, bp.pvalue], num([ref[key]["statistic"], ref[key]["p_value"]]), LS_RTOL, key)


# ----------------------------------------------------------------------------- rlm and lmrob


@pytest.mark.parametrize("tail", ["newton", "irwls only"])
@pytest.mark.parametrize("variant", sorted(ROBUST))
@pytest.mark.parametrize("case", ROBUST_CASES)
def test_rlm(case, variant, tail, monkeypatch):
    if tail == "irwls only":  # MASS's iteration throughout: R's path step for step
        monkeypatch.setattr(irwls_module, "NEWTON_SWITCH", 0.0)
    psi, settings = ROBUST[variant]
    ref = R_REFS[case][variant]
    res = fit(case, method=psi, **settings)
    assert_close(res.params, num(ref["coefficients"]["estimate"]), ROBUST_RTOL, "estimates")
    assert_close(res.bse, num(ref["coefficients"]["std_error"]), ROBUST_RTOL, "standard errors")
    assert_close(res.scale, num(ref["scale"]), ROBUST_RTOL, "scale")
    assert_close(np.asarray(res.weights), num(ref["weights"]), ROBUST_RTOL, "weights")
    assert_close(np.asarray(res.resid), num(ref["resid"]), ROBUST_RTOL, "residuals")
    assert res.converged == ref["converged"]
    assert_same_path(res.n_iter, ref["n_iter"], tail, variant)


def assert_same_path(ours: int, r: int, tail: str, variant: str) -> None:
    """R's iteration count where we run MASS's iteration; at most R's where the Newton tail ends it."""
    if tail == "newton" and "tight" in variant:
        assert ours <= r
    else:
        assert ours == r


@pytest.mark.parametrize("tail", ["newton", "irwls only"])
def test_rlm_huber_proposal2_scale(tail, monkeypatch):
    if tail == "irwls only":
        monkeypatch.setattr(irwls_module, "NEWTON_SWITCH", 0.0)
    for key, settings in (("huber_proposal2_tight", TIGHT), ("huber_proposal2_r_defaults", {"r_defaults": True})):
        ref = R_REFS["stackloss"][key]
        res = fit("stackloss", method="huber", scale_est="proposal2", **settings)
        assert_close(res.params, num(ref["coefficients"]["estimate"]), ROBUST_RTOL, key)
        assert_close(res.bse, num(ref["coefficients"]["std_error"]), ROBUST_RTOL, key)
        assert_close(res.scale, num(ref["scale"]), ROBUST_RTOL, key)
        assert_same_path(res.n_iter, ref["n_iter"], tail, key)


@pytest.mark.parametrize("case", ROBUST_CASES)
def test_lmrob(case):
    ref = R_REFS[case]["lmrob"]
    res = fit(case, method="mm")
    assert_close(res.params, num(ref["coefficients"]["estimate"]), MM_RTOL, "estimates")
    assert_close(res.bse, num(ref["coefficients"]["std_error"]), MM_RTOL, "standard errors")
    assert_close(res.scale, num(ref["scale"]), MM_RTOL, "S scale")
    assert_close(np.asarray(res.weights), num(ref["weights"]), MM_RTOL, "robustness weights")
