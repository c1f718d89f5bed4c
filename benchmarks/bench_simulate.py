"""Speed of ``powerlaw_stats.simulate`` against a loop of statsmodels fits, in one process.

Run:  python benchmarks/bench_simulate.py [--trials 1000] [--runs 5] [--baseline-trials 1000]

The task is the seed study's: curves_a (832 rows, 10 coefficients, weights w = 1/trials), normal
residuals on the observed design, every trial fitted by weighted least squares, Huber and bisquare
IRWLS. Ours is ``simulate`` end to end (drawing, fitting, SEs, summary), median of ``--runs``.
The baseline fits the very same responses one trial at a time as a statsmodels user would: WLS,
then RLM with HuberT and TukeyBiweight on the sqrt(w)-scaled problem, asking each for its SEs.
Both run with BLAS on one thread (what ``simulate`` uses; with p = 10 more threads only add
synchronisation), so the ratio compares algorithms, not thread counts. Agreement with the
baseline is printed beside the times: WLS must match to rounding; RLM differs slightly because
statsmodels' MAD is centred at the median where MASS's is centred at zero.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import powerlaw_stats as ps

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "tests" / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"


def ours(trials: int, runs: int, **options) -> tuple[float, float, ps.SimulationResult]:
    """Median wall and CPU seconds of ``simulate`` (CPU counts every worker thread)."""
    sim = ps.simulate(FORMULA, CSV, weights="w", n_trials=trials, keep_responses=True, **options)  # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        ps.simulate(FORMULA, CSV, weights="w", n_trials=trials, **options)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), sim


def statsmodels_loop(sim: ps.SimulationResult, trials: int) -> tuple[float, float, dict[str, np.ndarray]]:
    import statsmodels.api as sm

    x = ps.fit(FORMULA, sim.data, weights="w").design.x
    w = sim.prior_weights
    root = np.sqrt(w)
    xw = x * root[:, None]
    out = {name: np.empty((trials, x.shape[1])) for name in ("ols", "huber", "bisquare")}
    t0, c0 = time.perf_counter(), time.process_time()
    with threadpool_limits(1, user_api="blas"):
        for t in range(trials):
            y = sim.responses[t]
            wls = sm.WLS(y, x, weights=w).fit()
            huber = sm.RLM(y * root, xw, M=sm.robust.norms.HuberT()).fit()
            bisq = sm.RLM(y * root, xw, M=sm.robust.norms.TukeyBiweight()).fit()
            for name, res in (("ols", wls), ("huber", huber), ("bisquare", bisq)):
                _ = res.bse
                out[name][t] = res.params
    return time.perf_counter() - t0, time.process_time() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-trials", type=int, default=1000, help="statsmodels trials (time scaled to --trials)")
    args = ap.parse_args()
    wall, cpu, sim = ours(args.trials, args.runs)
    r_wall, r_cpu, _ = ours(args.trials, args.runs, r_defaults=True)
    n_base = min(args.baseline_trials, args.trials)
    b_wall, b_cpu, fits = statsmodels_loop(sim, n_base)
    scale = args.trials / n_base
    b_wall, b_cpu = b_wall * scale, b_cpu * scale
    print(f"simulate, {args.trials} trials x (WLS, Huber, bisquare) on curves_a (832 rows, 10 coefficients)")
    print(f"{'method':52s} {'wall s':>8s} {'CPU s':>8s} {'wall ratio':>11s} {'CPU ratio':>10s}")
    rows = [(f"powerlaw_stats.simulate (median of {args.runs})", wall, cpu),
            ("powerlaw_stats.simulate, MASS's maxit 20, acc 1e-4", r_wall, r_cpu),
            (f"statsmodels loop ({n_base} trials{', scaled' if n_base < args.trials else ''})", b_wall, b_cpu)]
    for label, w, c in rows:
        print(f"{label:52s} {w:8.3f} {c:8.3f} {b_wall / w:11.1f} {b_cpu / c:10.1f}")
    print("(ratio = statsmodels loop time / this row's time)")
    for name in ("ols", "huber", "bisquare"):
        diff = np.nanmax(np.abs(sim.estimates[name][:n_base] - fits[name]))
        print(f"max |ours - statsmodels| {name:9s} {diff:.2e}")


if __name__ == "__main__":
    main()
