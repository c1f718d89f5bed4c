"""The schema's derived names on columns with missing or wrong values: a missing value drops its
row (R's na.omit), a wrong one is refused in one line naming the column and row; never a traceback.

Tolerances: none — these are exact comparisons of counts, messages and fitted numbers (the NA
case must equal the fit on the table without that row to the bit).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.data.schema import with_schema_names
from powerlaw_stats.errors import DataError

CSV = Path(__file__).parent / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*mix"


def _table(column: str, value: object, row: int = 3) -> pd.DataFrame:
    d = pd.read_csv(CSV)
    d[column] = d[column].astype(object)
    d.loc[row, column] = value
    return d


@pytest.mark.parametrize("value", ["yes", 2, -1, 0.5])
def test_a_mixup_that_is_not_0_or_1_is_refused_naming_column_and_row(value):
    with pytest.raises(DataError, match=r"column 'mixup', row 4: .* is not 0 or 1"):
        with_schema_names(_table("mixup", value))


def test_a_missing_mixup_drops_its_row_as_na_omit():
    d = _table("mixup", None)
    fit = ps.fit(FORMULA, d, weights="w")
    clean = ps.fit(FORMULA, pd.read_csv(CSV).drop(index=3).reset_index(drop=True), weights="w")
    assert fit.nobs == clean.nobs == len(d) - 1
    np.testing.assert_array_equal(fit.params.to_numpy(), clean.params.to_numpy())


def test_text_in_trials_is_refused_for_the_derived_weights():
    with pytest.raises(DataError, match=r"'w' cannot be derived from column 'trials'"):
        with_schema_names(_table("trials", "three"))


def test_boolean_and_float_mixup_give_the_integer_factor():
    d = pd.read_csv(CSV)
    ints = with_schema_names(d)[0]["mix"]
    for other in (d["mixup"].astype(bool), d["mixup"].astype(float)):
        got = with_schema_names(d.assign(mixup=other))[0]["mix"]
        assert list(got.cat.categories) == [0, 1]
        np.testing.assert_array_equal(got.cat.codes, ints.cat.codes)


def test_cli_simulate_says_it_in_one_line(tmp_path):
    path = tmp_path / "bad.csv"
    _table("mixup", "yes").to_csv(path, index=False)
    cli = [sys.executable, "-c", "from powerlaw_stats.cli import main; main()"]
    proc = subprocess.run([*cli, "simulate", str(path), "--formula", FORMULA, "--trials", "10"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "mixup" in lines[0]
