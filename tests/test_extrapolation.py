"""LCDB's curve models in the law registry and one-curve forecasts with intervals.

Tolerances: an exact curve (no noise) is refitted to 1e-6 relative in its forecasts (the solver
stops at a relative offset of 1e-8, so forecasts agree to far more digits than asked); interval
checks are structural (ordering, the prediction interval wider than the confidence band).
"""

import numpy as np
import pytest

from powerlaw_stats.extrapolation.intervals import forecast_curve
from powerlaw_stats.laws import LAWS

SIZES = 2.0 ** np.arange(4, 13)

TRUTH = {
    "pow3": lambda n: 0.05 + 2.0 * n ** -0.5,
    "pow4": lambda n: 0.05 + 2.0 * (n + 30.0) ** -0.6,
    "mmf4": lambda n: (0.6 * 40.0 + 0.05 * n**0.8) / (40.0 + n**0.8),
    "wbl4": lambda n: 0.05 + 0.5 * np.exp(-0.05 * n**0.5),
    "exp3": lambda n: 0.4 * np.exp(-n / 300.0) + 0.05,
    "vap3": lambda n: 1.0 - np.exp(-0.02 - 5.0 / n + 0.01 * np.log(n)),
    "log2": lambda n: 0.9 - 0.08 * np.log(n),
}


def test_lcdb_laws_are_registered_once():
    assert {"pow3", "pow4", "mmf4", "wbl4", "exp3", "vap3", "log2", "last1"} <= set(LAWS)
    assert all(LAWS[k].response == "error" for k in TRUTH)


@pytest.mark.parametrize("law", sorted(TRUTH))
def test_exact_curve_is_recovered_and_extrapolated(law):
    err = TRUTH[law](SIZES)
    f = forecast_curve(law, SIZES[:7], err[:7], SIZES[7:])
    assert f.converged
    np.testing.assert_allclose(f.predicted, err[7:], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("law", ["loglinear", "saturating", "pow3", "log2"])
def test_prediction_interval_contains_confidence_band(law):
    rng = np.random.default_rng(3)
    err = TRUTH["pow3"](SIZES) * np.exp(0.05 * rng.standard_normal(len(SIZES)))
    f = forecast_curve(law, SIZES[:7], err[:7], SIZES[7:])
    assert np.all(f.pi_low < f.ci_low) and np.all(f.ci_low < f.predicted)
    assert np.all(f.predicted < f.ci_high) and np.all(f.ci_high < f.pi_high)


def test_last1_is_the_error_at_the_largest_size_seen():
    err = TRUTH["pow3"](SIZES)
    err_seen = np.concatenate([err[:6], [err[5] * 1.01]])  # two runs at the largest size seen
    sizes = np.concatenate([SIZES[:6], [SIZES[5]]])
    f = forecast_curve("last1", sizes, err_seen, SIZES[6:])
    np.testing.assert_allclose(f.predicted, np.mean([err[5], err[5] * 1.01]))
    assert f.df == 1.0


def test_forecast_intervals_hold_their_level_on_a_known_truth():
    # 400 curves: the binomial SD of a 95 % rate is 0.011, so ±3 SD is [0.917, 0.983]. The
    # straight line's intervals are exact (t, linear model); the saturating law's delta-method
    # intervals run a little short far out (measured 0.92-0.95 with 2000 curves at sigma 0.1,
    # and far shorter when the floor is poorly identified: benchmarks/extrapolation_coverage.py)
    from powerlaw_stats.extrapolation.coverage import forecast_coverage

    line = forecast_coverage("loglinear", {"a": -1.0, "b": -0.5}, n_trials=400, seed=1)
    assert line.failed == 0
    assert line.table.prediction.between(0.917, 0.983).all() and line.table.confidence.between(0.917, 0.983).all()
    sat = forecast_coverage("saturating", {"E": 0.05, "a": -1.0, "b": -0.7}, n_trials=400, seed=1)
    assert sat.failed == 0 and sat.table.prediction.between(0.88, 0.983).all()
