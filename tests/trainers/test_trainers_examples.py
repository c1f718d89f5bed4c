"""The shipped examples: the seed's grid spec parses to the seed's 288 runs, and the one-run script
trains on data in the official format."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trainers.grid import expand, parse_spec

ROOT = Path(__file__).resolve().parents[2]


def test_the_seed_grid_spec_is_the_seed_grid():
    spec = parse_spec(ROOT / "examples" / "cifar_cinic_grid.toml")
    runs = expand(spec)
    assert len(runs) == 2 * 2 * 2 * (4 + 4 + 4 + 8 + 16) == 288
    assert {r.eval_sets for r in runs} == {("cifar10", "cinic10")} and spec.pool_size == 50_000
    assert dict(spec.data)["cifar10"] == str((ROOT / "data" / "cifar-10-batches-py").resolve())


def test_the_one_run_example_trains_and_prints_both_eval_sets(cifar, cinic):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train_cifar_mixup.py"), str(cifar.root),
                           "--cinic", str(cinic.root), "--epochs", "1"], capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(":")[0].strip() for line in lines] == ["cifar10", "cinic10"]
    assert "50 images" in lines[0] and "on cpu" in lines[0]


def test_the_one_run_example_reports_a_missing_folder_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "train_cifar_mixup.py"), str(tmp_path / "nope")],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "cifar10 folder not found" in proc.stderr
