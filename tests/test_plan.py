"""The design planner: its power is the direct simulation's, its designs and costs are the schema's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.errors import OptionError
from powerlaw_stats.inference.tests import t_quantile
from powerlaw_stats.scaling.plan import Design, candidate_table, training_cost

CURVES = Path(__file__).parent / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
EFFECT = "I(log2(TS)-IXMin):mix1"
N = 1000  # simulated studies per design; power's Monte-Carlo SD is at most 0.016
MC_SD = 4  # two independent estimates of one power must agree within 4 SD of their difference
SAME_STREAM_TOL = 1e-12  # the pilot design with simulate's seed draws simulate's very numbers


def _direct_power(sim: ps.SimulationResult, estimator: str, level: float = 0.95) -> float:
    est, se = sim.estimates[estimator][:, 0], sim.std_errors[estimator][:, 0]
    ok = sim.converged[estimator]
    return float(np.mean(np.abs(est[ok]) > t_quantile(level, sim.df_resid) * se[ok]))


@pytest.mark.parametrize("estimator", ["ols", "huber"])
def test_pilot_design_is_the_direct_simulation_draw_for_draw(estimator):
    n = 300
    res = ps.plan(CURVES, delta=-0.015, weights="w", estimator=estimator, smallest=[], min_trials=[1], n_trials=n, seed=3)
    sim = ps.simulate(FORMULA, CURVES, weights="w", estimators=(estimator,), truth={EFFECT: -0.015}, terms=[EFFECT],
                      n_trials=n, seed=3)
    pilot = res.designs[0]
    assert pilot.design.observed and len(res.designs) == 1
    assert pilot.power == _direct_power(sim, estimator)
    est = sim.estimates[estimator][:, 0]
    assert pilot.mean_estimate == pytest.approx(np.nanmean(est), rel=SAME_STREAM_TOL)
    assert pilot.sd_estimate == pytest.approx(np.nanstd(est, ddof=1), rel=SAME_STREAM_TOL)


@pytest.mark.parametrize("residuals", ["normal", "empirical"])
@pytest.mark.parametrize("k", [4, 8])
def test_rebuilt_design_power_agrees_with_a_direct_simulation(residuals, k):
    # the candidate "pilot sizes, at least k runs per size" is simulate's design "min{k}"
    res = ps.plan(CURVES, delta=-0.015, weights="w", residuals=residuals, smallest=[3125], min_trials=[k],
                  include_pilot=False, n_trials=N, seed=11)
    sim = ps.simulate(FORMULA, CURVES, weights="w", estimators=("ols",), truth={EFFECT: -0.015}, terms=[EFFECT],
                      residuals=residuals, design=f"min{k}", n_trials=N, seed=12)
    ours, direct = res.designs[0].power, _direct_power(sim, "ols")
    p = (ours + direct) / 2
    assert abs(ours - direct) < MC_SD * np.sqrt(2 * p * (1 - p) / N) + 1e-9
    assert res.designs[0].rows == len(sim.data)


def test_no_effect_rejects_at_the_nominal_rate():
    # on the pilot design with normal residuals the weights are the true inverse variances: an exact t test
    res = ps.plan(CURVES, delta=0.0, weights="w", smallest=[], min_trials=[1], n_trials=2 * N, seed=5)
    assert abs(res.designs[0].power - 0.05) < MC_SD * np.sqrt(0.05 * 0.95 / (2 * N))


def test_candidate_table_follows_the_trial_scheme():
    pilot = pd.read_csv(CURVES)
    config = ["train_set", "eval_set", "width", "params", "mixup"]
    same = candidate_table(pilot, Design(3125, 4), config, [])
    counts = lambda t: t.groupby([*config, "train_size"]).size()  # noqa: E731
    pd.testing.assert_series_equal(counts(same), counts(pilot))
    wider = candidate_table(pilot, Design(1562.5, 2), config, [])
    cells = wider.drop_duplicates(["train_set", "train_size"]).set_index(["train_set", "train_size"])
    assert cells.loc[("cifar10", 1562.5), "n_splits"] == 32 and cells.loc[("cinic10", 1562.5), "n_splits"] == 64
    assert (cells["trials"] == np.maximum(cells["n_splits"], 2)).all()


@pytest.mark.parametrize("design", [Design(1562.5, 2), Design(None, None), Design(3125, 8, max_trials=4)])
def test_candidate_table_is_each_configuration_rebuilt_in_order_of_appearance(design):
    # the table is built in one pick: with the configurations' rows interleaved (a shuffled pilot) it must
    # still be each configuration's own table, one after another in the order the pilot first shows them
    pilot = pd.read_csv(CURVES).sample(frac=1.0, random_state=4).reset_index(drop=True)
    config = ["train_set", "eval_set", "mixup"]
    whole = candidate_table(pilot, design, config, [])
    keys = pilot[config].astype(str).agg("|".join, axis=1)
    parts = []
    for key in dict.fromkeys(keys):
        cell = pilot[keys == key]
        part = candidate_table(cell.reset_index(drop=True), design, [], [])
        parts.append(part.assign(__template__=cell.index.to_numpy()[part["__template__"].to_numpy()]))
    pd.testing.assert_frame_equal(whole, pd.concat(parts, ignore_index=True), check_exact=True)


def test_a_cap_gives_a_fixed_number_of_runs_per_size():
    pilot = pd.read_csv(CURVES)
    config = ["train_set", "eval_set", "width", "params", "mixup"]
    fixed = candidate_table(pilot, Design(3125, 4, max_trials=4), config, [])
    assert (fixed["trials"] == 4).all() and (fixed.groupby([*config, "train_size"]).size() == 4).all()
    assert (fixed["split"] < fixed["n_splits"]).all() and (fixed["trial"] < 4).all()
    res = ps.plan(CURVES, delta=-0.02, weights="w", smallest=[3125], min_trials=[2, 4], max_trials=[4, 3],
                  include_pilot=False, n_trials=50)
    assert [d.design.label for d in res.designs] == ["sizes from 3125, 2-4 runs/size", "sizes from 3125, 2-3 runs/size",
                                                     "sizes from 3125, 4 runs/size"]  # cap 3 < min 4 is skipped
    cells = pilot.drop_duplicates(["train_set", "width", "mixup", "train_size"])  # one training configuration each
    assert res.designs[2].runs == 4 * len(cells) and res.designs[2].images == 4 * cells["train_size"].sum()


def test_costs_count_runs_not_evaluation_rows():
    pilot = pd.read_csv(CURVES)
    res = ps.plan(CURVES, delta=-0.02, weights="w", smallest=[3125], min_trials=[4], n_groups=[1, 4],
                  n_trials=50, rate=1000.0)
    by_label = {d.design.label: d for d in res.designs}
    runs = pilot.drop_duplicates("run_id")
    assert by_label["pilot design"].runs == len(runs) == len(pilot) // 2
    assert by_label["pilot design"].images == runs["train_size"].sum()
    assert by_label["sizes from 3125, min 4 runs/size, 4 groups"].images == runs["train_size"].sum()
    one = by_label["sizes from 3125, min 4 runs/size, 1 groups"]  # cifar10 evaluated on cifar10 only
    cifar = runs[runs["train_set"] == "cifar10"]
    assert one.n_groups == 1 and one.runs == len(cifar) and one.images == cifar["train_size"].sum()
    assert one.gpu_hours == pytest.approx(one.images / 1000.0 / 3600.0)


def test_recommends_the_cheapest_design_reaching_the_power():
    # rows as independent: the choice among candidates is under test (the size check: test_plan_dependence)
    res = ps.plan(CURVES, delta=-0.015, weights="w", smallest=[3125, 12500], min_trials=[1, 4, 8], n_trials=200,
                  dependence="none")
    best = res.recommended
    assert best is not None and best.power >= 0.8
    assert all(d.power < 0.8 or d.flags for d in res.designs if d.cost < best.cost)
    assert not best.flags
    table = res.table()
    assert table["images"].is_monotonic_increasing and len(table) == 7
    none = ps.plan(CURVES, delta=-0.001, weights="w", smallest=[12500], min_trials=[1], n_trials=50, dependence="none")
    assert none.recommended is None and not any(d.reaches for d in none.designs)


@pytest.mark.parametrize("kwargs", [
    {"effect": "nope"}, {"power": 1.2}, {"smallest": [10**7]}, {"min_trials": [0]}, {"n_groups": [9]},
    {"estimator": "lasso"}, {"rate": -1.0}, {"n_groups": [1], "group_by": ["nope"]},
])
def test_refusals(kwargs):
    with pytest.raises(ps.PowerlawStatsError):
        ps.plan(CURVES, delta=-0.02, weights="w", n_trials=20, **{"smallest": [3125], "min_trials": [4], **kwargs})


def test_option_error_is_raised_for_bad_power():
    with pytest.raises(OptionError, match="power"):
        ps.plan(CURVES, delta=-0.02, power=0.0)


def test_training_cost_uses_the_epochs_column():
    t = pd.DataFrame({"train_size": [100, 200], "epochs": [10, 5], "trial": [0, 0]})
    assert training_cost(t, ["train_size", "trial"]) == (2, 2000.0)


def test_cli_json_table_and_plot(tmp_path):
    runner = CliRunner()
    out = tmp_path / "plan.json"
    args = ["plan", str(CURVES), "--delta", "-0.015", "--weights", "w", "--smallest", "3125,12500", "--min-trials", "1,4",
            "--trials", "100", "--quiet"]
    res = runner.invoke(app, [*args, "--format", "json", "-o", str(out), "--plot", str(tmp_path / "p.png")])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert len(doc["designs"]) == 5 and doc["cost_unit"] == "training images" and doc["delta"] == -0.015
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    table = runner.invoke(app, [*args, "--rate", "2000"])
    assert table.exit_code == 0 and "GPU-hours" in table.output and "pilot design" in table.output
    bad = runner.invoke(app, [*args, "--smallest", "abc"])
    assert bad.exit_code == 1 and "comma-separated numbers" in bad.output


def test_a_single_run_at_a_size_is_flagged_and_never_recommended():
    res = ps.plan(CURVES, delta=-0.05, weights="w", smallest=[3125], min_trials=[1, 4], n_trials=50, dependence="none")
    by_k = {d.design.min_trials: d for d in res.designs if not d.design.observed}
    assert by_k[1].flags and "1 run per configuration at size" in by_k[1].flags[0] and "50000" in by_k[1].flags[0]
    assert not by_k[4].flags and not res.designs[0].flags  # the pilot has 4 runs at every size
    assert res.recommended is not None and not res.recommended.flags
    assert by_k[1].to_dict()["flags"] == list(by_k[1].flags)
