"""Training throughput of the built-in trainer: images/s at widths 16 and 32, single and packed.

Runs the real training loop (on-device augmentation, mixup, SGD) on synthetic CIFAR-shaped data
held in memory, so no dataset is needed. Single runs (one model) are the baseline; packed runs
train K models in one grouped network, and the ratio packed/single is measured in this process.

    python benchmarks/bench_trainers.py                       # CPU, K = 4
    python benchmarks/bench_trainers.py --device cuda --pack 8 --batch 512 --steps 200

Images/s counts every model's images: a pack of K at batch B processes K*B images per step.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from trainers import data
from trainers.config import RunConfig
from trainers.train import train_pack

N_TRAIN = 4096


@data.register("bench-synthetic", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), hint="synthetic, in memory")
def _synthetic(root: Path) -> data.Decoded:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, N_TRAIN)
    x = rng.integers(0, 256, (N_TRAIN, 3, 32, 32), dtype=np.uint8)
    origin = np.array([f"s{i}" for i in range(N_TRAIN)])
    test_origin = np.array([f"t{i}" for i in range(256)])
    return data.Decoded(data.Split(x, y, origin), data.Split(x[:256], y[:256], test_origin))


def throughput(width: int, k: int, args: argparse.Namespace, root: str) -> float:
    """Median images/s over ``args.repeats`` packs of ``k`` runs (a warm-up pack first)."""
    base = RunConfig("bench-synthetic", ("bench-synthetic",), 1, 0, 0, 1, width, True, epochs=0,
                     min_steps=args.steps, batch_size=args.batch, data=(("bench-synthetic", root),),
                     cache_dir=os.path.join(root, "cache"), device=args.device)
    configs = [base.replace(seed=s, mixup=bool(s % 2)) for s in range(k)]
    train_pack([c.replace(min_steps=3) for c in configs])  # kernels chosen, data on the device
    rates = []
    for _ in range(args.repeats):
        rows = train_pack(configs)
        per_run = rows[0][0]["train_seconds"]  # pack time / k
        rates.append(args.steps * args.batch / per_run)
    return statistics.median(rates)


def _cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--pack", type=int, default=4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else _cpu_name()
    print(f"device {args.device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"batch {args.batch}, {args.steps} steps, median of {args.repeats}")
    print(f"{'width':>5} {'single img/s':>13} {'packed img/s':>13} {'K':>3} {'packed/single':>14}")
    with tempfile.TemporaryDirectory() as root:
        for width in args.widths:
            single = throughput(width, 1, args, root)
            packed = throughput(width, args.pack, args, root)
            print(f"{width:>5} {single:>13.0f} {packed:>13.0f} {args.pack:>3} {packed / single:>14.2f}")


if __name__ == "__main__":
    main()
