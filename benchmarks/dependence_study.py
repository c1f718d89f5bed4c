"""Level and power of the mixup-slope test when a study's rows depend on each other.

Run:  python benchmarks/dependence_study.py [--studies 300] [--seed 2024] [--scenarios run-dominant,...]
                                            [--no-mixed] [--mixed-weights none|w] [--json out.json]

Null studies come from ``powerlaw_stats.datasets.dependent`` (the seed's grid: 2 training sets ×
2 widths × mixup × 1/1 ... 1/16 of a 50,000 pool, max(n, 4) runs per size, every run on both
evaluation sets with binomial noise on 10,000 / 90,000 test images) with the run and split effects
of each scenario. On each study the mixup slope ``I(log2(TS)-IXMin):mix1`` is tested at 5 % by

- ``ps.effect(data, factor="mixup", groups=["train_set", "eval_set", "width"], dependence="none")``:
  least squares with the classic SE, and bisquare with weights ``w`` and MASS's SE;
- the same fits with CR1 standard errors clustered by ``run_id``;
- the linear mixed model ``+ (1|run_id) + (1|split_id)`` (unweighted, or with lme4 weights ``w`` by
  ``--mixed-weights w``: residual variance σ²/w), Satterthwaite t, and the same estimate with the
  CR2 covariance by ``split_id`` (Bell and McCaffrey's df);
- "auto", what the default ``ps.effect`` (``dependence="auto"``) does on a schema table: a REML
  likelihood-ratio test of the split variance (``+ (1|run_id)`` against ``+ (1|run_id) + (1|split_id)``,
  p halved) at 5 % picks the mixed model's test, else least squares with CR1 by run. With the
  mixed models unweighted, the first studies are run through ``ps.effect`` and must agree (1e-6).

Every study shares one design, so the fixed-effects fits run batched on all studies at once with
the library's own functions (least squares, IRWLS, MASS's SE, the CR1 sandwich); the first studies
of each scenario are also run through ``ps.effect`` itself and must agree to 1e-8, so the table is
``ps.effect``'s. Mixed models refit each response on a model built once (``MixedModel.with_response``).
Rejection rates carry their Monte-Carlo standard error sqrt(p(1-p)/S).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pandas as pd

import powerlaw_stats as ps
from powerlaw_stats.data.datasets.dependent import Dependence, StudyDesign, draw_errors, study_skeleton
from powerlaw_stats.estimation.irwls import IrwlsControl, irwls, rlm_sigma
from powerlaw_stats.estimation.least_squares import least_squares
from powerlaw_stats.estimation.mixed import fit_problem, one_blas_thread
from powerlaw_stats.estimation.norms import Bisquare
from powerlaw_stats.inference.covariance import make_clusters, sandwich_many
from powerlaw_stats.inference.distributions import chi2_sf, t_sf2
from powerlaw_stats.mixed import assemble, build_model

GROUPS = ["train_set", "eval_set", "width"]
ALPHA = 0.05
# Every scenario has binomial test noise, independent row noise of sd 0.03 (log2 error) and sds
# that grow as n ** 0.2 on 1/n of the pool (a run on 1/16 of it varies 1.74 times as much as one on
# all of it). The issue's own generator is not in the repository; these settings were found by a
# small grid search over size_power, run_sd and row_sd so that "run-dominant" gives the issue's
# classic and bisquare+w rates (9.0 % and 11.5 %; 3,000 studies here: 8.9 % and 11.9 %).
BASE = {"row_sd": 0.03, "size_power": 0.2}
SCENARIOS: dict[str, Dependence] = {
    "run-dominant": Dependence(run_sd=0.04, **BASE),
    "split-dominant": Dependence(split_sd=0.04, **BASE),
    "both": Dependence(run_sd=0.04, split_sd=0.04, **BASE),
    "neither": Dependence(**BASE),
    "heavy tails (t3)": Dependence(run_sd=0.04, split_sd=0.04, tails="t", tail_df=3, **BASE),
}
ALTERNATIVE_SLOPE = -0.01  # the mixup change to the slope in the power runs (the seed estimated -0.033)
METHODS = ("ols classic", "bisquare+w classic", "ols CR1(run)", "bisquare+w CR1(run)",
           "lmm run+split", "lmm run+split, CR2(split)", "auto")
# mixed models fitted on each study (their prior weights: --mixed-weights); the CR2 covariance reuses the first fit
MIXED = {"run+split": " + (1|run_id) + (1|split_id)", "run": " + (1|run_id)"}
# "auto": the split variance decides. A REML likelihood-ratio test of (1|split_id) (same fixed
# effects, so REML criteria compare; p halved for the boundary) at AUTO_ALPHA: when the split
# variance is there, the mixed model's Satterthwaite test; when not, least squares with CR1 by run.
AUTO_ALPHA = 0.05


def study_frame(skeleton, errors: np.ndarray) -> pd.DataFrame:
    return skeleton.table.assign(error=errors)


class BatchedEffect:
    """The fixed-effects tests of ``ps.effect`` on many responses sharing one design."""

    def __init__(self, frame: pd.DataFrame):
        res = ps.effect(frame, factor="mixup", groups=GROUPS, dependence="none")
        self.formula = res.formula
        self.term = res.slope[0].term
        design = res.fit.design
        self.j = list(design.column_names).index(self.term)
        self.x = design.x
        self.n, self.p = self.x.shape
        self.root = np.sqrt(1.0 / frame.trials.to_numpy())
        self.clusters = make_clusters({"run_id": frame.run_id.to_numpy()})

    def pvalues(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """Two-sided p-values of the slope term for each row of ``y`` (S × n), by method."""
        df = self.n - self.p
        out = {}
        ls = least_squares(self.x, np.zeros(self.n))
        coef = y @ (ls.xtx_inv @ self.x.T).T
        resid = y - coef @ self.x.T
        sigma2 = (resid**2).sum(axis=1) / df
        out["ols classic"] = _p(coef[:, self.j], np.sqrt(sigma2 * ls.xtx_inv[self.j, self.j]), df)
        cr1 = sandwich_many(self.x, resid, None, "CR1", self.clusters)
        out["ols CR1(run)"] = _p(coef[:, self.j], np.sqrt(cr1[:, self.j, self.j]), df)
        xw, yw = self.x * self.root[:, None], y * self.root[None, :]
        norm = Bisquare()
        xtx_inv = least_squares(xw, np.zeros(self.n)).xtx_inv
        start = yw @ (xtx_inv @ xw.T).T
        fit = irwls(xw, yw, norm, control=IrwlsControl(), start=start)
        sigma = rlm_sigma(fit.resid, fit.scale, norm, self.p)
        out["bisquare+w classic"] = _p(fit.coef[:, self.j], sigma * math.sqrt(xtx_inv[self.j, self.j]), df)
        u = fit.resid / fit.scale[:, None]
        cr1 = sandwich_many(xw, fit.resid * norm.weight(u), norm.dpsi(u), "CR1", self.clusters)
        out["bisquare+w CR1(run)"] = _p(fit.coef[:, self.j], np.sqrt(cr1[:, self.j, self.j]), df)
        return out

    def check_against_effect(self, frame: pd.DataFrame, y: np.ndarray) -> float:
        """Largest relative difference between the batched p-values and ``ps.effect``'s on one study."""
        batched = self.pvalues(y[None])
        calls = {"ols classic": {}, "bisquare+w classic": {"method": "bisquare", "weights": "w"},
                 "ols CR1(run)": {"vcov": "CR1", "cluster": "run_id"},
                 "bisquare+w CR1(run)": {"method": "bisquare", "weights": "w", "vcov": "CR1", "cluster": "run_id"}}
        worst = 0.0
        for name, kwargs in calls.items():
            p = ps.effect(frame, factor="mixup", groups=GROUPS, dependence="none", **kwargs).slope[0].p_value
            worst = max(worst, abs(batched[name][0] - p) / max(p, 1e-300))
        return worst


