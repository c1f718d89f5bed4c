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


# ----------------------------------------------------------------------------- R's printed text


def _significant(x: float, digits: int) -> tuple[int, int]:
    """R's ``scientific()``: the exponent of ``x`` at ``digits`` significant digits, and how many are needed.

    Trailing zeros are not needed: 0.2650 at four digits needs three.
    """
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    return int(exponent), max(1, len(mantissa.replace(".", "").rstrip("0")))


def r_format(values: Any, digits: int = 7) -> list[str]:
    """A numeric vector as R's ``format(x, digits = digits)`` prints it: one common layout for all.

    Fixed notation with as many decimals as the element that needs most (to show ``digits``
    significant digits), unless scientific notation is narrower, as R's ``formatReal`` decides.

    Examples
    --------
    >>> r_format([19.7462, 5.252, -5.048, 0.9292, 0.2650], 4)
    ['19.7462', '5.2520', '-5.0480', '0.9292', '0.2650']
    >>> r_format([2.52e-11], 3), r_format([float("nan"), 1.5])
    (['2.52e-11'], ['NA', '1.5'])
    """
    xs = [float(v) for v in np.ravel(values)]
    finite = [x for x in xs if math.isfinite(x)]
    if not finite:
        return ["NA" if x != x else ("Inf" if x > 0 else "-Inf") for x in xs]
    parts = [(x < 0, *_significant(x, digits)) if x != 0 else (False, 0, 1) for x in finite]
    rgt = max(max(nsig - kp - 1, 0) for _, kp, nsig in parts)
    left = max(neg + max(kp + 1, 1) for neg, kp, _ in parts)
    fixed_width = left + rgt + (rgt > 0)
    mxns = max(nsig for _, _, nsig in parts)
    exp_digits = 2 if max(abs(kp) for _, kp, _ in parts) >= 100 else 1
    sci_width = any(neg for neg, _, _ in parts) + (mxns > 1) + (mxns - 1) + 4 + exp_digits
    out = []
    for x in xs:
        if not math.isfinite(x):
            out.append("NA" if x != x else ("Inf" if x > 0 else "-Inf"))
        elif fixed_width <= sci_width:
            out.append(f"{x:.{rgt}f}")
        else:
            out.append(f"{x:.{mxns - 1}e}")
    return out


def r_format_pval(pvalues: Any, digits: int = 3, eps: float = P_FLOOR) -> list[str]:
    """p-values as R's ``format.pval`` prints them in a coefficient table.

    Examples
    --------
    >>> r_format_pval([0.000765, 2.52e-11, 0.0015004, 1e-30])
    ['0.000765', '2.52e-11', '0.001500', '< 2e-16']
    >>> r_format_pval([0.5, 1e-30])
    ['0.5', '<2e-16']
    """
    ps = [float(p) for p in np.ravel(pvalues)]
    out = ["NA" if p != p else "" for p in ps]
    normal = [i for i, p in enumerate(ps) if p == p and p >= eps]
    expo = {i: math.floor(math.log10(ps[i])) if ps[i] > 0 else -50 for i in normal}
    fixed = [i for i in normal if expo[i] >= -3 or (expo[i] == -4 and digits > 1)]
    for group in (fixed, [i for i in normal if i not in fixed]):
        for i, text in zip(group, r_format([ps[i] for i in group], digits)):
            out[i] = text
    tiny = max(1, digits - 2)
    if normal:
        width = max(len(out[i]) for i in normal)
        if tiny > 1 and tiny + 6 > width:
            tiny = max(1, width - 7)
        sep = "" if tiny == 1 and width <= 6 else " "
    else:
        sep = "" if tiny == 1 else " "
    floor_text = "<" + sep + r_format([eps], tiny)[0]
    return [floor_text if p == p and p < eps else o for p, o in zip(ps, out)]


