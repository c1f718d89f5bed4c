"""``region(floor=True)`` / ``region --floor``: each group's line against the saturating law.

Tolerances: a group's floor test is ``curve_floor_test`` on that group's arrays, so the two must be
equal to the last bit (the same function on the same numbers). The planted floor (0.05 under
noise of SD 0.03 in log2 error, 8 sizes × 6 runs) is found within FLOOR_TOL = 0.01 and its test
rejects at p < 1e-6: with those numbers the floor is 3–4 times the error's noise at the largest
sizes, a margin of many standard errors, so the check is not knife-edge. A curve without a floor
must give LR exactly 0 and p exactly 1 (the floor at its bound leaves the line's RSS up to
rounding, which must not be read as a tiny positive LR with p = ½).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.errors import OptionError
from powerlaw_stats.laws import curve_floor_test

FLOOR, FLOOR_TOL = 0.05, 0.01


def _curve(rng, floor: float, *, sizes=8, reps=6, sd=0.03, slope=-0.6) -> pd.DataFrame:
    x = np.repeat(10.0 + np.arange(sizes), reps)
    err = np.log2(floor + 2.0 ** (-1.0 + slope * (x - 10.0))) + sd * rng.standard_normal(len(x))
    return pd.DataFrame({"train_size": 2.0**x, "trials": reps, "error": np.exp2(err)})


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(3)
    return pd.concat([_curve(rng, FLOOR).assign(train_set="floored"), _curve(rng, 0.0).assign(train_set="straight")],
                     ignore_index=True)


@pytest.fixture(scope="module")
def result(table):
    return ps.region(table, groups="train_set", floor=True)


def test_each_group_s_test_is_curve_floor_test_on_its_rows(table, result):
    for g in result.groups:
        rows = table[table["train_set"] == g.group["train_set"]]
        x = np.log2(rows["train_size"].to_numpy())
        direct = curve_floor_test(x - x.min(), np.log2(rows["error"].to_numpy()))
        assert g.floor_test == direct


def test_a_planted_floor_is_found_and_a_straight_line_gets_none(result):
    floored, straight = (next(g for g in result.groups if g.group["train_set"] == k) for k in ("floored", "straight"))
    t = floored.floor_test
    assert abs(t.floor - FLOOR) < FLOOR_TOL and t.p_value < 1e-6 and t.floor_lower > 0 and t.aic < t.aic_without_floor
    s = straight.floor_test
    assert s.statistic == 0.0 and s.p_value == 1.0 and s.floor_lower == 0.0


def test_without_floor_nothing_is_fitted_and_the_json_says_null(table):
    res = ps.region(table, groups="train_set")
    assert all(g.floor_test is None for g in res.groups)
    assert all(d["floor_test"] is None for d in res.to_dict()["groups"])


def test_the_floor_test_needs_log2_error():
    with pytest.raises(OptionError, match="models log2 error"):
        ps.region(None, response="error", floor=True)


def test_two_sizes_leave_no_floor_test(table):
    two = table[table["train_size"] <= 2.0**11]
    res = ps.region(two, groups="train_set", floor=True)
    assert all(g.floor_test is None for g in res.groups)


def test_cli_region_floor(table, tmp_path):
    path = tmp_path / "d.csv"
    table.to_csv(path, index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["region", str(path), "--groups", "train_set", "--floor", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output[res.output.index("{"):])
    floored = next(g for g in doc["groups"] if g["group"]["train_set"] == "floored")
    assert abs(floored["floor_test"]["floor"] - FLOOR) < FLOOR_TOL
    text = runner.invoke(app, ["region", str(path), "--groups", "train_set", "--floor"])
    assert text.exit_code == 0 and "Floor or no floor" in text.output
    plain = runner.invoke(app, ["region", str(path), "--groups", "train_set"])
    assert "Floor or no floor" not in plain.output


def test_every_group_of_the_example_gets_its_floor_test():
    # mixup's arms apart: one of these curves once drove the solver's damping update to overflow
    res = ps.region(groups=["train_set", "eval_set", "mixup"], floor=True)
    assert len(res.groups) == 8 and all(g.floor_test is not None for g in res.groups)
    assert all(0 <= g.floor_test.p_value <= 1 and g.floor_test.floor_lower <= max(g.floor_test.floor, 0.0)
               for g in res.groups)
