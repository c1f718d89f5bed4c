"""Batched wild bootstrap against a loop of refits, on curves_a (832 rows, 10 coefficients).

Run:  python benchmarks/bench_bootstrap.py [--replications 999] [--loop 50]

For each method the batched `wild_bootstrap` (clustered by run_id, studentized by CR1) is timed
with the given number of replications; the baseline, timed in the same process, is the obvious
loop: for each replication draw the cluster weights, build y*, call `fit` with the same options.
The loop is timed on `--loop` replications and scaled per replication; the ratio is per-replication
loop time over per-replication batched time. For MM the loop's `fit` also re-runs the S-estimate,
which the bootstrap holds fixed, so that ratio overstates the gain of batching alone.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import powerlaw_stats as ps
from powerlaw_stats.inference.bootstrap import wild_bootstrap, wild_weights
from powerlaw_stats.inference.covariance import make_clusters

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "tests" / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"


def loop_baseline(res, reps: int, method: str) -> float:
    rng = np.random.default_rng(0)
    codes = make_clusters({"run_id": res.data["run_id"].to_numpy()}).terms[0][1]
    start = time.perf_counter()
    for _ in range(reps):
        v = wild_weights(rng, (1, codes.max() + 1), "rademacher")[0, codes]
        frame = res.data.assign(log_err=res.fittedvalues + res.resid * v)
        ps.fit(FORMULA, frame, method=method, weights="w", cluster="run_id")
    return (time.perf_counter() - start) / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=999)
    ap.add_argument("--loop", type=int, default=50)
    args = ap.parse_args()
    print(f"{'method':10} {'batched s/rep':>14} {'loop s/rep':>11} {'ratio':>7}")
    for method in ("ols", "huber", "bisquare", "mm"):
        res = ps.fit(FORMULA, CSV, method=method, weights="w", cluster="run_id")
        start = time.perf_counter()
        wild_bootstrap(res, args.replications)
        batched = (time.perf_counter() - start) / args.replications
        loop = loop_baseline(res, args.loop, method)
        print(f"{method:10} {batched:14.2e} {loop:11.2e} {loop / batched:7.1f}")


if __name__ == "__main__":
    main()
