"""Formulas to design matrices with R's conventions. The only module that imports patsy.

R and patsy agree on treatment coding but not on presentation: patsy groups columns by their
numeric factors and names dummies ``mix[T.1]``, while R orders terms by degree and names them
``mix1``. We keep R's order and names, so tables and JSON read exactly like R's output.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from .data.frame import FORMULA_FUNCTIONS, ModelFrame
from .data.schema import SCHEMA_COLUMNS
from .errors import FormulaError

_DUMMY = re.compile(r"\[T\.([^\]]*)\]")
_BOOL_LEVELS = {"True": "TRUE", "False": "FALSE"}


@dataclass(frozen=True)
class ParsedFormula:
    """A checked formula: its patsy description, response code and the variables it reads."""

    text: str
    desc: patsy.ModelDesc
    response: str
    variables: tuple[str, ...]
    intercept: bool

    @property
    def regressors(self) -> tuple[str, ...]:
        """The variables read right of ``~``; the response's own columns are not among them.

        Examples
        --------
        >>> parse("log_err ~ I(log2(TS)-IXMin)*mix").regressors
        ('IXMin', 'TS', 'mix')
        """
        rhs = {n for term in self.desc.rhs_termlist for f in term.factors for n in _code_names(f.code, self.text)}
        return tuple(v for v in self.variables if v in rhs)


@dataclass(frozen=True)
class DesignMatrices:
    """Response and model matrix with R-style column names, in R's term order."""

    y: np.ndarray
    x: np.ndarray
    column_names: tuple[str, ...]
    term_names: tuple[str, ...]
    column_terms: tuple[str, ...]  # the R-style term each column belongs to
    intercept: bool


def r_name(patsy_name: str) -> str:
    """R's spelling of a patsy column name: ``mix[T.1]`` → ``mix1``; ``Intercept`` → ``(Intercept)``.

    Examples
    --------
    >>> r_name("I(log2(TS) - IXMin):mix[T.1]")
    'I(log2(TS) - IXMin):mix1'
    >>> r_name("flag[T.True]")
    'flagTRUE'
    """
    if patsy_name == "Intercept":
        return "(Intercept)"
    return _DUMMY.sub(lambda m: _BOOL_LEVELS.get(m.group(1), m.group(1)), patsy_name)


def same_term(a: str, b: str) -> bool:
    """Term names compare without regard to white space, as the seed's tables print them.

    Examples
    --------
    >>> same_term("I(log2(TS)-IXMin):mix1", "I(log2(TS) - IXMin):mix1")
    True
    """
    return "".join(a.split()) == "".join(b.split())


def find_term(names: Sequence[str], term: str) -> int | None:
    """Position of ``term`` among ``names`` compared as :func:`same_term` does, or None.

    Examples
    --------
    >>> find_term(["(Intercept)", "I(log2(TS) - IXMin):mix1"], "I(log2(TS)-IXMin):mix1"), find_term(["a"], "b")
    (1, None)
    """
    return next((i for i, name in enumerate(names) if same_term(name, term)), None)


