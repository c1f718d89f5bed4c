"""A documented generator for a synthetic learning-curve table shaped like the seed study.

It stood in as the bundled example until real curves made by our trainer (``digits_curves.csv``)
replaced it; the file is kept beside them for comparison. The mean of
log2 error follows the seed study's published least-squares coefficients; the noise is skewed to
the right (a shifted gamma) and wider at small training sizes, as the seed's residuals were.

Regenerate ``synthetic_curves.csv`` with ``python -m powerlaw_stats.data.datasets.synthetic``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

# The seed study's first table (least squares), rounded to four digits.
SEED_COEFFICIENTS = {
    "(Intercept)": -0.6266, "slope": -0.7038, "mix": 0.0001, "slope:mix": -0.0326,
    "CinicTr": 0.4738, "CinicEv": 0.0770, "CinicTr:CinicEv": -0.2542,
    "slope:CinicTr": 0.0338, "slope:CinicEv": 0.4753, "slope:CinicTr:CinicEv": -0.1922,
}
POOLS = {"cifar10": 50_000, "cinic10": 100_000}
PARAMS = {16: 175_258}
SMALLEST = 3125
SEED = 7


def _mean_log2_error(x: float, mix: int, tr: int, ev: int) -> float:
    b = SEED_COEFFICIENTS
    intercept = b["(Intercept)"] + b["mix"] * mix + b["CinicTr"] * tr + b["CinicEv"] * ev + b["CinicTr:CinicEv"] * tr * ev
    slope = (b["slope"] + b["slope:mix"] * mix + b["slope:CinicTr"] * tr + b["slope:CinicEv"] * ev
             + b["slope:CinicTr:CinicEv"] * tr * ev)
    return intercept + slope * x


def _runs(min_trials: int):
    for train_set, pool in POOLS.items():
        for mix in (0, 1):
            n = 1
            while pool // n >= SMALLEST:
                for trial in range(max(n, min_trials)):
                    yield train_set, pool // n, n, trial, mix
                n *= 2


def make_synthetic_curves(seed: int = SEED, min_trials: int = 4) -> pd.DataFrame:
    """Rows in the learning-curve schema: width 16, both sets, mixup on/off, seed trial scheme.

    Examples
    --------
    >>> make_synthetic_curves().groupby("train_set").train_size.min().tolist()
    [3125, 3125]
    """
    rng = np.random.default_rng(seed)
    rows = []
    for run, (train_set, size, n, trial, mix) in enumerate(_runs(min_trials)):
        x = np.log2(size / SMALLEST)
        for eval_set in POOLS:
            mu = _mean_log2_error(x, mix, int(train_set == "cinic10"), int(eval_set == "cinic10"))
            spread = 0.06 + 0.04 * max(0.0, 1 - x / 5)  # wider at small sizes
            noise = spread * (rng.gamma(2.0) - 2.0) / np.sqrt(2.0)  # mean 0, right-skewed
            rows.append({
                "run_id": f"s{run:04d}", "train_set": train_set, "eval_set": eval_set, "train_size": size,
                "n_splits": n, "split": trial % n, "trial": trial, "trials": max(n, min_trials), "width": 16,
                "params": PARAMS[16], "mixup": mix, "error": round(float(2.0 ** (mu + noise)), 6),
            })
    return pd.DataFrame(rows)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("synthetic_curves.csv")
    make_synthetic_curves().to_csv(out, index=False)
    print(out)
