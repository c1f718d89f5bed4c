"""How far ``simulate`` and ``fit`` move against another checkout's (e.g. main's), case by case, in one process.

Run:  python benchmarks/agree_simulate.py --baseline /path/to/main [--trials 200] [--exact]

For a grid of simulations on curves_a (seeds; residual models normal, empirical, skewed-hetero;
designs observed, n, min4; inverse-variance, case and no weights; classic, HC1 and CR1 standard
errors; ols, huber, bisquare and, on a few cases, mm) it prints the largest absolute and relative
differences of the per-trial estimates and standard errors, whether the convergence flags agree,
and the largest difference in the summary's numbers; then the same for single ``fit`` results
(params, bse, scale, weights; MAD and proposal-2 scales). ``--exact`` also runs the baseline at
acc 1e-14 (maxit 1000), near the exact fixed point, and prints how far each side is from it: the
largest absolute difference of the estimates and the largest relative one of the SEs (trials the
acc-1e-14 run does not converge, at rounding level, are left out).
Relative differences are |a - b| over the largest |b| of the same term (or summary column).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_simulate import CSV, FORMULA, load_baseline  # noqa: E402

import powerlaw_stats as ps  # noqa: E402


def differences(a, b) -> tuple[float, float]:
    """Largest |a - b|, and largest |a - b| relative to the column's largest |b| (one column per term).

    Entries that are not finite on either side are left out (the flags are compared separately).
    """
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return 0.0, 0.0
    d = np.where(both, np.abs(a - b), 0.0)
    size = np.where(both, np.abs(b), 0.0).max(axis=0)
    rel = np.divide(d.max(axis=0), size, out=np.zeros_like(size), where=size > 0)
    return float(d.max()), float(rel.max())


def cases():
    """The simulations compared: every residual model x design, the other options rotating through them."""
    weights = [("w", "inv.var"), ("w", "case"), (None, "inv.var")]
    vcovs = [None, "HC1", "CR1"]
    for k, (residuals, design) in enumerate(itertools.product(["normal", "empirical", "skewed-hetero"],
                                                              ["observed", "n", "min4"])):
        for seed in (k, 100 + k):
            w, wt = weights[(k + seed) % 3]
            vcov = None if wt == "case" else vcovs[(k + 2 * seed) % 3]  # sandwiches take inverse-variance weights
            estimators = ["ols", "huber", "bisquare"] + (["mm"] if k % 4 == 0 and seed < 100 and wt != "case" else [])
            yield dict(residuals=residuals, design=design, seed=seed, weights=w, weight_type=wt, vcov=vcov,
                       cluster="run_id" if vcov == "CR1" else None, estimators=estimators)


def simulate(package, trials: int, options: dict, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return package.simulate(FORMULA, CSV, n_trials=trials, **options, **extra)


def compare_simulations(ours, base, exact=None) -> dict[str, float]:
    """The worst differences between two simulations (and each one's distance from ``exact``)."""
    out = {"est_abs": 0.0, "est_rel": 0.0, "se_abs": 0.0, "se_rel": 0.0, "summary": 0.0, "flags_differ": 0,
           "ours_from_exact": 0.0, "base_from_exact": 0.0, "ours_se_from_exact": 0.0, "base_se_from_exact": 0.0}
    for name in ours.estimates:
        ea, er = differences(ours.estimates[name], base.estimates[name])
        sa, sr = differences(ours.std_errors[name], base.std_errors[name])
        out["est_abs"], out["est_rel"] = max(out["est_abs"], ea), max(out["est_rel"], er)
        out["se_abs"], out["se_rel"] = max(out["se_abs"], sa), max(out["se_rel"], sr)
        out["flags_differ"] += int((ours.converged[name] != base.converged[name]).sum())
        if exact is not None:
            out["ours_from_exact"] = max(out["ours_from_exact"], differences(ours.estimates[name], exact.estimates[name])[0])
            out["base_from_exact"] = max(out["base_from_exact"], differences(base.estimates[name], exact.estimates[name])[0])
            for side, sim in (("ours", ours), ("base", base)):
                key = f"{side}_se_from_exact"
                out[key] = max(out[key], differences(sim.std_errors[name], exact.std_errors[name])[1])
    numbers = ours.summary.select_dtypes("number").columns
    out["summary"] = differences(ours.summary[numbers].to_numpy(), base.summary[numbers].to_numpy())[0]
    return out


FITS = [dict(method=m, weights=w, weight_type=wt, scale_est=se, vcov=v)
        for m in ("huber", "bisquare") for w, wt in (("w", "inv.var"), ("w", "case"), (None, "inv.var"))
        for se in ("MAD", "proposal2") for v in ("classic", "HC1")
        if not (m == "bisquare" and se == "proposal2") and not (wt == "case" and v != "classic")]


def compare_fits(base) -> tuple[float, float, int]:
    """The worst relative difference of params, bse, scale and weights over :data:`FITS`, and differing flags."""
    worst_abs, worst_rel, flags = 0.0, 0.0, 0
    for options in FITS:
        kwargs = {k: v for k, v in options.items() if v is not None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a, b = ps.fit(FORMULA, CSV, **kwargs), base.fit(FORMULA, CSV, **kwargs)
        for x, y in ((a.params, b.params), (a.bse, b.bse), ([a.scale], [b.scale]), (a.weights, b.weights)):
            d_abs, d_rel = differences(np.asarray(x), np.asarray(y))
            worst_abs, worst_rel = max(worst_abs, d_abs), max(worst_rel, d_rel)
        flags += int(a.converged != b.converged)
    return worst_abs, worst_rel, flags


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--exact", action="store_true", help="also run the baseline at acc 1e-14, maxit 1000")
    args = ap.parse_args()
    base = load_baseline(args.baseline.resolve())
    worst: dict[str, float] = {}
    print(f"{'case':58s} {'est abs':>8s} {'est rel':>8s} {'se abs':>8s} {'se rel':>8s} {'summary':>8s} flags"
          + (f" {'ours-exact':>10s} {'base-exact':>10s} {'se rel':>8s} {'se rel':>8s}" if args.exact else ""))
    for options in cases():
        ours, theirs = simulate(ps, args.trials, options), simulate(base, args.trials, options)
        exact = simulate(base, args.trials, options, acc=1e-14, maxit=1000) if args.exact else None
        d = compare_simulations(ours, theirs, exact)
        for key, value in d.items():
            worst[key] = max(worst.get(key, 0.0), value)
        label = (f"{options['residuals']}/{options['design']} seed {options['seed']} w={options['weights']}/"
                 f"{options['weight_type']} {options['vcov'] or 'classic'}{' +mm' if 'mm' in options['estimators'] else ''}")
        print(f"{label:58s} {d['est_abs']:8.1e} {d['est_rel']:8.1e} {d['se_abs']:8.1e} {d['se_rel']:8.1e} "
              f"{d['summary']:8.1e} {d['flags_differ']:5d}"
              + (f" {d['ours_from_exact']:10.1e} {d['base_from_exact']:10.1e} {d['ours_se_from_exact']:8.1e} "
                 f"{d['base_se_from_exact']:8.1e}" if args.exact else ""))
    print("worst over the simulations: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    fa, fr, flags = compare_fits(base)
    print(f"fit ({len(FITS)} robust fits): worst abs {fa:.2e}, worst rel {fr:.2e}, converged flags differing {flags}")


if __name__ == "__main__":
    main()
