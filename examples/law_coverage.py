"""Coverage of the saturating law's intervals for mixup's slope effect (b.mix1), by simulation.

Writes the tables of docs/laws.md ("Coverage"): for each scenario, simulated studies like the
seed's grid (two training sets × two test sets × mixup, runs per size as stated), each fitted from
scratch, and the share of 95 % Wald and profile intervals that contain the truth, for b.mix1 and
for the slope's intercept b.(Intercept), the term a floor is confounded with.

    python examples/law_coverage.py [n_studies] > coverage.md
"""

from __future__ import annotations

import sys
import time

from powerlaw_stats.laws.coverage import DEFAULT_TRUTH, StudyDesign, coverage

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
TERMS = ("b.mix1", "b.(Intercept)")
FLOOR_NEAR = {**DEFAULT_TRUTH, "E.(Intercept)": 0.3, "E.EvalSetcinic10": 0.15}
NO_FLOOR = {**DEFAULT_TRUTH, "E.(Intercept)": 0.0, "E.EvalSetcinic10": 0.0}
SCENARIOS = [
    ("baseline: 5 sizes, 4 runs each, floors 0.03 / 0.15", DEFAULT_TRUTH, StudyDesign(), "classic"),
    ("seed's trial scheme: max(n, 4) runs, weights 1/trials", DEFAULT_TRUTH, StudyDesign(trial_scheme="seed"), "classic"),
    ("seed's trial scheme, HC1 standard errors", DEFAULT_TRUTH, StudyDesign(trial_scheme="seed"), "HC1"),
    ("3 sizes (1/4 to 1/1 of the pool)", DEFAULT_TRUTH, StudyDesign(n_sizes=3), "classic"),
    ("floor near the smallest error: floors 0.30 / 0.45", FLOOR_NEAR, StudyDesign(), "classic"),
    ("no floor (E = 0, on the bound)", NO_FLOOR, StudyDesign(), "classic"),
    ("3 sizes and floors 0.30 / 0.45", FLOOR_NEAR, StudyDesign(n_sizes=3), "classic"),
]

rows: dict[str, list[str]] = {t: [] for t in TERMS}
for label, truth, design, vcov in SCENARIOS:
    t0 = time.perf_counter()
    res = coverage(truth, design=design, n_studies=N, seed=20240601, terms=TERMS, vcov=vcov)
    for term in TERMS:
        s = res.summary.loc[term]
        rows[term].append(
            f"| {label} | {int(s.studies)} | {int(s.failed)} | {s.bound_active:.1%} | {s.sd_estimate:.4f} | "
            f"{s.mean_se:.4f} | {s.wald_coverage:.1%} ± {s.wald_mc_se:.1%} | "
            f"{s.profile_coverage:.1%} ± {s.profile_mc_se:.1%} |")
    print(f"{label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

for term in TERMS:
    print(f"\n{term}\n")
    print("| scenario | studies | failed | floor at bound | SD of estimate | mean SE | Wald coverage | profile coverage |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows[term]))
