"""The backtest on real LCDB curves: OpenML "letter" (data set 6), LogisticRegression and
MLPClassifier, every (outer, inner) seed pair a curve of 20 anchors, as bundled in tests/data.

    python benchmarks/backtest_lcdb.py [--jobs N] [--curves K] [--results FILE]

Prints the mean rank of each law per cutoff (lower is better; LCDB's protocol: squared error at
the last anchor), the prediction-interval coverage, Friedman's test with Nemenyi's CD, and the
time per task, so the whole LCDB (thousands of curves) can be projected per core.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from powerlaw_stats.data.datasets.lcdb import load_lcdb
from powerlaw_stats.extrapolation.backtest import backtest

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "lcdb_letter.csv.gz"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--curves", type=int, default=0, help="first K seed pairs per learner (0: all)")
    ap.add_argument("--results", default=None)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_lcdb(DATA)  # zero errors floored at half a test example (0.5 / 2000)
    if args.curves:
        pair = table.outer_seed * 100 + table.inner_seed
        keep = table.assign(pair=pair).groupby("learner")["pair"].transform(
            lambda s: s.isin(sorted(s.unique())[: args.curves]))
        table = table[keep]
    t0 = time.perf_counter()
    res = backtest(table, groups=["learner", "outer_seed", "inner_seed"], backend="processes" if args.jobs > 1 else "serial",
                   jobs=args.jobs, results=args.results)
    wall = time.perf_counter() - t0
    n_tasks = res.n_curves * len(res.laws) * len(res.cutoffs)
    print(f"{res.n_curves} curves x {len(res.laws)} laws x {len(res.cutoffs)} cutoffs = {n_tasks} tasks in {wall:.0f} s "
          f"on {args.jobs} process(es): {1000 * wall * args.jobs / n_tasks:.1f} ms per task per core")
    print("mean rank (lower is better)")
    print(res.ranks.round(2).to_string())
    print("95 % prediction-interval coverage of held-out runs")
    print(res.coverage.round(3).to_string())
    conv = res.predictions.groupby(["law", "cutoff"])["converged"].mean().unstack()
    print("share of fits converged")
    print(conv.reindex(list(res.laws)).round(2).to_string())
    for k, t in res.tests.items():
        print(f"cutoff {k}: Friedman chi2 {t.statistic:.1f} on {t.df} df, p {t.pvalue:.2g}, {t.n_blocks} blocks, "
              f"Nemenyi CD {t.critical_difference:.2f}")


if __name__ == "__main__":
    main()
