"""Residual models and trial designs of the simulation: each does what its description claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import DataError, OptionError
from powerlaw_stats.simulation.designs import DesignSpec, design_spec, rebuild_trials
from powerlaw_stats.simulation.residuals import ResidualSource, residual_model, sample_skewness, unit_pool
from powerlaw_stats.simulation.simulate import simulate

DATA = Path(__file__).parent / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
CONFIG = ["train_set", "eval_set", "width", "params", "mixup", "train_size", "n_splits"]
TRIALS = 1000
# Moments of 1000 trials x 832 rows: a variance is within ~1% (sd sqrt(2/N) per row, averaged); a
# per-group variance ratio has a few % of Monte-Carlo error, so 10% separates right from wrong.
VAR_RTOL = 0.03
RATIO_RTOL = 0.10


@pytest.fixture(scope="module")
def curves() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def ols(curves):
    return ps.fit(FORMULA, curves, weights="w")


def _whitened_errors(sim, ols) -> np.ndarray:
    """Simulated errors times sqrt(w0) of the observed rows (observed design: template = row)."""
    return (sim.responses - ols.design.x @ sim.truth.to_numpy()) * np.sqrt(ols.prior_weights)


def _sim(curves, residuals, **kw):
    return simulate(FORMULA, curves, weights="w", residuals=residuals, estimators=("ols",), n_trials=kw.pop("n_trials", TRIALS),
                    keep_responses=True, seed=kw.pop("seed", 4), **kw)


# ----------------------------------------------------------------------------- residual models


def test_normal_residuals_are_normal_with_the_fits_sigma(curves, ols):
    e = _whitened_errors(_sim(curves, "normal"), ols)
    assert e.var() == pytest.approx(ols.scale**2, rel=VAR_RTOL)
    assert abs(float(sample_skewness(e.ravel()))) < 0.02
    # homoscedastic in the whitened scale: the largest and the smallest row variance are close
    per_row = e.var(axis=0)
    assert per_row.max() / per_row.min() < 1.5


def test_empirical_residuals_are_draws_from_the_standardized_residuals(curves, ols):
    sim = _sim(curves, "empirical", n_trials=50)
    z = _whitened_errors(sim, ols) / ols.scale
    x = ols.design.x * np.sqrt(ols.prior_weights)[:, None]
    h = np.einsum("ij,jk,ik->i", x, np.linalg.inv(x.T @ x), x)
    pool = unit_pool(np.sqrt(ols.prior_weights) * ols.resid / (ols.scale * np.sqrt(1 - h)))
    distance = np.abs(z.ravel()[:, None] - pool[None, :]).min(axis=1)
    assert distance.max() < 1e-9
    assert "Empirical residuals" in sim.residuals_description


def test_skewed_hetero_keeps_the_observed_skew_and_the_overall_variance(curves, ols):
    observed_skew = float(sample_skewness(np.sqrt(ols.prior_weights) * ols.resid))
    e = _whitened_errors(_sim(curves, "skewed-hetero"), ols)
    simulated_skew = float(sample_skewness((e / e.std(axis=0)).ravel()))
    assert observed_skew > 0.5 and simulated_skew > 0.5  # the data's heavy right tail, kept
    assert e.var(axis=0).mean() == pytest.approx(ols.scale**2, rel=VAR_RTOL)


def test_skewed_hetero_scale_follows_the_log_abs_residual_regression(curves, ols):
    sim = _sim(curves, "skewed-hetero")
    e = _whitened_errors(sim, ols)
    model = residual_model("skewed-hetero", _source(ols))
    predicted = np.exp(ols.design.x @ model.gamma)
    lo, hi = predicted <= np.quantile(predicted, 1 / 3), predicted >= np.quantile(predicted, 2 / 3)
    want = np.mean(predicted[hi] ** 2) / np.mean(predicted[lo] ** 2)
    got = e[:, hi].var(axis=0).mean() / e[:, lo].var(axis=0).mean()
    assert want > 1.3  # the data is heteroscedastic, so the test has something to see
    assert got == pytest.approx(want, rel=RATIO_RTOL)
    # and the observed residuals agree in direction: larger |r| where the model puts a larger scale
    r = np.abs(np.sqrt(ols.prior_weights) * ols.resid)
    assert np.median(r[hi]) > np.median(r[lo])


def _source(ols, groups=None) -> ResidualSource:
    x = ols.design.x * np.sqrt(ols.prior_weights)[:, None]
    h = np.einsum("ij,jk,ik->i", x, np.linalg.inv(x.T @ x), x)
    return ResidualSource(ols.design.x, np.sqrt(ols.prior_weights) * ols.resid, ols.scale, h, groups)


def test_resampling_within_groups_draws_each_rows_shape_from_its_group(curves, ols):
    sim = _sim(curves, "empirical", n_trials=30, resample_within="eval_set")
    z = _whitened_errors(sim, ols) / ols.scale
    src = _source(ols)
    pool = unit_pool(src.standardized)
    groups = ols.data["eval_set"].to_numpy()
    for g in np.unique(groups):
        mine, theirs = pool[groups == g], pool[groups != g]
        drawn = z[:, groups == g].ravel()
        assert np.abs(drawn[:, None] - mine[None, :]).min(axis=1).max() < 1e-9
        assert not np.isin(drawn, theirs).any()
    assert "within groups" in sim.residuals_description


def test_unknown_residual_model():
    with pytest.raises(OptionError, match="unknown residual model"):
        residual_model("t3", ResidualSource(np.ones((3, 1)), np.array([1.0, 2.0, 0.0]), 1.0, np.zeros(3)))


def test_constant_residuals_are_refused():
    with pytest.raises(DataError, match="all equal"):
        unit_pool(np.ones(5))


# ----------------------------------------------------------------------------- designs


def _trials_per_configuration(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby(CONFIG).agg(rows=("trials", "size"), trials=("trials", "first")).reset_index()


@pytest.mark.parametrize(("design", "minimum"), [("n", 1), ("min4", 4), ("min6", 6)])
def test_designs_follow_the_schemas_trial_scheme(curves, design, minimum):
    sim = simulate(FORMULA, curves, weights="w", design=design, n_trials=2, estimators=("ols",))
    per = _trials_per_configuration(sim.data)
    want = np.maximum(per["n_splits"], minimum)
    assert (per["rows"] == want).all() and (per["trials"] == want).all()
    assert np.allclose(sim.prior_weights, 1.0 / sim.data["trials"].to_numpy())
    # the data's configurations (groups and sizes) are all kept, and no new one appears
    observed = _trials_per_configuration(curves)
    assert per[CONFIG].equals(observed[CONFIG])
    for _, cell in sim.data.groupby(CONFIG):
        n = int(cell["n_splits"].iloc[0])
        assert sorted(cell["trial"]) == list(range(len(cell)))
        assert (cell["split"].to_numpy() == np.arange(len(cell)) % n).all()
    assert sim.design == design
    assert (f"max(n, {minimum})" if minimum > 1 else "gets n runs") in sim.design_description


def test_min4_on_curves_a_is_its_observed_design(curves):
    # curves_a was made with the seed's minimum of 4 trials, so rebuilding it changes nothing
    sim = simulate(FORMULA, curves, weights="w", design="min4", n_trials=2, estimators=("ols",))
    assert len(sim.data) == len(curves)
    assert sorted(_trials_per_configuration(sim.data)["trials"]) == sorted(_trials_per_configuration(curves)["trials"])


@pytest.mark.parametrize("design", ["n", "min4"])
def test_a_stored_response_column_does_not_split_configurations(curves, design):
    # a table that already holds log_err (one value per run) must rebuild the same design as one without
    plain = simulate(FORMULA, curves, weights="w", design=design, n_trials=2, estimators=("ols",))
    stored = simulate(FORMULA, curves.assign(log_err=np.log(curves["error"])), weights="w", design=design,
                      n_trials=2, estimators=("ols",))
    assert len(stored.data) == len(plain.data)
    assert _trials_per_configuration(stored.data).equals(_trials_per_configuration(plain.data))


def test_min_trials_names_the_design(curves):
    sim = simulate(FORMULA, curves, weights="w", design="min4", min_trials=8, n_trials=2, estimators=("ols",))
    assert sim.design == "min8" and (_trials_per_configuration(sim.data)["trials"] >= 8).all()


def test_noise_stays_with_the_configuration_when_the_weights_change(curves, ols):
    # design n gives the full pool a single run (weight 1), but its noise is the data's (weight 1/4)
    sim = simulate(FORMULA, curves, weights="w", design="n", n_trials=TRIALS, estimators=("ols",), keep_responses=True)
    full = (sim.data["n_splits"] == 1).to_numpy()
    x = ps.fit(FORMULA, sim.data, weights="w").design.x
    e = sim.responses - x @ sim.truth.to_numpy()
    assert sim.prior_weights[full] == pytest.approx(1.0)
    assert e[:, full].var(axis=0).mean() == pytest.approx(4 * ols.scale**2, rel=VAR_RTOL)


def test_design_needs_the_schema_columns(curves):
    with pytest.raises(DataError, match="lacks n_splits"):
        simulate(FORMULA, curves.drop(columns="n_splits"), weights="w", design="n", n_trials=2)


def test_design_spec_parsing():
    assert design_spec("observed", None) == DesignSpec("observed", None)
    assert design_spec("n", None) == DesignSpec("n", 1)
    assert design_spec("min3", None) == DesignSpec("min3", 3)
    with pytest.raises(OptionError, match="at least 1"):
        design_spec("min0", None)


def test_rebuild_trials_cycles_the_observed_rows():
    raw = pd.DataFrame({"train_size": [10, 10, 20], "n_splits": [2, 2, 1], "trials": [2, 2, 1], "trial": [0, 1, 0],
                        "split": [0, 1, 0], "error": [0.5, 0.4, 0.3]})
    out = rebuild_trials(raw, DesignSpec("min3", 3), ["TS"])
    assert out["__template_row__"].tolist() == [0, 1, 0, 2, 2, 2]
    assert out["trial"].tolist() == [0, 1, 2, 0, 1, 2] and out["split"].tolist() == [0, 1, 0, 0, 0, 0]
    assert out["trials"].tolist() == [3] * 6


def test_a_missing_response_does_not_remove_a_simulated_row(curves):
    # the full-pool configuration's first run lost its error; design n still has one run there
    holed = curves.copy()
    first = holed.index[(holed["n_splits"] == 1)][0]
    holed.loc[first, "error"] = np.nan
    full = simulate(FORMULA, curves, weights="w", design="n", n_trials=2, estimators=("ols",))
    sim = simulate(FORMULA, holed, weights="w", design="n", n_trials=2, estimators=("ols",))
    assert len(sim.data) == len(full.data)
    assert not sim.data["log_err"].isna().any()
