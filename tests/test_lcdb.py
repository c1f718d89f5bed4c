"""LCDB's real learning curves mapped onto the schema and fitted end to end."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.data.datasets.lcdb import LcdbZeroErrorWarning, load_lcdb
from powerlaw_stats.errors import DataError, FormulaError, OptionError

ROOT = Path(__file__).resolve().parents[1]
LCDB = ROOT / "tests" / "data" / "lcdb_letter.csv.gz"


@pytest.fixture(scope="module")
def raw():
    return pd.read_csv(LCDB)


@pytest.fixture(scope="module")
def with_zeros(raw):
    """The letter curves scored on their training sets, where perfect accuracy is common."""
    return raw.assign(score_test=raw["score_train"])


def test_schema_mapping(raw):
    t = load_lcdb(LCDB, openmlid=6)
    assert len(t) == len(raw)
    for col in ["run_id", "train_set", "eval_set", "train_size", "n_splits", "split", "trial", "trials", "width",
                "params", "mixup", "error"]:
        assert col in t.columns
    np.testing.assert_allclose(t["error"], 1 - raw["score_test"])
    assert set(t["trials"]) == {125} and t["run_id"].is_unique
    assert t.attrs["notes"] == ["LCDB: no zero test errors"]


def test_learner_filter_accepts_short_and_full_names():
    short = load_lcdb(LCDB, learners=["MLPClassifier"])
    full = load_lcdb(LCDB, learners=["sklearn.neural_network.MLPClassifier"])
    assert set(short["learner"]) == {"MLPClassifier"} and len(short) == len(full) == 2500


@pytest.mark.parametrize(("rule", "rows_kept"), [("floor", 5000), ("drop", 5000 - 1332), ("keep", 5000)])
def test_zero_error_rules_are_applied_and_reported(with_zeros, rule, rows_kept):
    with pytest.warns(LcdbZeroErrorWarning, match="1332 rows with zero test error"):
        t = load_lcdb(with_zeros, zero_error=rule)
    assert len(t) == rows_kept
    assert "1332" in t.attrs["notes"][0]
    if rule == "floor":
        assert t["error_floored"].sum() == 1332 and t["error"].min() == pytest.approx(0.5 / 2000)


def test_kept_zero_errors_are_refused_by_fit_with_a_clear_message(with_zeros):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LcdbZeroErrorWarning)
        t = load_lcdb(with_zeros, zero_error="keep")
    with pytest.raises(FormulaError, match=r"log_err is not finite in 1332 .* --where \"error > 0\""):
        ps.fit("log_err ~ I(log2(TS)-IXMin)*learner", t)


@pytest.mark.parametrize("method", ["ols", "huber", "bisquare"])
def test_fits_end_to_end(method):
    t = load_lcdb(LCDB)
    res = ps.fit("log_err ~ I(log2(TS)-IXMin)*learner", t, method, "w")
    slope = res.coefficient("I(log2(TS)-IXMin)")
    assert slope.estimate < 0 and res.nobs == 5000
    assert "I(log2(TS) - IXMin):learnerMLPClassifier" in res.params.index


@pytest.mark.parametrize(("kwargs", "error"), [
    (dict(openmlid=99), DataError), (dict(learners=["SVC"]), DataError), (dict(zero_error="clip"), OptionError)])
def test_bad_selection(kwargs, error):
    with pytest.raises(error):
        load_lcdb(LCDB, **kwargs)


def test_not_an_lcdb_table():
    with pytest.raises(DataError, match="not an LCDB table"):
        load_lcdb(pd.DataFrame({"a": [1]}))


def test_example_script_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "lcdb_slopes.py"), str(LCDB), "--trials", "100"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "MLPClassifier" in out.stdout and "slope" in out.stdout
