"""Speed of ``powerlaw_stats.simulate`` against a loop of statsmodels fits, in one process.

Run:  python benchmarks/bench_simulate.py [--trials 1000] [--runs 5] [--baseline-trials 1000] [--baseline DIR]

The task is the seed study's: curves_a (832 rows, 10 coefficients, weights w = 1/trials), normal
residuals on the observed design, every trial fitted by weighted least squares, Huber and bisquare
IRWLS. Ours is ``simulate`` end to end (drawing, fitting, SEs, summary), median of ``--runs``.
The baseline fits the very same responses one trial at a time as a statsmodels user would: WLS,
then RLM with HuberT and TukeyBiweight on the sqrt(w)-scaled problem, asking each for its SEs.
Both run with BLAS on one thread (what ``simulate`` uses; with p = 10 more threads only add
synchronisation), so the ratio compares algorithms, not thread counts. Agreement with the
baseline is printed beside the times: WLS must match to rounding; RLM differs slightly because
statsmodels' MAD is centred at the median where MASS's is centred at zero.

``--baseline DIR`` also times the ``powerlaw_stats`` package of another checkout (``DIR`` holds
its ``powerlaw_stats/``, e.g. main's) in the same process, runs interleaved with ours, and compares
the figures: identical to the bit at MASS's settings; at our defaults (acc 1e-10) IRWLS ends in
Newton steps, so the estimates and SEs may differ by as much as a fit at acc 1e-10 is from the
exact optimum: :data:`FIGURE_RTOL` of each term's largest |value| (we see 1e-10 to 2e-10 here), with
the convergence flags and the summary's coverage and failures identical. It also prints the mean
IRWLS iterations of each M-estimator, ours and the baseline's, at acc 1e-10 and 1e-4.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import powerlaw_stats as ps

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "tests" / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"


def timed(run, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (CPU counts every worker thread) of ``runs`` calls of ``run``."""
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def ours(trials: int, runs: int, package=ps, **options) -> tuple[list[float], list[float], ps.SimulationResult]:
    """Wall and CPU seconds of ``simulate`` over ``runs`` calls, after a warm-up that keeps the responses."""
    sim = package.simulate(FORMULA, CSV, weights="w", n_trials=trials, keep_responses=True, **options)
    wall, cpu = timed(lambda: package.simulate(FORMULA, CSV, weights="w", n_trials=trials, **options), runs)
    return wall, cpu, sim


def interleaved(trials: int, runs: int, base, **options) -> tuple[tuple[list[float], list[float]], ...]:
    """Ours and the baseline package's times, one call each in turn (the order alternating), so load hits both alike."""
    times: dict[str, tuple[list[float], list[float]]] = {"ours": ([], []), "base": ([], [])}
    for k in range(runs):
        for name in (("ours", "base") if k % 2 == 0 else ("base", "ours")):
            package = ps if name == "ours" else base
            wall, cpu = timed(lambda p=package: p.simulate(FORMULA, CSV, weights="w", n_trials=trials, **options), 1)
            times[name][0].extend(wall)
            times[name][1].extend(cpu)
    return times["ours"], times["base"]


def load_baseline(root: Path):
    """The ``powerlaw_stats`` package under ``root`` imported as ``powerlaw_stats_baseline`` (its imports are relative)."""
    name = "powerlaw_stats_baseline"
    spec = importlib.util.spec_from_file_location(name, root / "powerlaw_stats" / "__init__.py",
                                                  submodule_search_locations=[str(root / "powerlaw_stats")])
    if spec is None or spec.loader is None:
        raise SystemExit(f"no powerlaw_stats package under {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


FIGURE_RTOL = 1e-9  # of each term's largest |value|: a fit at acc 1e-10 is up to ~5e-10 of that from the optimum


def same_figures(a, b) -> str:
    """Whether two simulations have the same per-trial estimates, SEs, flags and summary: to the bit, or how close."""
    arrays = [(a.estimates, b.estimates), (a.std_errors, b.std_errors), (a.converged, b.converged)]
    same = all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k], equal_nan=True) for k in x) for x, y in arrays)
    if same and a.summary.equals(b.summary):
        return "identical to the bit"
    worst = {"estimates": 0.0, "SEs": 0.0}
    for label, x, y in (("estimates", a.estimates, b.estimates), ("SEs", a.std_errors, b.std_errors)):
        for k in x:
            size = np.nanmax(np.abs(y[k]), axis=0)
            worst[label] = max(worst[label], float(np.nanmax(np.nanmax(np.abs(x[k] - y[k]), axis=0) / size)))
    flags = all(np.array_equal(a.converged[k], b.converged[k]) for k in a.converged)
    counts = a.summary[["coverage", "failures"]].equals(b.summary[["coverage", "failures"]])
    ok = flags and counts and max(worst.values()) <= FIGURE_RTOL
    return (f"{'within' if ok else 'NOT within'} {FIGURE_RTOL:g} of each term's largest value: estimates "
            f"{worst['estimates']:.1e}, SEs {worst['SEs']:.1e}; flags {'identical' if flags else 'DIFFERENT'}, "
            f"coverage and failures {'identical' if counts else 'DIFFERENT'}")


