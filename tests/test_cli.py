"""`powerlaw-stats fit` and `bptest` through typer's CliRunner: every format, every error.

Numbers are compared with 1e-9 relative tolerance: the CLI prints the library's figures
(JSON keeps 17 significant digits), so anything looser would hide a rendering bug.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import powerlaw_stats as ps
from powerlaw_stats.cli import app

DATA = Path(__file__).parent / "data"
CSV = str(DATA / "curves_a.csv")
R = json.loads((DATA / "curves_a.R.json").read_text())
FORMULA = R["formula_main"]
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def table(tmp_path):
    """A small valid table in the schema, written to tmp_path; tests break it in one way each."""
    d = pd.read_csv(CSV).head(200)

    def write(frame=d, name="t.csv"):
        path = tmp_path / name
        frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_csv(path, sep="\t", index=False)
        return path

    write.frame = d
    return write


# ----------------------------------------------------------------------------- formats


def test_json_matches_r(tmp_path):
    out = tmp_path / "fit.json"
    res = run("fit", CSV, "--formula", FORMULA, "--method", "huber", "--weights", "w", "--format", "json", "--output", out)
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    ours = {c["term"].replace(" ", ""): c for c in doc["coefficients"]}
    for ref in R["huber_weighted"]["coefficients"]:
        np.testing.assert_allclose(ours[ref["term"]]["estimate"], ref["estimate"], rtol=1e-7)
    assert doc["breusch_pagan"]["method"].startswith("studentized") and doc["nobs"] == 832
    t = [abs(c["t_value"]) for c in doc["coefficients"]]
    assert t == sorted(t, reverse=True)


def test_table_output_has_seed_columns_and_footer():
    res = run("fit", CSV, "--formula", FORMULA, "--weights", "w")
    assert res.exit_code == 0, res.output
    for text in ["Estimate", "2.5 %", "97.5 %", "Std. Error", "t value", "Pr(>|t|)", "I(log2(TS) - IXMin):mix1",
                 "R² =", "prior weights (inverse-variance)", "Breusch-Pagan", "whitened"]:
        assert text in res.stdout, text


def test_markdown_and_csv():
    md = run("fit", CSV, "--formula", FORMULA, "--format", "markdown")
    assert md.exit_code == 0 and "| term | Estimate |" in md.stdout and "Pr(>\\|t\\|)" in md.stdout
    csv = run("fit", CSV, "--formula", FORMULA, "--format", "csv", "--sort", "none")
    frame = pd.read_csv(pd.io.common.StringIO(csv.stdout), index_col=0)
    ref = {r["term"]: r["estimate"] for r in R["ols"]["coefficients"]}
    np.testing.assert_allclose([frame.loc[t, "Estimate"] for t in frame.index], [ref[t.replace(" ", "")] for t in frame.index],
                               rtol=1e-9)
    assert frame.index[0] == "(Intercept)"


def test_no_data_runs_the_bundled_example_and_says_so():
    res = run("fit", "--method", "huber", "--weights", "w")
    assert res.exit_code == 0, res.output
    assert "real learning curves from our trainer" in res.stdout and "I(log2(TS) - IXMin):mix1" in res.stdout
    assert "TrainSetsklearn_digits:EvalSetsklearn_digits" in res.stdout and "n = 576" in res.stdout


@pytest.mark.parametrize("command", ["fit", "bptest"])
def test_the_example_gets_the_seeds_weights_unless_told_otherwise(command):
    # with no DATA and no formula, the seed's analysis: weights w = 1/trials, exactly as if passed
    default = run(command, "--format", "json")
    explicit = run(command, "--weights", "w", "--format", "json")
    unweighted = run(command, "--weights", "1", "--format", "json")
    assert default.exit_code == 0, default.output
    assert json.loads(default.stdout) == json.loads(explicit.stdout) != json.loads(unweighted.stdout)


def test_long_term_names_do_not_truncate_the_numbers():
    res = run("fit")
    assert "…" not in res.stdout and "Std. Error" in res.stdout and "Pr(>|t|)" in res.stdout


def test_r_defaults_flag_matches_mass_defaults():
    res = run("fit", CSV, "--formula", FORMULA, "--method", "huber", "--weights", "w", "--r-defaults", "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["n_iter"] == R["huber_weighted_r_defaults"]["iterations"]
    np.testing.assert_allclose(doc["scale"], R["huber_weighted_r_defaults"]["scale"], rtol=1e-7)


def test_where_let_level_and_tsv(table):
    path = table(name="t.tsv")
    res = run("fit", path, "--formula", "log_err ~ I(log2(TS)-IXMin2)", "--let", "IXMin2=log2(6250)",
              "--where", "train_size >= 6250", "--level", "0.9", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["dropped_reasons"] == {"excluded by --where": int((table.frame.train_size < 6250).sum())}
    assert doc["level"] == 0.9


def test_bptest_variants():
    default = json.loads(run("bptest", CSV, "--formula", FORMULA, "--weights", "w", "--format", "json").stdout)
    lmtest = json.loads(run("bptest", CSV, "--formula", FORMULA, "--weights", "w", "--r-compatible", "--format", "json").stdout)
    classic = json.loads(run("bptest", CSV, "--formula", FORMULA, "--weights", "w", "--r-compatible", "--classic",
                             "--format", "json").stdout)
    np.testing.assert_allclose(default["statistic"], R["wls"]["bptest_whitened"]["statistic"], rtol=1e-9)
    np.testing.assert_allclose(lmtest["statistic"], R["wls"]["bptest_studentized"]["statistic"], rtol=1e-9)
    np.testing.assert_allclose(classic["statistic"], R["wls"]["bptest_classic"]["statistic"], rtol=1e-9)
    assert "BP =" in run("bptest", CSV, "--formula", FORMULA).stdout


def test_library_and_cli_agree():
    res = ps.fit(FORMULA, CSV, "bisquare", "w")
    doc = json.loads(run("fit", CSV, "-f", FORMULA, "--method", "bisquare", "--weights", "w", "--format", "json").stdout)
    np.testing.assert_allclose([c["estimate"] for c in doc["coefficients"]], res.table()["Estimate"].to_numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- errors


def modified(table, **changes):
    d = table.frame.copy()
    for col, fn in changes.items():
        d[col] = fn(d)
    return table(d)


ERRORS = {
    "missing column": (lambda t: [t(), "--formula", "log_err ~ log2(trainsize)"], "did you mean 'train_size'"),
    "formula syntax": (lambda t: [t(), "--formula", "log_err ~ (TS +"], "formula syntax error"),
    "no tilde": (lambda t: [t(), "--formula", "log_err TS"], "has no '~'"),
    "missing file": (lambda t: [t().parent / "nope.csv", "--formula", "log_err ~ TS"], "no such file"),
    "unknown extension": (lambda t: [t().with_suffix(".xlsx"), "--formula", "log_err ~ TS"], "unknown file type"),
    "unknown method": (lambda t: [t(), "--formula", "log_err ~ TS", "--method", "lasso"], "unknown method 'lasso'"),
    "bad level": (lambda t: [t(), "--formula", "log_err ~ TS", "--level", "95"], "confidence level"),
    "weights column missing": (lambda t: [t(), "--formula", "log_err ~ TS", "--weights", "wt"], "no column 'wt'"),
    "weights negative": (lambda t: [modified(t, trials=lambda d: -d.trials), "--formula", "log_err ~ TS", "--weights", "trials"],
                         "negative"),
    # R's na.fail (--na fail) refuses what na.omit (the default, tested below) drops
    "weights NaN": (lambda t: [modified(t, wt=lambda d: np.where(d.index == 3, np.nan, 1.0)), "--formula", "log_err ~ TS",
                               "--weights", "wt", "--na", "fail"], "missing values in the weights"),
    "weights non-numeric": (lambda t: [t(), "--formula", "log_err ~ TS", "--weights", "train_set"], "not numeric"),
    "weights all zero": (lambda t: [t(), "--formula", "log_err ~ TS", "--weights", "0*trials"], "all zero"),
    "log of zero": (lambda t: [modified(t, error=lambda d: np.where(d.index < 3, 0.0, d.error)), "--formula",
                               "log_err ~ I(log2(TS)-IXMin)"], "--where \"error > 0\""),
    "log of negative": (lambda t: [modified(t, train_size=lambda d: np.where(d.index == 5, -1, d.train_size)), "--formula",
                                   "log_err ~ log2(train_size)", "--na", "fail"], "train_size = -1"),
    "one-level factor": (lambda t: [t(), "--formula", "log_err ~ TS + CinicTr", "--where", "train_set == 'cifar10'"],
                         "has one level"),
    "singular robust": (lambda t: [t(), "--formula", "log_err ~ TS + I(2*TS)", "--method", "huber"], "singular"),
    "bad where": (lambda t: [t(), "--formula", "log_err ~ TS", "--where", "train_size >>> 3"], "--where"),
    "where keeps nothing": (lambda t: [t(), "--formula", "log_err ~ TS", "--where", "train_size < 0"], "keeps no rows"),
    "bad let": (lambda t: [t(), "--formula", "log_err ~ TS", "--let", "IXMin"], "NAME=EXPR"),
    "bad format": (lambda t: [t(), "--formula", "log_err ~ TS", "--format", "xml"], "--format"),
    "data without formula": (lambda t: [t()], "--formula is required"),
    "hc for robust": (lambda t: [t(), "--formula", "log_err ~ TS", "--method", "huber", "--vcov", "HC3"], "least squares"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_one_line_exit_1_nothing_written(case, table, tmp_path):
    make_args, expected = ERRORS[case]
    out = tmp_path / "out.json"
    res = run("fit", *make_args(table), "--output", out)
    assert res.exit_code == 1, res.output
    err = res.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert expected in err, err
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not list(tmp_path.glob(".out.json.*"))


@pytest.mark.parametrize("change, formula, words", [
    ({"wt": lambda d: np.where(d.index == 3, np.nan, 1.0)}, "log_err ~ TS", "NA in the weights: 1"),
    ({"train_size": lambda d: np.where(d.index == 5, -1, d.train_size)}, "log_err ~ log2(train_size)", "NaN from the formula: 1"),
], ids=["NA weight", "log of negative"])
def test_rows_r_drops_are_dropped_and_counted(table, change, formula, words):
    # R's default na.omit: lm drops a row with an NA weight, and a row where log() gives NaN (with a warning)
    args = [modified(table, **change), "--formula", formula] + (["--weights", "wt"] if "wt" in change else [])
    res = run("fit", *args)
    assert res.exit_code == 0, res.output
    assert f"rows dropped: 1 ({words})" in res.stdout, res.stdout


@pytest.mark.parametrize("content", ["", "run_id,train_set,eval_set,train_size,error\n"], ids=["empty", "header only"])
def test_empty_and_header_only_files(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    res = run("fit", path, "--formula", "log_err ~ TS")
    assert res.exit_code == 1 and ("empty" in res.stderr or "no data rows" in res.stderr), res.stderr


def test_unreadable_file(tmp_path):
    path = tmp_path / "bin.parquet"
    path.write_bytes(b"not parquet at all")
    res = run("fit", path, "--formula", "log_err ~ TS")
    assert res.exit_code == 1 and "cannot read" in res.stderr


def test_lcdb_train_error_zero_refused_then_fitted_with_where():
    args = ["fit", DATA / "lcdb_letter.csv.gz", "--let", "error=1-score_train",
            "--formula", "log2(error) ~ log2(size_train)*learner"]
    refused = run(*args)
    assert refused.exit_code == 1 and "error > 0" in refused.stderr
    res = run(*args, "--where", "error > 0", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["dropped_rows"] > 0 and "excluded by --where" in doc["dropped_reasons"]


def test_output_files_are_ordinary_files(tmp_path):
    # written through a private temporary file, but what lands must be readable like any other output
    import os
    import stat

    out = tmp_path / "fit.json"
    assert run("fit", "--format", "json", "--output", out).exit_code == 0
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    assert json.loads(out.read_text())["nobs"] == 576
    assert [p.name for p in tmp_path.iterdir()] == ["fit.json"]  # no temporary file left beside it
