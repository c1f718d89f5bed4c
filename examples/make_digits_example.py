"""Remake the bundled example table (powerlaw_stats/data/datasets/digits_curves.csv) from scratch.

    pip install -e ".[train,digits]"
    nice -n 5 python examples/make_digits_example.py            # about 37 minutes on 2 shared CPU cores

Three steps: (1) ``powerlaw-train grid examples/digits_grid.toml`` on the CPU, appending to a
resumable raw results file (rerun the same command after an interruption and finished runs are
skipped); (2) check that every run of the spec is there, each row valid in the learning-curve
schema, and write the rows sorted by run coordinates, so that the table does not depend on the order
in which worker processes finished; (3) fit the example's formula by least squares, Huber and
bisquare and print the mixup slope effect, with the versions that made the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SORT = ["train_set", "width", "mixup", "n_splits", "trial", "eval_set"]


def run_grid(spec: Path, raw: Path, workers: int) -> float:
    """Train every unfinished run of ``spec`` into ``raw`` with the documented CLI; wall seconds."""
    cmd = [sys.executable, "-m", "trainers.cli", "grid", str(spec), "--out", str(raw), "--device", "cpu",
           "--workers", str(workers)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start


def tidy(raw: Path, spec: Path) -> pd.DataFrame:
    """The raw grid output as the bundled table: complete, valid, one row per (run, eval set), sorted.

    Raises ``SystemExit`` naming what is missing, so a half-finished grid never becomes the example.
    """
    from trainers.grid import expand, parse_spec, validate_row

    parsed = parse_spec(spec)
    frame = pd.read_csv(raw, dtype={"run_id": str})
    wanted = {(r.run_id, e) for r in expand(parsed) for e in r.eval_sets}
    have = set(zip(frame.run_id, frame.eval_set, strict=True))
    if wanted - have or len(frame) != len(have):
        raise SystemExit(f"{raw}: {len(wanted - have)} of {len(wanted)} rows missing, "
                         f"{len(frame) - len(have)} duplicated; rerun to finish the grid")
    frame = frame[[key in wanted for key in zip(frame.run_id, frame.eval_set, strict=True)]]
    for row in frame.to_dict("records"):
        validate_row(row)
    return frame.sort_values(SORT, kind="stable").reset_index(drop=True)


def write_atomically(frame: pd.DataFrame, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, out)


def summary(frame: pd.DataFrame) -> list[str]:
    """The mixup slope effect by the three estimators, and what made the table."""
    import powerlaw_stats as ps
    from powerlaw_stats.data import datasets

    lines = [f"{len(frame)} rows, {frame.run_id.nunique()} runs, train_seconds per run: "
             f"median {frame.drop_duplicates('run_id').train_seconds.median():.1f} s"]
    for method in ("ols", "huber", "bisquare"):
        c = ps.fit(datasets.EXAMPLE_FORMULA, frame, method, datasets.EXAMPLE_WEIGHTS).coefficient(datasets.EXAMPLE_EFFECT)
        lines.append(f"{datasets.EXAMPLE_EFFECT} {method:9s} {c.estimate:+.4f} (SE {c.std_error:.4f}, p = {c.p_value:.3g})")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("torch", "mlxtend", "scikit-learn", "numpy"))
    lines.append(f"{versions}; Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "examples" / "digits_grid.toml")
    ap.add_argument("--raw", type=Path, default=Path("digits_grid_raw.csv"), help="resumable grid output")
    ap.add_argument("--out", type=Path, default=ROOT / "powerlaw_stats" / "datasets" / "digits_curves.csv")
    ap.add_argument("--workers", type=int, default=2, help="CPU worker processes")
    args = ap.parse_args()
    seconds = run_grid(args.spec, args.raw, args.workers)
    frame = tidy(args.raw, args.spec)
    write_atomically(frame, args.out)
    print(f"grid: {seconds:.0f} s wall; table: {args.out}")
    print(*summary(frame), sep="\n")


if __name__ == "__main__":
    main()
