"""The backtest's Ray backend called from Python on a Ray the caller started: the serial table to the last bit, resume.

Run by test_backtest_ray.py in a Python process of its own (its name keeps pytest from collecting
it in the suite's process; see own_process.py for why). Tolerances: none. A Ray task runs the same
code on the same numbers as the serial loop (each curve's laws are fitted in one task,
single-threaded either way), so the tables must be equal.
"""

import os
import sys

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install -e '.[ray]')")

from test_backtest import LAWS, simulated_table  # noqa: E402

from powerlaw_stats.extrapolation.backtest import backtest, read_results  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}})
    yield
    ray.shutdown()


def test_ray_tasks_give_the_serial_numbers_and_resume(tmp_path, local_ray):
    table = simulated_table(n_curves=6)
    serial = backtest(table, laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"])
    on_ray = backtest(table, laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"], backend="ray")
    assert ray.is_initialized(), "a Ray the caller started is left running"
    for name in ("predictions", "scores", "ranks", "coverage"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(on_ray, name), check_exact=True)
    # resume on Ray: half the curves done serially, the rest on Ray, each task once, the same table
    results = tmp_path / "r.jsonl"
    backtest(table[table.curve_id < 3], laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"], results=results)
    seen = []
    resumed = backtest(table, laws=LAWS, cutoffs=(0.5, 0.75), groups=["curve_id"], backend="ray", results=results,
                       progress=lambda done, total: seen.append((done, total)))
    assert len(read_results(results)) == len(results.read_text().splitlines()) == 6 * 4 * 2
    assert seen[-1] == (48, 48) and len(seen) == 3  # one report per curve run on Ray
    pd.testing.assert_frame_equal(resumed.predictions, serial.predictions, check_exact=True)
