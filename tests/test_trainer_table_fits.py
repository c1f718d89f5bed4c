"""The table written by ``powerlaw-train`` is fitted by ``powerlaw_stats.fit`` as it is.

A tiny grid (CIFAR-10-format data written by the trainers tests' helper, 16 runs of a few CPU steps)
goes through the real grid runner; the fit must use every row with the schema's derived names
(``TS``, ``log_err``, ``mix``, ``IXMin``) and give the four terms of the seed's mixup formula.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the trainer needs torch (pip install -e '.[train]')")
try:
    from powerlaw_stats import fit
except ImportError:  # pragma: no cover - only while the statistics core is being written
    pytest.skip("powerlaw_stats.fit is not importable yet", allow_module_level=True)

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "trainers")]

from fakedata import write_cifar  # noqa: E402

from trainers.backends import LocalBackend  # noqa: E402
from trainers.grid import expand, parse_spec, run_grid  # noqa: E402

TERMS = ["(Intercept)", "I(log2(TS) - IXMin)", "mix1", "I(log2(TS) - IXMin):mix1"]


def test_a_trainer_grid_table_fits(tmp_path, monkeypatch):
    monkeypatch.setenv("POWERLAW_TRAIN_CACHE", str(tmp_path / "cache"))
    cifar = write_cifar(tmp_path / "cifar-10-batches-py")
    spec = tmp_path / "spec.toml"
    spec.write_text(f"""
[data]
cifar10 = "{cifar.root}"
[grid]
train_sets = ["cifar10"]
eval_sets = ["cifar10"]
widths = [16]
mixup = [false, true]
n_splits = [1, 2, 4]
min_trials = 2
[train]
epochs = 0
min_steps = 8
batch_size = 32
lr = 0.05
""")
    out = tmp_path / "results.csv"
    summary = run_grid(expand(parse_spec(spec)), out, LocalBackend(("cpu",)), pack=4)
    assert summary.rows_written == 2 * (2 + 2 + 4)
    result = fit("log_err ~ I(log2(TS)-IXMin)*mix", str(out))
    assert list(result.params.index) == TERMS
    assert result.nobs == summary.rows_written
    assert all(math.isfinite(v) for v in result.params)
