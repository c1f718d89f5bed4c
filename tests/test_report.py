"""``build_report`` and ``powerlaw-stats report``: content, numbers, files, atomic writing, errors.

Tolerances: the report's JSON holds the fits' own floats, so they must equal a direct ``fit`` to the
last bit (EXACT = 0, compared as JSON); the page shows numbers rounded to 4–7 significant figures,
so the page is checked for the formatted strings themselves. The clustered and bootstrapped
reports are compared with ``fit(..., vcov=, cluster=, bootstrap=, seed=)`` to SAME = 1e-12
relative: the report makes the same calls on the same rows, so any larger gap is a different
computation, while 1e-12 leaves room for nothing but the order of floating-point operations.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app
from powerlaw_stats.data import datasets
from powerlaw_stats.formats import num, p_is, pval
from powerlaw_stats.report import Report, build_report
from powerlaw_stats.report.analysis import agreement, residual_shape, se_verdict, tolerances
from powerlaw_stats.report.check import data_design

DATA = Path(__file__).parent / "data"
SECTIONS = ["data", "curves", "least-squares", "irwls", "simulation", "dependence", "floor", "trust", "conclusion"]
METHODS = ("ols", "huber", "bisquare", "mm")  # every fit the report shows
SIMULATED = ("ols", "huber", "bisquare")  # what the simulation checks unless told otherwise
SIM_TRIALS = 60  # the simulation's plumbing, not its statistics, is under test here
# the seed study's own table and model: fixed numbers, whatever the bundled example is
CURVES_A = DATA / "curves_a.csv"
SEED_FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
SEED_EFFECT = "I(log2(TS)-IXMin):mix1"
SAME = 1e-12  # relative: the report's clustered and bootstrapped numbers against fit's own (see the docstring)
CLUSTER = "run_id"  # the bundled example's unit of independence: one run scored on two evaluation sets
BOOT, BOOT_SEED = 99, 1  # few replications keep the tests fast; seed 1 is fit's default, which MM's S-estimate also uses
CLUSTER_TRIALS = 40


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report(trials=0)


@pytest.fixture(scope="module")
def seed_report() -> Report:
    return build_report(CURVES_A, SEED_FORMULA, weights="w", effect=SEED_EFFECT, trials=0)


@pytest.fixture(scope="module")
def written(report, tmp_path_factory) -> Path:
    return report.write(tmp_path_factory.mktemp("rep") / "report")


# ----------------------------------------------------------------------------- content


def test_sections_in_the_seeds_order(report):
    assert [s.id for s in report.sections] == SECTIONS
    assert all(s.blocks for s in report.sections)


def test_example_defaults_and_synthetic_note(report):
    r = report.results
    assert (r["formula"], r["weights"]) == (datasets.EXAMPLE_FORMULA, datasets.EXAMPLE_WEIGHTS)
    assert r["synthetic"] is datasets.EXAMPLE_IS_SYNTHETIC
    assert r["effect"] == ps.fit(datasets.EXAMPLE_FORMULA).term(datasets.EXAMPLE_EFFECT)
    assert datasets.EXAMPLE_NOTE[1:] in report.sections[0].md()  # the page says what the example is
    assert ("synthetic" in report.subtitle) is datasets.EXAMPLE_IS_SYNTHETIC  # and warns only if it is invented


@pytest.mark.parametrize("method", METHODS)
def test_results_json_coefficients_are_fit_format_json(report, method):
    direct = ps.fit(datasets.EXAMPLE_FORMULA, method=method, weights=datasets.EXAMPLE_WEIGHTS)
    bp = ps.breusch_pagan(direct) if method == "ols" else None
    expect = json.loads(json.dumps(direct.to_dict("t", breusch_pagan=bp)))
    got = json.loads(report.json())["fits"][method]
    assert {k: got[k] for k in expect} == expect


def test_cli_fit_json_matches_report_json(report):
    out = CliRunner().invoke(app, ["fit", "--method", "huber", "--weights", "w", "--format", "json"])
    assert out.exit_code == 0
    assert json.loads(out.stdout)["coefficients"] == json.loads(report.json())["fits"]["huber"]["coefficients"]


def test_page_shows_the_json_numbers(report):
    page, res = report.html(), report.results
    for m in METHODS:
        for c in res["fits"][m]["coefficients"]:
            assert num(c["estimate"], 7) in page and pval(c["p_value"]).replace("<", "&lt;") in page
    ols = res["fits"]["ols"]
    assert f"R² = {ols['r_squared']:.4f}" in page and f"adjusted R² = {ols['adj_r_squared']:.4f}" in page
    bp = res["breusch_pagan"]["main"]
    assert f"BP = {bp['statistic']:.3f}" in page and p_is(bp["p_value"]).replace("<", "&lt;") in page
    for row in res["conclusion"]["by_estimator"].values():
        assert num(row["estimate"]) in page and num(row["ci_low"]) in page


def test_data_section_counts_runs_per_group_and_size(seed_report):
    import pandas as pd

    raw = pd.read_csv(CURVES_A)
    d = seed_report.results["data"]
    assert d["rows_read"] == d["rows_used"] == len(raw) == 832 and d["dropped"] == {}
    assert d["group_columns"] == ["CinicEv", "CinicTr"] and d["effect_factor"] == "mix"
    assert sum(sum(v.values()) for v in d["runs_per_size"].values()) == len(raw)
    # CinicTr = 1: trained on CINIC-10; CinicEv = 0: evaluated on CIFAR-10 (the schema's derived factors)
    cell = raw.query("train_set == 'cinic10' and eval_set == 'cifar10' and mixup == 1")
    assert d["runs_per_size"]["CinicEv=0, CinicTr=1, mix=1"]["3125"] == int((cell.train_size == 3125).sum()) > 0


def test_rows_dropped_and_why(tmp_path):
    rep = build_report(DATA / "curves_a.csv", datasets.EXAMPLE_FORMULA, weights="w", effect=datasets.EXAMPLE_EFFECT,
                       trials=0, where="width == 16")
    assert rep.results["data"]["dropped"] == {"excluded by --where": 416}
    assert "416 excluded by --where" in rep.sections[0].md()


def test_breusch_pagan_names_its_variant(report):
    text = report.sections[2].md()
    assert "whitened" in text and "lmtest::bptest" in text  # the weighted fit: both forms, said which is which


def test_irwls_section_reports_convergence_and_weights(report):
    text = report.sections[3].md()
    mm = report.results["fits"]["mm"]["control"]
    assert "MM-estimation" in text and f"S-estimate with bisquare c = {mm['s_tuning']:g}" in text
    for m in ("huber", "bisquare", "mm"):
        f = report.results["fits"][m]
        assert f"tuning constant {f['tuning']:g}" in text and f"limit {f['control']['maxit']})" in text
        said = f"converged after {f['n_iter']} iterations" if f["converged"] else f"did NOT converge in {f['n_iter']} iterations"
        assert said in text
        ws = f["weights_summary"]
        assert f"{ws['below_half']} below one half, {ws['rejected']} rejected" in text


def test_conclusion_answers_in_plain_words(seed_report):
    c = seed_report.results["conclusion"]
    ols = c["by_estimator"]["ols"]
    assert ols["estimate"] < 0 and ols["p_value"] < 1e-3  # on curves_a: -0.0338, t = -6.5
    assert c["agreement"]["agree"] and c["believe"] == "ols+CR1"  # runs, no split variance: CR1 by run (test_report_dependence)
    assert c["text"][0].startswith("**Yes: mixup (`mix`) changed the power-law slope** (`mix` = 1 against `mix` = 0)")
    assert "strong evidence" in c["text"][0] and "steeper" in c["text"][0]
    assert c["text"][2].startswith("Rows of this table depend")


def test_without_simulation_or_dependence_nothing_is_believed():
    rep = build_report(CURVES_A, SEED_FORMULA, weights="w", effect=SEED_EFFECT, trials=0, dependence="none")
    c = rep.results["conclusion"]
    assert c["believe"] is None and rep.results["dependence"] is None  # no simulation: nothing to believe yet
    assert "Without the simulation" in c["text"][2] and "--dependence=none" in rep.results["command"]


def test_conclusion_says_when_the_effect_is_not_shown():
    rep = build_report(CURVES_A, SEED_FORMULA, weights="w", effect="mix1", trials=0)
    c = rep.results["conclusion"]
    assert c["by_estimator"]["ols"]["p_value"] > 0.05  # mixup's shift of the intercept is not significant here
    assert c["text"][0].startswith("**Not shown: the data do not establish that mixup (`mix`) changed the learning curve's "
                                   "level**")
    assert "no convincing evidence" in c["text"][0]


def test_without_effect_the_conclusion_asks_for_one():
    rep = build_report(datasets.example_path(), "log_err ~ I(log2(TS)-IXMin)*mix", trials=0)
    assert rep.results["effect"] is None and rep.results["conclusion"] is None
    assert "--effect TERM" in rep.sections[-1].md()


# ----------------------------------------------------------------------------- files


def test_writes_the_three_files_and_figures(written):
    assert sorted(p.name for p in written.iterdir()) == ["figures", "index.html", "report.md", "results.json"]
    md = (written / "report.md").read_text()
    linked = re.findall(r"\(figures/([^)]+)\)", md)
    assert linked and sorted(linked) == sorted(p.name for p in (written / "figures").iterdir())


def test_page_is_offline(written):
    page = (written / "index.html").read_text()
    assert "<script" not in page and "<link" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_rewriting_replaces_an_earlier_report(report, tmp_path):
    out = tmp_path / "rep"
    report.write(out)
    (out / "stale.txt").write_text("from an older run")
    report.write(out)
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporary or old folder left


def test_refuses_a_folder_that_is_not_a_report(report, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ps.PowerlawStatsError, match="does not hold a report"):
        report.write(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_failure_while_writing_leaves_nothing(report, tmp_path, monkeypatch):
    def broken(self):
        raise OSError("disk full")

    monkeypatch.setattr(Report, "html", broken)
    with pytest.raises(OSError):
        report.write(tmp_path / "rep")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- simulation check


@pytest.fixture(scope="module")
def simulated() -> tuple[Report, list]:
    calls: list = []
    # rows as independent: the verdict's plumbing is under test (the dependence-aware choice: test_report_dependence)
    rep = build_report(trials=SIM_TRIALS, seed=7, progress=lambda what, done, total: calls.append((what, done, total)),
                       dependence="none")
    return rep, calls


def test_simulation_runs_two_residual_models_by_two_designs(simulated):
    rep, _ = simulated
    sim = rep.results["simulation"]
    assert (sim["n_trials"], sim["seed"], sim["term"]) == (SIM_TRIALS, 7, rep.results["effect"])
    scenarios = [(s["residuals"], s["design"]) for s in sim["scenarios"]]
    assert sorted(scenarios) == sorted((r, d) for r in ("normal", "skewed-hetero") for d in ("n", "min4"))
    for s in sim["scenarios"]:
        assert [r["estimator"] for r in s["rows"]] == list(SIMULATED) and s["description"]


@pytest.mark.parametrize("i", range(4))
def test_scenario_rows_are_simulate_s_own_numbers(simulated, i):
    from powerlaw_stats.simulation.simulate import simulate

    rep, _ = simulated
    sc = rep.results["simulation"]["scenarios"][i]
    direct = simulate(datasets.EXAMPLE_FORMULA, None, weights=datasets.EXAMPLE_WEIGHTS, residuals=sc["residuals"],
                      design=sc["design"], n_trials=SIM_TRIALS, seed=7 + i, terms=[datasets.EXAMPLE_EFFECT],
                      estimators=SIMULATED)
    expect = json.loads(json.dumps(direct.to_dict()["results"]))
    got = json.loads(json.dumps(sc["rows"]))
    assert [{k: r[k] for k in g} for r, g in zip(expect, got)] == got  # EXACT: the same seeded trials


def test_progress_counts_trials_across_scenarios(simulated):
    _, calls = simulated
    # after the trials, the simulation's panels (by the caller, or in the forked child before it says it is done)
    last_trial = max(i for i, (w, _, _) in enumerate(calls) if w.startswith("simulating"))
    assert any(w.startswith("drawing the simulation's figures") for w, _, _ in calls[last_trial + 1:])
    # the floor's fits and sections 1-4's figures run beside the simulation: named alone, or after its count
    for step in ("fitting the saturating law (is there a floor?)", "drawing the figures"):
        assert any(w == step or w.endswith(f"; meanwhile {step}") for w, _, _ in calls)
    trials = [(w, d, t) for w, d, t in calls if w.startswith("simulati")]
    done = [d for _, d, _ in trials]
    assert {t for _, _, t in trials} == {4 * SIM_TRIALS}
    assert done == sorted(done) and done[0] == 0 and done[-1] == 4 * SIM_TRIALS
    first, last = "simulating normal residuals, design n", "simulating skewed-hetero residuals, design min4"
    assert {w.split(";")[0] for w, _, _ in trials} >= {first, last}


def test_verdict_and_conclusion_follow_the_scenarios(simulated):
    rep, _ = simulated
    res = rep.results
    rows = [{**r, "scenario": f"{s['residuals']}/{s['design']}"} for s in res["simulation"]["scenarios"] for r in s["rows"]]
    judged = res["simulation"]["judged"]
    assert res["simulation"]["data_design"] == data_design(datasets.load_example()) == "min4"  # the example's trials
    assert judged == ["normal/min4", "skewed-hetero/min4"]
    expect = se_verdict(rows, SIM_TRIALS, 0.95, [f"skewed-hetero/{d}" for d in ("n", "min4")], judged)
    assert res["verdict"]["recommended"] == expect.recommended == res["conclusion"]["believe"]
    assert res["verdict"]["trusted"] == list(expect.trusted)
    believe, verdict = res["conclusion"]["text"][2], rep.sections[4].md()
    if expect.trusted:
        assert believe.startswith("The simulation says to believe") and "**Verdict: trust" in verdict
    else:
        assert believe.startswith("The simulation found no standard error honest everywhere")
        assert "**Verdict: no standard error passed" in verdict


def test_calibrated_test_scales_the_se_by_the_worst_realistic_ratio(simulated):
    rep, _ = simulated
    res = rep.results
    best = res["verdict"]["recommended"]
    ratios = [c["se_ratio"] for c in res["verdict"]["checks"]
              if c["estimator"] == best and c["scenario"].startswith("skewed") and c["judged"]]
    cal = res["conclusion"]["calibrated"]
    if best in res["verdict"]["trusted"] or min(ratios) >= 1:
        assert cal is None
    else:
        reported = res["conclusion"]["by_estimator"][best]["std_error"]
        assert cal["se_ratio"] == min(ratios) and abs(cal["std_error"] - reported / min(ratios)) < 1e-15
        assert f"t = {cal['t_value']:.2f}" in res["conclusion"]["text"][2]


def test_scenario_panels_drawn_into_one_figure_are_the_bytes_of_fresh_ones():
    # the report blanks one figure between scenarios instead of making axes and ticks four times
    from powerlaw_stats.report.check import run_check
    from powerlaw_stats.report.panels import ScenarioPanels, scenario_panels

    check = run_check(datasets.EXAMPLE_FORMULA, None, datasets.load_example(), weights=datasets.EXAMPLE_WEIGHTS,
                      where=None, let=(), term=datasets.EXAMPLE_EFFECT, n_trials=20, seed=0, level=0.95,
                      estimators=("ols", "huber"))
    again = ScenarioPanels(check.term)
    reused = [again(sc)[0].data for sc in check.scenarios]
    assert reused == [scenario_panels(sc, check.term)[0].data for sc in check.scenarios]
    assert len(set(reused)) == len(check.scenarios)


def test_simulation_section_shows_tables_panels_and_numbers(simulated):
    rep, _ = simulated
    section = rep.sections[4]
    names = [f.name for f in section.figures()]
    assert names == ["sim-summary", *(f"sim-{r}-{d}" for d in ("n", "min4") for r in ("normal", "skewed-hetero"))]
    assert all(f.fmt == "svg" and f.data.startswith(b"<?xml") for f in section.figures())  # histograms as vectors
    assert 'src="data:image/svg+xml;base64,' in section.html() and "](figures/sim-summary.svg)" in section.md()
    assert "normal/n †" in section.md() and "the verdict rests on the `min4` scenarios" in section.md()
    page = rep.html()
    for c in rep.results["verdict"]["checks"]:
        assert f"{c['se_ratio']:.2f} / {c['coverage']:.1%}" in page
    for s in rep.results["simulation"]["scenarios"]:
        for r in s["rows"]:
            assert f"{r['se_ratio']:.3f}" in page and num(r["sd_estimate"]) in page


def test_mm_is_fitted_but_not_simulated_by_default_and_the_page_says_so(simulated):
    rep, _ = simulated
    assert "mm" in rep.results["fits"] and all(c["estimator"] != "mm" for c in rep.results["verdict"]["checks"])
    assert "--sim-estimators ols,huber,bisquare,mm" in rep.sections[4].md()
    assert "MM was not part of the simulation" in rep.results["conclusion"]["text"][2]


def test_answer_under_the_title_judges_by_the_calibrated_p_when_there_is_one(simulated):
    rep, _ = simulated
    c = rep.results["conclusion"]
    assert rep.answer == c["answer"] and c["text"][0].startswith(c["answer"])
    assert rep.title == "Does mixup (mix) change the power-law slope?"  # the example's effect is mixup's slope change
    assert rep.html().index("note verdict") < rep.html().index('<section id="data"')  # the answer comes first
    p = c["calibrated"]["p_value"] if c["calibrated"] else c["by_estimator"][c["believe"]]["p_value"]
    assert c["answer"].startswith("**Yes:" if p < 0.05 else "**Not shown:")
    if c["calibrated"]:
        assert "with its SE scaled up to the spread the simulation measured" in c["answer"]


def test_sim_estimators_choose_what_the_simulation_checks():
    rep = build_report(trials=10, sim_estimators=["mm", "ols"])
    rows = rep.results["simulation"]["scenarios"][0]["rows"]
    assert [r["estimator"] for r in rows] == ["ols", "mm"]  # in the fits' order
    assert "--sim-estimators=ols,mm" in rep.results["command"]
    assert "not part of the simulation" in rep.results["conclusion"]["text"][2]  # Huber and bisquare were left out
    assert "were not part" in rep.results["conclusion"]["text"][2]


def test_a_table_without_trial_columns_is_simulated_on_its_observed_design():
    import pandas as pd

    frame = pd.read_csv(CURVES_A).drop(columns=["n_splits"])
    rep = build_report(frame, SEED_FORMULA, weights="w", effect=SEED_EFFECT, trials=20)
    sim = rep.results["simulation"]
    assert [s["design"] for s in sim["scenarios"]] == ["observed", "observed"]
    assert sim["data_design"] is None and sim["judged"] == ["normal/observed", "skewed-hetero/observed"]
    assert "n_splits" in sim["notes"][0] and "n_splits" in rep.sections[4].md()


# ----------------------------------------------------------------------------- verdict logic


def _rows(ratios: dict, coverage: float = 0.95) -> list[dict]:
    return [{"estimator": e, "scenario": s, "se_ratio": r, "coverage": coverage, "sd_estimate": sd}
            for e, (r, sd) in ratios.items() for s in ("normal/n", "skewed-hetero/n")]


def test_verdict_recommends_the_most_precise_honest_estimator():
    v = se_verdict(_rows({"ols": (0.97, 0.010), "huber": (1.02, 0.008), "bisquare": (1.05, 0.009)}), 1000, 0.95,
                   ["skewed-hetero/n"])
    assert v.trusted == ("ols", "huber", "bisquare") and v.recommended == "huber"


def test_verdict_rejects_an_underestimated_se():
    rows = _rows({"ols": (0.80, 0.006), "huber": (1.01, 0.008)})
    v = se_verdict(rows, 1000, 0.95, ["skewed-hetero/n"])
    assert v.trusted == ("huber",) and v.recommended == "huber"


def test_verdict_judges_only_the_data_s_design():
    rows = _rows({"ols": (0.80, 0.006), "huber": (1.01, 0.008)})
    rows += [{"estimator": e, "scenario": "normal/min4", "se_ratio": 1.0, "coverage": 0.95, "sd_estimate": 0.01}
             for e in ("ols", "huber")]
    v = se_verdict(rows, 1000, 0.95, ["skewed-hetero/n"], judged=["normal/min4"])
    assert v.trusted == ("ols", "huber")  # ols fails only under design n, which is not the data's
    assert [c.judged for c in v.checks].count(False) == 4


def test_verdict_when_no_se_is_honest_picks_the_least_wrong():
    v = se_verdict(_rows({"ols": (0.6, 0.01), "huber": (0.85, 0.01)}, coverage=0.85), 1000, 0.95, ["skewed-hetero/n"])
    assert v.trusted == () and v.recommended == "huber" and "no estimator" in v.reason


@pytest.mark.parametrize("trusted, ratio, scaled", [((), 0.8, True), ((), 1.1, False), (("ols",), 0.95, False)])
def test_calibration_only_for_an_se_that_failed_and_was_too_small(trusted, ratio, scaled):
    from powerlaw_stats.report.analysis import SeCheck, Verdict, calibrated_test

    checks = (SeCheck("ols", "skewed-hetero/min4", ratio, 0.9, 0.01, not scaled),
              SeCheck("ols", "skewed-hetero/n", 0.5, 0.6, 0.02, False, judged=False))  # other design: ignored
    v = Verdict(trusted, "ols", "", 0.1, 0.02, checks)
    got = calibrated_test({"estimate": -0.03, "std_error": 0.005}, v, ["skewed-hetero/min4", "skewed-hetero/n"], 100, 0.95)
    assert (got is not None) is scaled
    if scaled:
        assert got.se_ratio == ratio and abs(got.std_error - 0.005 / ratio) < 1e-15


def test_tolerances_shrink_to_their_floors():
    assert tolerances(100, 0.95)[0] > tolerances(100_000, 0.95)[0] == 0.10
    assert tolerances(100, 0.95)[1] > tolerances(100_000, 0.95)[1] == 0.015


def test_agreement_detects_a_sign_flip():
    a = {"estimate": -1.0, "ci_low": -2.0, "ci_high": -0.5, "p_value": 0.01}
    b = {"estimate": 0.3, "ci_low": -0.1, "ci_high": 0.7, "p_value": 0.2}
    got = agreement({"ols": a, "huber": b}, 0.05)
    assert not got.agree and not got.same_sign and not got.same_significance


def test_residual_shape_of_a_right_skewed_sample():
    import numpy as np

    shape = residual_shape(np.random.default_rng(1).exponential(size=20_000))
    assert abs(shape.skewness - 2) < 0.15 and abs(shape.excess_kurtosis - 6) < 1.5  # exponential: 2 and 6


# ----------------------------------------------------------------------------- CLI


def test_cli_report_with_simulation_writes_every_panel(tmp_path):
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["report", "--trials", "20", "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["simulation"]["n_trials"] == 20 and doc["verdict"]["recommended"] in SIMULATED
    assert len(list((out / "figures").glob("sim-*.svg"))) == 5
    assert "--trials=20" in doc["command"]
    # every figure the page links is written beside it, and nothing else is
    linked = re.findall(r"\]\(figures/([^)]+)\)", (out / "report.md").read_text())
    assert sorted(linked) == sorted(p.name for p in (out / "figures").iterdir()) and len(linked) == 18
    assert all(p.read_bytes()[:5] == b"<?xml" for p in (out / "figures").glob("*.svg"))
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in (out / "figures").glob("*.png"))


def test_cli_report_writes_the_folder(tmp_path):
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["report", "--trials", "0", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (out / "index.html").exists() and json.loads((out / "results.json").read_text())["effect"]


@pytest.mark.parametrize("args, message", [
    (["{d}/none.csv", "-f", "log_err ~ TS"], "no such file"),
    (["-f", "log_err ~ nope"], "no column 'nope'"),
    (["--effect", "nope"], "no term 'nope'"),
    (["--trials", "-1"], "--trials must be 0"),
    (["--level", "1.5"], "level"),
    (["--where", "width == 99"], "keeps no rows"),
    (["{d}/none.csv"], "formula is required"),
    (["--sim-estimators", "ols,lad"], "--sim-estimators: unknown estimator 'lad'"),
    (["--sim-estimators", ","], "--sim-estimators: unknown estimator (none given)"),
    (["--vcov", "CR1"], "is cluster-robust: name the cluster column(s), e.g. --cluster run_id"),
    (["--cluster", "run_id", "--vcov", "HC1"], "--vcov 'HC1': the report's tables take a cluster-robust covariance"),
    (["--cluster", "run"], "no column 'run' in the data; did you mean 'run_id'?"),
    (["--cluster", "run_id,train_size,mixup"], "cluster by one or two columns, got 3"),
    (["--cluster", "run_id", "--cluster", "run_id"], "cluster columns repeat"),
    (["--bootstrap", "1"], "--bootstrap 1: give 0 (none) or at least 2 replications"),
    (["--bootstrap", "-5"], "--bootstrap -5: give 0 (none) or at least 2 replications"),
    (["--bootstrap", "9", "--bootstrap-weights", "mammen"], "--bootstrap-weights 'mammen': choose one of rademacher, webb"),
])
def test_cli_report_errors_are_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["report", "--trials", "0", *(a.format(d=tmp_path) for a in args), "--out", str(out), "-q"])
    assert res.exit_code == 1, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_report_refuses_a_file_as_out(tmp_path):
    (tmp_path / "f").write_text("x")
    res = CliRunner().invoke(app, ["report", "--trials", "0", "--out", str(tmp_path / "f"), "-q"])
    assert res.exit_code == 1 and "is a file" in res.stderr


# ----------------------------------------------------------------------------- cluster-robust SEs and the wild bootstrap


def _close(got, expect, path="") -> None:
    """Equal structure, strings and flags; numbers within SAME (relative)."""
    import math

    if isinstance(expect, dict):
        assert sorted(got) == sorted(expect), path
        for k in expect:
            _close(got[k], expect[k], f"{path}.{k}")
    elif isinstance(expect, list):
        assert len(got) == len(expect), path
        for i, (g, e) in enumerate(zip(got, expect)):
            _close(g, e, f"{path}[{i}]")
    elif isinstance(expect, float) and not isinstance(expect, bool):
        assert math.isclose(got, expect, rel_tol=SAME, abs_tol=1e-300), (path, got, expect)
    else:
        assert got == expect, path


def _example_fit(method: str, **kw):
    return ps.fit(datasets.EXAMPLE_FORMULA, method=method, weights=datasets.EXAMPLE_WEIGHTS, **kw)


@pytest.fixture(scope="module")
def clustered() -> Report:
    """The example clustered by run (CR1 by default), simulated and bootstrapped: one build for the tests below."""
    return build_report(trials=CLUSTER_TRIALS, seed=BOOT_SEED, cluster=CLUSTER, bootstrap=BOOT)


@pytest.fixture(scope="module")
def clustered_cr3() -> Report:
    return build_report(trials=0, cluster=[CLUSTER], vcov="CR3")


def test_default_report_has_no_cluster_or_bootstrap(report):
    r = report.results
    assert r["covariance"] is None and r["bootstrap"] is None and r["conclusion"]["bootstrap"] is None
    # one row per estimator, as before, then the dependence-aware test the conclusion believes (test_report_dependence)
    assert list(r["conclusion"]["by_estimator"]) == [*METHODS, "lmm"]
    assert "cluster" not in report.html() and "Wild bootstrap" not in report.html() and "+CR" not in report.json()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("vcov, which", [("CR1", "clustered"), ("CR3", "clustered_cr3")])
def test_clustered_tables_are_fit_with_that_covariance(request, vcov, which, method):
    rep = request.getfixturevalue(which)
    direct = _example_fit(method, vcov=vcov, cluster=CLUSTER)
    got = rep.results["fits"][method]
    _close(got["coefficients"], json.loads(json.dumps(direct.to_dict("t")["coefficients"])))
    assert got["vcov"] == f"{vcov} by {CLUSTER}" and got["cluster"] == [CLUSTER]
    page = rep.html()
    for c in got["coefficients"]:
        assert num(c["std_error"], 7) in page


@pytest.mark.parametrize("vcov, which", [("CR1", "clustered"), ("CR3", "clustered_cr3")])
def test_the_page_says_which_se_clustered_by_what_and_how_many_clusters(request, vcov, which):
    rep = request.getfixturevalue(which)
    n = datasets.load_example()[CLUSTER].nunique()
    assert rep.results["covariance"] == {"kind": vcov, "cluster": [CLUSTER], "n_clusters": {CLUSTER: n}}
    said = f"{vcov} cluster-robust standard errors, clustered by `{CLUSTER}` ({n} clusters)"
    caption = f"standard errors {vcov} by {CLUSTER} ({n} clusters)"
    for section in rep.sections[2:4]:  # least squares and the robust fits
        assert caption in section.md()
    assert said in rep.sections[2].md() and said in rep.markdown()
    assert f"standard errors: {vcov} by {CLUSTER}" in rep.subtitle
    assert f"--cluster {CLUSTER}" in rep.results["command"] and ("--vcov=CR3" in rep.results["command"]) is (vcov == "CR3")


def test_simulation_checks_classic_and_cluster_robust_ses(clustered):
    sim = clustered.results["simulation"]
    labels = [v for m in SIMULATED for v in (m, f"{m}+CR1")]
    for s in sim["scenarios"]:
        assert [r["estimator"] for r in s["rows"]] == labels
    assert {c["estimator"] for c in clustered.results["verdict"]["checks"]} == set(labels)
    section = clustered.sections[4].md()
    assert "| bisquare with CR1 SEs |" in section and "with the CR1 SE clustered by `run_id`" in section


def test_scenario_rows_are_simulate_s_with_the_cluster_robust_variants(clustered):
    from powerlaw_stats.simulation.simulate import simulate

    i = 3  # skewed-hetero residuals on the example's own design, min4: the scenario the verdict leans on most
    sc = clustered.results["simulation"]["scenarios"][i]
    direct = simulate(datasets.EXAMPLE_FORMULA, None, weights=datasets.EXAMPLE_WEIGHTS, residuals=sc["residuals"],
                      design=sc["design"], n_trials=CLUSTER_TRIALS, seed=BOOT_SEED + i, terms=[datasets.EXAMPLE_EFFECT],
                      estimators=SIMULATED, vcov=("classic", "CR1"), cluster=CLUSTER)
    expect = json.loads(json.dumps(direct.to_dict()["results"]))
    got = json.loads(json.dumps(sc["rows"]))
    assert [{k: r[k] for k in g} for r, g in zip(expect, got)] == got  # EXACT: the same seeded trials


def test_conclusion_lists_every_estimator_with_each_se(clustered):
    rows = clustered.results["conclusion"]["by_estimator"]
    assert list(rows) == [v for m in METHODS for v in (m, f"{m}+CR1")]
    for label, row in rows.items():
        method, _, kind = label.partition("+")
        direct = _example_fit(method, **({"vcov": kind, "cluster": CLUSTER} if kind else {}))
        _close(row, json.loads(json.dumps(direct.coefficient(clustered.results["effect"]).__dict__)))


def _believed_numbers(rep: Report) -> None:
    """The answer and the conclusion quote the estimate, CI and p of the variant the verdict believes."""
    from powerlaw_stats.report.analysis import estimator_name

    c = rep.results["conclusion"]
    label = c["believe"]
    assert label == rep.results["verdict"]["recommended"]
    method, _, kind = label.partition("+")
    direct = _example_fit(method, **({"vcov": kind, "cluster": CLUSTER} if kind else {})).coefficient(rep.results["effect"])
    _close(c["by_estimator"][label], json.loads(json.dumps(direct.__dict__)))
    quoted = (f"According to {estimator_name(label)}, the estimate is {num(direct.estimate)} (95% CI {num(direct.ci_low)} "
              f"to {num(direct.ci_high)}, {p_is(direct.p_value)}")
    assert quoted in c["answer"] and c["text"][0].startswith(c["answer"])
    if c["calibrated"]:
        assert c["calibrated"]["estimator"] == label
        assert abs(c["calibrated"]["std_error"] - direct.std_error / c["calibrated"]["se_ratio"]) <= SAME * direct.std_error


def test_conclusion_reports_the_trusted_variant(clustered):
    _believed_numbers(clustered)


@pytest.mark.parametrize("family", ["classic", "CR1"])
def test_a_verdict_for_either_se_maps_to_that_fit(monkeypatch, family):
    """Force the verdict to choose among one kind of SE: the conclusion must then quote that fit's numbers."""
    from powerlaw_stats.report import builder

    real = builder.se_verdict

    def only(rows, *args):
        return real([r for r in rows if ("+" in r["estimator"]) is (family != "classic")], *args)

    monkeypatch.setattr(builder, "se_verdict", only)
    # the numbers, not the figures, are under test
    monkeypatch.setattr(builder, "_fit_sections", lambda an, floor, progress, job: ((), None))
    monkeypatch.setattr(builder, "_panels_beside", lambda job, finished, term, progress: builder._Panels(""))
    monkeypatch.setattr(builder, "_sections", lambda an, progress, early, panels: ())
    rep = build_report(trials=10, cluster=CLUSTER)
    assert rep.results["verdict"]["recommended"].endswith("+CR1") is (family == "CR1")
    _believed_numbers(rep)


