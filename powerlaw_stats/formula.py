"""Formulas to design matrices with R's conventions. The only module that imports patsy.

R and patsy agree on treatment coding but not on presentation: patsy groups columns by their
numeric factors and names dummies ``mix[T.1]``, while R orders terms by degree and names them
``mix1``. We keep R's order and names, so tables and JSON read exactly like R's output.

A formula is data, not code: :func:`parse` checks every factor against the allow-list of
:mod:`powerlaw_stats.expressions` before patsy evaluates anything, and patsy is given only the
allowed functions. R's spellings are read as R means them: ``^`` inside ``I()`` is a power
(``I(hp^2)``, named as R names it), ``factor(x)`` and ``as.factor(x)`` make a factor (columns
``factor(am)0``, ``factor(am)1``, never a bracket).
"""

from __future__ import annotations

import math
import re
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

from .data.frame import ModelFrame, row_numbers
from .data.schema import SCHEMA_COLUMNS
from .errors import DataError, DroppedRowsWarning, FormulaError, shown
from .expressions import FACTOR_FUNCTIONS, VALUE_FUNCTIONS, check_formula, r_power

_BOOL_LEVELS = {"True": "TRUE", "False": "FALSE"}
_CONTRAST_PREFIX = re.compile(r"^(?:T|S|H|D)\.")  # patsy's Treatment, Sum, Helmert, Diff level prefixes
# numpy functions a formula may call as np.<name>: the allowed value functions only, nothing else of numpy
_NUMPY = types.SimpleNamespace(**{k: v for k, v in VALUE_FUNCTIONS.items() if k not in ("I", "center", "standardize", "scale")})
# what patsy may call besides its own builtins (I, C, Q, center, standardize, scale, contrasts)
_PATSY_FUNCTIONS = {**{k: v for k, v in VALUE_FUNCTIONS.items() if k not in ("I", "center", "standardize", "scale")},
                    "factor": patsy.builtins.C, "as_factor": patsy.builtins.C, "np": _NUMPY}
DESIGN_LIMIT_BYTES = 1 << 30  # a dense model matrix beyond this is refused before it is built
DESIGN_LIMIT_COLUMNS = 4000  # ... and so is one whose QR (rows x columns^2) would take minutes


@dataclass(frozen=True)
class ParsedFormula:
    """A checked formula: its patsy description, response code and the variables it reads.

    ``text`` is the formula as written, ``python`` what patsy reads (R's ``^`` as ``**``),
    ``spellings`` R's name of each factor whose patsy name differs (``I(hp ** 2)`` →
    ``I(hp^2)``).
    """

    text: str
    desc: patsy.ModelDesc
    response: str
    variables: tuple[str, ...]
    intercept: bool
    python: str = ""
    spellings: dict[str, str] = field(default_factory=dict)
    response_variables: tuple[str, ...] = ()
    factor_variables: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def regressors(self) -> tuple[str, ...]:
        """The variables read right of ``~``; the response's own columns are not among them.

        Examples
        --------
        >>> parse("log_err ~ I(log2(TS)-IXMin)*mix").regressors
        ('IXMin', 'TS', 'mix')
        """
        rhs = {n for term in self.desc.rhs_termlist for f in term.factors for n in self.factor_variables.get(f.code, ())}
        return tuple(v for v in self.variables if v in rhs)

    def r_name(self, patsy_name: str) -> str:
        """R's spelling of one of this formula's patsy column or term names.

        Examples
        --------
        >>> parse("mpg ~ I(hp^2) + factor(am)").r_name("I(hp ** 2):factor(am)[T.1]")
        'I(hp^2):factor(am)1'
        """
        return r_name(patsy_name, self.spellings)


@dataclass(frozen=True)
class DesignMatrices:
    """Response and model matrix with R-style column names, in R's term order."""

    y: np.ndarray
    x: np.ndarray
    column_names: tuple[str, ...]
    term_names: tuple[str, ...]
    column_terms: tuple[str, ...]  # the R-style term each column belongs to
    intercept: bool


