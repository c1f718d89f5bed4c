"""The trainer on a CUDA GPU: what a pack shares with single runs, bf16 learning, no host sync inside
a training step, torch.compile, and a tiny grid killed with SIGKILL and resumed. Skipped without a GPU;
``benchmarks/gpu_check.sh`` runs them with the benchmark.

Tolerances: in fp32 with TF32 off, grouped, vmap'ed and plain cuDNN convolutions still pick different
algorithms (implicit GEMM, Winograd, FFT), whose float32 errors reach ~1e-5 relative, and cuDNN's
weight gradients use atomics; so 1e-4 on per-model losses (O(1)) and 1e-4 absolute + relative on the
weights after three SGD steps: ten times those errors, and far below the O(0.1) change in a loss that
mixing models or data causes. bf16 "learns" is error < 0.7 after 30 steps, as on CPU (chance is 0.9).
Sync counting is exact: a training step must make no synchronising call at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch

from trainers.config import PACKINGS, RunConfig
from trainers.grid import expand, parse_spec
from trainers.models import unpack
from trainers.train import fit, prepare, step_losses, train_run

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

from test_trainers_grid import ROOT, read_rows, write_spec  # noqa: E402

FORWARD_TOL = 1e-4
STEP_ATOL, STEP_RTOL = 1e-4, 1e-4
STEPS = 3
LEARNED = 0.7
GIVE_UP = 300  # seconds: only guards against a hung child, never a performance limit


@pytest.fixture
def fp32_exact():
    """TF32 off for matrix products and convolutions; restored afterwards."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def config(cifar, cinic, **changes) -> RunConfig:
    base = RunConfig("cifar10", ("cifar10", "cinic10"), 2, 0, 0, 2, 16, False, epochs=0, min_steps=20, batch_size=32,
                     lr=0.05, seed=1, device="cuda", data=(("cifar10", str(cifar.root)), ("cinic10", str(cinic.root))))
    return base.replace(**changes)


def pair(cifar, cinic, **changes) -> tuple[RunConfig, RunConfig]:
    a = config(cifar, cinic, **changes)
    return a, a.replace(split=1, trial=1, mixup=True, seed=2)


def _first_losses(run) -> torch.Tensor:
    run.net.train()
    e = run.engine
    return step_losses(run.net, run.images, run.labels, *run.stats, run.index[0], run.shift[0], run.flip[0],
                       run.partner[0], run.lam[0], run.use_mix, e.amp, e.channels_last).detach().cpu()


@pytest.mark.parametrize("route", PACKINGS)
def test_packed_forward_equals_single_runs_in_fp32(cifar, cinic, fp32_exact, route):
    a, b = pair(cifar, cinic, packing=route, precision="fp32")
    together = _first_losses(prepare([a, b]))
    for k, c in enumerate((a, b)):
        alone = _first_losses(prepare([c.replace(packing="grouped")]))[0]
        assert abs(float(together[k] - alone)) < FORWARD_TOL


@pytest.mark.parametrize("route", PACKINGS)
def test_packed_first_sgd_steps_equal_single_runs_in_fp32(cifar, cinic, fp32_exact, route):
    a, b = pair(cifar, cinic, packing=route, precision="fp32")
    packed = prepare([a, b])
    fit(packed, steps=STEPS)
    for member, c in zip(unpack(packed.net), (a, b), strict=True):
        alone = prepare([c.replace(packing="grouped")])
        fit(alone, steps=STEPS)
        want, got = unpack(alone.net)[0].state_dict(), member.state_dict()
        for key in want:
            assert torch.allclose(want[key].double(), got[key].double(), atol=STEP_ATOL, rtol=STEP_RTOL), key


@pytest.mark.parametrize("route", PACKINGS)
def test_bf16_training_learns(cifar, cinic, route):
    c = config(cifar, cinic, n_splits=1, split=0, trial=0, trials=1, min_steps=30, packing=route)
    rows = train_run(c)
    assert rows[0]["error"] < LEARNED and rows[0]["loss"] < 2.0
    assert rows[0]["device"].startswith("cuda:0 (") and prepare([c]).engine.amp


@pytest.mark.parametrize("route", PACKINGS)
@pytest.mark.parametrize("fused", [True, False])
def test_no_host_sync_inside_training_steps(cifar, cinic, route, fused):
    configs = pair(cifar, cinic, packing=route, fused=fused)
    fit(prepare(configs), steps=2)  # warm-up: cuDNN autotuning and lazy initialisation happen here
    run = prepare([c.replace(seed=c.seed + 10) for c in configs])
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fit(run, steps=5)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message).lower()]
    assert syncs == [], f"{len(syncs)} host syncs in 5 training steps: {syncs[:3]}"


def test_cudnn_benchmark_follows_the_config(cifar, cinic):
    prepare([config(cifar, cinic, cudnn_benchmark=False)])
    assert torch.backends.cudnn.benchmark is False
    prepare([config(cifar, cinic)])
    assert torch.backends.cudnn.benchmark is True


@pytest.mark.slow
def test_compiled_training_matches_eager_on_cuda(cifar, cinic, fp32_exact):
    pytest.importorskip("triton", reason="torch.compile on CUDA needs triton")
    a, b = pair(cifar, cinic, precision="fp32")
    eager = prepare([a, b])
    fit(eager, steps=STEPS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would warn
        compiled = prepare([a.replace(compile="default"), b.replace(compile="default")])
        fit(compiled, steps=STEPS)
    want, got = eager.net.state_dict(), compiled.net.state_dict()
    assert all(torch.allclose(want[k].double(), got[k].double(), atol=STEP_ATOL, rtol=STEP_RTOL) for k in want)


def test_a_tiny_grid_on_cuda_survives_kill_9_and_resumes(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    out = tmp_path / "results.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "trainers.cli", "grid", str(spec), "--out", str(out), "--device", "cuda", "--pack", "2"]
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + GIVE_UP
    while time.monotonic() < deadline and child.poll() is None:
        if out.exists() and len(out.read_bytes().splitlines()) >= 2:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    partial = read_rows(out)
    assert 1 <= len(partial) < 16
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(out)
    keys = [(r["run_id"], r["eval_set"]) for r in rows]
    expected = {(c.run_id, e) for c in expand(parse_spec(spec)) for e in c.eval_sets}
    assert len(keys) == len(set(keys)) == 16 and set(keys) == expected
    assert rows[: len(partial)] == partial and all(r["device"].startswith("cuda:0") for r in rows)
