"""Train one CIFAR-10 model with mixup from Python and print the rows it adds to the table.

    python examples/train_cifar_mixup.py data/cifar-10-batches-py [--cinic data/cinic-10] [--device cuda]

The run trains on part 0 of 4 of the CIFAR-10 pool (12,500 images), as trial 0 at 1/4 of a grid
would. The step budget here is small so that it finishes in a few minutes on a laptop CPU; raise
--epochs for a real curve.
"""

from __future__ import annotations

import argparse
import sys

from trainers.config import RunConfig
from trainers.errors import TrainersError
from trainers.train import train_run


def main() -> int:
    parser = argparse.ArgumentParser(description="one CIFAR-10 run with mixup")
    parser.add_argument("cifar10", help="the cifar-10-batches-py folder")
    parser.add_argument("--cinic", help="a CINIC-10 folder, to score the model on its test set as well")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--epochs", type=float, default=2.0)
    args = parser.parse_args()
    data = (("cifar10", args.cifar10),) + ((("cinic10", args.cinic),) if args.cinic else ())
    config = RunConfig(
        train_set="cifar10", eval_sets=tuple(name for name, _ in data), n_splits=4, split=0, trial=0,
        trials=4, width=16, mixup=True, mixup_alpha=1.0, epochs=args.epochs, batch_size=256, lr=0.1,
        seed=0, data=data, device=args.device,
    )
    try:
        rows = train_run(config)
    except TrainersError as err:
        print(f"train_cifar_mixup: {err}", file=sys.stderr)
        return 1
    for row in rows:
        print(f"{row['eval_set']:>8}: error {row['error']:.4f} (with overlap {row['error_incl_overlap']:.4f}), "
              f"loss {row['loss']:.3f}, {row['train_size']} images, {row['steps']} steps, "
              f"{row['train_seconds']:.1f} s on {row['device']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
