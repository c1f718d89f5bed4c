"""The benchmark and the GPU check script run (tiny, on CPU), so the session with a GPU does not find
them broken. Nothing here measures speed: the outputs are checked for their lines, not their numbers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_check_script_parses():
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")], check=False).returncode == 0


@pytest.mark.slow
def test_the_benchmark_prints_every_setting_and_the_projection():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_trainers.py"), "--device", "cpu", "--widths", "16", "32",
           "--packs", "2", "--steps", "1", "--repeats", "1", "--batch", "8", "--eval-images", "20",
           "--grid", str(ROOT / "examples" / "cifar_cinic_grid.toml"), "--grid-pack", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    numbers = r"(\s+\S+){5}$"  # img/s, per model, x single, host s, H2D MB
    settings = [re.sub(numbers, "", line).strip() for line in lines[2:] if not line.startswith("projected")]
    assert sorted(settings) == sorted(f"{w}  {s}, compile off" for w in (16, 32)
                                      for s in ("single", "grouped K=2", "vmap K=2", "loop K=2"))
    (projection,) = [line for line in lines if line.startswith("projected")]
    assert re.search(r"288 runs in [\d.]+ min on this device \(--pack 2, grouped, compile off; training", projection)
