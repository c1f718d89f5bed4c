"""From a law, its parameters' one-sided formulas and a table to arrays the solver works on.

Each parameter's formula is evaluated by :mod:`powerlaw_stats.formula` (patsy with R's column
names and order), so ``b ~ mix + TrainSet*EvalSet`` gives columns ``(Intercept)``, ``mix1``, …
and coefficients ``b.(Intercept)``, ``b.mix1``, … as ``nlme::gnls`` names them (a parameter
with formula ``~ 1`` is named by itself, ``E``). A per-row lower bound on a parameter becomes one
linear inequality per distinct row of its design (a *cell*: ``E ~ EvalSet`` has two).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.frame import Inputs, ModelFrame, evaluate, model_frame
from ..errors import FormulaError, OptionError, SingularDesignError
from ..estimation.least_squares import kept_columns
from ..formula import design_matrices, parse
from .registry import Law, StartProblem, Values

_DUMMY_RESPONSE = "law_response_"  # a zero column the one-sided formulas are evaluated against

# model frames and parameter designs shared by the fits inside :func:`shared_designs` (None outside)
_SHARED: ContextVar[dict | None] = ContextVar("powerlaw_stats_shared_law_designs", default=None)


@contextmanager
def shared_designs() -> Iterator[None]:
    """Let the law fits inside share model frames and parameter designs built from one table.

    Several laws fitted to the same rows repeat most of their parameter formulas (the report's
    floor check fits three laws whose ``a`` and ``b`` are the same), and each model frame and
    patsy design costs milliseconds. Inside, a model frame is reused for the same table *object*
    and the same options, and a parameter's design for the same model frame and formula: the
    caller promises not to change the table while inside (a frame or design is never shared
    outside the block, nor between threads). Fits that read different columns build their own
    model frames, and so their own designs.

    Examples
    --------
    >>> import warnings
    >>> from powerlaw_stats.data.datasets import load_example
    >>> from powerlaw_stats.laws import fit_law
    >>> table = load_example()
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     with shared_designs():
    ...         one = fit_law(table, "saturating", {"b": "mix"}, weights="w", profile=False, compare=False)
    ...         two = fit_law(table, "saturating", {"a": "mix", "b": "mix"}, weights="w", profile=False, compare=False)
    >>> one.designs["b"] is two.designs["b"], one.designs["a"] is two.designs["a"]
    (True, False)
    """
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def law_model_frame(inputs: Inputs, variables: Sequence[str], extra_columns: Sequence[str] = ()) -> ModelFrame:
    """:func:`~powerlaw_stats.data.frame.model_frame`, shared inside :func:`shared_designs` for a table given as a frame."""
    shared = _SHARED.get()
    plain_weights = inputs.weights is None or isinstance(inputs.weights, str)
    if shared is None or not isinstance(inputs.data, pd.DataFrame) or not plain_weights:
        return model_frame(inputs, variables, extra_columns=list(extra_columns))
    key = ("frame", id(inputs.data), inputs.weights, inputs.weight_type, inputs.where, tuple(inputs.let), inputs.na,
           inputs.columns, tuple(variables), tuple(extra_columns))
    if key not in shared:  # the table is held beside its frame, so its id cannot be reused while inside
        shared[key] = (inputs.data, model_frame(inputs, variables, extra_columns=list(extra_columns)))
    return shared[key][1]


@dataclass(frozen=True)
class ParamDesign:
    """One parameter's design: its formula, model matrix and the cells its bound applies to.

    ``cells`` holds the distinct rows of ``matrix`` (one per cell), ``cell_of_row`` maps each data
    row to its cell and ``cell_labels`` names cells by the variables the formula reads.
    """

    param: str
    formula: str
    matrix: np.ndarray
    columns: tuple[str, ...]
    names: tuple[str, ...]
    cells: np.ndarray
    cell_of_row: np.ndarray
    cell_labels: tuple[str, ...]

    @property
    def fixed_at_zero(self) -> bool:
        """Whether the parameter's formula is ``0`` (no coefficients)."""
        return self.matrix.shape[1] == 0


