"""A million rows: `powerlaw-stats fit` (weighted Huber, 12 coefficients) against R's `MASS::rlm`.

Run:  python benchmarks/bench_million.py [--rows 1000000] [--runs 3] [--csv PATH] [--parquet] [--baseline DIR]
      [--wide 30] [--no-r]

The table is made once (seeded) in the learning-curve schema: 1,000,000 runs of two data sources,
with and without mixup, four widths (so the parameter count varies), the seed's trial scheme, and
skewed noise that is wider at small sizes; twelve columns as in ``tests/data/curves_a.csv``. The
model has 12 coefficients: the seed's formula plus the parameter count and its change with mixup.

Each command runs as a fresh process, interleaved with the others in this one run; the script
prints the median wall time and the peak resident memory of each (the child's own ``ru_maxrss``,
from ``os.wait4``), and the ratios of ours to R's. R runs ``benchmarks/million_rows.R`` with our
default iteration settings (maxit 200, acc 1e-10) and, beside it, ``fit --r-defaults`` is compared
with R's own defaults (maxit 20, acc 1e-4). The coefficients and standard errors of each pair are
compared too (R prints them to 17 digits). Without ``Rscript`` only ours is timed. ``--baseline DIR``
adds the same two fits run with the package of another checkout (``PYTHONPATH=DIR``), interleaved
with the others, so a change is measured against what it replaces in the same run, and says whether
the two print the same output, character for character. ``--wide K`` adds K columns of numbers no
model reads (``extra_1``...), the table where reading only the needed columns matters most;
``--no-r`` leaves R out. CPU seconds (user + system of the child) are printed beside wall time:
they move less than wall time when other work shares the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / ".cache" / "million_rows.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv) + I(log2(param)-IPMin)*mix"
POOLS = {"cifar10": 50_000, "cinic10": 100_000}
WIDTHS = {16: 175_258, 32: 697_370, 64: 2_782_106, 128: 11_113_690}


def make_table(rows: int, seed: int = 18, wide: int = 0) -> pd.DataFrame:
    """``rows`` runs in the learning-curve schema (two rows per run: scored on both sets), with ``wide`` unused columns."""
    rng = np.random.default_rng(seed)
    runs = rows // 2
    train = rng.choice(list(POOLS), runs)
    n_splits = 2 ** rng.integers(0, 5, runs)  # 1/1 .. 1/16 of the pool
    size = np.where(train == "cinic10", 100_000, 50_000) // n_splits
    trials = np.maximum(n_splits, 4)
    width = rng.choice(list(WIDTHS), runs)
    mix = rng.integers(0, 2, runs)
    frame = pd.DataFrame({
        "run_id": np.char.add("r", np.arange(runs).astype(str)),
        "train_set": train, "width": width, "params": [WIDTHS[w] for w in width], "mixup": mix,
        "n_splits": n_splits, "split": rng.integers(0, 16, runs) % n_splits, "trial": rng.integers(0, 4, runs),
        "trials": trials, "train_size": size,
    })
    both = pd.concat([frame.assign(eval_set="cifar10"), frame.assign(eval_set="cinic10")], ignore_index=True)
    x = np.log2(both["train_size"] / 3125)
    tr = (both["train_set"] == "cinic10").to_numpy()
    ev = (both["eval_set"] == "cinic10").to_numpy()
    m = both["mixup"].to_numpy()
    logp = np.log2(both["params"] / WIDTHS[16])
    mean = (-0.63 + 0.47 * tr + 0.08 * ev - 0.25 * tr * ev + x * (-0.70 - 0.03 * m + 0.03 * tr + 0.48 * ev - 0.19 * tr * ev)
            - 0.05 * logp + 0.01 * logp * m)
    noise = (rng.gamma(4.0, 0.05, len(both)) - 0.2) * (1.5 - x / 8)
    both["error"] = np.round(np.exp2(mean + noise), 6)
    cols = ["run_id", "train_set", "eval_set", "width", "params", "mixup", "n_splits", "split", "trial", "trials",
            "train_size", "error"]
    extra = {f"extra_{k + 1}": np.round(rng.standard_normal(len(both)), 6) for k in range(wide)}
    return both[cols].assign(**extra) if extra else both[cols]


def ensure_table(path: Path, rows: int, wide: int = 0) -> Path:
    """The table at ``path``, made (and cached) when it is missing or has another number of rows."""
    stamp = path.with_suffix(path.suffix + ".rows")
    if path.exists() and stamp.exists() and stamp.read_text().strip() == str(rows):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = make_table(rows, wide=wide)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    stamp.write_text(str(rows))
    return path


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS (MB), CPU seconds and stdout of ``cmd``, run under :data:`WRAP` (which prints them)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{err}")
    usage = json.loads(err.strip().splitlines()[-1])
    return wall, usage["peak_mb"], usage["cpu_s"], out


WRAP = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
sys.stderr.write("\\n" + json.dumps({"peak_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}) + "\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def wrapped(cmd: list[str]) -> list[str]:
    """``cmd`` run under a parent that reports the child's own peak RSS."""
    return [sys.executable, "-c", WRAP, *cmd]


