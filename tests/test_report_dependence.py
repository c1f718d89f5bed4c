"""The report on schema data believes ``effect``'s dependence-aware test and says why, in numbers.

Tolerances: the report calls the same function as ``effect``'s default (``choose_dependence``) on
the same rows, formula and weights, so its numbers must equal ``effect``'s to the last bit (EXACT,
compared as JSON). The generated studies are fixed by their seeds; the split-dominant one has a
split variance ten times the residual's, so the likelihood-ratio test's p (1e-55 at seed 3) is far
from 0.05 and the choice cannot flip with rounding.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.data import datasets
from powerlaw_stats.data.datasets.dependent import Dependence, make_dependent_study
from powerlaw_stats.formats import num, p_is
from powerlaw_stats.report import build_report

FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"  # what effect(factor="mixup") writes on schema tables
EFFECT = "I(log2(TS)-IXMin):mix1"


def _json(x):
    return json.loads(json.dumps(x))


@pytest.fixture(scope="module")
def example():
    return build_report(trials=0)


@pytest.fixture(scope="module")
def split_study():
    table = make_dependent_study(Dependence(split_sd=0.1, row_sd=0.03), seed=3)
    return build_report(table, FORMULA, effect=EFFECT, trials=0, floor=False)


def test_example_believes_the_mixed_model_as_effect_does(example):
    auto = ps.effect(factor="mixup", groups=["train_set", "eval_set"], weights=datasets.EXAMPLE_WEIGHTS)
    d, c = example.results["dependence"], example.results["conclusion"]
    assert auto.formula == d["formula"] and d["model"] == "mixed" and d["label"] == c["believe"] == "lmm"
    term = example.results["effect"]
    assert c["by_estimator"]["lmm"] == d["effect"] == _json(auto.fit.coefficient(term).to_dict())  # EXACT
    assert d["variance_components"] == _json(auto.fit.variance_components.to_dict())
    assert d["df"] == _json(float(auto.fit.df_satterthwaite[term])) and d["test"] == "Satterthwaite t"
    assert d["lr_test"]["p_value"] < 0.05 and d["reason"] == auto.inference
    assert (d["n_runs"], d["n_splits"]) == (288, auto.fit.ngroups["split_id"])
    assert example.results["conclusion"]["calibrated"] is None  # the simulation's scaling is for its own pick


def test_example_page_states_the_choice_in_numbers(example):
    d = example.results["dependence"]
    section = next(s for s in example.sections if s.id == "dependence")
    md = section.md()
    assert section.title == "6. When rows depend"
    assert f"chi2 = {d['lr_test']['statistic']:.3g} on 1 df, {p_is(d['lr_test']['p_value'])}" in md
    assert all(f"| `{k}` | {num(v)} |" in md for k, v in d["variance_components"].items())
    assert f"Satterthwaite's {d['df']:.1f} df" in md and num(d["effect"]["std_error"]) in md
    assert "According to the linear mixed model with (1|run_id) + (1|split_id)" in example.answer
    trust = example.results["conclusion"]["text"][2]
    assert trust.startswith("Rows of this table depend") and f"{d['lr_test']['statistic']:.3g}" in trust
    assert "When rows depend" in example.html() and trust in example.markdown()


def test_split_dominant_study_chooses_the_mixed_model(split_study):
    d, c = split_study.results["dependence"], split_study.results["conclusion"]
    vc = d["variance_components"]
    assert d["model"] == "mixed" and c["believe"] == "lmm" and d["lr_test"]["p_value"] < 1e-10
    assert vc["split_id"] > vc["run_id"] and vc["split_id"] > vc["Residual"]
    # the mixup contrast lies within splits: the classic SE counts split noise that cancels
    assert d["effect"]["std_error"] < c["by_estimator"]["ols"]["std_error"]
    md = next(s for s in split_study.sections if s.id == "dependence").md()
    assert "below 0.05, so runs on the same images move together" in md and "(smaller)" in md


def test_run_dominant_study_chooses_cr1_by_run():
    table = make_dependent_study(Dependence(run_sd=0.1, row_sd=0.03), seed=3)
    rep = build_report(table, FORMULA, effect=EFFECT, trials=0, floor=False)
    d, c = rep.results["dependence"], rep.results["conclusion"]
    assert d["model"] == "cr1" and c["believe"] == d["label"] == "ols+CR1" and d["lr_test"]["p_value"] > 0.05
    direct = ps.fit(FORMULA, table, vcov="CR1", cluster="run_id").coefficient(rep.results["effect"])
    assert c["by_estimator"]["ols+CR1"] == _json(direct.to_dict())  # EXACT: the same call
    md = next(s for s in rep.sections if s.id == "dependence").md()
    assert "no split variance to model" in md and f"clustered by `run_id` ({d['n_runs']} runs)" in md


def test_the_simulation_s_pick_is_named_beside_the_dependence_aware_test(monkeypatch):
    from powerlaw_stats.report import builder

    # the words, not the figures, are under test
    monkeypatch.setattr(builder, "_fit_sections", lambda an, floor, progress, job: ((), None))
    monkeypatch.setattr(builder, "_panels_beside", lambda job, finished, term, progress: builder._Panels(""))
    monkeypatch.setattr(builder, "_sections", lambda an, progress, early, panels: ())
    rep = build_report(trials=5, floor=False)
    v, c = rep.results["verdict"], rep.results["conclusion"]
    assert v["recommended"] != c["believe"] == "lmm"
    assert "The simulation, which draws rows independently, judged" in c["text"][2]


def test_options_that_choose_the_se_turn_it_off():
    assert build_report(trials=0, floor=False, cluster="run_id").results["dependence"] is None
    assert build_report(datasets.example_path(), FORMULA, weights="w", trials=0, floor=False).results["dependence"] is None


@pytest.mark.parametrize(("args", "message"), [
    (["--dependence", "auto", "--cluster", "run_id"], "drop --cluster/--vcov/--bootstrap"),
    (["--dependence", "sometimes"], "--dependence"),
])
def test_cli_refuses_in_one_line(tmp_path, args, message):
    out = CliRunner().invoke(app, ["report", "--trials", "0", "--no-floor", "--out", str(tmp_path / "r"), *args])
    assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output
    assert not (tmp_path / "r").exists()


def test_auto_needs_runs_and_splits(tmp_path):
    table = datasets.load_example().drop(columns=["run_id"])
    with pytest.raises(ps.PowerlawStatsError, match="needs the schema's run_id"):
        build_report(table, FORMULA, effect=EFFECT, trials=0, floor=False, dependence="auto")