@dataclass(frozen=True)
class LawDesign:
    """The law's parameters laid out in one coefficient vector, and the inputs and response."""

    law: Law
    params: tuple[ParamDesign, ...]
    slices: Mapping[str, slice]
    inputs: Values
    y: np.ndarray
    response: str
    input_exprs: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        """The coefficients' names, parameter by parameter."""
        return tuple(n for p in self.params for n in p.names)

    @functools.cached_property
    def n_coef(self) -> int:
        """The length of the coefficient vector."""
        return sum(p.matrix.shape[1] for p in self.params)

    @functools.cached_property
    def by_name(self) -> dict[str, ParamDesign]:
        """Each parameter's design by its name."""
        return {p.param: p for p in self.params}

    @functools.cached_property
    def blocks(self) -> tuple[tuple[str, np.ndarray, slice], ...]:
        """(name, model matrix, coefficient slice) per parameter: what every evaluation of the law reads."""
        return tuple((p.param, p.matrix, self.slices[p.param]) for p in self.params)

    @functools.cached_property
    def constant(self) -> bool:
        """Whether every parameter is one value on all rows (``~ 1``: a single curve, as the backtest fits)."""
        return all(p.matrix.shape[1] == 1 and bool(np.all(p.matrix == 1.0)) for p in self.params)

    def param(self, name: str) -> ParamDesign:
        """The design of parameter ``name``."""
        return self.by_name[name]

    def values(self, theta: np.ndarray, rows: np.ndarray | slice | None = None) -> dict[str, np.ndarray]:
        """Each parameter's value on every row, or on ``rows`` (zero for a parameter fixed at zero)."""
        if rows is None and self.constant:  # a column of ones times θ_j is θ_j (+ 0.0: the product's zero is +0)
            n = len(self.y)
            return {name: np.full(n, theta[sl.start] + 0.0) for name, _, sl in self.blocks}
        if rows is None:  # the solver's case, thousands of times per fit
            return {name: matrix @ theta[sl] for name, matrix, sl in self.blocks}
        return {p.param: p.matrix[rows] @ theta[self.slices[p.param]] for p in self.params}

    def subset(self, rows: np.ndarray) -> LawDesign:
        """The same designs on a subset of rows (bootstrap resamples, held-out fits)."""
        params = tuple(_subset_param(p, rows) for p in self.params)
        return dataclasses.replace(self, params=params, inputs={k: v[rows] for k, v in self.inputs.items()},
                                   y=self.y[rows])

    def start_problem(self, y: np.ndarray, weights: np.ndarray) -> StartProblem:
        """What the law's start function sees for response ``y`` and prior weights ``weights``."""
        return StartProblem(y=y, inputs=self.inputs, designs={p.param: p.matrix for p in self.params},
                            slices=self.slices, weights=weights, n_coef=self.n_coef)

    def constraints(self, bounds: bool = True) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """The law's lower bounds as ``G θ ≥ h``, one row per cell of each bounded parameter."""
        rows, rhs, labels = [], [], []
        if bounds:
            for p in self.params:
                if p.param not in self.law.lower or p.fixed_at_zero:
                    continue
                for cell, label in zip(p.cells, p.cell_labels):
                    g = np.zeros(self.n_coef)
                    g[self.slices[p.param]] = cell
                    rows.append(g)
                    rhs.append(self.law.lower[p.param])
                    labels.append(f"{p.param}[{label}]")
        g = np.array(rows).reshape(len(rows), self.n_coef)
        return g, np.array(rhs, dtype=float), tuple(labels)


def _subset_param(p: ParamDesign, rows: np.ndarray) -> ParamDesign:
    return dataclasses.replace(p, matrix=p.matrix[rows], cell_of_row=p.cell_of_row[rows])


# ----------------------------------------------------------------------------- formulas