def parse(formula: str) -> ParsedFormula:
    """Check a two-sided formula and list the variables it reads.

    Examples
    --------
    >>> parse("log_err ~ I(log2(TS)-IXMin)*mix").variables
    ('IXMin', 'TS', 'log_err', 'mix')
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula {formula!r} has no '~'; write it as 'response ~ terms', e.g. 'log_err ~ log2(TS)'")
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as exc:
        raise FormulaError(f"formula syntax error in {formula!r}: {_first_line(exc)}") from None
    if len(desc.lhs_termlist) != 1:
        raise FormulaError(f"formula {formula!r} needs exactly one response left of '~'")
    factors = [f for term in desc.lhs_termlist + desc.rhs_termlist for f in term.factors]
    names = sorted({n for f in factors for n in _code_names(f.code, formula)} - set(FORMULA_FUNCTIONS) - _PATSY_BUILTINS)
    response = desc.lhs_termlist[0].factors[0].code
    intercept = any(not t.factors for t in desc.rhs_termlist)
    return ParsedFormula(formula, desc, response, tuple(names), intercept)


_PATSY_BUILTINS = {"I", "C", "Q", "Treatment", "Sum", "Poly", "Helmert", "Diff", "center", "standardize", "scale", "np"}


def _code_names(code: str, formula: str) -> set[str]:
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        raise FormulaError(f"formula syntax error in {formula!r}: cannot read {code!r}") from None
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def build_design(parsed: ParsedFormula, frame: pd.DataFrame, namespace: dict) -> DesignMatrices:
    """Evaluate the formula on ``frame`` (NA rows already removed) with extra names in ``namespace``.

    Nothing is treated as missing here: a NaN produced by the formula itself (log of a negative
    value) is left in place for the caller to report rather than silently dropped.
    """
    env = patsy.EvalEnvironment([{**FORMULA_FUNCTIONS, **namespace}])
    rhs_terms = sorted(parsed.desc.rhs_termlist, key=lambda t: len(t.factors))  # R: by degree, stably
    desc = patsy.ModelDesc(parsed.desc.lhs_termlist, rhs_terms)
    try:
        y, x = patsy.dmatrices(desc, frame, eval_env=env, NA_action=patsy.NAAction(NA_types=[]))
    except patsy.PatsyError as exc:
        raise FormulaError(f"cannot evaluate formula {parsed.text!r}: {_first_line(exc)}") from None
    except (NameError, TypeError, ValueError, AttributeError) as exc:
        raise FormulaError(f"cannot evaluate formula {parsed.text!r}: {exc}") from None
    return _r_ordered(np.asarray(y)[:, 0], x, rhs_terms, parsed.intercept)


def _r_ordered(y: np.ndarray, x, terms, intercept: bool) -> DesignMatrices:
    info = x.design_info
    slices = [info.term_slices[t] for t in terms if t in info.term_slices]
    order = np.concatenate([np.arange(s.start, s.stop) for s in slices]) if slices else np.arange(0)
    names = [r_name(info.column_names[i]) for i in order]
    column_terms = [r_name(t.name()) for t in terms for _ in range(_width(info.term_slices.get(t)))]
    term_names = tuple(dict.fromkeys(column_terms))
    return DesignMatrices(y, np.asarray(x)[:, order], tuple(names), term_names, tuple(column_terms), intercept)


def _width(s: slice | None) -> int:
    return 0 if s is None else s.stop - s.start


def factor_levels(parsed: ParsedFormula, frame: pd.DataFrame) -> dict[str, list]:
    """Levels of each variable the formula reads that patsy will treat as a factor."""
    out = {}
    for name in parsed.variables:
        if name in frame.columns and _is_factor(frame[name]):
            out[name] = sorted(pd.unique(frame[name].dropna()).tolist(), key=str)
    return out


def _is_factor(col: pd.Series) -> bool:
    return isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == bool or not pd.api.types.is_numeric_dtype(col)


# ----------------------------------------------------------------------------- design checks


def design_matrices(parsed: ParsedFormula, mf: ModelFrame) -> DesignMatrices:
    """Build the design and refuse what R would refuse or silently mangle."""
    for name, levels in factor_levels(parsed, mf.frame).items():
        if len(levels) < 2:
            raise FormulaError(f"factor {name!r} has one level ({levels[0]!r}) in the rows used; "
                               "a contrast needs two: drop it from the formula or widen --where")
    design = build_design(parsed, mf.frame, mf.namespace)
    _check_finite(design.y[:, None], (parsed.response,), mf)
    _check_finite(design.x, design.column_names, mf)
    return design


def _check_finite(values: np.ndarray, names: Sequence[str], mf: ModelFrame) -> None:
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    col = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = np.flatnonzero(bad[:, col])
    first = ", ".join(str(int(mf.frame.index[r]) + 1) for r in rows[:5])
    raise FormulaError(
        f"{names[col]} is not finite in {len(rows)} of {len(values)} rows (data rows {first}); "
        f"{_nonfinite_hint(names[col], mf.frame.iloc[rows[0]])}"
    )


def _nonfinite_hint(name: str, row: pd.Series) -> str:
    sources = [c for c in row.index if c in name and _is_nonpositive(row[c])]
    sources += [needs[0] for derived, (needs, _) in SCHEMA_COLUMNS.items()
                if derived in name and needs[0] in row.index and _is_nonpositive(row[needs[0]])]
    if sources:
        col = sources[-1]
        return (f"a log of zero or a negative value ({col} = {row[col]} there); "
                f"exclude such rows with --where \"{col} > 0\" or transform them explicitly")
    return "the formula produced NaN or infinity; check its transformations or exclude the rows with --where"


def _is_nonpositive(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value <= 0
