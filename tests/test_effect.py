"""The effect builder: writes the seed's model from column names and reproduces its figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.errors import DataError, OptionError
from powerlaw_stats.scaling.effect import build_formula, factor_term

DATA = Path(__file__).parent / "data"
CURVES = DATA / "curves_a.csv"
SEED_FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
# equivalent parametrisations differ only by the rounding of their QR factorisations
SAME_MODEL_TOL = 1e-10
# R's figures are printed with 15 significant digits
R_TOL = 1e-9
# known-truth recovery: 16 replicate runs per point, noise SD 0.05, 6 sizes -> slope SE ~ 0.003
RECOVERY_SE = 5


@pytest.fixture(scope="module")
def r_wls() -> dict:
    doc = json.loads((DATA / "curves_a.R.json").read_text())
    return {c["term"].replace(" ", ""): c for c in doc["wls"]["coefficients"]}


@pytest.mark.parametrize("method", ["ols", "huber", "bisquare"])
@pytest.mark.parametrize("factor", ["mixup", "mix"])
def test_reproduces_the_seed_formula(method, factor):
    res = ps.effect(CURVES, factor=factor, groups=["train_set", "eval_set"], weights="w", method=method, dependence="none")
    seed = ps.fit(SEED_FORMULA, CURVES, method=method, weights="w")
    assert res.formula == "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"
    for est in res.estimates:
        key = seed.term(est.term)
        for field, series in (("estimate", seed.params), ("std_error", seed.bse), ("p_value", seed.pvalues)):
            assert getattr(est, field) == pytest.approx(series[key], rel=SAME_MODEL_TOL, abs=1e-14)
    assert [e.kind for e in res.estimates] == ["intercept", "slope"]


def test_mixup_slope_is_rs_figure(r_wls):
    res = ps.effect(CURVES, factor="mixup", groups="train_set,eval_set", weights="w", dependence="none")
    slope, intercept = res.slope[0], res.intercept[0]
    for est, term in ((slope, "I(log2(TS)-IXMin):mix1"), (intercept, "mix1")):
        ref = r_wls[term]
        for field in ("estimate", "std_error", "t_value", "ci_low", "ci_high"):
            assert getattr(est, field) == pytest.approx(ref[field], rel=R_TOL)
    assert res.n_groups == 4 and res.groups == ("train_set", "eval_set") and not res.dropped_groups


def _planted(seed: int, shared: bool) -> pd.DataFrame:
    """Four groups with their own power laws; mixup lowers the intercept by 0.1 and the slope by 0.04."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, (a, b) in enumerate([(-0.5, -0.7), (-0.2, -0.3), (0.1, -0.5), (-1.0, -0.6)]):
        for mix in (0, 1):
            for k in range(6):
                size = 1000 * 2**k
                mean = a - 0.1 * mix + (b - (0 if shared else 0.04) * mix) * k
                for _ in range(16):
                    rows.append({"train_set": f"t{g // 2}", "eval_set": f"e{g % 2}", "mixup": mix, "train_size": size,
                                 "trials": 16, "error": 2.0 ** (mean + 0.05 * rng.standard_normal())})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("shared", [False, True])
def test_recovers_a_planted_effect(shared):
    res = ps.effect(_planted(3, shared), factor="mixup", shared_slope=shared)
    assert abs(res.intercept[0].estimate + 0.1) < RECOVERY_SE * res.intercept[0].std_error
    if shared:
        assert res.slope == () and res.formula == "log_err ~ I(log2(TS)-IXMin)+mix+TrainSet*EvalSet"
    else:
        assert abs(res.slope[0].estimate + 0.04) < RECOVERY_SE * res.slope[0].std_error


def test_shared_slope_equals_its_hand_written_model():
    res = ps.effect(CURVES, factor="mixup", shared_slope=True, weights="w", dependence="none")
    hand = ps.fit("log_err ~ I(log2(TS)-IXMin) + mix + CinicTr*CinicEv", CURVES, weights="w")
    assert res.intercept[0].estimate == pytest.approx(hand.params["mix1"], rel=SAME_MODEL_TOL)
    assert len(res.fit.params) == 6  # intercept, slope, mix, three group contrasts


def test_single_valued_groups_are_left_out_and_other_factors_use_C():
    res = ps.effect(CURVES, factor="width", groups="train_set,eval_set,mixup", where="train_set == 'cifar10'",
                    dependence="none")
    assert res.formula == "log_err ~ I(log2(TS)-IXMin)*(C(width)+EvalSet*mix)"
    assert res.dropped_groups == ("train_set",) and res.n_groups == 4
    assert [e.level for e in res.estimates] == ["32", "32"]


