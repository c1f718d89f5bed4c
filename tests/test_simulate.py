"""powerlaw_stats.simulation.simulate: batched fits equal the single-fit path, calibration, seeds, result shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import DataError, OptionError
from powerlaw_stats.simulation.simulate import SUMMARY_COLUMNS, SimulationResult, simulate

DATA = Path(__file__).parent / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
SMALL = "log_err ~ I(log2(TS)-IXMin)*mix"
EFFECT = "I(log2(TS)-IXMin):mix1"

# Batched and single fits run the same arithmetic on the same responses; only the BLAS blocking of
# a batch of many versus one differs (~1e-15), and IRWLS contracts such differences, so 1e-10
# relative to max(1, |value|) is the bar with several orders to spare.
EXACT = 1e-10
CORE = ("ols", "huber", "bisquare")  # the default estimators; others registered in ESTIMATORS test themselves
# Calibration: with 2000 trials the Monte-Carlo SD of a 95% coverage is 0.0049, so [0.93, 0.97] is
# four SDs wide each side; a bias is judged against 3 Monte-Carlo SEs (sd / sqrt(trials)).
CAL_TRIALS = 2000
COVERAGE_BAND = (0.93, 0.97)
BIAS_MC_SES = 3.0


@pytest.fixture(scope="module")
def curves() -> pd.DataFrame:
    return pd.read_csv(DATA)


def _fit_trial(sim: SimulationResult, t: int, method: str, weights, weight_type="inv.var"):
    frame = sim.data.assign(log_err=sim.responses[t])
    return ps.fit(FORMULA, frame, method=method, weights=weights, weight_type=weight_type)


def _close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return bool(np.all(np.abs(a - b) <= EXACT * np.maximum(1.0, np.abs(b))))


# ----------------------------------------------------------------------------- batched == fit


@pytest.mark.parametrize("weights", ["w", None], ids=["weighted", "unweighted"])
@pytest.mark.parametrize("residuals", ["normal", "skewed-hetero"])
def test_batched_equals_single_fit_path(curves, weights, residuals):
    sim = simulate(FORMULA, curves, weights=weights, residuals=residuals, n_trials=4, seed=3, keep_responses=True)
    assert sim.terms == tuple(ps.fit(FORMULA, curves).params.index)
    for method in CORE:
        for t in range(sim.n_trials):
            res = _fit_trial(sim, t, method, weights)
            assert res.converged and sim.converged[method][t]
            assert _close(sim.estimates[method][t], res.params), (method, t)
            assert _close(sim.std_errors[method][t], res.bse), (method, t)


@pytest.mark.parametrize("method", ["huber", "bisquare"])
def test_batched_equals_fit_with_case_weights(curves, method):
    sim = simulate(FORMULA, curves, weights="w", weight_type="case", estimators=(method,), n_trials=3, seed=5,
                   keep_responses=True)
    for t in range(3):
        res = _fit_trial(sim, t, method, "w", "case")
        assert _close(sim.estimates[method][t], res.params) and _close(sim.std_errors[method][t], res.bse)


@pytest.mark.parametrize("design", ["n", "min4"])
def test_batched_equals_fit_on_rebuilt_design(curves, design):
    sim = simulate(FORMULA, curves, weights="w", design=design, n_trials=2, seed=1, keep_responses=True)
    for method in CORE:
        for t in range(2):
            res = _fit_trial(sim, t, method, "w")
            assert _close(sim.estimates[method][t], res.params), (design, method, t)
            assert _close(sim.std_errors[method][t], res.bse), (design, method, t)


def test_default_truth_is_the_weighted_least_squares_fit(curves):
    sim = simulate(FORMULA, curves, weights="w", n_trials=2, estimators=("ols",))
    assert np.allclose(sim.truth.to_numpy(), ps.fit(FORMULA, curves, weights="w").params.to_numpy(), rtol=0, atol=1e-12)


def test_truth_from_a_named_estimator_and_from_a_mapping(curves):
    huber = ps.fit(FORMULA, curves, method="huber", weights="w").params
    sim = simulate(FORMULA, curves, weights="w", n_trials=2, estimators=("ols",), truth="huber")
    assert _close(sim.truth.to_numpy(), huber.to_numpy())
    sim = simulate(FORMULA, curves, weights="w", n_trials=2, estimators=("ols",), truth={"I(log2(TS) - IXMin):mix1": 0.0},
                   terms=[EFFECT, "(Intercept)"])
    ols = ps.fit(FORMULA, curves, weights="w").params
    assert sim.truth.iloc[0] == 0.0 and sim.truth.iloc[1] == pytest.approx(ols["(Intercept)"], abs=1e-12)


# ----------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("weights", ["w", None], ids=["weighted", "unweighted"])
def test_least_squares_is_calibrated_under_normal_residuals(curves, weights):
    sim = simulate(FORMULA, curves, weights=weights, estimators=("ols",), residuals="normal", n_trials=CAL_TRIALS, seed=11)
    s = sim.summary
    assert (s["failures"] == 0).all()
    assert s["coverage"].between(*COVERAGE_BAND).all(), s[["term", "coverage"]]
    mc_se = s["sd_estimate"] / np.sqrt(CAL_TRIALS)
    assert (s["bias"].abs() < BIAS_MC_SES * mc_se).all(), s[["term", "bias"]]
    # the SE formula is right here, so the mean SE matches the spread of the estimates (MC error ~2%)
    assert s["se_ratio"].between(0.94, 1.06).all(), s[["term", "se_ratio"]]


def test_the_n_design_makes_least_squares_overconfident(curves):
    # The seed's finding: one run at the full pool weighted 1 while as noisy as four runs' rows.
    n = simulate(FORMULA, curves, weights="w", estimators=("ols",), design="n", n_trials=600, terms=[EFFECT], seed=2)
    m = simulate(FORMULA, curves, weights="w", estimators=("ols",), design="min4", n_trials=600, terms=[EFFECT], seed=2)
    assert n.summary["se_ratio"].iloc[0] < 0.85 < m.summary["se_ratio"].iloc[0]


# ----------------------------------------------------------------------------- seeds


def test_same_seed_same_numbers_other_seed_other_numbers(curves):
    kw = {"weights": "w", "residuals": "skewed-hetero", "n_trials": 40, "terms": [EFFECT]}
    a, b, c = simulate(SMALL, curves, seed=7, **kw), simulate(SMALL, curves, seed=7, **kw), simulate(SMALL, curves, seed=8, **kw)
    for e in CORE:
        assert np.array_equal(a.estimates[e], b.estimates[e]) and np.array_equal(a.std_errors[e], b.std_errors[e])
        assert not np.allclose(a.estimates[e], c.estimates[e])
    pd.testing.assert_frame_equal(a.summary, b.summary)


def test_more_trials_extend_the_same_stream(curves):
    short = simulate(SMALL, curves, weights="w", n_trials=300, estimators=("ols",), keep_responses=True)
    long = simulate(SMALL, curves, weights="w", n_trials=600, estimators=("ols",), keep_responses=True)
    assert np.array_equal(short.responses, long.responses[:300])


# ----------------------------------------------------------------------------- result shape


def test_result_fields_and_json(curves):
    seen = []
    sim = simulate(SMALL, curves, weights="w", n_trials=300, terms=[EFFECT, "mix1"], progress=lambda d, t: seen.append((d, t)))
    assert tuple(sim.summary.columns) == SUMMARY_COLUMNS
    assert list(sim.summary["estimator"]) == ["ols", "ols", "huber", "huber", "bisquare", "bisquare"]
    assert list(sim.summary["term"]) == ["I(log2(TS) - IXMin):mix1", "mix1"] * 3
    assert sim.terms == ("I(log2(TS) - IXMin):mix1", "mix1") and list(sim.truth.index) == list(sim.terms)
    for e in CORE:
        assert sim.estimates[e].shape == sim.std_errors[e].shape == (300, 2) and sim.converged[e].shape == (300,)
    assert sim.responses is None and sim.residuals == "normal" and sim.design == "observed"
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (300, 300)
    doc = sim.to_dict()
    assert set(doc) == {"n_trials", "seed", "residuals", "design", "results"} and len(doc["results"]) == 6
    assert set(doc["results"][0]) == set(SUMMARY_COLUMNS)
    row = sim.row("huber", "I(log2(TS)-IXMin):mix1")
    est = sim.estimates["huber"][:, 0]
    assert row["mean_estimate"] == pytest.approx(est.mean()) and row["sd_estimate"] == pytest.approx(est.std(ddof=1))
    assert row["se_ratio"] == pytest.approx(sim.std_errors["huber"][:, 0].mean() / est.std(ddof=1))


def test_failures_are_counted_and_left_out(curves):
    sim = simulate(SMALL, curves, weights="w", n_trials=20, maxit=1, terms=[EFFECT])
    s = sim.summary.set_index("estimator")
    assert s.loc["ols", "failures"] == 0 and s.loc["huber", "failures"] == 20
    assert np.isnan(sim.estimates["huber"]).all() and not sim.converged["huber"].any()
    assert np.isnan(s.loc["huber", "mean_estimate"]) and sim.to_dict()["results"][1]["mean_estimate"] is None


def test_bundled_example_and_lazy_export():
    sim = ps.simulate(SMALL, weights="w", n_trials=10, estimators=("ols",))
    assert isinstance(sim, ps.SimulationResult) and sim.summary.shape == (4, len(SUMMARY_COLUMNS))


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"estimators": ("ols", "lasso")}, OptionError, "unknown estimator 'lasso'"),
    ({"estimators": ()}, OptionError, "unknown estimator"),
    ({"residuals": "cauchy"}, OptionError, "unknown residual model"),
    ({"design": "balanced"}, OptionError, "unknown design"),
    ({"design": "n", "min_trials": 4}, OptionError, "min_trials applies"),
    ({"n_trials": 1}, OptionError, "n_trials"),
    ({"seed": -1}, OptionError, "seed"),
    ({"level": 1.5}, OptionError, "level"),
    ({"terms": ["mix2"]}, OptionError, "no coefficient 'mix2'"),
    ({"truth": "lasso"}, OptionError, "truth 'lasso'"),
    ({"truth": {"nope": 1.0}}, OptionError, "no coefficient 'nope'"),
    ({"weight_type": "freq"}, OptionError, "weight type"),
    ({"weights": "wrong"}, DataError, "wrong"),
])
def test_bad_options_fail_with_a_clear_error(curves, kwargs, error, words):
    with pytest.raises(error, match=words):
        simulate(SMALL, curves, **{"weights": "w", "n_trials": 5, **kwargs})


def test_r_defaults_match_fit_with_r_defaults(curves):
    sim = simulate(FORMULA, curves, weights="w", estimators=("huber", "bisquare"), n_trials=3, seed=9, keep_responses=True,
                   r_defaults=True)
    for method in ("huber", "bisquare"):
        for t in range(3):
            frame = sim.data.assign(log_err=sim.responses[t])
            res = ps.fit(FORMULA, frame, method=method, weights="w", r_defaults=True)
            assert _close(sim.estimates[method][t], res.params) and _close(sim.std_errors[method][t], res.bse)


def test_numbers_do_not_depend_on_the_number_of_worker_threads(curves, monkeypatch):
    import sys

    module = sys.modules["powerlaw_stats.simulation.engine"]
    kw = {"weights": "w", "residuals": "empirical", "n_trials": 600, "terms": [EFFECT]}
    monkeypatch.setattr(module, "_workers", lambda n_chunks: 3)
    many = simulate(SMALL, curves, **kw)
    monkeypatch.setattr(module, "_workers", lambda n_chunks: 1)
    one = simulate(SMALL, curves, **kw)
    for e in CORE:
        assert np.array_equal(many.estimates[e], one.estimates[e], equal_nan=True)


# ----------------------------------------------------------------------------- sandwich standard errors


@pytest.mark.parametrize(("method", "kind"), [
    ("ols", "HC0"), ("ols", "HC1"), ("ols", "HC3"), ("ols", "CR1"), ("ols", "CR3"),
    ("huber", "HC1"), ("huber", "CR1"), ("huber", "CR3"), ("bisquare", "CR1"), ("mm", "CR1"),
])
@pytest.mark.parametrize("design", ["observed", "n"])
def test_sandwich_ses_equal_fits_on_the_same_responses(curves, method, kind, design):
    # every kind of SE simulate checks is the one fit reports for the same trial, rebuilt designs included
    cluster = "run_id" if kind.startswith("CR") else None
    sim = simulate(FORMULA, curves, weights="w", estimators=(method,), vcov=kind, cluster=cluster, design=design,
                   n_trials=3, seed=5, keep_responses=True)
    label = f"{method}+{kind}"
    assert sim.estimators == (label,) and list(sim.summary["estimator"].unique()) == [label]
    for t in range(sim.n_trials):
        res = ps.fit(FORMULA, sim.data.assign(log_err=sim.responses[t]), method=method, weights="w", vcov=kind,
                     cluster=cluster)
        assert _close(sim.std_errors[label][t], res.bse), (label, t)
        assert _close(sim.estimates[label][t], res.params), (label, t)


def test_cluster_compares_classic_and_cr1_in_one_summary(curves):
    sim = simulate(FORMULA, curves, weights="w", cluster="run_id", n_trials=20, terms=[EFFECT])
    assert sim.estimators == ("ols", "ols+CR1", "huber", "huber+CR1", "bisquare", "bisquare+CR1")
    by = sim.summary.set_index("estimator")
    assert by.loc["ols", "mean_estimate"] == by.loc["ols+CR1", "mean_estimate"]  # one fit, two SEs
    assert by.loc["ols", "mean_se"] != by.loc["ols+CR1", "mean_se"]


def test_a_rebuilt_design_gives_every_new_run_its_own_id(curves):
    # design n reuses template runs when a size needs more runs than the data have; a copied run_id would
    # merge those into one cluster, so each rebuilt run (one row per evaluation set) is renamed
    sim = simulate(FORMULA, curves, weights="w", design="min8", n_trials=2, estimators=("ols",))
    per_run = sim.data.groupby("run_id")["eval_set"].agg(["size", "nunique"])
    assert (per_run["size"] == 2).all() and (per_run["nunique"] == 2).all()
    assert len(per_run) == len(sim.data) // 2


@pytest.mark.parametrize(("options", "message"), [
    ({"vcov": "HC3", "estimators": ("huber",)}, "applies to least squares only"),
    ({"vcov": "CR1"}, "name the cluster column"),
    ({"vcov": "HC0", "cluster": "run_id"}, "needs a cluster-robust vcov"),
    ({"vcov": "HC9"}, "is unknown"),
    ({"cluster": "run_id", "weight_type": "case", "estimators": ("huber",)}, "inverse-variance weights"),
])
def test_bad_sandwich_options_are_refused(curves, options, message):
    with pytest.raises(OptionError, match=message):
        simulate(FORMULA, curves, weights="w", n_trials=2, **options)