def parse_params(law: Law, params: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """Every parameter's right-hand side: the given ones, the law's defaults for the rest.

    Accepts ``{"E": "~ EvalSet"}`` (with or without ``~``) or the CLI's ``["E ~ EvalSet", ...]``.

    Examples
    --------
    >>> from powerlaw_stats.laws.registry import LAWS
    >>> parse_params(LAWS["saturating"], ["E ~ EvalSet", "b ~ mix"])
    {'E': 'EvalSet', 'a': '1', 'b': 'mix'}
    """
    given: dict[str, str] = {}
    items = params.items() if isinstance(params, Mapping) else ((None, s) for s in (params or ()))
    for key, text in items:
        if not isinstance(text, str):
            raise OptionError(f"parameter formula {text!r} is not a string; write it as 'E ~ EvalSet'")
        name, rhs = _split_param(key, text, law)
        if name in given:
            raise OptionError(f"parameter {name!r} is given twice")
        given[name] = rhs
    return {p: given.get(p, law.default_params[p]) for p in law.params}


def _split_param(key: str | None, text: str, law: Law) -> tuple[str, str]:
    lhs, tilde, rhs = text.partition("~")
    if key is None:
        if not tilde or not lhs.strip():
            raise OptionError(f"--param {text!r}: write it as 'PARAM ~ TERMS', e.g. 'E ~ EvalSet' "
                              f"(parameters of {law.name}: {', '.join(law.params)})")
        key, text = lhs.strip(), rhs
    elif tilde:
        if lhs.strip() not in ("", key):
            raise OptionError(f"formula {text!r} given for parameter {key!r} names {lhs.strip()!r} left of '~'")
        text = rhs
    if key not in law.params:
        raise OptionError(f"law {law.name!r} has no parameter {key!r}; its parameters are {', '.join(law.params)}")
    if not text.strip():
        raise OptionError(f"parameter {key!r} has an empty formula; write '1' for one value or '0' to fix it at zero")
    return key, text.strip()


def formula_variables(law: Law, rhs: Mapping[str, str], response: str, inputs: Mapping[str, str]) -> tuple[str, ...]:
    """The data names the response, the inputs and every parameter formula read."""
    terms = [f"I({expr})" for expr in inputs.values()] + [r for r in rhs.values()]
    parsed = parse(f"I({response}) ~ " + " + ".join(terms))
    return parsed.variables


def build_design(law: Law, rhs: Mapping[str, str], mf: ModelFrame, response: str,
                 inputs: Mapping[str, str]) -> LawDesign:
    """Evaluate the response, the inputs and each parameter's formula on the model frame."""
    frame = mf.frame.assign(**{_DUMMY_RESPONSE: 0.0})
    tmp = dataclasses.replace(mf, frame=frame)
    y = _finite(evaluate(response, mf.frame, mf.namespace, "response"), f"response {response!r}", mf)
    values = {name: _finite(evaluate(expr, mf.frame, mf.namespace, f"input {name}"), f"input {name} = {expr!r}", mf)
              for name, expr in inputs.items()}
    params, slices, start = [], {}, 0
    shared = _SHARED.get()
    for name in law.params:
        if shared is None:
            p = _param_design(name, rhs[name], tmp)
        else:  # the model frame is held beside its designs, so its id cannot be reused while inside
            key = ("param", id(mf), name, rhs[name])
            if key not in shared:
                shared[key] = (mf, _param_design(name, rhs[name], tmp))
            p = shared[key][1]
        params.append(p)
        slices[name] = slice(start, start + len(p.names))
        start += len(p.names)
    return LawDesign(law=law, params=tuple(params), slices=slices, inputs=values, y=y, response=response,
                     input_exprs=dict(inputs))


def _finite(value, what: str, mf: ModelFrame) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (len(mf.frame),)).copy()
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = ", ".join(str(int(mf.frame.index[r]) + 1) for r in np.flatnonzero(bad)[:5])
        raise FormulaError(f"{what} is not finite in {int(bad.sum())} of {len(arr)} rows (data rows {rows}); "
                           "exclude them with --where (a log of zero error, say: --where \"error > 0\")")
    return arr


def _param_design(name: str, rhs: str, mf: ModelFrame) -> ParamDesign:
    parsed = parse(f"{_DUMMY_RESPONSE} ~ {rhs}")
    design = design_matrices(parsed, mf)
    x, columns = design.x, design.column_names
    kept = kept_columns(x) if x.shape[1] else np.zeros(0, dtype=bool)
    if not kept.all():
        aliased = ", ".join(c for c, k in zip(columns, kept) if not k)
        raise SingularDesignError(f"parameter {name!r} ~ {rhs}: column(s) {aliased} are aliased (a factor combination "
                                  "absent from the data?); simplify the formula or widen --where")
    names = (name,) if columns == ("(Intercept)",) else tuple(f"{name}.{c}" for c in columns)
    cells, inverse = (np.unique(x, axis=0, return_inverse=True) if x.shape[1] else (np.zeros((1, 0)), np.zeros(len(x), int)))
    inverse = np.asarray(inverse).ravel()
    variables = [v for v in parsed.regressors if v in mf.frame.columns]
    labels = tuple(_cell_label(mf.frame, variables, np.flatnonzero(inverse == c)[0]) for c in range(len(cells)))
    return ParamDesign(param=name, formula=rhs, matrix=x, columns=columns, names=names, cells=cells,
                       cell_of_row=inverse, cell_labels=labels)


def _cell_label(frame: pd.DataFrame, variables: Sequence[str], row: int) -> str:
    if not variables:
        return "all rows"
    return ", ".join(f"{v}={frame[v].iloc[row]}" for v in variables)