@pytest.mark.parametrize("kwargs, error", [
    ({"groups": "train_set,nope"}, DataError),
    ({"factor": "nope"}, DataError),
    ({"factor": "mixup", "groups": "mixup"}, OptionError),
    ({"groups": "train_set,train_set"}, OptionError),
    ({"size": "nope"}, DataError),
])
def test_refusals(kwargs, error):
    with pytest.raises(error):
        ps.effect(CURVES, **kwargs)


def test_other_size_columns_are_centred_at_their_smallest_value():
    d = _planted(4, False).assign(steps=lambda f: f["train_size"] // 10)
    res = ps.effect(d, factor="mixup", size="steps", groups=())
    assert res.size_term == "I(log2(steps)-log2(100))"
    base = ps.effect(d, factor="mixup", groups=())
    assert res.slope[0].estimate == pytest.approx(base.slope[0].estimate, rel=SAME_MODEL_TOL)


def test_helpers():
    assert build_formula("y", "s", "f", [], False) == "y ~ s*(f)"
    assert factor_term("eval_set", pd.DataFrame({"eval_set": ["a"], "EvalSet": ["a"]})) == "EvalSet"


def test_cli_json_and_table(tmp_path):
    runner = CliRunner()
    out = tmp_path / "e.json"
    res = runner.invoke(app, ["effect", str(CURVES), "--factor", "mixup", "--groups", "train_set,eval_set",
                              "--weights", "w", "--format", "json", "--output", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    fit = ps.fit(SEED_FORMULA, CURVES, weights="w")
    assert doc["effects"][1]["estimate"] == pytest.approx(fit.params["I(log2(TS) - IXMin):mix1"], rel=SAME_MODEL_TOL)
    assert doc["formula"] == "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"
    table = runner.invoke(app, ["effect", str(CURVES), "--shared-slope"])
    assert table.exit_code == 0 and "log_err ~ I(log2(TS)-IXMin)+mix+TrainSet*EvalSet" in table.output
    slope = runner.invoke(app, ["effect", str(CURVES), "--factor", "mixup", "--groups", "train_set,eval_set"])
    assert "I(log2(TS) - IXMin):mix1" in slope.output and "…" not in slope.output  # the term on one line, numbers whole
    bad = runner.invoke(app, ["effect", str(CURVES), "--groups", "nope", "--output", str(tmp_path / "x.json")])
    assert bad.exit_code == 1 and "no column 'nope'" in bad.output and not (tmp_path / "x.json").exists()


def test_default_lets_the_split_variance_choose_the_test():
    groups = ["train_set", "eval_set", "width"]
    digits = ps.effect(factor="mixup", groups=groups)  # the bundled example: runs on the same images move together
    assert digits.formula.endswith(" + (1|run_id) + (1|split_id)") and digits.fit.method == "lmm"
    assert digits.inference.startswith("linear mixed model") and "p = " in digits.inference
    plain = ps.effect(factor="mixup", groups=groups, dependence="none")
    assert plain.inference == "" and plain.fit.vcov == "classic"
    assert digits.slope[0].estimate == pytest.approx(plain.slope[0].estimate, rel=1e-6)  # a balanced design: same β
    curves = ps.effect(CURVES, factor="mixup", weights="w")  # curves_a has no split variance: CR1 by run
    assert curves.fit.vcov.startswith("CR1") and curves.inference.startswith("least squares with CR1 by run_id")
    assert curves.to_dict()["inference"] == curves.inference


@pytest.mark.parametrize("kwargs, message", [
    ({"dependence": "auto", "method": "huber"}, "chooses the model"),
    ({"dependence": "auto", "cluster": "run_id"}, "chooses the model"),
    ({"dependence": "sometimes"}, "dependence"),
])
def test_dependence_refusals(kwargs, message):
    with pytest.raises(OptionError, match=message):
        ps.effect(CURVES, factor="mixup", **kwargs)


def test_auto_needs_runs_and_stays_off_without_them():
    d = _planted(3, False)
    assert ps.effect(d, factor="mixup").inference == ""
    with pytest.raises(OptionError, match="run_id"):
        ps.effect(d.drop(columns=["run_id"], errors="ignore"), factor="mixup", dependence="auto")
