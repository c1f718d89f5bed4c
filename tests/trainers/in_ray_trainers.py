"""Grids run from Python on a Ray the caller started (CPU only): the local backend's rows, resume, failures.

Run by test_trainers_ray.py in a Python process of its own (its name keeps pytest from collecting
it in the suite's process; see tests/own_process.py for why).
"""

from __future__ import annotations

import csv

import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install -e '.[ray]')")

from test_trainers_grid import write_spec  # noqa: E402

from trainers.backends import LocalBackend, RayBackend  # noqa: E402
from trainers.errors import TrainerError  # noqa: E402
from trainers.grid import expand, parse_spec, run_grid  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": ":".join(__import__("sys").path)}})
    yield
    ray.shutdown()


def _rows(path):
    with path.open(newline="") as f:
        return sorted((r["run_id"], r["eval_set"], r["error"], r["loss"]) for r in csv.DictReader(f))


def test_ray_tasks_write_the_same_table_as_local_runs(tmp_path, cifar, cinic, local_ray):
    runs = expand(parse_spec(write_spec(tmp_path / "spec.toml", cifar, cinic)))
    import torch

    summary = run_grid(runs, tmp_path / "ray.csv", RayBackend(device="cpu"), pack=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a Ray task of one CPU: oneDNN's sums follow the thread count
    try:
        run_grid(runs, tmp_path / "local.csv", LocalBackend(("cpu",)), pack=2)
    finally:
        torch.set_num_threads(threads)
    assert summary.ran == 8 and summary.rows_written == 16
    ray_rows, local_rows = _rows(tmp_path / "ray.csv"), _rows(tmp_path / "local.csv")
    assert [r[:2] for r in ray_rows] == [r[:2] for r in local_rows]
    # the same packs with the same seeds on the same CPU and thread count: identical numbers
    assert ray_rows == local_rows


def test_ray_resumes_and_reports_failures_as_one_line(tmp_path, cifar, cinic, local_ray):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    out = tmp_path / "r.csv"
    good = expand(parse_spec(spec), "plugin_trainer:nearest_mean")
    run_grid(good[:3], out, RayBackend(device="cpu"))
    assert run_grid(good, out, RayBackend(device="cpu")).finished_before == 3
    with pytest.raises(TrainerError, match="the plug-in broke on cifar10"):
        run_grid(expand(parse_spec(spec), "plugin_trainer:broken"), tmp_path / "bad.csv", RayBackend(device="cpu"))


def test_asking_for_gpus_on_a_cpu_cluster_is_refused(tmp_path, cifar, cinic, local_ray):
    runs = expand(parse_spec(write_spec(tmp_path / "spec.toml", cifar, cinic)))
    with pytest.raises(TrainerError, match="no GPU resources"):
        run_grid(runs[:1], tmp_path / "r.csv", RayBackend(device="cuda", gpus_per_run=0.5))