def signif_stars(p: float) -> str:
    """R's significance code of a p-value: ``***`` below 0.001, ``**``, ``*``, ``.`` and a blank.

    Examples
    --------
    >>> [signif_stars(p) for p in (1e-5, 0.005, 0.02, 0.07, 0.5)]
    ['***', '**', '*', '.', ' ']
    """
    if p != p:
        return ""
    for cut, code in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return code
    return " "


SIGNIF_LEGEND = "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


def coefficient_lines(names: list[str], est: Any, se: Any, t: Any, p: Any | None, digits: int = 4,
                      header: tuple[str, ...] = ("Estimate", "Std. Error", "t value", "Pr(>|t|)")) -> list[str]:
    r"""A coefficient matrix as R's ``printCoefmat`` prints it (``summary.lm``'s "Coefficients:" block).

    Examples
    --------
    >>> print("\n".join(coefficient_lines(["(Intercept)", "wt", "qsec"], [19.74622, -5.04798, 0.92917],
    ...                                     [5.25206, 0.48404, 0.26500], [3.7597, -10.4289, 3.5064],
    ...                                     [0.000765, 2.52e-11, 0.0015004])))
                Estimate Std. Error t value Pr(>|t|)
    (Intercept)  19.7462     5.2521   3.760 0.000765 ***
    wt           -5.0480     0.4840 -10.429 2.52e-11 ***
    qsec          0.9292     0.2650   3.506 0.001500 **
    """
    est, se, t = np.asarray(est, dtype=float), np.asarray(se, dtype=float), np.asarray(t, dtype=float)
    both = np.concatenate([est, se])
    acs = np.abs(both[np.isfinite(both) & (both != 0)])
    digmin = 1 + math.floor(math.log10(acs.min())) if acs.size else 1
    rounded = np.round(both, max(1, digits - digmin))
    cs = r_format(rounded, digits)
    dig_tst = max(1, min(5, digits - 1))
    columns = [cs[:len(est)], cs[len(est):], r_format(np.round(t, dig_tst), digits)]
    if p is not None:
        columns.append(r_format_pval(p, dig_tst))
        columns.append([signif_stars(float(v)) for v in np.ravel(p)])
    heads = [*header[: len(columns) - (p is not None)], ""] if p is not None else list(header[:3])
    widths = [max(len(h), *(len(c) for c in col)) for h, col in zip(heads, columns)]
    name_width = max(len(n) for n in names)
    lines = [" " * name_width + "".join(" " + h.rjust(w) if h else " " + " " * w for h, w in zip(heads, widths))]
    for i, name in enumerate(names):
        cells = [col[i].rjust(w) if j < len(columns) - (p is not None) else col[i].ljust(w)
                 for j, (col, w) in enumerate(zip(columns, widths))]
        lines.append(name.ljust(name_width) + "".join(" " + c for c in cells))
    return lines


# ----------------------------------------------------------------------------- notebook display


def short_repr(kind: str, **fields: Any) -> str:
    """A result's one-line ``repr``: its kind and a few fields, never its arrays.

    Examples
    --------
    >>> short_repr("FitResult", method="ols", nobs=32)
    '<FitResult method=ols nobs=32>'
    """
    shown = " ".join(f"{k}={_short(v)}" for k, v in fields.items() if v is not None)
    return f"<{kind} {shown}>" if shown else f"<{kind}>"


def _short(value: Any, limit: int = 160) -> str:
    if isinstance(value, float):
        text = num(value, 4)
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_short(v, 40)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def html_table(frame: Any, title: str, notes: Any = (), digits: int = 4) -> str:
    """A notebook's rendering of a result: a title, a table of 4-significant-digit numbers, and notes.

    Examples
    --------
    >>> import pandas as pd
    >>> html_table(pd.DataFrame({"Estimate": [1.23456]}, index=["x"]), "Fit").count("<table")
    1
    """
    import html

    table = frame.to_html(float_format=lambda v: num(v, digits), na_rep="NA", border=0, classes="powerlaw-stats")
    lines = "".join(f"<p>{html.escape(str(n))}</p>" for n in notes)
    return f"<div><p><strong>{html.escape(title)}</strong></p>{table}{lines}</div>"