def r_name(patsy_name: str, spellings: dict[str, str] | None = None) -> str:
    """R's spelling of a patsy column name: ``mix[T.1]`` → ``mix1``; ``Intercept`` → ``(Intercept)``.

    Every bracketed level becomes R's suffix (``C(am)[0]`` → ``C(am)0``, ``flag[T.True]`` →
    ``flagTRUE``); ``spellings`` maps a factor's patsy name to R's (``I(hp ** 2)`` → ``I(hp^2)``).

    Examples
    --------
    >>> r_name("I(log2(TS) - IXMin):mix[T.1]")
    'I(log2(TS) - IXMin):mix1'
    >>> r_name("flag[T.True]"), r_name("C(am)[0]"), r_name("as_factor(cyl)[T.6]")
    ('flagTRUE', 'C(am)0', 'as.factor(cyl)6')
    """
    if patsy_name == "Intercept":
        return "(Intercept)"
    out, quote, i = [], "", 0
    while i < len(patsy_name):
        ch = patsy_name[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'`":
            quote = ch
        elif ch == "[":
            end = patsy_name.find("]", i)
            if end > i:
                level = _CONTRAST_PREFIX.sub("", patsy_name[i + 1:end])
                out.append(_BOOL_LEVELS.get(level, level))
                i = end + 1
                continue
        out.append(ch)
        i += 1
    name = "".join(out)
    for patsy_spelling, r_spelling in (spellings or {}).items():
        name = name.replace(patsy_spelling, r_spelling)
    return name.replace("as_factor(", "as.factor(")


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
    """Check a two-sided formula against the allow-list and list the variables it reads.

    Nothing of the formula is evaluated here; a construct outside the allow-list (attribute
    access, a call of an unlisted function, ...) is refused in one line naming it.

    Examples
    --------
    >>> parse("log_err ~ I(log2(TS)-IXMin)*mix").variables
    ('IXMin', 'TS', 'log_err', 'mix')
    >>> parse('Ozone ~ Q("Solar.R")').variables
    ('Ozone', 'Solar.R')
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula {shown(formula, 200)} has no '~'; write it as 'response ~ terms', "
                           "e.g. 'log_err ~ log2(TS)'")
    checked = {_code(f.python): f for f in check_formula(formula)}
    python = r_power(formula)
    try:
        desc = patsy.ModelDesc.from_formula(python)
    except patsy.PatsyError as exc:
        raise FormulaError(f"formula syntax error in {shown(formula, 200)}: {_first_line(exc)}") from None
    if len(desc.lhs_termlist) != 1 or len(desc.lhs_termlist[0].factors) != 1:
        raise FormulaError(f"formula {shown(formula, 200)} needs exactly one response left of '~'")
    reads = {code: tuple(sorted((f.names - FACTOR_FUNCTIONS - set(VALUE_FUNCTIONS)) | f.columns))
             for code, f in checked.items()}
    codes = [f.code for term in desc.lhs_termlist + desc.rhs_termlist for f in term.factors]
    names = sorted({n for code in codes for n in reads.get(code, ())})
    response = desc.lhs_termlist[0].factors[0].code
    intercept = any(not t.factors for t in desc.rhs_termlist)
    spellings = {code: _r_spelling(code, f.source) for code, f in checked.items() if _r_spelling(code, f.source) != code}
    return ParsedFormula(formula, desc, response, tuple(names), intercept, python, spellings,
                         reads.get(response, ()), reads)


def _code(python: str) -> str:
    """Return patsy's normalised code of a factor (its name in the design): ``I(hp**2)`` → ``I(hp ** 2)``."""
    return patsy.EvalFactor(python).code


def _r_spelling(code: str, source: str) -> str:
    # the user wrote R's ^: show it as R does (I(hp^2)), not as patsy re-spaces the ** it read
    return code.replace(" ** ", "^") if "^" in source else code


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def build_design(parsed: ParsedFormula, frame: pd.DataFrame, namespace: dict) -> DesignMatrices:
    """Evaluate the formula on ``frame`` (NA rows already removed) with extra names in ``namespace``.

    patsy sees only the allowed functions (:data:`_PATSY_FUNCTIONS` and its own builtins). Nothing
    is treated as missing here: a NaN the formula itself produces (log of a negative value) stays
    in place for the caller to drop and count, an infinity for the caller to refuse.
    """
    _check_size(parsed, frame)
    frame = _numeric_response(parsed, frame)
    env = patsy.EvalEnvironment([{**_PATSY_FUNCTIONS, **namespace}])
    rhs_terms = sorted(parsed.desc.rhs_termlist, key=lambda t: len(t.factors))  # R: by degree, stably
    desc = patsy.ModelDesc(parsed.desc.lhs_termlist, rhs_terms)
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y, x = patsy.dmatrices(desc, frame, eval_env=env, NA_action=patsy.NAAction(NA_types=[]))
    except patsy.PatsyError as exc:
        raise FormulaError(f"cannot evaluate formula {shown(parsed.text, 200)}: {_first_line(exc)}") from None
    except (NameError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise FormulaError(f"cannot evaluate formula {shown(parsed.text, 200)}: {_first_line(exc)}") from None
    if y.shape[1] != 1:  # patsy coded a text or factor response as dummies
        raise FormulaError(f"the response {parsed.r_name(parsed.response)!r} is not numeric (its values are "
                           f"levels such as {_level_of(y)}); a linear model needs a numeric response, as R's lm does: "
                           "recode it as numbers, or model the numeric column instead")
    return _r_ordered(parsed, np.asarray(y)[:, 0], x, rhs_terms)


def _level_of(y) -> str:
    names = y.design_info.column_names
    return ", ".join(repr(r_name(n)) for n in names[:2])


def _numeric_response(parsed: ParsedFormula, frame: pd.DataFrame) -> pd.DataFrame:
    """A logical response as 0/1 (R's lm does so); a text or factor response is refused."""
    rhs = set(parsed.regressors)
    out = {}
    for name in parsed.response_variables:
        if name not in frame.columns or name in rhs:
            continue
        col = frame[name]
        if col.dtype == bool:
            out[name] = col.astype(float)
        elif isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
            first = col.dropna().iloc[0] if col.notna().any() else None
            raise FormulaError(f"the response column {shown(name)} is not numeric (values such as {shown(first, 30)}); "
                               "a linear model needs a numeric response, as R's lm does: recode it as numbers")
    return frame.assign(**out) if out else frame


def _check_size(parsed: ParsedFormula, frame: pd.DataFrame) -> None:
    """Refuse, before building it, a model matrix too large to hold or to factor (a factor with 10,000 levels)."""
    columns = 0
    widest = ("", 1)
    for term in parsed.desc.rhs_termlist:
        width = 1
        for f in term.factors:
            levels = _levels_of(f.code, parsed, frame)
            width *= levels
            if levels > widest[1]:
                widest = (parsed.r_name(f.code), levels)
        columns += width
    size = 8.0 * len(frame) * columns
    if size <= DESIGN_LIMIT_BYTES and columns <= DESIGN_LIMIT_COLUMNS:
        return
    what = f"; {widest[0]} has {widest[1]:,} levels" if widest[1] > 1 else ""
    raise DataError(f"the model matrix would have {len(frame):,} rows x about {columns:,} columns ({size / 2**30:.1f} GiB, "
                    f"and a QR of about {2.0 * len(frame) * columns**2:.0e} operations){what}: too large to fit here. "
                    "Fit a factor with that many levels as a cluster (--cluster) or a random effect ((1|name)), "
                    "or merge its levels")


_FACTOR_CALL = re.compile(r"^(?:C|factor|as_factor)\(\s*([A-Za-z_][A-Za-z0-9_]*)")


def _levels_of(code: str, parsed: ParsedFormula, frame: pd.DataFrame) -> int:
    # an upper bound on the columns a factor gives: its levels when categorical, 1 when numeric
    match = _FACTOR_CALL.match(code)
    name = match.group(1) if match else code
    if name not in frame.columns:
        return 1
    col = frame[name]
    if match or _is_factor(col):
        return max(int(col.nunique(dropna=True)), 1)
    return 1


def _r_ordered(parsed: ParsedFormula, y: np.ndarray, x, terms) -> DesignMatrices:
    info = x.design_info
    slices = [info.term_slices[t] for t in terms if t in info.term_slices]
    order = np.concatenate([np.arange(s.start, s.stop) for s in slices]) if slices else np.arange(0)
    names = [parsed.r_name(info.column_names[i]) for i in order]
    column_terms = [parsed.r_name(t.name()) for t in terms for _ in range(_width(info.term_slices.get(t)))]
    term_names = tuple(dict.fromkeys(column_terms))
    return DesignMatrices(y, np.asarray(x)[:, order], tuple(names), term_names, tuple(column_terms), parsed.intercept)


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
    """Build the design and refuse what R would refuse or silently mangle (non-finite values included).

    :func:`model_design` is the same with R's ``na.omit`` for a NaN the formula produces.
    """
    _check_levels(parsed, mf)
    design = build_design(parsed, mf.frame, mf.namespace)
    _check_finite(design.y[:, None], (parsed.r_name(parsed.response),), mf)
    _check_finite(design.x, design.column_names, mf)
    return design


def model_design(parsed: ParsedFormula, mf: ModelFrame) -> tuple[DesignMatrices, ModelFrame]:
    """Build the design; rows where the formula gives NaN are dropped with a warning, as R's ``na.omit`` does.

    ``log(-1)`` is NaN in R too, with a warning, and ``lm`` then drops the row. An infinity
    (``log(0)``) is still refused, as ``lm`` refuses it. Returns the design and the model frame
    of the rows kept.

    Examples
    --------
    >>> import warnings
    >>> from powerlaw_stats.data.frame import Inputs, model_frame
    >>> frame = pd.DataFrame({"y": [1.0, 2.0, 3.5, 4.0], "x": [1.0, -1.0, 3.0, 4.0]})
    >>> p = parse("y ~ log(x)")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     design, mf = model_design(p, model_frame(Inputs(data=frame), p.variables))
    >>> len(design.y), mf.dropped_rows, str(caught[0].message).split(";")[0]
    (3, 1, '1 row dropped because the formula gives NaN there (log(x): data row 2)')
    """
    _check_levels(parsed, mf)
    design = build_design(parsed, mf.frame, mf.namespace)
    if not design.column_names:  # a law's parameter fixed at zero has none; a model to fit needs one
        raise FormulaError(f"formula {shown(parsed.text, 200)} has no coefficients to estimate; add a term or "
                           "the intercept (y ~ 1)")
    values = np.column_stack([design.y, design.x])
    nan_rows = np.isnan(values).any(axis=1)
    if nan_rows.any():
        names = (parsed.r_name(parsed.response), *design.column_names)
        col = int(np.flatnonzero(np.isnan(values).any(axis=0))[0])
        n = int(nan_rows.sum())
        if n == len(nan_rows):
            raise FormulaError(f"{names[col]} is NaN in every row (data rows {row_numbers(mf.frame.index, nan_rows)}); "
                               f"{_nonfinite_hint(names[col], mf.frame.iloc[0])}")
        if mf.na == "fail":  # R's na.fail refuses what na.omit would drop
            first = int(np.flatnonzero(nan_rows)[0])
            raise FormulaError(f"{names[col]} is NaN in {n} row{'s' if n > 1 else ''} (data row{'s' if n > 1 else ''} "
                               f"{row_numbers(mf.frame.index, nan_rows)}); {_nonfinite_hint(names[col], mf.frame.iloc[first])}"
                               "; or use --na drop to omit them")
        warnings.warn(f"{n} row{'s' if n > 1 else ''} dropped because the formula gives NaN there ({names[col]}: data "
                      f"row{'s' if n > 1 else ''} {row_numbers(mf.frame.index, nan_rows)}); R's na.omit drops them too",
                      DroppedRowsWarning, stacklevel=3)
        mf = mf.keep(~nan_rows, "NaN from the formula")
        design = DesignMatrices(design.y[~nan_rows], design.x[~nan_rows], design.column_names, design.term_names,
                                design.column_terms, design.intercept)
        _check_levels(parsed, mf)
    _check_finite(design.y[:, None], (parsed.r_name(parsed.response),), mf)
    _check_finite(design.x, design.column_names, mf)
    return design, mf


def _check_levels(parsed: ParsedFormula, mf: ModelFrame) -> None:
    for name, levels in factor_levels(parsed, mf.frame).items():
        if len(levels) < 2 and name not in parsed.response_variables:
            raise FormulaError(f"factor {shown(name)} has one level ({levels[0]!r}) in the rows used; "
                               "a contrast needs two: drop it from the formula or widen --where")


def _check_finite(values: np.ndarray, names: Sequence[str], mf: ModelFrame) -> None:
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    col = int(np.flatnonzero(bad.any(axis=0))[0])
    rows = bad[:, col]
    first = int(np.flatnonzero(rows)[0])
    raise FormulaError(
        f"{names[col]} is not finite in {int(rows.sum())} of {len(values)} rows (data rows "
        f"{row_numbers(mf.frame.index, rows)}); {_nonfinite_hint(names[col], mf.frame.iloc[first])}"
    )


def _nonfinite_hint(name: str, row: pd.Series) -> str:
    if "log" in name or "sqrt" in name:
        sources = [c for c in row.index if isinstance(c, str) and c in name and _is_nonpositive(row[c])]
        sources += [needs[0] for derived, (needs, _) in SCHEMA_COLUMNS.items()
                    if derived in name and needs[0] in row.index and _is_nonpositive(row[needs[0]])]
        if sources:
            col = sources[-1]
            what = "a log of zero or a negative value" if "log" in name else "a square root of a negative value"
            return (f"{what} ({col} = {row[col]} there); "
                    f"exclude such rows with --where \"{col} > 0\" or transform them explicitly")
    infinite = [c for c in row.index if isinstance(c, str) and c in name and _is_infinite(row[c])]
    if infinite:
        return f"the data hold {row[infinite[0]]} in {infinite[0]} there; fix the value or exclude the row with --where"
    return "the formula produced an infinity there (a division by zero?); check its transformations or exclude the rows"


def _is_nonpositive(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value <= 0


def _is_infinite(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isinf(value)
