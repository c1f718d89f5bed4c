"""MM-estimation: robustbase's lmrob on curves_a, seed independence, equivariance, bad leverage.

Tolerances:
- against lmrob (estimates, scale, standard errors, t, p, CI): 1e-6 relative, with an absolute
  floor of 1e-6 times the largest |value|. lmrob stops its M-step at a relative change of 1e-7
  (rel.tol), so its estimates carry errors of that order; we iterate to 1e-12 and see 1.3e-8.
- between subsampling seeds: 1e-8 absolute. The refined S optimum is a fixed point found to
  1e-12; different seeds start the refinement from different subsets but reach the same optimum.
- equivariance: 1e-9 relative; the same seed gives the same subsets, so only rounding differs.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import OptionError, SingularDesignError
from powerlaw_stats.estimation.mm import MMControl, chi, m_scale, mm_covariance, mm_estimate, s_estimate

DATA = Path(__file__).parent / "data"
R = json.loads((DATA / "curves_a.R.json").read_text())
CSV = DATA / "curves_a.csv"
FORMULA = R["formula_main"]
LMROB_RTOL = 1e-6
SEED_ATOL = 1e-8
EQUIVARIANCE_RTOL = 1e-9


@pytest.fixture(scope="module")
def mm_fit():
    return ps.fit(FORMULA, CSV, method="mm", weights="w")


def reference(field):
    rows = R["mm_weighted"]["coefficients"]
    return {r["term"]: r[field] for r in rows}


def close(actual, expected, rtol):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


@pytest.mark.parametrize("field", ["estimate", "std_error", "t_value", "p_value", "ci_low", "ci_high"])
def test_matches_lmrob(mm_fit, field):
    ci = mm_fit.conf_int()
    ours = {"estimate": mm_fit.params, "std_error": mm_fit.bse, "t_value": mm_fit.tvalues, "p_value": mm_fit.pvalues,
            "ci_low": ci.iloc[:, 0], "ci_high": ci.iloc[:, 1]}[field]
    ref = reference(field)
    names = [n.replace(" ", "") for n in ours.index]
    assert sorted(names) == sorted(ref)
    expected = [ref[n] for n in names]
    if field == "p_value":  # tiny p-values: compare where R did not print 0
        keep = [i for i, e in enumerate(expected) if e > 1e-300]
        close(ours.to_numpy()[keep], np.array(expected)[keep], LMROB_RTOL)
    else:
        close(ours.to_numpy(), expected, LMROB_RTOL)


def test_scale_and_result_fields(mm_fit):
    close([mm_fit.scale], [R["mm_weighted"]["scale"]], LMROB_RTOL)
    assert mm_fit.method == "mm" and mm_fit.converged and mm_fit.n_iter > 0
    assert mm_fit.vcov == "lmrob (avar1)" and mm_fit.df_resid == R["n"] - 10 and mm_fit.nobs == R["n"]
    assert np.all((mm_fit.weights >= 0) & (mm_fit.weights <= 1))
    assert mm_fit.tuning == pytest.approx(4.685061)
    np.testing.assert_allclose(mm_fit.fittedvalues + mm_fit.resid, mm_fit.design.y)
    doc = mm_fit.to_dict()
    assert doc["method"] == "mm" and len(doc["coefficients"]) == 10


@pytest.mark.parametrize("seed", [2, 7, 12345])
def test_seed_does_not_matter(mm_fit, seed):
    other = ps.fit(FORMULA, CSV, method="mm", weights="w", seed=seed)
    np.testing.assert_allclose(other.params, mm_fit.params, rtol=0, atol=SEED_ATOL)
    np.testing.assert_allclose(other.bse, mm_fit.bse, rtol=0, atol=SEED_ATOL)
    assert abs(other.scale - mm_fit.scale) < SEED_ATOL


def bad_leverage_frame(seed=5, n=60, k=12):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 4, n)
    y = 1 + 2 * x + rng.normal(0, 0.3, n)
    # a fifth of the rows diverged far out in x with a low response: bad leverage points
    x[:k] = rng.normal(12, 0.2, k)
    y[:k] = rng.normal(2, 0.2, k)
    return pd.DataFrame({"x": x, "y": y})


def test_bad_leverage_bisquare_from_ls_misses_mm_recovers():
    frame = bad_leverage_frame()
    bisq = ps.fit("y ~ x", frame, method="bisquare")
    mm = ps.fit("y ~ x", frame, method="mm")
    assert abs(bisq.params["x"] - 2) > 1.5  # the least-squares start leads bisquare into the wrong basin
    assert abs(mm.params["x"] - 2) < 0.1
    lo, hi = mm.conf_int().loc["x"]
    assert lo < 2 < hi
    assert np.all(mm.weights[:12] < 1e-12)  # the leverage points get weight zero


def test_equivariance():
    frame = bad_leverage_frame(seed=11)
    base = ps.fit("y ~ x", frame, method="mm")
    moved = frame.assign(y=-3 * frame.y + 4 - 0.5 * frame.x)
    other = ps.fit("y ~ x", moved, method="mm")
    np.testing.assert_allclose(other.params.to_numpy(), -3 * base.params.to_numpy() + [4, -0.5], rtol=EQUIVARIANCE_RTOL)
    np.testing.assert_allclose(other.bse.to_numpy(), 3 * base.bse.to_numpy(), rtol=EQUIVARIANCE_RTOL)
    assert other.scale == pytest.approx(3 * base.scale, rel=EQUIVARIANCE_RTOL)


def test_batched_rows_equal_single_fits():
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(40), rng.normal(size=40)])
    y = x @ [1.0, -1.0] + rng.standard_t(2, size=(4, 40))
    batch = mm_estimate(x, y, rng=9)
    for t in range(4):
        one = mm_estimate(x, y[t:t + 1], rng=9)
        np.testing.assert_allclose(batch.coef[t], one.coef[0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(batch.scale[t], one.scale[0], rtol=1e-10)
    cov = mm_covariance(x, batch.resid, batch.s_resid, batch.scale)
    assert cov.shape == (4, 2, 2)
    assert np.all(np.linalg.eigvalsh(cov) >= -1e-15)


def test_m_scale_solves_its_equation():
    rng = np.random.default_rng(0)
    r = rng.standard_t(3, size=(5, 50))
    s = m_scale(r, 1.54764, 0.5, df=47)
    np.testing.assert_allclose(chi(r / s[:, None], 1.54764).sum(axis=1) / 47, 0.5, rtol=1e-12)


def test_s_estimate_has_breakdown():
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(100), rng.normal(size=100)])
    y = x @ [2.0, 1.0] + rng.normal(0, 0.1, 100)
    y[:40] = 50 + rng.normal(0, 0.1, 40)  # 40% gross outliers
    coef, scale, ok = s_estimate(x, y[None])
    np.testing.assert_allclose(coef[0], [2.0, 1.0], atol=0.1)
    assert ok[0] and scale[0] < 1


def test_zero_weights_are_set_aside():
    frame = bad_leverage_frame(seed=2).assign(w=1.0)
    frame.loc[20:24, "w"] = 0.0
    full = ps.fit("y ~ x", frame, method="mm", weights="w")
    dropped = ps.fit("y ~ x", frame[frame.w > 0], method="mm", weights="w")
    assert full.nobs == len(frame) - 5 and full.df_resid == dropped.df_resid
    np.testing.assert_allclose(full.params, dropped.params, rtol=1e-9)


def test_r_defaults_and_iteration_limit_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = ps.fit(FORMULA, CSV, method="mm", weights="w", maxit=2)
    assert not res.converged and any("did not converge" in str(w.message) for w in caught)
    loose = ps.fit(FORMULA, CSV, method="mm", weights="w", r_defaults=True)
    assert loose.control.maxit == 50 and loose.control.acc == 1e-7


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(weights="w", weight_type="case"), OptionError, "inverse variances"),
    (dict(formula="log_err ~ TS + I(2*TS)"), SingularDesignError, "singular"),
    (dict(vcov="HC3"), OptionError, "least squares"),
])
def test_errors(kwargs, error, text):
    formula = kwargs.pop("formula", FORMULA)
    with pytest.raises(error, match=text):
        ps.fit(formula, CSV, method="mm", **kwargs)


def test_control_validation():
    with pytest.raises(OptionError):
        MMControl(breakdown=0.7)


def test_simulate_compares_mm_in_the_same_table():
    sim = ps.simulate("log_err ~ I(log2(TS)-IXMin)*mix", CSV, weights="w", n_trials=6, seed=4,
                      estimators=("ols", "huber", "bisquare", "mm"), keep_responses=True)
    assert set(sim.summary["estimator"]) == {"ols", "huber", "bisquare", "mm"}
    row = sim.row("mm", "I(log2(TS)-IXMin):mix1")
    assert np.isfinite(row["se_ratio"]) and row["failures"] == 0
    # each simulated trial's batched MM equals fit(method="mm") on that response
    for t in (0, 5):
        frame = sim.data.assign(log_err=sim.responses[t])
        one = ps.fit("log_err ~ I(log2(TS)-IXMin)*mix", frame, method="mm", weights=sim.prior_weights)
        np.testing.assert_allclose(sim.estimates["mm"][t], one.params.to_numpy(), rtol=0, atol=SEED_ATOL)
        np.testing.assert_allclose(sim.std_errors["mm"][t], one.bse.to_numpy(), rtol=1e-6)