def test_verdict_breaks_a_tie_between_ses_of_one_estimator_by_the_ratio():
    rows = [{"estimator": e, "scenario": s, "se_ratio": r, "coverage": 0.95, "sd_estimate": 0.01}
            for e, r in (("huber", 0.93), ("huber+CR1", 1.01)) for s in ("normal/n", "skewed-hetero/n")]
    v = se_verdict(rows, 1000, 0.95, ["skewed-hetero/n"])
    assert v.trusted == ("huber", "huber+CR1") and v.recommended == "huber+CR1" and "strayed least from 1" in v.reason


@pytest.mark.parametrize("method", METHODS)
def test_bootstrap_is_fit_s(clustered, method):
    direct = _example_fit(method, cluster=CLUSTER, bootstrap=BOOT, seed=BOOT_SEED).bootstrap.to_dict()
    got = clustered.results["fits"][method]["bootstrap"]
    _close(got, json.loads(json.dumps(direct)))
    effect = clustered.results["effect"]
    row = clustered.results["conclusion"]["bootstrap"][method]
    _close({k: row[k] for k in ("ci_percentile", "ci_studentized", "p_percentile", "p_studentized", "boot_se")},
           {k: v for k, v in next(c for c in got["coefficients"] if c["term"] == effect).items()
            if k in ("ci_percentile", "ci_studentized", "p_percentile", "p_studentized", "boot_se")})
    assert row["studentized_by"] == f"CR1 by {CLUSTER}" and got["cluster"] == CLUSTER
    section = clustered.sections[-1].md()  # the conclusion
    assert all(num(x) in section for x in (*row["ci_studentized"], *row["ci_percentile"]))
    assert clustered.results["bootstrap"] == {"n_boot": BOOT, "weights": "rademacher", "seed": BOOT_SEED, "cluster": CLUSTER}