def commands(path: Path, with_r: bool = True) -> dict[str, list[str]]:
    cli = shutil.which("powerlaw-stats") or "powerlaw-stats"
    fit = [cli, "fit", str(path), "--formula", FORMULA, "--method", "huber", "--weights", "w", "--format", "json"]
    out = {"ours (maxit 200, acc 1e-10)": fit, "ours --r-defaults": [*fit, "--r-defaults"]}
    if with_r and shutil.which("Rscript"):
        script = str(ROOT / "benchmarks" / "million_rows.R")
        out["R MASS::rlm (maxit 200, acc 1e-10)"] = ["Rscript", script, str(path), "tight"]
        out["R MASS::rlm (MASS's defaults)"] = ["Rscript", script, str(path), "mass"]
    return out


def term_key(term: str) -> str:
    """A term's name with white space and the order of its interaction parts ignored (R and patsy order them differently)."""
    return ":".join(sorted(term.replace(" ", "").split(":")))


def ours_numbers(out: str) -> dict[str, tuple[float, float]]:
    doc = json.loads(out)
    return {term_key(c["term"]): (c["estimate"], c["std_error"]) for c in doc["coefficients"]}


def r_numbers(out: str) -> dict[str, tuple[float, float]]:
    rows = [line.split("\t") for line in out.splitlines() if line.startswith("coef\t")]
    return {term_key(r[1]): (float(r[2]), float(r[3])) for r in rows}


def max_rel_diff(a: dict, b: dict) -> float:
    return max(max(abs(a[k][i] - b[k][i]) / max(abs(b[k][i]), 1e-300) for i in (0, 1)) for k in b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--csv", type=Path, default=None, help="where the table is cached (default .cache/million_rows.csv)")
    ap.add_argument("--parquet", action="store_true", help="time the same table as Parquet")
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout whose package is timed too")
    ap.add_argument("--wide", type=int, default=0, help="add this many columns no model reads")
    ap.add_argument("--no-r", action="store_true", help="leave R out")
    args = ap.parse_args()
    default = DEFAULT_CSV.with_name(f"million_rows_wide{args.wide}.csv") if args.wide else DEFAULT_CSV
    path = args.csv or (default.with_suffix(".parquet") if args.parquet else default)
    ensure_table(path, args.rows, args.wide)
    cmds = commands(path, with_r=not args.no_r)
    envs: dict[str, dict[str, str] | None] = {name: None for name in cmds}
    if args.baseline is not None:
        base_env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
        for name in ("ours (maxit 200, acc 1e-10)", "ours --r-defaults"):
            label = name.replace("ours", "baseline")
            cmds[label], envs[label] = cmds[name], base_env
    if path.suffix == ".parquet":
        cmds = {k: v for k, v in cmds.items() if not k.startswith("R ")}  # R's script reads CSV only
    wall: dict[str, list[float]] = {k: [] for k in cmds}
    peak: dict[str, list[float]] = {k: [] for k in cmds}
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    outs: dict[str, str] = {}
    for _ in range(args.runs):
        for name, cmd in cmds.items():  # interleaved: a busy spell hits every command alike
            w, p, c, out = run(wrapped(cmd), envs.get(name))
            wall[name].append(w)
            peak[name].append(p)
            cpu[name].append(c)
            outs[name] = out
    columns = 12 + args.wide
    print(f"fit, weighted Huber, {args.rows:,} rows x 12 coefficients ({path.suffix[1:]}, {columns} columns); "
          f"median of {args.runs}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':40s} {'wall s':>8s} {'min-max s':>13s} {'cpu s':>7s} {'peak MB':>8s}")  # the spread is the noise
    for name in cmds:
        print(f"{name:40s} {statistics.median(wall[name]):8.2f} {min(wall[name]):6.2f}-{max(wall[name]):6.2f} "
              f"{statistics.median(cpu[name]):7.2f} {max(peak[name]):8.0f}")
    pairs = [("ours (maxit 200, acc 1e-10)", "R MASS::rlm (maxit 200, acc 1e-10)"),
             ("ours --r-defaults", "R MASS::rlm (MASS's defaults)"),
             ("baseline (maxit 200, acc 1e-10)", "R MASS::rlm (maxit 200, acc 1e-10)"),
             ("baseline --r-defaults", "R MASS::rlm (MASS's defaults)")]
    for ours, r in pairs:
        if r not in cmds or ours not in cmds:
            continue
        t_ratio = statistics.median(wall[ours]) / statistics.median(wall[r])
        m_ratio = max(peak[ours]) / max(peak[r])
        diff = max_rel_diff(ours_numbers(outs[ours]), r_numbers(outs[r]))
        print(f"{ours} / {r}: time {t_ratio:.2f}, peak memory {m_ratio:.2f}, "
              f"largest relative difference in estimates and SEs {diff:.1e}")
    if args.baseline is not None:
        for name in ("ours (maxit 200, acc 1e-10)", "ours --r-defaults"):
            base = name.replace("ours", "baseline")
            diff = max_rel_diff(ours_numbers(outs[name]), ours_numbers(outs[base]))
            print(f"{name} / {base}: time {statistics.median(wall[name]) / statistics.median(wall[base]):.2f}, "
                  f"CPU {statistics.median(cpu[name]) / statistics.median(cpu[base]):.2f}, "
                  f"peak memory {max(peak[name]) / max(peak[base]):.2f}, largest relative difference {diff:.1e}, "
                  f"same output: {'yes' if outs[name] == outs[base] else 'NO'}")


if __name__ == "__main__":
    main()
