"""Random-effect terms in lme4's syntax: read the bars out of a formula and build what each term needs.

A formula such as ``log_err ~ I(log2(TS)-IXMin)*mix + (1|run_id) + (1|split_id)`` splits into the
fixed-effects formula (handed to the existing patsy machinery unchanged) and its bar terms. As in
lme4 (Bates, Mächler, Bolker and Walker 2015, section 2):

- ``(expr | g)``: the columns of ``~expr`` (an intercept unless ``0 +``) vary by the levels of
  ``g`` with an unstructured (correlated) covariance;
- ``(expr || g)``: the same columns, uncorrelated: ``(1|g) + (0+x|g) + ...``, one term each;
- ``(1 | a/b)``: nested, ``(1|a) + (1|b:a)``; ``(1 | a:b)``: the interaction of ``a`` and ``b``.

Terms are ordered as lme4 orders them (by number of levels, largest first, when any later term has
more levels than an earlier one), which fixes the order of theta and of the variance components.
Each term's relative covariance factor is lower triangular, filled column by column from theta;
diagonal elements are bounded below by 0.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..errors import FormulaError
from ..formula import parse

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One random-effect term as written after expansion: ``(expr | g)``."""

    expr: str
    group_columns: tuple[str, ...]
    group: str  # the grouping factor's name as lme4 prints it ("cask:batch" for batch/cask)

    @property
    def text(self) -> str:
        """The term as lme4 prints it."""
        return f"({self.expr} | {self.group})"


@dataclass(frozen=True, kw_only=True)
class SplitFormula:
    """A formula cut into its fixed-effects part and its random-effect terms."""

    text: str
    fixed: str
    response: str
    bars: tuple[Bar, ...]


def has_random_effects(formula: str) -> bool:
    """Whether a formula holds an lme4 bar term such as ``(1|run_id)``.

    Examples
    --------
    >>> has_random_effects("y ~ x + (1|g)"), has_random_effects("y ~ I(x+1)")
    (True, False)
    """
    return isinstance(formula, str) and "|" in formula and bool(split_formula(formula).bars)


