"""Real training steps on the tiny official-format data: rows, learning, reproducibility, and what a
pack shares with the same runs trained alone.

Tolerances: a CPU run repeated in one process is bitwise reproducible, so repeats compare exactly.
The loop route runs each member's own plain convolutions on the same memory layout as a single run,
so on CPU its weights after the first steps are compared exactly (its loss only to the last bit: the
per-model means are taken over a (batch, K) table). The grouped and vmap routes differ from single
runs only by float32 summation order: measured on this data, the forward pass (the step's per-model
losses) agrees to about 2e-7 and the weights after three SGD steps to about 2e-7 absolute
(BatchNorm's running variances, O(10), to about 1e-6 relative); the tolerances below (1e-5) leave a
50x margin and are far below what mixing models or data changes (O(0.1) in a loss, O(1e-3) in a
weight after a step). After many steps the runs separate: SGD is chaotic and a ReLU's gradient is
discontinuous, so float rounding grows (the docs give the measured size); nothing here claims more
than these first steps. Chance error on 10 classes is 0.9; 30 steps on this learnable data reach
about 0.35, so "learns" is asserted as error < 0.7.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainers.config import PACKINGS, RunConfig
from trainers.grid import complete_rows
from trainers.models import unpack
from trainers.train import fit, prepare, step_losses, train_pack, train_run

FORWARD_TOL = 1e-5  # per-model loss of one step, O(1)
STEP_ATOL, STEP_RTOL = 1e-5, 1e-5  # weights and BatchNorm statistics after STEPS SGD steps
STEPS = 3
PACK_TOL = 1e-3  # test loss after a whole (4-step) run, packed vs alone
LEARNED = 0.7


def config(cifar, cinic, **changes) -> RunConfig:
    base = RunConfig("cifar10", ("cifar10", "cinic10"), 2, 0, 0, 2, 16, False, epochs=0, min_steps=4,
                     batch_size=32, lr=0.05, data=(("cifar10", str(cifar.root)), ("cinic10", str(cinic.root))))
    return base.replace(**changes)


def pair(cifar, cinic, route: str = "grouped") -> tuple[RunConfig, RunConfig]:
    """Two members that differ in seed, part, trial and mixup, as a grid's pack may."""
    a = config(cifar, cinic, seed=1, min_steps=20, packing=route)
    return a, a.replace(split=1, trial=1, mixup=True, seed=2)


def test_rows_satisfy_the_schema_with_the_recommended_columns(cifar, cinic):
    c = config(cifar, cinic, mixup=True)
    rows = complete_rows(c, train_run(c), seconds=0.0)
    assert [r["eval_set"] for r in rows] == ["cifar10", "cinic10"]
    for r in rows:
        assert r["run_id"] == c.run_id and r["train_size"] == 100 and r["params"] == 78042 and r["mixup"] == 1
        assert r["steps"] == 4 and r["device"] == "cpu" and r["mixup_alpha"] == 1.0 and r["pack_size"] == 1
    cinic_row = rows[1]
    assert cinic_row["n_overlap"] == 20 and cinic_row["n_eval"] == 100  # CIFAR-trained: overlap left out


@pytest.mark.parametrize("route", PACKINGS)
def test_training_learns(cifar, cinic, route):
    c = config(cifar, cinic, n_splits=1, split=0, trial=0, trials=1, min_steps=30, packing=route)
    rows = train_run(c)
    assert rows[0]["error"] < LEARNED and rows[0]["loss"] < 2.0


def test_a_run_is_reproducible_and_its_seed_matters(cifar, cinic):
    c = config(cifar, cinic, mixup=True, seed=5)
    first, again, other = train_run(c), train_run(c), train_run(c.replace(seed=6))
    assert [(r["error"], r["loss"]) for r in first] == [(r["error"], r["loss"]) for r in again]
    assert [r["loss"] for r in first] != [r["loss"] for r in other]


def test_a_run_draws_the_same_alone_and_in_a_pack(cifar, cinic):
    a, b = pair(cifar, cinic)
    alone, packed = prepare([a]), prepare([a, b])
    for name in ("index", "shift", "flip", "partner", "lam"):
        assert torch.equal(getattr(alone, name)[:, 0], getattr(packed, name)[:, 0]), name
    assert not torch.equal(packed.index[:, 0], packed.index[:, 1])