def test_bootstrap_in_words_for_the_believed_estimator(clustered):
    c = clustered.results["conclusion"]
    method = c["believe"].partition("+")[0]
    lo, hi = c["bootstrap"][method]["ci_studentized"]
    assert f"gives the studentized 95% interval {num(lo)} to {num(hi)}" in c["text"][3]
    assert "wild cluster bootstrap" in c["text"][3] and c["text"][3] in clustered.markdown()


def test_bootstrap_without_cluster_draws_per_row():
    rep = build_report(trials=0, bootstrap=19, bootstrap_weights="webb", seed=5)
    direct = _example_fit("huber", bootstrap=19, bootstrap_weights="webb", seed=5).bootstrap.to_dict()
    _close(rep.results["fits"]["huber"]["bootstrap"], json.loads(json.dumps(direct)))
    assert rep.results["covariance"] is None and "drawn per row" in rep.sections[-1].md()
    assert "--bootstrap=19 --bootstrap-weights=webb" in rep.results["command"]


def test_cli_report_with_cluster_and_bootstrap(tmp_path):
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["report", "--trials", "0", "--cluster", CLUSTER, "--vcov", "CR3", "--bootstrap", "19",
                                   "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["covariance"]["kind"] == "CR3" and doc["bootstrap"]["n_boot"] == 19
    assert doc["fits"]["mm"]["vcov"] == "CR3 by run_id" and doc["conclusion"]["bootstrap"]["mm"]["n_failed"] == 0
    md = (out / "report.md").read_text()
    assert "### Wild bootstrap" in md and "CR3 cluster-robust standard errors" in md
