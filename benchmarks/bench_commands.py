"""Wall time of the commands a user waits for, against the floor every command pays, in one run.

Run:  python benchmarks/bench_commands.py [--runs 5] [--baseline DIR]

Each command runs as a fresh process on the bundled example, interleaved with the others so a busy
spell hits every command alike; the script prints the median wall time of each, its spread (the
noise of this machine) and its ratio to the floor, ``python -c "import matplotlib.pyplot, pandas,
patsy"``: Python starting and importing what every such command imports. Issue 18's goals are
``report`` within 4x the floor and ``plan --delta -0.03`` within 2.5x. ``--baseline DIR`` adds
the two commands run with the package of another checkout (``PYTHONPATH=DIR``). CPU seconds
(user + system, every thread) are printed beside the wall time: on a shared machine they move
less with the load than the wall clock does.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"report": 4.0, "plan --delta -0.03": 2.5}
FLOOR = "floor: import matplotlib.pyplot, pandas, patsy"


def commands(out: Path) -> dict[str, list[str]]:
    """The timed commands, by label; the floor first."""
    cli = shutil.which("powerlaw-stats") or "powerlaw-stats"
    return {
        FLOOR: [sys.executable, "-c", "import matplotlib.pyplot, pandas, patsy"],
        "report": [cli, "report", "--out", str(out / "report")],
        "plan --delta -0.03": [cli, "plan", "--delta", "-0.03"],
    }


def timed(cmd: list[str], env: dict[str, str] | None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all threads) of ``cmd``; a failing command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout whose package is timed too")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(Path(tmp))
        envs: dict[str, dict[str, str] | None] = {name: None for name in cmds}
        if args.baseline is not None:
            base_env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
            for name in GOALS:
                cmds[f"baseline {name}"], envs[f"baseline {name}"] = cmds[name], base_env
        wall: dict[str, list[float]] = {name: [] for name in cmds}
        cpu: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                w, c = timed(cmd, envs[name])
                wall[name].append(w)
                cpu[name].append(c)
    floor, floor_cpu = statistics.median(wall[FLOOR]), statistics.median(cpu[FLOOR])
    print(f"bundled example; median of {args.runs}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':48s} {'wall s':>7s} {'min-max s':>12s} {'/ floor':>8s} {'goal':>6s} {'CPU s':>6s} {'/ floor':>8s}")
    for name, times in wall.items():
        goal = GOALS.get(name.removeprefix("baseline "))
        print(f"{name:48s} {statistics.median(times):7.2f} {min(times):5.2f}-{max(times):5.2f} "
              f"{statistics.median(times) / floor:8.2f} {'' if goal is None else f'<= {goal:g}':>6s} "
              f"{statistics.median(cpu[name]):6.2f} {statistics.median(cpu[name]) / floor_cpu:8.2f}")


if __name__ == "__main__":
    main()