# ---- what is equal: the forward pass and the first SGD steps (fp32, CPU) --------------------------


def _first_losses(run) -> torch.Tensor:
    run.net.train()
    e = run.engine
    return step_losses(run.net, run.images, run.labels, *run.stats, run.index[0], run.shift[0], run.flip[0],
                       run.partner[0], run.lam[0], run.use_mix, e.amp, e.channels_last).detach()


@pytest.mark.parametrize("route", PACKINGS)
def test_a_packs_forward_pass_equals_the_single_runs(cifar, cinic, route):
    a, b = pair(cifar, cinic, route)
    together = _first_losses(prepare([a, b]))
    for k, c in enumerate((a, b)):
        alone = _first_losses(prepare([c.replace(packing="grouped")]))[0]
        assert abs(float(together[k] - alone)) < FORWARD_TOL


@pytest.mark.parametrize("route", PACKINGS)
def test_a_packs_first_sgd_steps_equal_the_single_runs(cifar, cinic, route):
    a, b = pair(cifar, cinic, route)
    packed = prepare([a, b])
    fit(packed, steps=STEPS)
    for member, c in zip(unpack(packed.net), (a, b), strict=True):
        alone = prepare([c.replace(packing="grouped")])
        fit(alone, steps=STEPS)
        want, got = unpack(alone.net)[0].state_dict(), member.state_dict()
        start = unpack(prepare([c.replace(packing="grouped")]).net)[0].state_dict()
        assert not torch.equal(want["stem.0.weight"], start["stem.0.weight"])  # the steps moved the weights
        for key in want:
            if route == "loop":
                assert torch.equal(want[key], got[key]), key
            else:
                assert torch.allclose(want[key].double(), got[key].double(), atol=STEP_ATOL, rtol=STEP_RTOL), key


def test_a_packed_run_matches_the_same_runs_alone_after_four_steps(cifar, cinic):
    a = config(cifar, cinic, seed=1)
    b = config(cifar, cinic, split=1, trial=1, mixup=True, seed=2)
    packed = train_pack([a, b])
    for alone, together in zip((train_run(a), train_run(b)), packed, strict=True):
        for x, y in zip(alone, together, strict=True):
            assert x["run_id"] == y["run_id"] and y["pack_size"] == 2
            assert x["loss"] == pytest.approx(y["loss"], abs=PACK_TOL)


def test_the_loop_route_gives_a_single_runs_rows(cifar, cinic):
    """Every mistake the same; the mean losses to the last bits (averaged over a (batch, K) table)."""
    a, b = pair(cifar, cinic, "loop")
    a, b = a.replace(min_steps=4), b.replace(min_steps=4)
    means, own = ("loss", "train_loss"), ("train_seconds", "pack_size")
    for alone, together in zip((train_run(a), train_run(b)), train_pack([a, b]), strict=True):
        for x, y in zip(alone, together, strict=True):
            assert {k: v for k, v in x.items() if k not in means + own} == {k: v for k, v in y.items() if k not in means + own}
            assert all(x[k] == pytest.approx(y[k], rel=FORWARD_TOL) for k in means)


@pytest.mark.parametrize("fused", [True, False])
def test_fused_and_foreach_sgd_take_the_same_steps(cifar, cinic, fused):
    a, _ = pair(cifar, cinic)
    ref = prepare([a.replace(fused=not fused)])
    run = prepare([a.replace(fused=fused)])
    assert run.engine.fused is fused
    fit(ref, steps=STEPS), fit(run, steps=STEPS)
    want, got = ref.net.state_dict(), run.net.state_dict()
    assert all(torch.allclose(want[k].double(), got[k].double(), atol=STEP_ATOL, rtol=STEP_RTOL) for k in want)


def test_cinic_trained_runs_have_no_overlap(cifar, cinic):
    rows = train_run(config(cifar, cinic, train_set="cinic10", min_steps=1))
    assert [r["n_overlap"] for r in rows] == [0, 0]
    assert all(r["error"] == r["error_incl_overlap"] for r in rows)


def test_a_registered_grayscale_28px_dataset_trains(tmp_path, monkeypatch):
    """What a digits dataset looks like: one channel, 28x28, no flips; the trainer adapts."""
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
