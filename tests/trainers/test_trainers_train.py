"""A few real training steps on the tiny official-format data.

Tolerances: a CPU run repeated in one process is bitwise reproducible, so repeats compare exactly.
A packed run and the same run alone differ only by float32 summation order (grouped vs plain
convolutions), amplified by a few SGD steps to ~1e-5 in the test loss; 1e-3 is far below the O(0.1)
change any mixing of models or data would cause. Chance error on 10 classes is 0.9; 30 steps on this
learnable data reach about 0.35, so "learns" is asserted as error < 0.7.
"""

from __future__ import annotations

import pytest

from trainers.config import RunConfig
from trainers.grid import complete_rows
from trainers.train import train_pack, train_run

PACK_TOL = 1e-3
LEARNED = 0.7


def config(cifar, cinic, **changes) -> RunConfig:
    base = RunConfig("cifar10", ("cifar10", "cinic10"), 2, 0, 0, 2, 16, False, epochs=0, min_steps=4,
                     batch_size=32, lr=0.05, data=(("cifar10", str(cifar.root)), ("cinic10", str(cinic.root))))
    return base.replace(**changes)


def test_rows_satisfy_the_schema_with_the_recommended_columns(cifar, cinic):
    c = config(cifar, cinic, mixup=True)
    rows = complete_rows(c, train_run(c), seconds=0.0)
    assert [r["eval_set"] for r in rows] == ["cifar10", "cinic10"]
    for r in rows:
        assert r["run_id"] == c.run_id and r["train_size"] == 100 and r["params"] == 78042 and r["mixup"] == 1
        assert r["steps"] == 4 and r["device"] == "cpu" and r["mixup_alpha"] == 1.0 and r["pack_size"] == 1
    cinic_row = rows[1]
    assert cinic_row["n_overlap"] == 20 and cinic_row["n_eval"] == 100  # CIFAR-trained: overlap left out


def test_training_learns(cifar, cinic):
    c = config(cifar, cinic, n_splits=1, split=0, trial=0, trials=1, min_steps=30)
    rows = train_run(c)
    assert rows[0]["error"] < LEARNED and rows[0]["loss"] < 2.0


def test_a_run_is_reproducible_and_its_seed_matters(cifar, cinic):
    c = config(cifar, cinic, mixup=True, seed=5)
    first, again, other = train_run(c), train_run(c), train_run(c.replace(seed=6))
    assert [(r["error"], r["loss"]) for r in first] == [(r["error"], r["loss"]) for r in again]
    assert [r["loss"] for r in first] != [r["loss"] for r in other]


def test_a_packed_run_matches_the_same_runs_alone(cifar, cinic):
    a = config(cifar, cinic, seed=1)
    b = config(cifar, cinic, split=1, trial=1, mixup=True, seed=2)
    packed = train_pack([a, b])
    for alone, together in zip((train_run(a), train_run(b)), packed, strict=True):
        for x, y in zip(alone, together, strict=True):
            assert x["run_id"] == y["run_id"] and y["pack_size"] == 2
            assert x["loss"] == pytest.approx(y["loss"], abs=PACK_TOL)


def test_cinic_trained_runs_have_no_overlap(cifar, cinic):
    rows = train_run(config(cifar, cinic, train_set="cinic10", min_steps=1))
    assert [r["n_overlap"] for r in rows] == [0, 0]
    assert all(r["error"] == r["error_incl_overlap"] for r in rows)


def test_a_registered_grayscale_28px_dataset_trains(tmp_path, monkeypatch):
    """What a digits dataset looks like: one channel, 28x28, no flips; the trainer adapts."""
    import numpy as np

    from trainers import data

    monkeypatch.setattr(data, "_REGISTRY", dict(data._REGISTRY))

    @data.register("gray28", mean=(0.5,), std=(0.3,), hint="made in a test", flip=False)
    def decode(root):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 10, 80)
        x = (rng.random((80, 1, 28, 28)) * 60 + y[:, None, None, None] * 19).astype(np.uint8)
        names = np.array([f"g{i}" for i in range(80)])
        return data.Decoded(data.Split(x[:60], y[:60], names[:60]), data.Split(x[60:], y[60:], names[60:]))

    c = RunConfig("gray28", ("gray28",), 2, 1, 1, 2, 16, True, epochs=0, min_steps=2, batch_size=16,
                  data=(("gray28", str(tmp_path)),), cache_dir=str(tmp_path / "cache"))
    (row,) = complete_rows(c, train_run(c), seconds=0.0)
    assert row["train_size"] == 30 and row["n_eval"] == 20 and row["params"] == 78042 - 2 * 9 * 16
