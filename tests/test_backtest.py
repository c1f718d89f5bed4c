"""The backtest: known-truth coverage, resume after kill -9, serial = processes, ranks and tests, CLI.

Tolerances: serial and process runs give the same forecasts to the last bit (the same code on the
same numbers); coverage on simulated curves is checked against a band of ±3 binomial SDs around
the level, widened below for the saturating law's delta method (see test_extrapolation).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from powerlaw_stats.errors import OptionError
from powerlaw_stats.extrapolation.backtest import backtest, read_results
from powerlaw_stats.extrapolation.ranking import friedman_nemenyi

LAWS = ("loglinear", "saturating", "pow3", "last1")


def simulated_table(n_curves=12, seed=0, floor=0.05, sigma=0.1) -> pd.DataFrame:
    """Curves of 2 runs at 8 doubling sizes from the saturating law with normal noise in log2 error."""
    rng = np.random.default_rng(seed)
    sizes = 100.0 * 2.0 ** np.arange(8)
    rows = []
    for c in range(n_curves):
        b = -0.6 - 0.2 * rng.random()
        for ts in sizes:
            mean = np.log2(floor + 2.0 ** (-1.0 + b * np.log2(ts / 100.0)))
            for _ in range(2):
                rows.append({"curve_id": c, "train_size": ts, "error": 2.0 ** (mean + sigma * rng.standard_normal())})
    return pd.DataFrame(rows)


def test_known_truth_is_ranked_first_and_covered():
    res = backtest(simulated_table(24), laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"])
    assert set(res.predictions.columns) >= {"curve", "law", "cutoff", "size", "observed", "predicted", "pi_low",
                                            "pi_high"}
    # one row per (curve, law, cutoff, held-out size): 24 curves x 4 laws x (4 + 2) held-out anchors
    assert len(res.predictions) == 24 * 4 * 6
    assert not res.predictions.duplicated(["curve", "law", "cutoff", "size"]).any()
    assert res.ranks.loc["last1", "all"] == res.ranks["all"].max()
    # the true law's 95 % intervals cover the held-out runs (288 runs pooled: ±3 SD is ±0.04; the
    # delta method runs short at the far anchors, hence the lower bound)
    sat = res.predictions[res.predictions.law == "saturating"]
    cover = float(np.average(sat.covered, weights=sat.runs))
    assert 0.85 <= cover <= 0.99, cover


def test_friedman_nemenyi_matches_demsar_example():
    # Demšar (2006), section 3.2.2's numbers: k = 4 classifiers on N = 14 data sets with mean ranks
    # 3.143, 2.000, 2.893, 1.964 give chi2_F = 9.28 and CD(0.05) = 1.25
    ranks = np.array([3.143, 2.000, 2.893, 1.964])
    n, k = 14, 4
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(ranks**2) - k * (k + 1) ** 2 / 4)
    assert chi2 == pytest.approx(9.28, abs=0.01)
    scores = pd.DataFrame(np.tile([[3.0, 2.0, 4.0, 1.0]], (14, 1)), columns=list("abcd"))
    t = friedman_nemenyi(scores)
    assert t.critical_difference == pytest.approx(1.25, abs=0.005)
    assert t.mean_ranks.to_dict() == {"d": 1.0, "b": 2.0, "a": 3.0, "c": 4.0}
    assert t.statistic == pytest.approx(12 * 14 / 20 * (30 - 25), rel=1e-12)


def test_processes_give_the_serial_numbers(tmp_path):
    table = simulated_table(n_curves=4)
    serial = backtest(table, laws=LAWS, cutoffs=(0.5,), groups=["curve_id"])
    pooled = backtest(table, laws=LAWS, cutoffs=(0.5,), groups=["curve_id"], backend="processes", jobs=2)
    pd.testing.assert_frame_equal(serial.predictions, pooled.predictions)
    pd.testing.assert_frame_equal(serial.ranks, pooled.ranks)


def test_kill_9_then_resume_gives_every_task_once(tmp_path):
    table = simulated_table(n_curves=8)
    data = tmp_path / "curves.csv"
    table.to_csv(data, index=False)
    results = tmp_path / "results.jsonl"
    code = ("from powerlaw_stats.extrapolation.backtest import backtest; "
            f"backtest({str(data)!r}, laws={LAWS!r}, cutoffs=(0.5, 0.75), groups=['curve_id'], results={str(results)!r})")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_results(results)
    assert 10 <= len(partial) < 8 * 4 * 2, "the run finished before it could be killed"
    with open(results, "a") as f:  # a torn last line, as a kill in mid-write leaves
        f.write('{"curve": "curve_id=7", "law": "pow3", "cut')
    resumed = backtest(data, laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"], results=results)
    lines = [json.loads(x) for x in results.read_text().splitlines() if x.startswith("{") and x.endswith("}")]
    keys = [(r["curve"], r["law"], r["cutoff"]) for r in lines]
    assert len(keys) == len(set(keys)) == 8 * 4 * 2
    fresh = backtest(data, laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"])
    pd.testing.assert_frame_equal(resumed.predictions, fresh.predictions)


def test_bad_options_refuse():
    with pytest.raises(OptionError):
        backtest(simulated_table(2), laws=("loglinear",), cutoffs=(1.5,), groups=["curve_id"])
    with pytest.raises(OptionError):
        backtest(simulated_table(2), laws=("chinchilla",), groups=["curve_id"])


def test_cli_backtest(tmp_path):
    from typer.testing import CliRunner

    from powerlaw_stats.cli import app

    data = tmp_path / "c.csv"
    simulated_table(3).to_csv(data, index=False)
    args = ["backtest", str(data), "--laws", "loglinear,last1", "--cutoffs", "0.5", "--groups", "curve_id", "-q"]
    out = CliRunner().invoke(app, [*args, "--predictions", str(tmp_path / "p.csv")])
    assert out.exit_code == 0 and "Friedman" in out.output, out.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 3 * 2 * 4
    out = CliRunner().invoke(app, [*args, "--format", "json"])
    assert json.loads(out.output)["n_curves"] == 3
    for bad in (["--cutoffs", "x"], ["--backend", "dask"], ["--laws", "nope"], ["--address", "127.0.0.1:1"]):
        out = CliRunner().invoke(app, ["backtest", str(data), "--groups", "curve_id", *bad])
        assert out.exit_code == 1 and "Traceback" not in out.output, out.output
