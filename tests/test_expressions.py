"""User expressions are checked on their syntax tree before anything runs (powerlaw_stats.expressions).

Two kinds of tests:
- the module itself: issue 12's attack strings (and more) are refused with one line naming the
  construct and its column, BEFORE any evaluation — each payload would create a sentinel file if
  any part of it ran, and the file must not exist afterwards; ordinary expressions are accepted
  and evaluate to what numpy gives (exact equality: the same operations in the same order);
- the public API (``ps.fit``, whose formula, --weights, --let and --where are not yet routed through
  the module): the same payloads must be refused with a PowerlawStatsError and create nothing.
  These fail today — the --weights/--let payloads and the issue's own formula string do run.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import ExpressionError, FormulaError, PowerlawStatsError
from powerlaw_stats.expressions import check_expression, check_formula, check_query, evaluate, query_mask, r_power

GRAB = "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()._module.__builtins__"
DATA = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 5.1], "x": [1.0, 2, 4, 3, 5], "c": [1, 2, 3, 4, 5],
                     "TS": [500, 1000, 2000, 4000, 8000], "train_set": ["cinic10", "cifar10"] * 2 + ["cinic10"],
                     "IXMin": [8.97] * 5, "trials": [1, 2, 4, 2, 1]})
COLUMNS = set(DATA.columns)


def payloads(sentinel) -> dict[str, tuple[str, str]]:
    """name: (context, text); every text creates ``sentinel`` if any of it is evaluated."""
    s = str(sentinel)
    system = f"().__class__.__base__.__subclasses__()[140].__init__.__globals__['system']('touch {s}')"
    return {
        "issue's formula": ("formula", f"y ~ I({system})"),
        "formula, comprehension": ("formula", f"y ~ I([{GRAB}['open']('{s}', 'w') for c in [1]] and x)"),
        "formula, attribute chain": ("formula", f"y ~ x + I({GRAB}['open']('{s}', 'w'))"),
        "weights, comprehension over a column name": ("--weights", f"[{GRAB}['open']('{s}', 'w') for c in [1]] and x"),
        "let, comprehension over a column name": ("--let", f"[{GRAB}['open']('{s}', 'w') for c in [1]] and 1"),
        "weights, lambda": ("--weights", f"(lambda: {GRAB}['open']('{s}', 'w'))() or x"),
        "let, generator": ("--let", f"next({GRAB}['open']('{s}', 'w') for c in [1])"),
        "where, attribute": ("--where", "TS.__class__.__name__ == 'int'"),
        "where, at-local": ("--where", "@__builtins__ is not None"),
        "where, call": ("--where", f"{GRAB}['open']('{s}', 'w') is not None"),
    }


def check(context: str, text: str):
    if context == "formula":
        return check_formula(text, allowed_names=COLUMNS)
    if context == "--where":
        return check_query(text, allowed_names=COLUMNS)
    return check_expression(text, allowed_names=COLUMNS, context=context)


# ----------------------------------------------------------------------------- the module


@pytest.mark.parametrize("name", sorted(payloads("x")))
def test_attacks_are_refused_before_anything_runs(tmp_path, name):
    sentinel = tmp_path / "ran"
    context, text = payloads(sentinel)[name]
    with pytest.raises(ExpressionError) as err:
        check(context, text)
    if context in ("--weights", "--let"):
        with pytest.raises(ExpressionError):
            evaluate(text, DATA, context=context)
    if context == "--where":
        with pytest.raises(ExpressionError):
            query_mask(text, DATA)
    assert not sentinel.exists()
    message = str(err.value)
    assert len(message.splitlines()) == 1 and "not allowed" in message and "(column " in message, message


@pytest.mark.parametrize("text, construct, column", [
    ("TS.__class__", "attribute access (.__class__)", 3),
    ("x[0]", "a subscript", 1),
    ("[v for v in x]", "a list comprehension", 1),
    ("(lambda: 1)()", "a call of a lambda", 2),
    ("(k := 2)", "an assignment expression (:=)", 2),
    ("f'{x}'", "an f-string", 1),
    ("open('f')", "a call of 'open'", 1),
    ("__import__('os')", "a call of '__import__'", 1),
    ("log(x, *c)", "a starred argument", 8),
    ("x if c else y", "a conditional expression", 1),
    ("{1: x}", "a dict", 1),
], ids=lambda v: str(v))
def test_each_refusal_names_the_construct_and_its_column(text, construct, column):
    with pytest.raises(ExpressionError) as err:
        check_expression(text, allowed_names=COLUMNS | {"k"}, context="--let")
    assert f"{construct} is not allowed (column {column})" in str(err.value), str(err.value)


def test_columns_count_in_the_text_as_written():
    # R's ^ becomes ** before parsing; the column still points into what the user typed
    with pytest.raises(ExpressionError) as err:
        check_expression("x^2 + TS.real", allowed_names=COLUMNS, context="--weights")
    assert "(column 9)" in str(err.value), str(err.value)  # the dot of .real
    with pytest.raises(ExpressionError) as err:
        check_formula("y ~ x^2 + I(TS.real)", allowed_names=COLUMNS)
    assert "(column 15)" in str(err.value), str(err.value)


def test_unknown_names_and_functions_are_refused_with_a_suggestion():
    with pytest.raises(ExpressionError, match="did you mean 'trials'"):
        check_expression("1/trails", allowed_names=COLUMNS, context="--weights")
    with pytest.raises(ExpressionError, match="did you mean 'log2'"):
        check_expression("logg2(x)", allowed_names=COLUMNS, context="--weights")
    with pytest.raises(ExpressionError, match="Q"):
        check_formula('y ~ Q("Solar R")', allowed_names=COLUMNS)


def test_expression_errors_are_formula_errors():
    assert issubclass(ExpressionError, FormulaError) and issubclass(ExpressionError, PowerlawStatsError)


@pytest.mark.parametrize("formula", [
    "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)",
    "mpg ~ wt + I(hp^2)",
    "mpg ~ 0 + factor(am)",
    "mpg ~ 0 + as.factor(am)",
    "y ~ C(g, Treatment(reference='b')) + C(h, levels=['lo', 'hi'])",
    'Ozone ~ Q("Solar.R") + Wind',
    "y ~ np.log(x) + center(z) + standardize(w) + scale(v)",
    "y ~ (a + b + c)^2",
    "y ~ x + I(x > 3) + I((x < 1) | (z >= 2))",
    "y ~ log1p(x) - 1",
])
def test_ordinary_formulas_are_accepted(formula):
    factors = check_formula(formula)
    assert factors and all(f.python for f in factors)


def test_formula_factors_are_read_with_rs_power():
    assert [f.python for f in check_formula("mpg ~ wt + I(hp^2)")] == ["mpg", "wt", "I(hp**2)"]
    assert r_power("(a + b)^2") == "(a + b)**2"
    assert r_power("Q('x^y') + `a^b` ^ 2") == "Q('x^y') + `a^b` ** 2"


@pytest.mark.parametrize("text, expected", [
    ("1/trials", 1.0 / DATA["trials"].to_numpy()),
    ("log2(TS) - IXMin", np.log2(DATA["TS"].to_numpy()) - DATA["IXMin"].to_numpy()),
    ("1/trials^2", 1.0 / DATA["trials"].to_numpy() ** 2.0),
    ("sqrt(abs(y - mean(y)))", np.sqrt(np.abs(DATA["y"].to_numpy() - DATA["y"].mean()))),
    ("exp(-x) * (c > 2)", np.exp(-DATA["x"].to_numpy()) * (DATA["c"].to_numpy() > 2)),
    ("log2(3125)", math.log2(3125)),
    ("c^-1", DATA["c"].to_numpy() ** -1.0),
    ("x // 2 + x % 2", DATA["x"].to_numpy() // 2 + DATA["x"].to_numpy() % 2),
])
def test_weights_and_let_evaluate_with_numpy(text, expected):
    got = evaluate(text, DATA, context="--let")
    np.testing.assert_array_equal(np.asarray(got, dtype=float), np.asarray(expected, dtype=float))


def test_evaluate_reads_constants_from_the_namespace():
    got = evaluate("log2(TS) - K", DATA, {"K": 10.0}, context="--weights")
    np.testing.assert_array_equal(got, np.log2(DATA["TS"].to_numpy()) - 10.0)


@pytest.mark.parametrize("query, expected", [
    ("train_set == 'cinic10' and TS > 1000", [False, False, True, False, True]),
    ("TS > 1000 & c < 5", [False, False, True, True, False]),  # pandas: & binds like `and`
    ("train_set in ['cifar10'] or not (x > 2)", [True, True, False, True, False]),
    ("train_set not in ('cifar10',)", [True, False, True, False, True]),
    ("`train_set` == \"cifar10\" | c == 5", [False, True, False, True, True]),
    ("log(TS) > 7.5", list(np.log(DATA["TS"]) > 7.5)),
])
def test_where_queries_are_accepted_and_match_pandas(query, expected):
    assert query_mask(query, DATA).tolist() == list(expected)
    assert query_mask(query, DATA).tolist() == DATA.eval(query, engine="python").tolist()


def test_where_can_use_the_value_functions_pandas_lacks():
    assert query_mask("log2(TS) - IXMin > 1.5", DATA).tolist() == list(np.log2(DATA["TS"]) - DATA["IXMin"] > 1.5)


def test_where_with_spaces_in_a_backticked_name():
    d = DATA.rename(columns={"TS": "train size"})
    assert query_mask("`train size` >= 2000", d).tolist() == [False, False, True, True, True]
    with pytest.raises(ExpressionError, match="train sise"):
        query_mask("`train sise` >= 2000", d)


def test_a_where_that_is_not_true_or_false_is_refused():
    with pytest.raises(ExpressionError, match="true/false"):
        query_mask("TS + 1", DATA)


# ----------------------------------------------------------------------------- the public API (fails today)


def _fit_kwargs(context: str, text: str) -> tuple[str, dict]:
    if context == "formula":
        return text, {}
    key = {"--weights": "weights", "--let": "let", "--where": "where"}[context]
    value = [f"k={text}"] if key == "let" else text
    return "y ~ x", {key: value}


@pytest.mark.parametrize("name", sorted(payloads("x")))
def test_fit_refuses_the_attacks_and_runs_none_of_them(tmp_path, name):
    sentinel = tmp_path / "ran"
    context, text = payloads(sentinel)[name]
    formula, kwargs = _fit_kwargs(context, text)
    with pytest.raises(PowerlawStatsError) as err:
        ps.fit(formula, DATA, **kwargs)
    assert not sentinel.exists(), "the payload ran"
    assert "not allowed" in str(err.value), str(err.value)
