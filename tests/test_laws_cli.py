"""`powerlaw-stats fit --law`: every format prints the library's numbers, the footer tells the floor, errors are one line.

Numbers are compared at 1e-9 relative: the CLI prints fit_law's figures (JSON and CSV keep 17
significant digits), so anything looser would hide a rendering bug.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from powerlaw_stats.cli import app
from powerlaw_stats.data import datasets
from powerlaw_stats.errors import IdentificationWarning
from powerlaw_stats.laws import fit_law

DATA = Path(__file__).parent / "data"
CSV = str(DATA / "curves_a.csv")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def example_json():
    res = run("fit", "--law", "saturating", "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def example_law():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentificationWarning)
        return fit_law(None, "saturating", datasets.EXAMPLE_LAW_PARAMS, weights="w")


def test_example_defaults_are_the_seed_terms_with_a_floor_per_pair(example_json, example_law):
    assert example_json["formulas"] == {"E": "TrainSet*EvalSet", "a": "mix+TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"}
    ours = {c["term"]: c for c in example_json["coefficients"]}
    for term in example_law.params.index:
        np.testing.assert_allclose(ours[term]["estimate"], example_law.params[term], rtol=1e-9, atol=1e-15)
    assert ours["b.mix1"]["profile_low"] < ours["b.mix1"]["estimate"] < ours["b.mix1"]["profile_high"]
    # the notes carry the example's note and the identification warning, as fit routes its warnings
    assert example_json["notes"][0] == datasets.EXAMPLE_NOTE
    assert any("floor and slope are confounded" in n for n in example_json["notes"])
    assert example_json["floor_test"]["p_value"] < 1e-6 and example_json["bound_active"]


def test_with_the_floor_fixed_at_zero_the_law_is_the_seed_formula(example_json):
    res = run("fit", "--law", "loglinear", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    seed = json.loads(run("fit", "--format", "json").stdout)
    ours = {c["term"]: c["estimate"] for c in doc["coefficients"]}
    theirs = {c["term"].replace(" ", ""): c["estimate"] for c in seed["coefficients"]}
    np.testing.assert_allclose(ours["b.mix1"], theirs["I(log2(TS)-IXMin):mix1"], rtol=1e-9)
    np.testing.assert_allclose(ours["a.(Intercept)"], theirs["(Intercept)"], rtol=1e-9)


def test_table_footer_names_floors_bounds_and_the_floor_test():
    res = run("fit", "--law", "saturating")
    assert res.exit_code == 0, res.output
    out = res.stdout
    for text in ("b.mix1", "profile lower", "floor E[EvalSet=sklearn_digits, TrainSet=mnist5k] = 0.3482",
                 "0, at the bound", "bound_active: E[EvalSet=mnist5k, TrainSet=mnist5k]",
                 "floor or no floor: LR = 46.12 against the loglinear law", "AIC: saturating 861.359, loglinear 899.477",
                 "held-out largest size (x = 4, 64 rows)", "note: the saturating law's floor and slope are confounded"):
        assert text in out, text
    # parameters stay together: every E row before every a row before every b row
    rows = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert [r.split(".")[0] for r in rows] == sorted((r.split(".")[0] for r in rows), key="Eab".index)


def test_csv_and_markdown_carry_the_same_numbers(example_law):
    res = run("fit", "--law", "saturating", "--format", "csv", "--sort", "t")
    assert res.exit_code == 0, res.output
    tab = pd.read_csv(io.StringIO(res.stdout), index_col="term")
    np.testing.assert_allclose(tab.loc[example_law.params.index, "Estimate"], example_law.params, rtol=1e-12, atol=1e-15)
    b_rows = [t for t in tab.index if t.startswith("b.")]
    t_b = tab.loc[b_rows, "t value"].abs().to_numpy()
    assert (np.diff(t_b) <= 0).all()  # --sort t: by |t| within the parameter
    md = run("fit", "--law", "saturating", "--format", "markdown").stdout
    assert "| `b.mix1` | -0.1323342 |" in md and "- floor or no floor: LR = 46.12" in md and "Pr(>\\|t\\|)" in md


def test_a_table_with_params_and_a_bootstrap(tmp_path):
    out = tmp_path / "law.json"
    res = run("fit", CSV, "--law", "saturating", "--param", "E ~ 1", "--param", "b ~ mix", "--weights", "w",
              "--bootstrap", "19", "--seed", "3", "--format", "json", "--output", out)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["formulas"] == {"E": "1", "a": "1", "b": "mix"} and doc["bootstrap"]["n_boot"] == 19
    assert doc["floor_test"]["mixture"] == [0.5, 0.5]
    table = run("fit", CSV, "--law", "saturating", "--param", "b ~ mix", "--weights", "w", "--bootstrap", "9")
    assert table.exit_code == 0 and "Wild bootstrap (9 replications)" in table.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--law", "cubic"), "--law 'cubic' is not one of loglinear, saturating, chinchilla"),
    (("--law", "saturating", "--formula", "log_err ~ mix"), "--formula does not apply to a law fit"),
    (("--law", "saturating", "--weight-type", "case"), "--weight-type does not apply to a law fit"),
    (("--law", "saturating", "--param", "Q ~ mix"), "law 'saturating' has no parameter 'Q'"),
    (("--law", "saturating", "--param", "E mix"), "write it as 'PARAM ~ TERMS'"),
    (("--law", "saturating", "--method", "mm"), "unknown method 'mm' for a law"),
    (("--law", "saturating", "--vcov", "HC3", "--method", "huber"), "vcov 'HC3' is not available"),
])
def test_bad_options_are_one_line(args, message):
    res = run("fit", *args)
    assert res.exit_code == 1
    assert message in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_param_alone_turns_on_the_saturating_law():
    res = run("fit", CSV, "--param", "b ~ mix", "--weights", "w", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["law"] == "saturating"
