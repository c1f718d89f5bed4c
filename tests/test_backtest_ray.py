"""The backtest's Ray backend on a local Ray (CPU only): the serial table to the last bit, resume, one-line failures.

Tolerances: none. A Ray task runs the same code on the same numbers as the serial loop (each
curve's laws are fitted in one task, single-threaded either way), so the tables must be equal.
Ray starts twice here (about 8 s each on a quiet 2-core machine): once by the command itself, once
for the tests that call the backtest with Ray in a Python process (in_ray_backtest.py), which run
in a process of their own (see own_process.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install -e '.[ray]')")

from own_process import pytest_in_own_process  # noqa: E402
from test_backtest import LAWS, simulated_table  # noqa: E402

from powerlaw_stats.errors import OptionError  # noqa: E402
from powerlaw_stats.extrapolation.backtest import backtest  # noqa: E402

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "from powerlaw_stats.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_cli_starts_a_local_ray_resumes_and_gives_the_serial_table(tmp_path):
    """The command starts (and stops) a local Ray of its own."""
    data, results, pred = tmp_path / "c.csv", tmp_path / "r.jsonl", tmp_path / "p.csv"
    simulated_table(n_curves=4).to_csv(data, index=False)
    # a first run did cutoff 0.5 and was killed mid-line; the Ray run adds only cutoff 0.75
    backtest(data, laws=LAWS, cutoffs=(0.5,), groups=["curve_id"], results=results)
    with open(results, "a") as f:
        f.write('{"curve": "curve_id=3", "law": "pow3", "cut')
    proc = cli("backtest", str(data), "--laws", ",".join(LAWS), "--cutoffs", "0.5,0.75", "--groups", "curve_id",
               "--backend", "ray", "--jobs", "2", "--results", str(results), "--predictions", str(pred), "-q")
    assert proc.returncode == 0, proc.stderr
    keys = [tuple(json.loads(x)[k] for k in ("curve", "law", "cutoff")) for x in results.read_text().splitlines()
            if x.startswith("{") and x.endswith("}")]
    assert len(keys) == len(set(keys)) == 4 * 4 * 2
    fresh = backtest(data, laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"])
    pd.testing.assert_frame_equal(pd.read_csv(pred), fresh.predictions, check_exact=True, check_dtype=False)


def test_an_address_nobody_listens_on_is_one_line(tmp_path):
    data, results = tmp_path / "c.csv", tmp_path / "r.jsonl"
    simulated_table(n_curves=2).to_csv(data, index=False)
    proc = cli("backtest", str(data), "--groups", "curve_id", "--backend", "ray", "--address", "127.0.0.1:1",
               "--results", str(results))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: cannot reach Ray at 127.0.0.1:1 (Connection refused); "
                                                "is the cluster running?"]
    assert not results.exists()


def test_an_address_needs_the_ray_backend():
    with pytest.raises(OptionError, match="backend 'ray'"):
        backtest(simulated_table(2), laws=("loglinear",), cutoffs=(0.5,), groups=["curve_id"], address="auto")


def test_ray_tasks_in_a_driver_of_their_own():
    """in_ray_backtest.py: the backtest started from Python on a Ray the caller started, in a fresh process."""
    pytest_in_own_process(Path(__file__).with_name("in_ray_backtest.py"))
