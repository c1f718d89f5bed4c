"""Bundled learning-curve tables.

``load_example()`` returns the table that ``fit``, ``simulate`` and ``report`` use when no data is
given. Until real curves from our trainer are bundled it is *synthetic*, made by
:mod:`powerlaw_stats.datasets.synthetic`; ``EXAMPLE_IS_SYNTHETIC`` says so and the CLI prints it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

EXAMPLE_FILE = "synthetic_curves.csv"
EXAMPLE_IS_SYNTHETIC = True
EXAMPLE_FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
EXAMPLE_EFFECT = "I(log2(TS)-IXMin):mix1"
EXAMPLE_WEIGHTS = "w"
EXAMPLE_NOTE = ("bundled example: synthetic curves (seed study's coefficients plus seeded skewed noise), "
                "not real training runs")

__all__ = ["EXAMPLE_EFFECT", "EXAMPLE_FORMULA", "EXAMPLE_IS_SYNTHETIC", "EXAMPLE_NOTE", "EXAMPLE_WEIGHTS",
           "example_path", "load_example", "load_lcdb"]


def __getattr__(name: str):
    if name == "load_lcdb":  # keeps the LCDB code out of every import of the example
        from .lcdb import load_lcdb

        return load_lcdb
    raise AttributeError(f"module 'powerlaw_stats.datasets' has no attribute {name!r}")


def example_path() -> Path:
    """Path of the bundled example table (CSV)."""
    return Path(__file__).with_name(EXAMPLE_FILE)


def load_example() -> pd.DataFrame:
    """The bundled example learning-curve table.

    Examples
    --------
    >>> load_example().columns[:3].tolist()
    ['run_id', 'train_set', 'eval_set']
    """
    return pd.read_csv(example_path())
