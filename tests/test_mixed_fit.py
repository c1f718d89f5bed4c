"""``fit()`` and ``powerlaw-stats fit`` with lme4's random-effect terms, against lme4 / lmerTest.

The references are those of tests/test_mixed_r.py (tests/data/mixed/make_mixed_refs.R: lme4
1.1-31, lmerTest 3.1-3, BOBYQA run to 1e-13 in theta). Tolerances, as there:
- fixed effects within 1e-5 of R's standard error; standard errors and variance components 1e-5
  relative (a component R puts at zero: 1e-10 of the total variance, absolutely);
- Satterthwaite df 1e-3 relative (both sides differentiate numerically).
The JSON printed by the CLI carries 17 significant digits, so it is held to the same tolerances.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.mixed import MixedResult, fit_mixed

MIXED = Path(__file__).parent / "data" / "mixed"
runner = CliRunner()
CASES = ["curves_a_crossed_reml", "curves_a_crossed_w_ml"]


def reference(name: str) -> dict:
    return json.loads((MIXED / f"{name}.json").read_text())


def let_of(ref: dict) -> list[str]:
    return [f"{k}={v!r}" for k, v in (ref["let"] or {}).items()]


def check_against_r(params, bse, df, components, ref):
    fx = ref["fixef"]
    se = np.array(fx["std_error"])
    np.testing.assert_array_less(np.abs(np.array(params) - np.array(fx["estimate"])), 1e-5 * se)
    np.testing.assert_allclose(bse, se, rtol=1e-5)
    np.testing.assert_allclose(df, fx["df"], rtol=1e-3)
    vc = np.array(ref["varcorr"]["vcov"])
    total = vc.sum()
    got = np.array(components)
    big = vc > 1e-8 * total
    np.testing.assert_allclose(got[big], vc[big], rtol=1e-5)
    np.testing.assert_array_less(np.abs(got[~big] - vc[~big]), 1e-10 * total)


@pytest.mark.parametrize("name", CASES)
def test_fit_dispatches_bars_to_lmer(name):
    ref = reference(name)
    data = MIXED / ref["data"]
    res = ps.fit(ref["formula"], data, weights=ref["weights"], reml=ref["REML"], let=let_of(ref))
    assert isinstance(res, MixedResult) and res.method == "lmm"
    assert list(res.params.index) == ref["fixef"]["names"]
    check_against_r(res.params, res.bse, res.df_satterthwaite, res.varcorr["vcov"], ref)
    same = fit_mixed(ref["formula"], data, weights=ref["weights"], reml=ref["REML"], let=let_of(ref))
    np.testing.assert_array_equal(res.params, same.params)


@pytest.mark.parametrize("name", CASES)
def test_cli_json_carries_df_and_variance_components(name):
    ref = reference(name)
    args = ["fit", str(MIXED / ref["data"]), "--formula", ref["formula"], "--format", "json", "--sort", "none"]
    args += ["--weights", ref["weights"]] if ref["weights"] else []
    args += [] if ref["REML"] else ["--ml"]
    for item in let_of(ref):
        args += ["--let", item]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["estimation"] == ("REML" if ref["REML"] else "ML") and doc["df_method"] == "Satterthwaite"
    rows = doc["coefficients"]
    assert [r["term"] for r in rows] == ref["fixef"]["names"]
    assert list(doc["variance_components"]) == ["run_id", "split_id", "Residual"]
    check_against_r([r["estimate"] for r in rows], [r["std_error"] for r in rows], [r["df"] for r in rows],
                    list(doc["variance_components"].values()), ref)


def test_cli_table_shows_df_and_components():
    ref = reference("curves_a_crossed_reml")
    out = runner.invoke(app, ["fit", str(MIXED / ref["data"]), "--formula", ref["formula"],
                              *sum((["--let", x] for x in let_of(ref)), [])])
    assert out.exit_code == 0, out.output
    for text in ("Linear mixed model (REML)", "df", "Variance components", "split_id", "Residual",
                 "df: Satterthwaite", "boundary (singular) fit: split_id"):
        assert text in out.stdout, text
    assert "BP =" not in out.stdout  # Breusch–Pagan is for models without random effects
    for fmt in ("markdown", "csv"):
        other = runner.invoke(app, ["fit", str(MIXED / ref["data"]), "--formula", ref["formula"], "--format", fmt])
        assert other.exit_code == 0 and "I(log2(TS) - IXMin)" in other.stdout


@pytest.mark.parametrize("args, message", [
    (["--method", "huber"], "--vcov CR1 --cluster run_id"),
    (["--bootstrap", "99"], "wild bootstrap"),
    (["--weight-type", "case"], "inverse variances"),
    (["--vcov", "HC1"], "not offered with random effects"),
])
def test_cli_refusals_are_one_line(args, message):
    out = runner.invoke(app, ["fit", "--formula", "log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id)", *args])
    assert out.exit_code == 1
    assert message in out.output and out.output.count("\n") == 1 and "Traceback" not in out.output


def test_ml_and_bptest_need_the_right_formula():
    no_bars = runner.invoke(app, ["fit", "--formula", "log_err ~ I(log2(TS)-IXMin)*mix", "--ml"])
    assert no_bars.exit_code == 1 and "--ml applies" in no_bars.output
    bars = runner.invoke(app, ["bptest", "--formula", "log_err ~ mix + (1|run_id)"])
    assert bars.exit_code == 1 and "without random effects" in bars.output


def test_fit_with_cluster_gives_cr2():
    res = ps.fit("log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet) + (1|split_id)", cluster="split_id")
    assert res.vcov == "CR2 by split_id" and res.n_clusters == 62
    assert (res.df_satterthwaite < 62).all()  # Bell and McCaffrey's df are bounded by the clusters


def test_effect_with_random_intercepts_reads_the_mixed_fit():
    base = ps.effect(factor="mixup", groups=["train_set", "eval_set", "width"], weights="w", dependence="none")
    res = ps.effect(factor="mixup", groups=["train_set", "eval_set", "width"], weights="w", random=["run_id", "split_id"])
    assert res.formula == base.formula + " + (1|run_id) + (1|split_id)"
    assert isinstance(res.fit, MixedResult) and res.n_groups == base.n_groups == 8
    direct = fit_mixed(res.formula, weights="w")
    slope = res.slope[0]
    assert slope.term == "I(log2(TS) - IXMin):mix1"
    assert slope.estimate == direct.params[slope.term] and slope.p_value == direct.pvalues[slope.term]
    cr2 = ps.effect(factor="mixup", groups=["train_set", "eval_set", "width"], weights="w", random="run_id,split_id",
                    cluster="split_id")
    assert cr2.fit.vcov == "CR2 by split_id" and cr2.slope[0].estimate == slope.estimate
    doc = cr2.to_dict()
    assert doc["method"] == "lmm" and doc["df_resid"] is None and doc["vcov"] == "CR2 by split_id"


def test_effect_cli_random():
    out = runner.invoke(app, ["effect", "--factor", "mixup", "--groups", "train_set,eval_set,width", "--weights", "w",
                              "--random", "run_id,split_id", "--cluster", "split_id"])
    assert out.exit_code == 0, out.output
    assert "CR2 by split_id" in out.stdout and "variance components: run_id" in out.stdout
    bad = runner.invoke(app, ["effect", "--random", "run_id", "--method", "bisquare"])
    assert bad.exit_code == 1 and "CR1" in bad.output


def test_a_model_less_one_term_is_the_model_fitted_without_it():
    # the dependence check's likelihood-ratio test drops the split term from the bigger model's problem
    from powerlaw_stats.estimation.mixed import fit_problem
    from powerlaw_stats.mixed import build_model, variance_components

    fixed = "log_err ~ I(log2(TS)-IXMin)*mix"
    big = build_model(fixed + " + (1|run_id) + (1|split_id)", weights="w")
    small = fit_problem(big.problem.dropping("split_id"))
    direct = build_model(fixed + " + (1|run_id)", weights="w")
    assert small.criterion == fit_problem(direct.problem).criterion  # EXACT: the same rows, design and terms
    assert [t.group for t in big.problem.dropping("split_id").terms] == ["run_id"]
    assert variance_components(fixed + " + (1|run_id)", weights="w").equals(
        fit_mixed(fixed + " + (1|run_id)", weights="w").variance_components)
