"""Numbers as R prints them, and as JSON holds them: the one place every output formats from.

The command line's tables, the report's prose and ``results.json`` all call these, so a number
reads the same everywhere it appears.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

P_FLOOR = 2.2e-16  # R prints p-values below its double epsilon as "< 2e-16"


def num(x: float | None, digits: int = 4) -> str:
    """``digits`` significant figures, NA for a missing value (as R prints it).

    Examples
    --------
    >>> num(-0.0325890841), num(-0.0325890841, 7), num(float("nan"))
    ('-0.03259', '-0.03258908', 'NA')
    """
    return "NA" if x is None or x != x else f"{x:.{digits}g}"


def pval(p: float | None, *, table: bool = False) -> str:
    """A p-value as R prints it, with R's floor: ``< 2e-16`` in prose, ``<2e-16`` in a coefficient table.

    Examples
    --------
    >>> pval(0.0123456), pval(3e-6), pval(1e-30), pval(1e-30, table=True)
    ('0.0123', '3.00e-06', '< 2e-16', '<2e-16')
    """
    if p is None or p != p:
        return "NA"
    if p < P_FLOOR:
        return "<2e-16" if table else "< 2e-16"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def p_is(p: float) -> str:
    """``p = 0.0057``, or ``p < 2e-16`` below R's floor.

    Examples
    --------
    >>> p_is(0.00573), p_is(1e-30)
    ('p = 0.00573', 'p < 2e-16')
    """
    text = pval(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def ci_labels(level: float) -> tuple[str, str]:
    """R's confint column labels: ``2.5 %`` and ``97.5 %`` at level 0.95.

    Examples
    --------
    >>> ci_labels(0.9)
    ('5 %', '95 %')
    """
    a = (1 - level) / 2
    return f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"


def jsonable(value: Any) -> Any:
    """A value JSON can hold: numpy scalars as Python numbers, NaN and infinities as None.

    Examples
    --------
    >>> jsonable(np.float64("nan")), jsonable(np.int64(3)), jsonable("ols")
    (None, 3, 'ols')
    """
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value


def json_float(x: Any) -> float | None:
    """A number as a JSON float, or None when it is not finite.

    Examples
    --------
    >>> json_float(np.float32(0.5)), json_float(float("inf"))
    (0.5, None)
    """
    return jsonable(float(x))


def to_json(document: Any) -> str:
    """A JSON document, indented, with numpy scalars converted and NaN refused (it must be None by now)."""
    return json.dumps(document, indent=2, allow_nan=False, default=_numpy_scalar) + "\n"


def _numpy_scalar(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
