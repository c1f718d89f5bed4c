"""Shared by the reference tests: where the committed references live and how to read them.

R's JSON writes NA/NaN/Inf as strings (make_r_refs.R); ``num`` turns them back into floats.
Only the committed files are read, so the tests run without R.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).parent / "data"
R_DIR = DATA / "r_datasets"
NIST_DIR = DATA / "nist"
R_REFS = json.loads((R_DIR / "r_refs.json").read_text())
NIST = json.loads((NIST_DIR / "certified.json").read_text())
STATSMODELS_RLM = json.loads((DATA / "statsmodels_rlm.json").read_text())

_SPECIAL = {"NA": math.nan, "NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf, "Infinity": math.inf}


def num(value) -> float | np.ndarray:
    """A JSON number, list of numbers or R's NA/NaN/Inf strings as float(s)."""
    if isinstance(value, list):
        return np.array([num(v) for v in value], dtype=float)
    if isinstance(value, str):
        return _SPECIAL[value] if value in _SPECIAL else float(value)
    return math.nan if value is None else float(value)


def r_table(name: str, **kwargs) -> pd.DataFrame:
    """One of R's data sets as R wrote it (mtcars and hills keep their row names as the index)."""
    index = {"index_col": 0} if name in ("mtcars", "hills") else {}
    return pd.read_csv(R_DIR / f"{name}.csv", **index, **kwargs)


def nist_table(name: str) -> pd.DataFrame:
    return pd.read_csv(NIST_DIR / f"{name}.csv")


def assert_close(actual, expected, rtol: float, what: str = "") -> None:
    """Relative agreement with an absolute floor of rtol times the largest |expected| (entries near 0)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    floor = rtol * float(np.nanmax(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=floor, err_msg=what)


def compact(name: str) -> str:
    """Term names compare without white space: patsy writes I(hp ^ 2) for R's I(hp^2)."""
    return "".join(str(name).split())