def split_formula(formula: str) -> SplitFormula:
    """Separate the bar terms from the fixed-effects formula.

    Examples
    --------
    >>> s = split_formula("y ~ x*(a+b) + (1 + x | g) + (1|h/k)")
    >>> s.fixed, [b.text for b in s.bars]
    ('y ~ x*(a+b)', ['(1 + x | g)', '(1 | h)', '(1 | k:h)'])
    >>> [b.text for b in split_formula("y ~ 1 + (x || g)").bars]
    ['(1 | g)', '(0 + x | g)']
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise FormulaError(f"formula {formula!r} has no '~'; write it as 'response ~ terms', e.g. 'log_err ~ log2(TS)'")
    lhs, _, rhs = formula.partition("~")
    response = lhs.strip()
    fixed, bars = [], []
    for summand in _top_level_summands(rhs, formula):
        inner = _bar_content(summand)
        if inner is None:
            if "|" in summand:
                raise FormulaError(f"formula {formula!r}: write a random-effect term as '(expr | group)' added with "
                                   f"'+', not inside {summand!r}")
            fixed.append(summand)
        else:
            bars.extend(_expand(inner, summand, formula, response))
    fixed_text = f"{response} ~ {' + '.join(fixed) if fixed else '1'}"
    return SplitFormula(text=formula, fixed=fixed_text, response=response, bars=tuple(bars))


def _top_level_summands(rhs: str, formula: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(rhs):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise FormulaError(f"formula {formula!r}: unbalanced parentheses")
        if ch == "+" and depth == 0:
            parts.append(rhs[start:i])
            start = i + 1
    if depth != 0:
        raise FormulaError(f"formula {formula!r}: unbalanced parentheses")
    parts.append(rhs[start:])
    stripped = [p.strip() for p in parts]
    if any(not p for p in stripped):
        raise FormulaError(f"formula {formula!r}: an empty term between '+' signs")
    return stripped


def _bar_content(summand: str) -> tuple[str, str, str] | None:
    """(left, bar, right) of ``(left | right)`` when the summand is one bar term, else None."""
    if not (summand.startswith("(") and summand.endswith(")")) or _closing(summand, 0) != len(summand) - 1:
        return None
    inner = summand[1:-1]
    depth = 0
    for i, ch in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "|" and depth == 0:
            double = inner[i + 1: i + 2] == "|"
            return inner[:i].strip(), "||" if double else "|", inner[i + (2 if double else 1):].strip()
    return None


def _closing(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def _expand(parts: tuple[str, str, str], summand: str, formula: str, response: str) -> list[Bar]:
    expr, bar, group_text = parts
    if not expr or not group_text:
        raise FormulaError(f"formula {formula!r}: {summand!r} needs terms left of '{bar}' and a grouping factor right of it")
    groups = _expand_slash(group_text, summand, formula)
    exprs = _split_double_vert(expr, response, formula) if bar == "||" else [expr]
    return [Bar(expr=e, group_columns=cols, group=name) for cols, name in groups for e in exprs]


def _expand_slash(text: str, summand: str, formula: str) -> list[tuple[tuple[str, ...], str]]:
    """``a/b/c`` -> a, b:a, c:b:a (lme4's names); ``a:b`` -> the interaction of a and b."""
    nested = [p.strip() for p in text.split("/")]
    out: list[tuple[tuple[str, ...], str]] = []
    outer: tuple[str, ...] = ()
    for part in nested:
        cols = tuple(c.strip() for c in part.split(":"))
        if not all(_NAME.match(c) for c in cols):
            raise FormulaError(f"formula {formula!r}: the grouping factor of {summand!r} must be column names "
                               "joined by ':' or '/', e.g. (1 | run_id) or (1 | batch/cask)")
        cols = cols + outer
        out.append((cols, ":".join(cols)))
        outer = cols
    return out


def _split_double_vert(expr: str, response: str, formula: str) -> list[str]:
    # lme4's expandDoubleVerts: an intercept term of its own, then "0 + term" for each term
    parsed = parse(f"{response} ~ {expr}")
    names = [t.name() for t in parsed.desc.rhs_termlist if t.factors]
    if not names and not parsed.intercept:
        raise FormulaError(f"formula {formula!r}: ({expr} || ...) has no terms")
    return (["1"] if parsed.intercept else []) + [f"0 + {n}" for n in names]


# ----------------------------------------------------------------------------- terms on data


@dataclass(frozen=True, kw_only=True)
class RandomTerm:
    """One bar term evaluated on the rows used.

    ``x`` (n × k) holds the term's model-matrix columns, ``codes`` (n,) each row's level of the
    grouping factor; the term's random effects are ordered by level, then column, as lme4's Z.
    """

    bar: Bar
    columns: tuple[str, ...]
    x: np.ndarray
    codes: np.ndarray
    levels: tuple[str, ...]

    @property
    def group(self) -> str:
        """The grouping factor's name."""
        return self.bar.group

    @property
    def k(self) -> int:
        """Columns per level."""
        return len(self.columns)

    @property
    def n_levels(self) -> int:
        """Levels of the grouping factor in the rows used."""
        return len(self.levels)

    @property
    def n_theta(self) -> int:
        """Elements of θ the term's lower-triangular factor holds."""
        return self.k * (self.k + 1) // 2


def group_columns(bars: tuple[Bar, ...]) -> tuple[str, ...]:
    """Every column a grouping factor reads, in order of first appearance."""
    return tuple(dict.fromkeys(c for b in bars for c in b.group_columns))


def term_variables(bars: tuple[Bar, ...], response: str) -> tuple[str, ...]:
    """The variables the terms' left-hand sides read (the formula's names, not functions)."""
    return tuple(dict.fromkeys(v for b in bars for v in parse(f"{response} ~ {b.expr}").regressors))


def lme4_term_order(n_levels: list[int]) -> list[int]:
    """The order of the terms as lme4's mkReTrms puts them.

    When any term has more levels than the one before it, order all terms by decreasing number
    of levels (R's ``rev(order(nl))``, which also reverses ties).

    Examples
    --------
    >>> lme4_term_order([10, 30]), lme4_term_order([30, 10]), lme4_term_order([5, 10, 10])
    ([1, 0], [0, 1], [2, 1, 0])
    """
    if not any(b > a for a, b in zip(n_levels, n_levels[1:])):
        return list(range(len(n_levels)))
    return list(reversed(sorted(range(len(n_levels)), key=lambda i: n_levels[i])))


# ----------------------------------------------------------------------------- theta


def theta_lower(terms: tuple[RandomTerm, ...]) -> np.ndarray:
    """Lower bounds of theta: 0 for the diagonal of each term's factor, -inf below it (lme4's ``lower``)."""
    return np.concatenate([_lower_one(t.k) for t in terms])


def _lower_one(k: int) -> np.ndarray:
    rows, cols = np.tril_indices(k)
    order = np.lexsort((rows, cols))  # column-major, as lme4 fills the factor
    return np.where(rows[order] == cols[order], 0.0, -np.inf)


def theta_start(terms: tuple[RandomTerm, ...]) -> np.ndarray:
    """lme4's starting value: identity factors (1 on each diagonal, 0 below)."""
    return np.where(np.isfinite(theta_lower(terms)), 1.0, 0.0)


def term_factors(terms: tuple[RandomTerm, ...], theta: np.ndarray) -> list[np.ndarray]:
    """Each term's lower-triangular relative covariance factor T (k × k) from theta."""
    out, at = [], 0
    for t in terms:
        out.append(lower_factor(theta[at: at + t.n_theta], t.k))
        at += t.n_theta
    return out


def lower_factor(values: np.ndarray, k: int) -> np.ndarray:
    """Fill a k × k lower triangle column by column.

    Examples
    --------
    >>> lower_factor(np.array([1.0, 2.0, 3.0]), 2).tolist()
    [[1.0, 0.0], [2.0, 3.0]]
    """
    out = np.zeros((k, k))
    rows, cols = np.tril_indices(k)
    order = np.lexsort((rows, cols))
    out[rows[order], cols[order]] = values
    return out


def theta_names(terms: tuple[RandomTerm, ...]) -> tuple[str, ...]:
    """lme4's names of theta: ``g.(Intercept)``, ``g.x.(Intercept)`` below the diagonal, ``g.x``."""
    names = []
    for t in terms:
        rows, cols = np.tril_indices(t.k)
        for i in np.lexsort((rows, cols)):
            r, c = int(rows[i]), int(cols[i])
            names.append(f"{t.group}.{t.columns[r]}" if r == c else f"{t.group}.{t.columns[r]}.{t.columns[c]}")
    return tuple(names)


# ----------------------------------------------------------------------------- variance components


VARCORR_COLUMNS: tuple[str, ...] = ("grp", "var1", "var2", "vcov", "sdcor")


def varcorr_rows(terms: tuple[RandomTerm, ...], theta: np.ndarray, sigma: float) -> list[tuple[str, str, str, float, float]]:
    """lme4's ``as.data.frame(VarCorr(fit))`` as rows of :data:`VARCORR_COLUMNS` (variances, then covariances per term)."""
    rows = []
    for grp, t, f in zip(_lme4_group_names(terms), terms, term_factors(terms, theta)):
        cov = sigma**2 * (f @ f.T)
        sd = np.sqrt(np.diag(cov))
        rows += [(grp, t.columns[i], "", float(cov[i, i]), float(sd[i])) for i in range(t.k)]
        for j in range(t.k):
            for i in range(j + 1, t.k):
                cor = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                rows.append((grp, t.columns[j], t.columns[i], float(cov[i, j]), float(cor)))
    rows.append(("Residual", "", "", sigma**2, sigma))
    return rows


def _lme4_group_names(terms: tuple[RandomTerm, ...]) -> list[str]:
    # lme4 makes repeated grouping names unique: Subject, Subject.1, ...
    seen: dict[str, int] = {}
    out = []
    for t in terms:
        n = seen.get(t.group, 0)
        out.append(t.group if n == 0 else f"{t.group}.{n}")
        seen[t.group] = n + 1
    return out


def component_names(terms: tuple[RandomTerm, ...]) -> list[str]:
    """Our names of the rows of :func:`varcorr_rows`.

    ``g`` for a lone random intercept, ``g:x`` for a variance and ``g:(Intercept),x`` for a
    covariance otherwise, ``Residual`` last.
    """
    counts = Counter(t.group for t in terms)
    names = []
    for t in terms:
        if t.columns == ("(Intercept)",) and counts[t.group] == 1:
            names.append(t.group)
            continue
        names += [f"{t.group}:{c}" for c in t.columns]
        names += [f"{t.group}:{t.columns[j]},{t.columns[i]}" for j in range(t.k) for i in range(j + 1, t.k)]
    names.append("Residual")
    return _unique(names)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        out.append(n if k == 0 else f"{n}.{k}")
        seen[n] = k + 1
    return out


def profile_names(terms: tuple[RandomTerm, ...]) -> list[str]:
    """lme4's names of the sd/correlation parameters (``confint(..., oldNames = FALSE)``).

    ``sd_(Intercept)|g``, ``cor_x.(Intercept)|g``, ``sd_x|g``, in theta's order, then ``sigma``.
    """
    names = []
    for t in terms:
        rows, cols = np.tril_indices(t.k)
        for i in np.lexsort((rows, cols)):
            r, c = int(rows[i]), int(cols[i])
            names.append(f"sd_{t.columns[r]}|{t.group}" if r == c else f"cor_{t.columns[r]}.{t.columns[c]}|{t.group}")
    return [*names, "sigma"]
