"""fit_mixed against statsmodels' MixedLM on the same models, timed in this one process.

Run:  python benchmarks/bench_mixed.py [--repeats 5]

Each model goes from a DataFrame to a fitted result (formula processing included) by REML, the
median of ``--repeats`` runs after one warm-up. Reported beside the times: whether MixedLM says it
converged (its ``converged`` flag and any ConvergenceWarning), and the largest difference between
the two fits' fixed effects (in units of our SE) and variance components (relative to the total
variance), so a fast wrong answer would show. fit_mixed's own numbers equal lme4's (tests/test_mixed_r.py).

Models:
- curves_a: the seed's formula + (1|run_id), 832 rows, 416 runs;
- simulated: y ~ x + (1|g) with 1,000 groups of 8 rows (σ_g = 0.5, σ = 1);
- simulated, 5,000 groups of 8 rows;
- sleepstudy: Reaction ~ Days + (Days|Subject) (MixedLM: re_formula="~Days");
- Dyestuff2: Yield ~ 1 + (1|Batch), whose REML variance is on the boundary (a singular fit);
- curves_a with (1|run_id)+(1|split_id), crossed and singular (the split variance is 0); MixedLM
  needs one all-rows group with variance components, takes minutes and is timed once;
- Penicillin: two crossed random intercepts (MixedLM: one all-rows group and variance components).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from powerlaw_stats.data.schema import with_schema_names
from powerlaw_stats.formula import r_name, same_term
from powerlaw_stats.mixed import fit_mixed, with_split_id

ROOT = Path(__file__).resolve().parents[1]
MIXED = ROOT / "tests" / "data" / "mixed"


def simulated(groups: int, per: int = 8, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    y = 1.0 + 0.5 * x + 0.5 * rng.normal(size=groups)[g] + rng.normal(size=groups * per)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def curves_a() -> pd.DataFrame:
    d, scalars = with_schema_names(pd.read_csv(ROOT / "tests" / "data" / "curves_a.csv", dtype={"run_id": str}))
    return d.assign(xs=np.log2(d.TS) - scalars["IXMin"])


def cases() -> dict[str, dict]:
    ca = curves_a()
    return {
        "curves_a (1|run_id)": dict(
            data=ca, ours="log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv) + (1|run_id)",
            sm=dict(formula="log_err ~ xs*(mix+CinicTr*CinicEv)", groups="run_id")),
        "1,000 groups × 8": dict(data=simulated(1000), ours="y ~ x + (1|g)", sm=dict(formula="y ~ x", groups="g")),
        "5,000 groups × 8": dict(data=simulated(5000), ours="y ~ x + (1|g)", sm=dict(formula="y ~ x", groups="g")),
        "sleepstudy (Days|Subject)": dict(
            data=pd.read_csv(MIXED / "sleepstudy.csv"), ours="Reaction ~ Days + (Days|Subject)",
            sm=dict(formula="Reaction ~ Days", groups="Subject", re_formula="~Days")),
        "Dyestuff2 (singular)": dict(
            data=pd.read_csv(MIXED / "dyestuff2.csv"), ours="Yield ~ 1 + (1|Batch)",
            sm=dict(formula="Yield ~ 1", groups="Batch")),
        "curves_a (1|run_id)+(1|split_id)": dict(
            data=with_split_id(ca).assign(one=1), once=True,
            ours="log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv) + (1|run_id) + (1|split_id)",
            sm=dict(formula="log_err ~ xs*(mix+CinicTr*CinicEv)", groups="one", re_formula="0",
                    vc_formula={"run_id": "0 + C(run_id)", "split_id": "0 + C(split_id)"})),
        "Penicillin (crossed)": dict(
            data=pd.read_csv(MIXED / "penicillin.csv").assign(one=1), ours="diameter ~ 1 + (1|plate) + (1|sample)",
            sm=dict(formula="diameter ~ 1", groups="one", re_formula="0",
                    vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"})),
    }


def run_ours(case: dict):
    return fit_mixed(case["ours"], case["data"])


def run_statsmodels(case: dict):
    import statsmodels.formula.api as smf

    spec = dict(case["sm"])
    formula = spec.pop("formula")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = smf.mixedlm(formula, case["data"], **spec).fit(reml=True)
    messages = sorted({str(w.message).split("\n")[0][:60] for w in caught if "Convergence" in type(w.category).__name__
                       or "converge" in str(w.message).lower() or "boundary" in str(w.message).lower()})
    return res, messages


def timed(fn, repeats: int, warm_up: bool = True) -> tuple[float, object]:
    if warm_up:
        fn()  # imports, caches
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def compare(ours, theirs) -> tuple[float, float]:
    # statsmodels names columns as patsy does (mix[T.1], our xs for the centred log size)
    fe = theirs.fe_params.rename(lambda n: r_name(n).replace("xs", "I(log2(TS) - IXMin)"))
    fe = fe.rename(lambda n: next((m for m in ours.params.index if same_term(m, n)), n))
    beta = np.max(np.abs(ours.params - fe[ours.params.index]) / ours.bse)
    sm_vc = np.r_[np.asarray(theirs.cov_re).ravel()[[0]] if theirs.cov_re.size else [], np.asarray(theirs.vcomp), theirs.scale]
    ours_vc = ours.variance_components.to_numpy()
    if len(sm_vc) != len(ours_vc):  # a random slope: compare the residual variance only
        sm_vc, ours_vc = sm_vc[-1:], ours_vc[-1:]
    # relative to the total variance: a component at zero (a singular fit) has no relative error
    rel = np.max(np.abs(np.sort(sm_vc) - np.sort(ours_vc))) / np.sum(np.abs(ours_vc))
    return float(beta), float(rel)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for name, case in cases().items():
        once = case.get("once", False)  # MixedLM takes minutes here: one timed run each, no warm-up
        t_ours, ours = timed(lambda case=case: run_ours(case), 1 if once else args.repeats, not once)
        t_sm, (theirs, messages) = timed(lambda case=case: run_statsmodels(case), 1 if once else args.repeats, not once)
        beta, vc = compare(ours, theirs)
        rows.append({"model": name, "fit_mixed ms": 1000 * t_ours, "MixedLM ms": 1000 * t_sm, "ratio": t_sm / t_ours,
                     "ours converged": ours.converged, "MixedLM converged": bool(theirs.converged),
                     "MixedLM warnings": "; ".join(messages) or "-", "Δβ/SE": beta, "Δvar rel": vc})
    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 70,
                           "display.float_format", "{:.3g}".format):
        print(table)


if __name__ == "__main__":
    main()
