"""The engine around the training step, on CPU: torch.compile and its fallback, the option checks,
host work per pack (overlap masks, bytes to the device) and the device copy's cache key.

Tolerances: a fallback to eager happens before any weight changes, so it is compared exactly with an
eager run. A compiled step (the aot_eager backend: traced and differentiated by torch.compile,
without generating kernels) reorders float32 work like a pack does: 1e-5 on weights after three
steps, as in test_trainers_train.py. Byte counts and call counts are exact.
"""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
import torch

from trainers import data, train
from trainers.config import COMPILE_MODES, RunConfig
from trainers.errors import TrainerError
from trainers.train import engine_for, fit, on_device, prepare

STEP_ATOL, STEP_RTOL = 1e-5, 1e-5
STEPS = 3


def config(cifar, cinic, **changes) -> RunConfig:
    base = RunConfig("cifar10", ("cifar10", "cinic10"), 4, 0, 0, 4, 16, False, epochs=0, min_steps=6,
                     batch_size=16, lr=0.05, data=(("cifar10", str(cifar.root)), ("cinic10", str(cinic.root))))
    return base.replace(**changes)


def members(cifar, cinic, k: int = 2, **changes) -> list[RunConfig]:
    return [config(cifar, cinic, split=i, trial=i, seed=10 + i, mixup=bool(i % 2), **changes) for i in range(k)]


def weights(run) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in run.net.state_dict().items()}


@pytest.fixture
def fresh_compile(monkeypatch):
    """Each test compiles anew (the module keeps one compiled step per mode and process)."""
    monkeypatch.setattr(train, "_COMPILED", {})
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


# ---- torch.compile ------------------------------------------------------------------------------


def test_compile_options_cover_every_mode():
    assert tuple(train.COMPILE_OPTIONS) == COMPILE_MODES


@pytest.mark.parametrize("route", ["grouped", "vmap", "loop"])
def test_a_compiled_step_trains_like_the_eager_one_without_recompiling(cifar, cinic, route, fresh_compile, monkeypatch):
    from torch._dynamo.utils import counters

    monkeypatch.setitem(train.COMPILE_OPTIONS, "default", {"backend": "aot_eager"})
    eager = prepare(members(cifar, cinic, packing=route))
    fit(eager, steps=STEPS)
    counters.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback would warn
        compiled = prepare(members(cifar, cinic, packing=route, compile="default"))
        fit(compiled, steps=STEPS)
        fit(prepare(members(cifar, cinic, packing=route, compile="default", min_steps=7)), steps=STEPS)
    assert counters["stats"]["unique_graphs"] == 1  # one graph: no break, no recompile for a new pack
    want, got = weights(eager), weights(compiled)
    assert all(torch.allclose(want[k].double(), got[k].double(), atol=STEP_ATOL, rtol=STEP_RTOL) for k in want)


