"""The Ray backend on a local Ray (CPU only): same rows as the local backend, failures as one line.

The tests that start Ray in a Python process (in_ray_trainers.py) run in a process of their own
(see tests/own_process.py for why).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install -e '.[ray]')")

from own_process import pytest_in_own_process  # noqa: E402
from test_trainers_grid import cli, read_rows, write_spec  # noqa: E402

pytestmark = pytest.mark.ray


def test_cli_starts_a_local_ray_and_runs_the_grid(tmp_path, cifar, cinic):
    """The command starts (and stops) a local Ray of its own."""
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    out = tmp_path / "r.csv"
    proc = cli("grid", str(spec), "--out", str(out), "--backend", "ray", "--trainer", "plugin_trainer:nearest_mean")
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(out)
    assert len(rows) == 16 and {r["device"] for r in rows} == {"cpu"}


def test_an_address_nobody_listens_on_is_one_line(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    proc = cli("grid", str(spec), "--out", str(tmp_path / "r.csv"), "--backend", "ray", "--address", "127.0.0.1:1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == ["powerlaw-train: cannot reach Ray at 127.0.0.1:1 (Connection refused); "
                                                "is the cluster running?"]
    assert not (tmp_path / "r.csv").exists()


def test_ray_tasks_in_a_driver_of_their_own():
    """in_ray_trainers.py: grids run from Python on a Ray the caller started, in a fresh process."""
    pytest_in_own_process(Path(__file__).with_name("in_ray_trainers.py"))
