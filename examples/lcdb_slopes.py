"""Do two learners learn at different power-law rates? LCDB's curves on one OpenML data set.

    python examples/lcdb_slopes.py tests/data/lcdb_letter.csv.gz [--openmlid 6] [--trials 1000]

Fits log2 error on log2 training size with a learner interaction, by least squares and by
Huber and bisquare IRWLS with weights 1/trials, prints each estimator's estimate of the slope
difference, then (when the simulation module is available) checks how accurate each estimator's
standard error is on synthetic data shaped like these curves.
"""

from __future__ import annotations

import argparse

import powerlaw_stats as ps
from powerlaw_stats.data.datasets.lcdb import load_lcdb

FORMULA = "log_err ~ I(log2(TS)-IXMin)*learner"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--openmlid", type=int, default=None)
    ap.add_argument("--learners", nargs=2, default=["LogisticRegression", "MLPClassifier"])
    ap.add_argument("--trials", type=int, default=1000)
    args = ap.parse_args()
    table = load_lcdb(args.path, openmlid=args.openmlid, learners=args.learners)
    print(*table.attrs["notes"], sep="\n")
    fits = {m: ps.fit(FORMULA, table, m, "w") for m in ("ols", "huber", "bisquare")}
    term = next(t for t in fits["ols"].params.index if t.startswith("I(log2(TS) - IXMin):learner"))
    base = fits["ols"].coefficient("I(log2(TS)-IXMin)")
    print(f"{args.learners[0]} slope (least squares): {base.estimate:.4f} per doubling of the training set")
    print(f"slope difference, {term}:")
    for method, res in fits.items():
        c = res.coefficient(term)
        print(f"  {method:9s} {c.estimate:+.4f}  95% CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}]  p = {c.p_value:.2g}")
    if "simulate" in ps.__all__:  # the simulation is optional here: fit alone answers the question
        sim = ps.simulate(FORMULA, table, weights="w", residuals="skewed-hetero", n_trials=args.trials, terms=[term])
        print(sim.summary[["estimator", "term", "bias", "sd_estimate", "mean_se", "se_ratio", "coverage"]].to_string(index=False))


if __name__ == "__main__":
    main()
