r"""Training throughput of the built-in trainer, and the projected time of a grid.

Runs the real training loop (on-device draws, augmentation, mixup, SGD) on synthetic CIFAR-shaped
data held in memory, so no dataset is needed. For each width the single run (one model, grouped
route, cuDNN autotuning on) is the baseline measured in this process; every other line is a ratio
against it: packs of K models for each packing route, with cuDNN autotuning on and off (CUDA only),
and with ``torch.compile`` when asked.

    python benchmarks/bench_trainers.py                                 # CPU, K = 4, all routes
    python benchmarks/bench_trainers.py --device cuda --batch 512 --steps 40 --packs 4 8 16 \\
        --grid examples/cifar_cinic_grid.toml

Images/s counts every model's images: a pack of K at batch B processes K*B images per step.
"Host" lines show what one pack costs before its first step (data split, masks, draws, packing)
and the bytes it copies from host to device once the data sets are on the device.

``--grid SPEC`` projects the wall time of that grid on this device: for every pack the grid would
train (``--grid-pack``, ``--grid-route``), steps x batch / measured training throughput + the
evaluation images / measured evaluation throughput + the measured host time per pack. It needs the
spec's ``pool_size`` and the official test-set sizes below, and is only as good as the measured
throughput at the grid's batch size (measure with ``--batch`` equal to the spec's).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainers import data
from trainers.config import COMPILE_MODES, PACKINGS, RunConfig
from trainers.data import EvalSet
from trainers.grid import expand, make_packs, parse_spec
from trainers.train import evaluate, fit, prepare, step_budget

N_TRAIN = 8192
TEST_SIZES = {"cifar10": 10_000, "cinic10": 90_000, "mnist5k": 1000, "sklearn_digits": 497}  # official test splits


@data.register("bench-synthetic", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), hint="synthetic, in memory")
def _synthetic(root: Path) -> data.Decoded:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, N_TRAIN)
    x = rng.integers(0, 256, (N_TRAIN, 3, 32, 32), dtype=np.uint8)
    origin = np.array([f"s{i}" for i in range(N_TRAIN)])
    test_origin = np.array([f"t{i}" for i in range(N_TRAIN)])
    return data.Decoded(data.Split(x, y, origin), data.Split(x, y, test_origin))


@dataclass(frozen=True)
class Setting:
    """One measured configuration."""

    width: int
    k: int
    route: str
    cudnn: bool
    compile: str

    def label(self, cuda: bool) -> str:
        """Describe the setting in a table cell."""
        what = "single" if self.k == 1 else f"{self.route} K={self.k}"
        cudnn = f", cudnn.benchmark {'on' if self.cudnn else 'off'}" if cuda else ""
        return f"{what}{cudnn}, compile {self.compile}"


@dataclass(frozen=True)
class Measured:
    """Training images/s (all models), evaluation model-images/s, host seconds and bytes per pack."""

    train_rate: float
    eval_rate: float
    host_seconds: float
    uploaded: int


def configs_for(s: Setting, args: argparse.Namespace, root: str) -> list[RunConfig]:
    """K runs of one shape on the synthetic data (mixup on every other member)."""
    base = RunConfig("bench-synthetic", ("bench-synthetic",), 1, 0, 0, 1, s.width, True, epochs=0,
                     min_steps=args.steps, batch_size=args.batch, data=(("bench-synthetic", root),),
                     cache_dir=os.path.join(root, "cache"), device=args.device, packing=s.route,
                     compile=s.compile, cudnn_benchmark=s.cudnn)
    return [base.replace(seed=i, mixup=bool(i % 2)) for i in range(s.k)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(s: Setting, args: argparse.Namespace, root: str) -> Measured:
    """Median over ``args.repeats`` packs, after a warm-up pack (kernels chosen, compiled, data on the device)."""
    configs = configs_for(s, args, root)
    fit(prepare([c.replace(min_steps=3) for c in configs]))
    rates, hosts, evals, uploaded = [], [], [], 0
    ev = EvalSet("bench-synthetic", *_eval_images(args.eval_images), key="bench-eval")
    for _ in range(args.repeats):
        start = time.perf_counter()
        run = prepare(configs)
        _sync(args.device)
        hosts.append(time.perf_counter() - start)
        uploaded = run.uploaded
        start = time.perf_counter()
        fit(run).cpu()  # the copy waits for the device
        rates.append(args.steps * args.batch * s.k / (time.perf_counter() - start))
        start = time.perf_counter()
        evaluate(run.net, ev, run.stats, run.engine)
        evals.append(len(ev.y) * s.k / (time.perf_counter() - start))
    return Measured(statistics.median(rates), statistics.median(evals), statistics.median(hosts), uploaded)


def _eval_images(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n), np.zeros(n, bool)


def project(spec_path: str, width_rates: dict[int, Measured], k: int) -> tuple[int, float, dict[str, float]]:
    """Projected seconds of a grid from measured rates per width: (runs, seconds, parts)."""
    spec = parse_spec(spec_path)
    if spec.pool_size is None:
        raise SystemExit(f"{spec_path}: the projection needs [grid] pool_size (the training-part sizes)")
    unknown = sorted(set(spec.eval_sets) - set(TEST_SIZES))
    if unknown:
        raise SystemExit(f"no official test-set size known for {', '.join(unknown)}")
    runs = expand(spec)
    missing = sorted({r.width for r in runs} - set(width_rates))
    if missing:
        raise SystemExit(f"the projection needs every width of {spec_path}; add --widths {' '.join(map(str, missing))}")
    eval_images = sum(TEST_SIZES[e] for e in spec.eval_sets)
    parts = {"train": 0.0, "eval": 0.0, "host": 0.0}
    for p in make_packs(runs, k):
        c, m = p[0], width_rates[p[0].width]
        budget = step_budget(spec.pool_size // c.n_splits, c.batch_size, c.epochs, c.min_steps)
        parts["train"] += budget.steps * budget.batch * len(p) / m.train_rate
        parts["eval"] += eval_images * len(p) / m.eval_rate
        parts["host"] += m.host_seconds
    return len(runs), sum(parts.values()), parts


def _cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def parse_args() -> argparse.Namespace:
    """Read the command line (cuDNN settings collapse to one off CUDA)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--packs", type=int, nargs="+", default=[4], help="pack sizes K to measure")
    parser.add_argument("--routes", nargs="+", default=list(PACKINGS), choices=PACKINGS)
    parser.add_argument("--cudnn", nargs="+", default=["on", "off"], choices=["on", "off"],
                        help="cudnn.benchmark settings to measure (CUDA only)")
    parser.add_argument("--compile", nargs="+", default=["off"], choices=COMPILE_MODES,
                        help="torch.compile modes for the packs (the single-run baseline is always eager)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eval-images", type=int, default=2000)
    parser.add_argument("--grid", help="a grid spec (TOML) whose wall time to project")
    parser.add_argument("--grid-pack", type=int, default=8)
    parser.add_argument("--grid-route", default="grouped", choices=PACKINGS)
    args = parser.parse_args()
    if not args.device.startswith("cuda"):
        args.cudnn = ["on"]  # cuDNN is a CUDA library: nothing to switch on a CPU
    return args