def iterations(sim: ps.SimulationResult, package, acc: float) -> dict[str, float]:
    """Mean IRWLS iterations of Huber and bisquare on the simulation's responses, with ``package``'s IRWLS."""
    x = ps.fit(FORMULA, sim.data, weights="w").design.x
    root = np.sqrt(sim.prior_weights)
    xw, yw = x * root[:, None], sim.responses * root
    est = package.estimation
    coef, _ = est.least_squares.least_squares_many(xw, yw)
    control = est.irwls.IrwlsControl(acc=acc, maxit=200 if acc < 1e-4 else 20)
    return {name: float(est.irwls.irwls(xw, yw, est.norms.make_norm(name), control=control, start=coef).n_iter.mean())
            for name in ("huber", "bisquare")}


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


def spread(values: list[float]) -> str:
    """Median [min–max]."""
    return f"{statistics.median(values):6.3f} [{min(values):.3f}–{max(values):.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-trials", type=int, default=1000, help="statsmodels trials (time scaled to --trials)")
    ap.add_argument("--baseline", type=Path, help="a checkout whose powerlaw_stats is timed beside ours, interleaved")
    args = ap.parse_args()
    wall, cpu, sim = ours(args.trials, 1)
    rows = []
    if args.baseline is not None:
        base = load_baseline(args.baseline.resolve())
        _, _, base_sim = ours(args.trials, 1, base)
        for label, options in (("", {}), (", MASS's maxit 20, acc 1e-4", {"r_defaults": True})):
            (w, c), (bw, bc) = interleaved(args.trials, args.runs, base, **options)
            rows += [(f"powerlaw_stats.simulate{label}", w, c), (f"  baseline {args.baseline.name}{label}", bw, bc)]
    else:
        rows.append((f"powerlaw_stats.simulate (median of {args.runs})", *ours(args.trials, args.runs)[:2]))
        rows.append(("powerlaw_stats.simulate, MASS's maxit 20, acc 1e-4", *ours(args.trials, args.runs, r_defaults=True)[:2]))
    n_base = min(args.baseline_trials, args.trials)
    b_wall, b_cpu, fits = statsmodels_loop(sim, n_base)
    scale = args.trials / n_base
    b_wall, b_cpu = b_wall * scale, b_cpu * scale
    print(f"simulate, {args.trials} trials x (WLS, Huber, bisquare) on curves_a (832 rows, 10 coefficients)")
    print(f"{'method':52s} {'wall s, median [range]':>24s} {'CPU s, median [range]':>24s} {'wall ratio':>11s} {'CPU ratio':>10s}")
    rows.append((f"statsmodels loop ({n_base} trials{', scaled' if n_base < args.trials else ''})", [b_wall], [b_cpu]))
    for label, w, c in rows:
        print(f"{label:52s} {spread(w):>24s} {spread(c):>24s} {b_wall / statistics.median(w):11.1f} "
              f"{b_cpu / statistics.median(c):10.1f}")
    print("(ratio = statsmodels loop time / this row's median time)")
    if args.baseline is not None:
        for i in range(0, len(rows) - 1, 2):
            (label, w, c), (_, bw, bc) = rows[i], rows[i + 1]
            what = label[len("powerlaw_stats.simulate"):]
            print(f"ours / baseline{what}: wall {statistics.median(w) / statistics.median(bw):.2f}, "
                  f"CPU {statistics.median(c) / statistics.median(bc):.2f}")
        print(f"figures against the baseline at the same seed: {same_figures(sim, base_sim)}")
        mass = ours(args.trials, 0, base, r_defaults=True)[2], ours(args.trials, 0, ps, r_defaults=True)[2]
        print(f"figures against the baseline at MASS's settings: {same_figures(mass[1], mass[0])}")
        for acc in (1e-10, 1e-4):
            ni, nb = iterations(sim, ps, acc), iterations(sim, base, acc)
            print(f"mean IRWLS iterations at acc {acc:g}: " + ", ".join(
                f"{name} {ni[name]:.2f} (baseline {nb[name]:.2f})" for name in ni))
    for name in ("ols", "huber", "bisquare"):
        diff = np.nanmax(np.abs(sim.estimates[name][:n_base] - fits[name]))
        print(f"max |ours - statsmodels| {name:9s} {diff:.2e}")


if __name__ == "__main__":
    main()