def test_when_torch_compile_is_unavailable_training_runs_eagerly_with_a_warning(cifar, cinic, fresh_compile, monkeypatch):
    def unavailable(*args, **kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(torch, "compile", unavailable)
    eager = prepare(members(cifar, cinic))
    fit(eager)
    run = prepare(members(cifar, cinic, compile="default"))
    with pytest.warns(RuntimeWarning, match="torch.compile \\(mode default\\) failed, training eagerly instead: "
                                            "RuntimeError: torch.compile is not supported"):
        fit(run)
    want, got = weights(eager), weights(run)
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_a_compiled_step_that_fails_midway_leaves_no_trace(cifar, cinic, fresh_compile, monkeypatch):
    """Fails after the forward pass has updated BatchNorm's running statistics: they are restored."""

    def half_way(*args, **kwargs):
        def step(*a, **k):
            train.step_losses(*a, **k)  # the forward pass runs, BatchNorm buffers move ...
            raise RuntimeError("backend compiler failed")  # ... then the backend gives up

        return step

    monkeypatch.setattr(torch, "compile", half_way)
    eager = prepare(members(cifar, cinic))
    fit(eager)
    run = prepare(members(cifar, cinic, compile="reduce-overhead"))
    with pytest.warns(RuntimeWarning, match="backend compiler failed"):
        fit(run)
    want, got = weights(eager), weights(run)
    assert all(torch.equal(want[k], got[k]) for k in want)


@pytest.mark.parametrize(("field", "value"), [("packing", "bmm"), ("compile", "fast"), ("precision", "fp16")])
def test_unknown_engine_options_are_refused(field, value):
    c = RunConfig("cifar10", ("cifar10",), 1, 0, 0, 1, 16, False).replace(**{field: value})
    with pytest.raises(TrainerError, match=f"unknown {field} '{value}'; use one of"):
        engine_for(c)


def test_engine_options_follow_the_device():
    c = RunConfig("cifar10", ("cifar10",), 1, 0, 0, 1, 16, False)
    cpu = engine_for(c)
    assert (cpu.amp, cpu.channels_last) == (False, True)  # bf16 is for CUDA; channels-last everywhere
    assert engine_for(c.replace(fused=False)).fused is False
    cuda = engine_for(c.replace(device="cuda:0"))
    assert (cuda.amp, cuda.channels_last, cuda.fused) == (True, True, True)
    assert engine_for(c.replace(device="cuda:0", precision="fp32")).amp is False


# ---- host work per pack -------------------------------------------------------------------------


def test_overlap_masks_are_computed_once_per_training_set(cifar, cinic, monkeypatch):
    calls = []
    real = data.overlap_mask
    monkeypatch.setattr(data, "overlap_mask", lambda train, test: calls.append(1) or real(train, test))
    monkeypatch.setattr(data, "_OVERLAP", {})
    prepare(members(cifar, cinic, k=4))
    assert len(calls) == 2  # one per evaluation set, not one per member and evaluation set
    prepare([c.replace(seed=c.seed + 99) for c in members(cifar, cinic, k=4)])
    assert len(calls) == 2
    prepare(members(cifar, cinic, k=2, train_set="cinic10"))
    assert len(calls) == 4  # another training set: its own masks


def test_a_pack_sends_the_device_only_part_indices_and_lambdas(cifar, cinic):
    train.clear_device_cache()
    configs = members(cifar, cinic, k=3)
    first = prepare(configs)
    steps, part = first.budget.steps, 50  # 200 training images in 4 parts
    data_bytes = 200 * 3 * 32 * 32 + 200 * 8  # uint8 images and int64 labels, once per process
    assert first.uploaded == data_bytes + 3 * part * 8 + 3 * steps * 4
    again = prepare([c.replace(seed=c.seed + 100) for c in configs])
    assert again.uploaded == 3 * part * 8 + 3 * steps * 4  # 1.3 kB here; 0.4 MB per member at 50,000 images
    assert again.index.shape == (steps, 3, 16) and again.index.device.type == "cpu"


# ---- the device copy is keyed by what the data is --------------------------------------------------


def test_a_new_array_after_a_cache_clear_never_gets_stale_images(tmp_path):
    """The old key, id(array), could be reused by a new array once the old one was freed."""
    from fakedata import write_cifar

    src = write_cifar(tmp_path / "c", per_batch=4, n_test=4)
    data._LOADED.clear()
    first = data.load_dataset("cifar10", src.root, cache_dir=tmp_path / "cache")
    old_images, _ = on_device(first.key("train"), first.train.x, first.train.y, torch.device("cpu"))
    assert np.array_equal(old_images.numpy(), src.train_x)
    changed = write_cifar(tmp_path / "c", per_batch=4, n_test=4, seed=9)
    data._LOADED.clear()
    del first
    gc.collect()  # the old arrays are gone; a new one may take their place (and id)
    second = data.load_dataset("cifar10", src.root, cache_dir=tmp_path / "cache")
    images, labels = on_device(second.key("train"), second.train.x, second.train.y, torch.device("cpu"))
    assert np.array_equal(images.numpy(), changed.train_x) and np.array_equal(labels.numpy(), changed.train_y)
    data._LOADED.clear()


def test_unchanged_files_share_the_key_and_changed_files_do_not(tmp_path):
    import os

    from fakedata import write_cifar

    src = write_cifar(tmp_path / "c", per_batch=4, n_test=4)
    data._LOADED.clear()
    a = data.load_dataset("cifar10", src.root, cache_dir=tmp_path / "cache")
    data._LOADED.clear()
    b = data.load_dataset("cifar10", src.root, cache_dir=tmp_path / "other-cache")  # decoded again
    assert a.key("train") == b.key("train") and a.key("train") != a.key("test")
    os.utime(src.root / "data_batch_1", ns=(1, 1))
    data._LOADED.clear()
    assert data.load_dataset("cifar10", src.root, cache_dir=tmp_path / "cache").key("train") != a.key("train")
    data._LOADED.clear()


def test_data_without_a_key_is_keyed_by_its_contents():
    cpu = torch.device("cpu")
    x1, x2 = np.zeros((2, 1, 2, 2), np.uint8), np.ones((2, 1, 2, 2), np.uint8)
    assert on_device("", x1, np.arange(2), cpu)[0].sum() == 0
    assert on_device("", x2, np.arange(2), cpu)[0].sum() == 8


def test_a_hand_built_dataset_is_keyed_by_its_contents():
    x = np.zeros((2, 1, 2, 2), np.uint8)
    split = data.Split(x, np.arange(2), np.array(["a", "b"]))
    other = data.Split(x + 1, np.arange(2), np.array(["a", "b"]))
    key = data.Dataset("toy", split, split, (0.5,), (0.2,), 2).key("train")
    assert key == data.Dataset("toy", split, split, (0.5,), (0.2,), 2).key("train")
    assert key != data.Dataset("toy", other, split, (0.5,), (0.2,), 2).key("train")