def _p(est: np.ndarray, se: np.ndarray, df: float) -> np.ndarray:
    return t_sf2(df, est / se)


def mixed_pvalues(frame: pd.DataFrame, formula: str, term: str, y: np.ndarray, weights: str | None) -> dict[str, np.ndarray]:
    models = {name: build_model(formula + bars, frame, weights=weights, cluster=("split_id",))
              for name, bars in MIXED.items()}
    p_model, p_cr2, crit_big, crit_small = (np.empty(len(y)) for _ in range(4))
    with one_blas_thread():
        for i, row in enumerate(y):
            big = models["run+split"].with_response(row)
            fit = fit_problem(big.problem)
            p_model[i] = assemble(big, fit).pvalues[term]
            p_cr2[i] = assemble(big, fit, cluster=("split_id",)).pvalues[term]
            crit_big[i] = fit.criterion
            crit_small[i] = fit_problem(models["run"].with_response(row).problem).criterion
    stat = np.maximum(crit_small - crit_big, 0.0)
    p_split = 0.5 * np.array([chi2_sf(float(v), 1) for v in stat])
    return {"lmm run+split": p_model, "lmm run+split, CR2(split)": p_cr2, "_p_split": p_split}


def run_scenario(name: str, dep: Dependence, design: StudyDesign, studies: int, rng: np.random.Generator,
                 mixed: bool, mixed_weights: str | None = None, n_check: int = 3) -> dict:
    skeleton = study_skeleton(design)
    errors, _ = draw_errors(skeleton, dep, rng, studies)
    y = np.log2(errors)
    frame0 = study_frame(skeleton, errors[0])
    batched = BatchedEffect(frame0)
    worst = max((batched.check_against_effect(study_frame(skeleton, errors[s]), y[s]) for s in range(min(n_check, studies))),
                default=0.0)
    if worst > 1e-8:
        raise AssertionError(f"batched p-values differ from ps.effect's by {worst:.2e}")
    t0 = time.perf_counter()
    pvals = batched.pvalues(y)
    t_fixed = time.perf_counter() - t0
    t0 = time.perf_counter()
    if mixed:
        pvals.update(mixed_pvalues(frame0, batched.formula, batched.term, y, mixed_weights))
        use_mixed = pvals.pop("_p_split") < AUTO_ALPHA
        pvals["auto"] = np.where(use_mixed, pvals["lmm run+split"], pvals["ols CR1(run)"])
        if mixed_weights is None:  # then "auto" is the default ps.effect: check it on the first studies
            for s in range(min(n_check, studies)):
                p = ps.effect(study_frame(skeleton, errors[s]), factor="mixup", groups=GROUPS).slope[0].p_value
                worst = max(worst, abs(pvals["auto"][s] - p) / max(p, 1e-300))
            if worst > 1e-6:
                raise AssertionError(f"'auto' p-values differ from the default ps.effect's by {worst:.2e}")
    t_mixed = time.perf_counter() - t0
    rates = {m: float(np.mean(p < ALPHA)) for m, p in pvals.items()}
    return {"scenario": name, "dependence": dep.__dict__, "mixup_slope": design.mixup_slope, "studies": studies,
            "mixed_weights": mixed_weights, "rejection": rates,
            "mc_se": {m: math.sqrt(r * (1 - r) / studies) for m, r in rates.items()},
            "check_vs_effect": worst, "seconds_fixed": t_fixed, "seconds_mixed": t_mixed,
            "auto_chose_mixed": float(np.mean(use_mixed)) if mixed else None}


