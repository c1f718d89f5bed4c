"""User expressions are data, not code: an allow-list checked on the syntax tree before anything runs.

Formulas, ``--weights``, ``--let`` and ``--where`` are written by users, and a table or a formula
may come from someone else (a CI job, a shared notebook, a service). Python's ``eval`` — and
patsy's and pandas' evaluators, which are built on it — will run anything an expression can
reach: ``I(().__class__.__base__.__subclasses__()[140].__init__.__globals__['system']('...'))``
in a formula runs a shell command. So every expression is parsed with :mod:`ast` and each node is
checked against what the context allows *before* any of it is evaluated:

- names: the table's columns and the documented functions (and ``np.<function>`` for those);
- constants: numbers, and strings where a context needs them (``--where``, ``Q("Solar.R")``);
- arithmetic ``+ - * / ** // %``, unary ``-``/``+``, comparisons, ``& | ~``; ``and or not`` and
  ``in``/``not in`` in ``--where``; parentheses; lists and tuples of constants;
- calls only of allow-listed functions by name, with allow-listed keywords.

Refused: attribute access, subscripts, comprehensions, lambdas, starred arguments, ``:=``,
f-strings, ``@`` locals, dunder names. A refusal is one :class:`ExpressionError` line naming the
construct and its column (1-based) in the text as the user wrote it.

R's ``^`` is a power (``I(hp^2)``, ``--weights "1/hp^2"``): :func:`r_power` rewrites it to ``**``
outside quotes before parsing, so XOR is not available. In a formula outside ``I()``, ``^`` is
R's interaction power, patsy's ``**``: ``(a + b)^2``. R's ``as.factor(x)`` is read as ``factor(x)``'s
twin ``as_factor(x)`` (``as`` is a Python keyword).

:func:`evaluate` computes ``--weights``/``--let`` over a DataFrame by walking the checked tree with
numpy — there is no ``eval`` at all on that path. :func:`check_formula` checks each factor of a
patsy formula and :func:`check_query` a pandas query, for the callers that then evaluate them
with patsy or pandas.

Examples
--------
>>> import pandas as pd
>>> evaluate("1/trials^2", pd.DataFrame({"trials": [1, 2]}), context="--weights").tolist()
[1.0, 0.25]
>>> try:
...     check_expression("().__class__", allowed_names={"x"}, context="--weights")
... except ExpressionError as exc:
...     print(str(exc).split(";")[0])
--weights '().__class__': attribute access (.__class__) is not allowed (column 3)
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from .errors import ExpressionError, MissingColumnError

__all__ = [
    "CONTEXTS", "FORMULA_FUNCTIONS", "VALUE_FUNCTIONS", "CheckedExpression", "check_expression", "check_formula",
    "check_query", "evaluate", "query_mask", "r_power",
]


# ----------------------------------------------------------------------------- the allow-lists


def _center(x):
    x = np.asarray(x, dtype=float)
    return x - np.mean(x)


def _standardize(x):
    x = np.asarray(x, dtype=float)
    return (x - np.mean(x)) / np.std(x)  # patsy's standardize: population SD


def _identity(x):
    return x


# functions an expression may call to compute values (--weights, --let, inside I() in a formula)
VALUE_FUNCTIONS: dict[str, Callable] = {
    "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp, "exp2": np.exp2,
    "sqrt": np.sqrt, "abs": np.abs, "I": _identity, "center": _center, "standardize": _standardize, "scale": _standardize,
    "min": np.min, "max": np.max, "mean": np.mean, "median": np.median, "sum": np.sum,
}
# formula-only helpers: factors and patsy's contrasts, evaluated by patsy (not by `evaluate`)
FACTOR_FUNCTIONS = frozenset({"C", "factor", "as_factor", "Q", "Treatment", "Sum", "Poly", "Helmert", "Diff"})
FORMULA_FUNCTIONS = frozenset(VALUE_FUNCTIONS) | FACTOR_FUNCTIONS
KEYWORDS = frozenset({"reference", "levels", "omit", "scores", "contrast"})  # patsy's C(), Treatment(), Sum(), Poly()
NUMPY_PREFIX = "np"  # np.log(x) as patsy users write it: np.<allowed function> only

_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr)
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


@dataclass(frozen=True)
class _Context:
    functions: frozenset[str]
    strings: bool  # string constants anywhere (a --where compares with them)
    logic: bool  # and / or / not, in / not in
    compare: bool


CONTEXTS: dict[str, _Context] = {
    "formula": _Context(FORMULA_FUNCTIONS, strings=True, logic=False, compare=True),
    "--weights": _Context(frozenset(VALUE_FUNCTIONS), strings=False, logic=False, compare=True),
    "--let": _Context(frozenset(VALUE_FUNCTIONS), strings=True, logic=False, compare=True),
    "--where": _Context(frozenset(VALUE_FUNCTIONS), strings=True, logic=True, compare=True),
}

_CONSTRUCTS: dict[type, str] = {
    ast.Attribute: "attribute access", ast.Subscript: "a subscript", ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension", ast.GeneratorExp: "a generator expression",
    ast.Lambda: "a lambda", ast.Starred: "a starred argument", ast.NamedExpr: "an assignment expression (:=)",
    ast.JoinedStr: "an f-string", ast.FormattedValue: "an f-string", ast.Dict: "a dict", ast.Set: "a set",
    ast.IfExp: "a conditional expression", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Slice: "a slice",
}


# ----------------------------------------------------------------------------- R's spelling


def _translate(text: str, boolean_words: bool = False) -> tuple[str, list[int]]:
    """R's ``^`` as ``**`` and ``as.factor`` as ``as_factor`` outside quotes and backticks.

    With ``boolean_words`` (a pandas query), ``&`` and ``|`` become ``and`` and ``or`` as pandas
    rewrites them, so that ``TS > 1000 & c < 5`` means ``(TS > 1000) and (c < 5)``.
    Returns the new text and, for each of its characters, the index of the character of ``text``
    it came from (so errors point into what the user wrote).
    """
    out: list[str] = []
    where: list[int] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < len(text):
                out += [ch, text[i + 1]]
                where += [i, i + 1]
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif ch == "^":
            out += ["*", "*"]
            where += [i, i]
            i += 1
            continue
        elif boolean_words and ch in "&|":
            word = " and " if ch == "&" else " or "
            out += list(word)
            where += [i] * len(word)
            i += 1
            continue
        elif text.startswith("as.factor", i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_.")):
            out += list("as_factor")
            where += list(range(i, i + 9))
            i += 9
            continue
        out.append(ch)
        where.append(i)
        i += 1
    where.append(len(text))  # one past the end: errors at the end of the text
    return "".join(out), where


def r_power(text: str) -> str:
    """R's power ``^`` written as Python's ``**`` (outside string literals and backticked names).

    Examples
    --------
    >>> r_power("mpg ~ wt + I(hp^2)")
    'mpg ~ wt + I(hp**2)'
    >>> r_power('Q("a^b") + x^-1')
    'Q("a^b") + x**-1'
    """
    return _translate(text)[0]


# ----------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class CheckedExpression:
    """An expression that passed its context's allow-list: the Python text and its tree.

    ``names`` are the plain names it reads (columns and constants), ``columns`` those that are
    quoted (``Q("Solar.R")``, backticks in a query).
    """

    source: str
    python: str
    tree: ast.Expression
    names: frozenset[str]
    columns: frozenset[str]


def check_expression(text: str, *, allowed_names: Collection[str] | None, context: str,
                     offset: int = 0, source: str | None = None, label: str | None = None) -> CheckedExpression:
    """Parse ``text`` and check every node against ``context``'s allow-list; nothing is evaluated.

    ``allowed_names``: the names the expression may read (columns, constants); ``None`` allows any
    plain name that is not a dunder (the columns are not known yet). ``context`` is one of
    :data:`CONTEXTS`: ``"formula"`` (one factor of a formula), ``"--weights"``, ``"--let"``,
    ``"--where"``. ``offset`` and ``source`` place the text inside a longer one for messages;
    ``label`` names the expression in them (default: the context).

    Examples
    --------
    >>> sorted(check_expression("log2(TS) - IXMin", allowed_names={"TS", "IXMin"}, context="formula").names)
    ['IXMin', 'TS']
    >>> try:
    ...     check_expression("[x for x in y]", allowed_names=None, context="--let")
    ... except ExpressionError as exc:
    ...     print(str(exc).split(";")[0])
    --let '[x for x in y]': a list comprehension is not allowed (column 1)
    """
    if context not in CONTEXTS:
        raise ValueError(f"unknown expression context {context!r}")
    python, where = _translate(text, boolean_words=context == "--where")
    whole = text if source is None else source
    checker = _Checker(CONTEXTS[context], label or context, whole, where, offset, allowed_names)
    if not python.strip():
        checker.fail("an empty expression", 0, "write a value, e.g. 1/trials")
    if "@" in _outside_quotes(python):
        checker.fail("an @ local variable", _outside_quotes(python).index("@"),
                     "name a column, or define a constant with --let NAME=VALUE")
    try:
        tree = ast.parse(python.strip(), mode="eval")
    except SyntaxError as exc:
        lead = len(python) - len(python.lstrip())
        checker.fail(f"cannot be read ({exc.msg})", lead + max((exc.offset or 1) - 1, 0),
                     "check brackets and operators; quote odd column names as Q(\"name\")", verb="")
    shift = len(python) - len(python.lstrip())
    checker.shift = shift
    checker.visit(tree.body)
    return CheckedExpression(text, python.strip(), tree, frozenset(checker.names), frozenset(checker.columns))


def _outside_quotes(text: str) -> str:
    """``text`` with quoted and backticked parts blanked out (same length), for scanning operators."""
    out, quote = [], ""
    for ch in text:
        if quote:
            out.append(" ")
            if ch == quote:
                quote = ""
        elif ch in "\"'`":
            quote = ch
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


class _Checker:
    def __init__(self, ctx: _Context, context: str, source: str, where: list[int], offset: int,
                 allowed: Collection[str] | None) -> None:
        self.ctx, self.context, self.source, self.where, self.offset = ctx, context, source, where, offset
        self.allowed = None if allowed is None else set(allowed)
        self.names: set[str] = set()
        self.columns: set[str] = set()
        self.shift = 0

    # one line: what, where, what to do
    def fail(self, construct: str, col: int, hint: str = "", verb: str = "is not allowed",
             error: type[ExpressionError] = ExpressionError) -> NoReturn:
        pos = self.where[min(max(col, 0), len(self.where) - 1)] + self.offset + 1
        shown = self.source if len(self.source) <= 200 else self.source[:197] + "..."
        hint = hint or ("allowed: column names, numbers, + - * / ** // %, comparisons, parentheses and the "
                        "functions in docs/formulas.md")
        raise error(f"{self.context} {shown!r}: {construct}{' ' + verb if verb else ''} (column {pos}); {hint}")

    def at(self, node: ast.AST) -> int:
        if isinstance(node, ast.Attribute) and node.end_col_offset is not None:
            return node.end_col_offset - len(node.attr) - 1 + self.shift  # the dot, not the start of the chain
        return getattr(node, "col_offset", 0) + self.shift

    def visit(self, node: ast.AST) -> None:
        handler: Callable[[ast.AST], None] | None = getattr(self, f"visit_{type(node).__name__}", None)
        if handler is None:
            what = _CONSTRUCTS.get(type(node), f"the construct {type(node).__name__}")
            if isinstance(node, ast.Attribute):
                what = f"attribute access (.{node.attr})"
            self.fail(what, self.at(node))
        handler(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool) or value is None:
            if value is None:
                self.fail("None", self.at(node))
            return
        if isinstance(value, (int, float)):
            return
        if isinstance(value, str) and self.ctx.strings:
            return
        kind = "a string" if isinstance(value, str) else f"a {type(value).__name__} constant"
        self.fail(kind, self.at(node), "weights are numbers: name a numeric column or write an arithmetic expression")

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name.startswith("__") or name in ("True", "False", "None"):
            self.fail(f"the name {name!r}", self.at(node))
        if name in self.ctx.functions and name not in (self.allowed or ()):
            self.fail(f"the function {name!r} without a call", self.at(node), f"call it, e.g. {name}(x)")
        if self.allowed is not None and name not in self.allowed:
            close = _close(name, self.allowed)
            self.fail(f"no column {name!r} in the data", self.at(node),
                      f"did you mean {close}?" if close else "use a column of the table or define it with --let", verb="",
                      error=MissingColumnError)
        self.names.add(name)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if not isinstance(node.op, _ARITHMETIC):
            sym = {ast.BitXor: "^ as XOR (^ means a power here)", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>"}
            self.fail(f"the operator {sym.get(type(node.op), type(node.op).__name__)}", self.at(node))
        self.visit(node.left)
        self.visit(node.right)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not) and not self.ctx.logic:
            self.fail("'not'", self.at(node), "use ~ for a logical not")
        self.visit(node.operand)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        if not self.ctx.logic:
            self.fail(f"'{'and' if isinstance(node.op, ast.And) else 'or'}'", self.at(node), "use & and | instead")
        for value in node.values:
            self.visit(value)

    def visit_Compare(self, node: ast.Compare) -> None:
        for op in node.ops:
            if isinstance(op, (ast.In, ast.NotIn)) and self.ctx.logic:
                continue
            if not isinstance(op, _COMPARE):
                self.fail(f"the comparison {type(op).__name__}", self.at(node))
        self.visit(node.left)
        for right in node.comparators:
            self.visit(right)

    def visit_List(self, node: ast.List | ast.Tuple) -> None:
        for element in node.elts:
            if not (isinstance(element, ast.Constant) or
                    (isinstance(element, ast.UnaryOp) and isinstance(element.operand, ast.Constant))):
                self.fail("a list of anything but constants", self.at(element))
            self.visit(element)

    visit_Tuple = visit_List

    def visit_Call(self, node: ast.Call) -> None:
        name = self._function_name(node.func)
        if name not in self.ctx.functions:
            if name in FORMULA_FUNCTIONS:
                self.fail(f"the function {name!r} here", self.at(node), "factors and contrasts belong in the formula")
            close = _close(name, self.ctx.functions)
            self.fail(f"a call of {name!r}", self.at(node),
                      f"did you mean {close}?" if close else "functions allowed: " + ", ".join(sorted(self.ctx.functions)))
        if name == "Q":
            self._quoted_column(node)
            return
        for kw in node.keywords:
            if kw.arg is None:
                self.fail("a ** argument", self.at(kw.value))
            if kw.arg not in KEYWORDS:
                self.fail(f"the keyword {kw.arg}=", self.at(kw.value))
            self.visit(kw.value)
        for arg in node.args:
            self.visit(arg)

    def _function_name(self, func: ast.AST) -> str:
        if isinstance(func, ast.Name):
            return func.id
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == NUMPY_PREFIX
                and func.attr in VALUE_FUNCTIONS and func.attr not in ("I", "center", "standardize", "scale")):
            return func.attr
        if isinstance(func, ast.Attribute):
            self.fail(f"attribute access (.{func.attr})", self.at(func))
        self.fail(f"a call of {_CONSTRUCTS.get(type(func), 'an expression')}", self.at(func))
        return ""  # unreachable: fail raises

    def _quoted_column(self, node: ast.Call) -> None:
        if len(node.args) != 1 or node.keywords or not isinstance(node.args[0], ast.Constant) \
                or not isinstance(node.args[0].value, str):
            self.fail("Q() of anything but one quoted column name", self.at(node), 'write Q("Solar.R")')
        name = str(node.args[0].value)
        if self.allowed is not None and name not in self.allowed:
            close = _close(name, self.allowed)
            self.fail(f"the unknown column {name!r}", self.at(node.args[0]),
                      f"did you mean {close}?" if close else "check the column's name")
        self.columns.add(name)


def _close(name: str, options: Collection[str]) -> str:
    import difflib

    found = difflib.get_close_matches(name, [str(o) for o in options], n=1, cutoff=0.6)
    return repr(found[0]) if found else ""


# ----------------------------------------------------------------------------- formulas and queries


def check_formula(formula: str, *, allowed_names: Collection[str] | None = None) -> tuple[CheckedExpression, ...]:
    """Check every factor of a patsy formula (``y ~ I(log2(TS) - IXMin)*mix``) before patsy evaluates any.

    The formula is read with R's ``^`` as a power; patsy splits it into factors without
    evaluating them, and each factor's code is checked in the ``"formula"`` context. Returns the
    checked factors, left of ``~`` first.

    Examples
    --------
    >>> [f.python for f in check_formula("mpg ~ wt + I(hp^2) + factor(am)")]
    ['mpg', 'wt', 'I(hp**2)', 'factor(am)']
    """
    import patsy

    python, where = _translate(formula)
    try:
        desc = patsy.ModelDesc.from_formula(python)
    except patsy.PatsyError as exc:
        col = exc.origin.start if getattr(exc, "origin", None) is not None else 0
        shown = formula if len(formula) <= 200 else formula[:197] + "..."
        raise ExpressionError(f"formula syntax error in {shown!r}: {str(exc).splitlines()[0]} "
                              f"(column {where[min(col, len(where) - 1)] + 1})") from None
    out = []
    for term in [*desc.lhs_termlist, *desc.rhs_termlist]:
        for factor in term.factors:
            origin = factor.origin
            code = origin.code[origin.start:origin.end] if origin is not None else factor.code
            start = where[origin.start] if origin is not None else 0
            original = formula[start:where[origin.end - 1] + 1] if origin is not None else code
            out.append(check_expression(original, allowed_names=allowed_names, context="formula", offset=start,
                                        source=formula))
    return tuple({f.python: f for f in out}.values())  # a factor repeated in interactions is checked once


_BACKTICK = re.compile(r"`([^`]*)`")
_PLACEHOLDER = "BQ{}_"


def _mask_backticks(query: str) -> tuple[str, dict[str, str]]:
    """Backticked column names replaced by identifiers of the same length where possible."""
    columns: dict[str, str] = {}

    def swap(match: re.Match) -> str:
        name = _PLACEHOLDER.format(len(columns))
        columns[name] = match.group(1)
        return name + "_" * max(len(match.group(0)) - len(name), 0)

    masked = _BACKTICK.sub(swap, query)
    return masked, {n + "_" * max(len(f"`{c}`") - len(n), 0): c for n, c in columns.items()}


def check_query(query: str, *, allowed_names: Collection[str] | None) -> CheckedExpression:
    """Check a pandas query (``--where``) before pandas evaluates it.

    Backticked names (```train size` > 1000``) are columns; ``@`` locals, attribute access
    (``TS.__class__``, ``x.str.len()``) and calls of anything but the value functions are refused.
    As in pandas, ``&`` and ``|`` bind like ``and`` and ``or`` (after the comparisons).

    Examples
    --------
    >>> sorted(check_query("train_set == 'cinic10' and TS > 1000", allowed_names={"train_set", "TS"}).names)
    ['TS', 'train_set']
    >>> sorted(check_query("`train size` > 1000", allowed_names={"train size"}).columns)
    ['train size']
    """
    masked, columns = _mask_backticks(query)
    if any(not c for c in columns.values()):
        raise ExpressionError(f"--where {query!r}: an empty `` name is not allowed; put a column name between the backticks")
    if allowed_names is not None:
        for name in columns.values():
            if name not in allowed_names:
                close = _close(name, allowed_names)
                raise ExpressionError(f"--where {query!r}: the unknown column `{name}` is not allowed; "
                                      + (f"did you mean {close}?" if close else "check its name"))
    names = None if allowed_names is None else set(allowed_names) | set(columns)
    checked = check_expression(masked, allowed_names=names, context="--where", source=query)
    quoted = frozenset(columns[n] for n in checked.names if n in columns)
    return CheckedExpression(query, checked.python, checked.tree, checked.names - set(columns), quoted | checked.columns)


def query_mask(query: str, frame, namespace: Mapping[str, object] | None = None) -> np.ndarray:
    """The rows where a ``--where`` query holds, computed by walking its checked tree (no eval, no pandas.eval).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"train_set": ["cinic10", "cifar10", "cinic10"], "TS": [500, 2000, 4000]})
    >>> query_mask("train_set == 'cinic10' and TS > 1000", d).tolist()
    [False, False, True]
    """
    namespace = dict(namespace or {})
    columns = [str(c) for c in frame.columns]
    masked, quoted = _mask_backticks(query)
    checked = check_query(query, allowed_names=set(columns) | set(namespace))
    values = {name: frame[name].to_numpy() if name in columns else namespace[name] for name in checked.names}
    values.update({placeholder: frame[col].to_numpy() for placeholder, col in quoted.items()})
    tree = ast.parse(_translate(masked, boolean_words=True)[0].strip(), mode="eval")  # the text check_query accepted
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        try:
            mask = _Evaluator(values, {c: frame[c].to_numpy() for c in checked.columns if c in columns}).run(tree.body)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ExpressionError(f"--where {query!r} cannot be evaluated: {str(exc).splitlines()[0]}") from None
    mask = np.broadcast_to(np.asarray(mask), (len(frame),))
    if mask.dtype != bool:
        raise ExpressionError(f"--where {query!r} gives {mask.dtype} values, not true/false; compare something, e.g. TS > 1000")
    return mask


# ----------------------------------------------------------------------------- evaluation without eval


def evaluate(text: str, frame, namespace: Mapping[str, object] | None = None, *, context: str = "--weights",
             label: str | None = None):
    """The value of a checked ``--weights``/``--let`` expression over the columns of ``frame``.

    The tree is checked (names: the frame's columns and ``namespace``) and then walked node by node
    with numpy; no Python ``eval`` runs. Columns come in as numpy arrays; the result is an array
    (one value per row) or a scalar.

    Examples
    --------
    >>> import pandas as pd
    >>> evaluate("size / min(size)", pd.DataFrame({"size": [100, 400]}), context="--let").tolist()
    [1.0, 4.0]
    """
    namespace = dict(namespace or {})
    columns = [str(c) for c in frame.columns]
    checked = check_expression(text, allowed_names=set(columns) | set(namespace), context=context, label=label)
    values = {name: (frame[name].to_numpy() if name in columns else namespace[name]) for name in checked.names}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        try:
            return _Evaluator(values, {c: frame[c].to_numpy() for c in checked.columns}).run(checked.tree.body)
        except (TypeError, ValueError, ArithmeticError) as exc:
            shown = text if len(text) <= 200 else text[:197] + "..."
            raise ExpressionError(f"{label or context} {shown!r} cannot be evaluated: {str(exc).splitlines()[0]}"
                                  ) from None


_BINARY: dict[type, Callable] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide, ast.Pow: np.power,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or,
}
_COMPARISON: dict[type, Callable] = {
    ast.Eq: np.equal, ast.NotEq: np.not_equal, ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}


class _Evaluator:
    """Walks a checked tree; every node type here is one the checker lets through."""

    def __init__(self, names: Mapping[str, object], quoted: Mapping[str, object]) -> None:
        self.names, self.quoted = names, quoted

    def run(self, node: ast.AST):
        return getattr(self, f"_{type(node).__name__}")(node)

    def _Constant(self, node):
        return node.value

    def _Name(self, node):
        return self.names[node.id]

    def _BinOp(self, node):
        left, right = self.run(node.left), self.run(node.right)
        if isinstance(node.op, ast.Pow):  # 2 ** -1 on integer arrays raises in numpy; R gives 0.5
            left = np.asarray(left, dtype=float) if np.issubdtype(np.asarray(left).dtype, np.integer) else left
        return _BINARY[type(node.op)](left, right)

    def _UnaryOp(self, node):
        value = self.run(node.operand)
        return {ast.USub: np.negative, ast.UAdd: np.positive, ast.Invert: np.logical_not,
                ast.Not: np.logical_not}[type(node.op)](value)

    def _BoolOp(self, node):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        values = [self.run(v) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out

    def _Compare(self, node):
        left, out = self.run(node.left), True
        for op, right_node in zip(node.ops, node.comparators):
            right = self.run(right_node)
            if isinstance(op, (ast.In, ast.NotIn)):
                hit = np.isin(left, np.asarray(right))
                part = hit if isinstance(op, ast.In) else ~hit
            else:
                part = _COMPARISON[type(op)](left, right)
            out = np.logical_and(out, part)
            left = right
        return out

    def _List(self, node):
        return [self.run(e) for e in node.elts]

    _Tuple = _List

    def _Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        if name == "Q":
            return self.quoted[node.args[0].value]
        return VALUE_FUNCTIONS[name](*[self.run(a) for a in node.args])
