"""Run some tests with pytest in a fresh interpreter of their own, and fail with their report unless all pass.

For tests that start Ray in the test process. ``ray.shutdown()`` leaves Ray's native threads
running in the process until it exits (gRPC's timers and event engine, the GCS client's I/O
service: seen with ray 2.60 after every shutdown), and the rest of the suite would then fork
(the report's simulation, the backtest's process pool) and shut the interpreter down beside
them. CI's run once ended in a segmentation fault after every test had passed, with those
threads alive; tests that need a Ray driver therefore get a process of their own, as a Ray
program does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 900  # a generous cap: Ray starts in about 8 s, the tests inside take under a minute here


def pytest_in_own_process(path: Path) -> None:
    """Run the tests in ``path`` (a module pytest does not collect on its own) in a new Python process."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(path)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT_S, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{path.name} in a process of its own: exit {proc.returncode}\n{proc.stdout[-6000:]}\n"
                    f"{proc.stderr[-3000:]}", pytrace=False)
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary  # ran, all of them
