"""Properties any correct implementation has, checked on random data with hypothesis.

Tolerance 1e-8 relative: the properties are exact in real arithmetic; reordering rows or scaling
weights changes only rounding, and IRWLS is converged to 1e-12 here so its optimum is stable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import powerlaw_stats as ps
from powerlaw_stats.errors import SingularDesignError

RTOL = 1e-8
FORMULA = "y ~ x * g"
TIGHT = {"maxit": 500, "acc": 1e-12}
METHODS = ["ols", "huber", "bisquare"]


def make_frame(seed: int, n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 5, n)
    g = np.array(["a", "b"])[rng.integers(0, 2, n)]
    g[:2] = ["a", "b"]
    y = 1 - 0.7 * x + 0.3 * (g == "b") * x + rng.standard_t(4, n) * 0.2
    return pd.DataFrame({"y": y, "x": x, "g": g, "trials": rng.integers(1, 9, n)})


def assert_same(a, b):
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(a.bse.to_numpy(), b.bse.to_numpy(), rtol=RTOL, atol=RTOL)


seeds = st.integers(0, 10_000)
quick = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("weights", [None, "1/trials"])
@pytest.mark.parametrize("method", METHODS)
@quick
@given(seed=seeds)
def test_row_order_does_not_matter(method, weights, seed):
    d = make_frame(seed)
    shuffled = d.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert_same(ps.fit(FORMULA, d, method, weights, **TIGHT), ps.fit(FORMULA, shuffled, method, weights, **TIGHT))


@pytest.mark.parametrize("method", METHODS)
@quick
@given(seed=seeds, c=st.floats(1e-3, 1e3))
def test_scaling_weights_changes_nothing(method, seed, c):
    d = make_frame(seed)
    w = 1 / d["trials"].to_numpy()
    assert_same(ps.fit(FORMULA, d, method, w, **TIGHT), ps.fit(FORMULA, d, method, c * w, **TIGHT))


@quick
@given(seed=seeds)
def test_huber_with_huge_k_is_least_squares(seed):
    d = make_frame(seed)
    huber = ps.fit(FORMULA, d, "huber", tuning=1e9, **TIGHT)
    ols = ps.fit(FORMULA, d, "ols")
    np.testing.assert_allclose(huber.params.to_numpy(), ols.params.to_numpy(), rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("method", METHODS)
@quick
@given(seed=seeds)
def test_unit_weights_equal_no_weights(method, seed):
    d = make_frame(seed)
    assert_same(ps.fit(FORMULA, d, method, np.ones(len(d)), **TIGHT), ps.fit(FORMULA, d, method, None, **TIGHT))


def test_aliased_column_is_na_as_in_r():
    d = make_frame(1).assign(x2=lambda f: 2 * f["x"])
    res = ps.fit("y ~ x + x2 + g", d)
    assert res.aliased == ("x2",)
    assert np.isnan(res.params["x2"]) and np.isnan(res.bse["x2"])
    assert res.df_resid == len(d) - 3
    full = ps.fit("y ~ x + g", d)
    np.testing.assert_allclose(res.params[["x", "gb"]].to_numpy(), full.params[["x", "gb"]].to_numpy(), rtol=1e-12)
    assert res.table().index[-1] == "x2"  # NA rows sort last


@pytest.mark.parametrize("method", ["huber", "bisquare"])
def test_robust_refuses_singular_design(method):
    d = make_frame(1).assign(x2=lambda f: 2 * f["x"])
    with pytest.raises(SingularDesignError, match="x2"):
        ps.fit("y ~ x + x2", d, method)


def test_na_rows_dropped_and_counted():
    d = make_frame(2)
    d.loc[[3, 7], "y"] = np.nan
    d.loc[5, "x"] = np.nan
    res = ps.fit("y ~ x", d)
    assert res.nobs == len(d) - 3 and res.dropped_rows == 3
    assert res.dropped_reasons == {"NA in y": 2, "NA in x": 1}
    with pytest.raises(ps.PowerlawStatsError, match="missing values"):
        ps.fit("y ~ x", d, na="fail")


def test_bool_and_string_columns_are_factors_with_r_names():
    d = make_frame(3).assign(flag=lambda f: f["x"] > 2)
    res = ps.fit("y ~ flag + g + C(trials > 4)", d)
    assert {"flagTRUE", "gb", "C(trials > 4)TRUE"} <= set(res.params.index)


def test_case_weights_r_style_df():
    d = make_frame(4)
    res = ps.fit("y ~ x", d, "huber", "trials", weight_type="case")
    assert res.df_resid == d["trials"].sum() - 2


def test_nonconvergence_is_reported_not_hidden():
    d = make_frame(5)
    with pytest.warns(ps.errors.ConvergenceWarning, match="did not converge"):
        res = ps.fit(FORMULA, d, "bisquare", maxit=1, acc=1e-15)
    assert not res.converged and res.n_iter == 1


@quick
@given(seed=seeds)
def test_proposal2_scale_solves_its_estimating_equation(seed):
    """At convergence Huber's proposal 2 satisfies Σ min(r², (k·s)²) = (n − p)·γ·s² (MASS's update)."""
    import math

    d = make_frame(seed, n=60)
    res = ps.fit(FORMULA, d, "huber", scale_est="proposal2", **TIGHT)
    k, s, r = 1.345, res.scale, res.resid
    theta = math.erf(k / math.sqrt(2))
    gamma = theta + k**2 * (1 - theta) - 2 * k * math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
    lhs = np.minimum(r**2, (k * s) ** 2).sum()
    assert lhs == pytest.approx((len(d) - 4) * gamma * s**2, rel=1e-6)
