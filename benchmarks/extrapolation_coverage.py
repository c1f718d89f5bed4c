"""Coverage of 95 % forecast intervals beyond the data, on simulated curves with a known truth.

Fit on the 5 smallest of 9 doubling sizes (3 runs each, normal noise of SD ``sigma`` in log2
error), forecast the 4 larger ones (distance 0.25 to 1 observed log-size range beyond the data);
report how often the prediction interval covers a new run and the confidence band the true mean.
The last rows fit the straight line to a curve that bends to a floor: what misspecification costs.

    python benchmarks/extrapolation_coverage.py [n_trials]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from powerlaw_stats.extrapolation.coverage import forecast_coverage
from powerlaw_stats.extrapolation.intervals import forecast_curve, law_inputs

CASES = [
    ("loglinear", {"a": -1.0, "b": -0.5}, 0.1, "loglinear"),
    ("saturating", {"E": 0.05, "a": -1.0, "b": -0.7}, 0.1, "saturating"),
    ("saturating", {"E": 0.05, "a": -1.0, "b": -0.7}, 0.25, "saturating"),
    ("saturating", {"E": 0.01, "a": -1.0, "b": -0.7}, 0.1, "saturating, small floor"),
]


def misspecified(n_trials: int, sigma: float = 0.1, seed: int = 0) -> np.ndarray:
    """The log-linear law's prediction-interval coverage on a saturating truth (E = 0.05)."""
    from powerlaw_stats.laws.registry import get_law

    law = get_law("saturating")
    rng = np.random.default_rng(seed)
    sizes = 100.0 * 2.0 ** np.arange(9)
    mean = law.mean({"E": np.full(9, 0.05), "a": np.full(9, -1.0), "b": np.full(9, -0.7)},
                    law_inputs(law, sizes, 100.0))
    x = np.repeat(sizes[:5], 3)
    hits = np.zeros(4)
    for _ in range(n_trials):
        y = np.repeat(mean[:5], 3) + sigma * rng.standard_normal(15)
        new = np.exp2(mean[5:] + sigma * rng.standard_normal(4))
        f = forecast_curve("loglinear", x, np.exp2(y), sizes[5:])
        hits += (f.pi_low <= new) & (new <= f.pi_high)
    return hits / n_trials


def main() -> None:
    n_trials = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(f"95 % intervals, {n_trials} simulated curves per case; coverage at distance 0.25 / 0.5 / 0.75 / 1")
    for law, truth, sigma, label in CASES:
        t0 = time.perf_counter()
        s = forecast_coverage(law, truth, sigma=sigma, n_trials=n_trials)
        pi = " / ".join(f"{v:.3f}" for v in s.table.prediction)
        ci = " / ".join(f"{v:.3f}" for v in s.table.confidence)
        print(f"{label:28s} sigma {sigma:<5g} prediction {pi}   confidence {ci}   "
              f"failed {s.failed}   {time.perf_counter() - t0:.1f} s")
    pi = " / ".join(f"{v:.3f}" for v in misspecified(n_trials))
    print(f"{'loglinear fit, floor truth':28s} sigma 0.1   prediction {pi}")


if __name__ == "__main__":
    main()