def table(results: list[dict]) -> pd.DataFrame:
    rows = {}
    for r in results:
        label = r["scenario"] + (f" (slope {r['mixup_slope']:+g})" if r["mixup_slope"] else "")
        rows[label] = {m: f"{100 * v:.1f} ± {100 * r['mc_se'][m]:.1f}" for m, v in r["rejection"].items()}
    return pd.DataFrame(rows).T[[m for m in METHODS if any(m in r["rejection"] for r in results)]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--power", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--mixed", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--json", default=None)
    ap.add_argument("--mixed-weights", choices=("none", "w"), default="none",
                    help="prior weights of the mixed models (none: as the default effect, whose least squares is unweighted)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    results = []
    for name in args.scenarios.split(","):
        dep = SCENARIOS[name]
        for slope in ((0.0, ALTERNATIVE_SLOPE) if args.power else (0.0,)):
            r = run_scenario(name, dep, StudyDesign(mixup_slope=slope), args.studies, rng, args.mixed,
                             None if args.mixed_weights == "none" else args.mixed_weights)
            results.append(r)
            if args.json:  # kept up to date, so an interrupted run keeps what it measured
                with open(args.json, "w") as fh:
                    json.dump(results, fh, indent=2)
            print(f"{name:24s} slope {slope:+.3f}: fixed {r['seconds_fixed']:.1f} s, mixed {r['seconds_mixed']:.1f} s,"
                  f" check vs ps.effect {r['check_vs_effect']:.1e}", flush=True)
    print(f"\nRejection rate of the 5 % test of the mixup slope, % ± Monte-Carlo SE, {args.studies} studies each\n")
    print(table(results).to_string())


if __name__ == "__main__":
    main()