def main() -> None:
    """Measure every setting, print a line each, and the projection first when asked for one."""
    args = parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else _cpu_name()
    print(f"device {args.device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"batch {args.batch}, {args.steps} steps, median of {args.repeats}")
    print(f"{'width':>5}  {'setting':<52} {'img/s':>10} {'per model':>10} {'x single':>9} {'host s':>7} {'H2D MB':>7}")
    measured: dict[Setting, Measured] = {}

    def run(s: Setting) -> Measured:
        if s not in measured:
            measured[s] = measure(s, args, root)
            _line(s.width, s, measured[s], measured.get(Setting(s.width, 1, "grouped", True, "off"), measured[s]), args)
        return measured[s]

    with tempfile.TemporaryDirectory() as root:
        baselines = {w: Setting(w, 1, "grouped", True, "off") for w in args.widths}
        if args.grid:  # first, so a time limit that stops the matrix still leaves the projection
            grid = {w: Setting(w, args.grid_pack, args.grid_route, True, args.compile[0]) for w in args.widths}
            rates = {w: (run(baselines[w]), run(grid[w]))[1] for w in args.widths}
            runs, seconds, parts = project(args.grid, rates, args.grid_pack)
            print(f"projected {args.grid}: {runs} runs in {seconds / 60:.1f} min on this device "
                  f"(--pack {args.grid_pack}, {args.grid_route}, compile {args.compile[0]}; training "
                  f"{parts['train'] / 60:.1f} min, evaluation {parts['eval'] / 60:.1f} min, host {parts['host'] / 60:.1f} min)",
                  flush=True)
        for width in args.widths:
            run(baselines[width])
            if "off" in args.cudnn:
                run(Setting(width, 1, "grouped", False, "off"))
            for s in [Setting(width, k, r, cudnn == "on", mode) for k in args.packs for r in args.routes
                      for cudnn in args.cudnn for mode in args.compile]:
                run(s)


def _line(width: int, s: Setting, m: Measured, base: Measured, args: argparse.Namespace) -> None:
    print(f"{width:>5}  {s.label(args.device.startswith('cuda')):<52} {m.train_rate:>10.0f} {m.train_rate / s.k:>10.0f} "
          f"{m.train_rate / base.train_rate:>9.2f} {m.host_seconds:>7.3f} {m.uploaded / 1e6:>7.2f}", flush=True)


if __name__ == "__main__":
    main()
