"""Whole-process time of `powerlaw-stats fit` (weighted Huber on curves_a, table output).

Run:  python benchmarks/bench_fit.py [--runs 9]

Everything is timed as a fresh process, interleaved, in this one run, and reported as medians and
ratios to two baselines measured alongside it:
- the floor: a Python process that only imports pandas and patsy (what any formula fit must load);
- statsmodels: the same weighted Huber fit through `statsmodels.formula.api.rlm` (its usual path).
If `Rscript` is on PATH, R's `MASS::rlm` on the same table is timed too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "tests" / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"

STATSMODELS = f"""
import numpy as np, pandas as pd, statsmodels.api as sm, statsmodels.formula.api as smf
d = pd.read_csv({str(CSV)!r})
d["TS"] = d.train_size; d["log_err"] = np.log2(d.error); d["mix"] = d.mixup.astype(str)
d["CinicTr"] = (d.train_set == "cinic10").astype(int).astype(str)
d["CinicEv"] = (d.eval_set == "cinic10").astype(int).astype(str)
IXMin = np.log2(d.TS.min()); w = np.sqrt(1 / d.trials.to_numpy())
m = smf.ols("log_err ~ I(np.log2(TS)-IXMin)*(mix+CinicTr*CinicEv)", d).fit().model
print(sm.RLM(m.endog * w, m.exog * w[:, None], M=sm.robust.norms.HuberT()).fit(conv='coefs', tol=1e-10).summary())
"""

R_SCRIPT = f"""
suppressMessages(library(MASS)); d <- read.csv("{CSV}")
d$TS <- d$train_size; d$log_err <- log2(d$error); d$mix <- factor(d$mixup)
d$CinicTr <- factor(as.integer(d$train_set == "cinic10")); d$CinicEv <- factor(as.integer(d$eval_set == "cinic10"))
d$w <- 1 / d$trials; IXMin <- log2(min(d$TS))
print(summary(rlm(log_err ~ I(log2(TS) - IXMin) * (mix + CinicTr * CinicEv), data = d, weights = w)))
"""


def commands() -> dict[str, list[str]]:
    cli = shutil.which("powerlaw-stats") or "powerlaw-stats"
    out = {
        "powerlaw-stats fit": [cli, "fit", str(CSV), "--formula", FORMULA, "--method", "huber", "--weights", "w"],
        "floor (import pandas, patsy)": [sys.executable, "-c", "import pandas, patsy"],
        "statsmodels RLM": [sys.executable, "-c", STATSMODELS],
    }
    if shutil.which("Rscript"):
        out["R MASS::rlm"] = ["Rscript", "-e", R_SCRIPT]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    runs = ap.parse_args().runs
    cmds = commands()
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():  # warm-up: file cache, .pyc files
        subprocess.run(cmd, capture_output=True, check=True)
    for _ in range(runs):
        for name, cmd in cmds.items():  # interleaved, so drift hits every command alike
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    ours = med["powerlaw-stats fit"]
    print(f"{'command':32s} {'median s':>9s} {'ours / this':>12s}")
    for name, m in med.items():
        print(f"{name:32s} {m:9.3f} {ours / m:12.2f}")


if __name__ == "__main__":
    main()
