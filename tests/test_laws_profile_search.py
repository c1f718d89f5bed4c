"""How the profile limits are found, and what several fits of one table share.

Tolerances, and why:
- dτ/dv from the Lagrange multiplier of ``c·θ = v`` against a central difference of τ with step
  1e-4·SE: 1e-4 relative (the difference's own error is O(step²) times τ's curvature, and each
  τ carries the solver's 1e-10 relative offset);
- the limits found by Newton steps against the limits solved again by bisection to 1e-12 in v:
  τ − q within 1e-7 at both (the search's stated tolerance), and the two limits within 1e-6 SE;
- evaluation counts are exact (deterministic solves): the search is held to at most 6 solves per
  limit on the example's floor cells and slope terms, where the regula falsi before it took up to 14;
- fits inside :func:`shared_designs` against the same fits outside it: exactly equal (the same
  arrays, built once).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from powerlaw_stats.data.datasets import load_example
from powerlaw_stats.errors import OptionError
from powerlaw_stats.inference.tests import t_quantile
from powerlaw_stats.laws import fit_law
from powerlaw_stats.laws.coverage import DEFAULT_PARAMS, DEFAULT_TRUTH, simulate_study
from powerlaw_stats.laws.design import shared_designs
from powerlaw_stats.laws.identification import _ProfileSearch, _trace
from powerlaw_stats.laws.problem import Estimate
from powerlaw_stats.laws.solver import DEFAULT_CONTROL

SEED_TERMS = {"E": "TrainSet*EvalSet", "a": "mix+TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"}


def quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_law(*args, **kwargs)


@pytest.fixture(scope="module")
def example_fit():
    return quiet(load_example(), "saturating", SEED_TERMS, weights="w", profile=["b.mix1", "E[*]"], compare=False)


def _estimate_of(res):
    active = np.array([label in res.bound_active for label in res.problem.cons.labels])
    return Estimate(res.params.to_numpy(), res.rss, active, True, 0, "converged")


def _search(res, c):
    return _ProfileSearch(res.problem, _estimate_of(res), c, res.scale, DEFAULT_CONTROL,
                          _trace(c, res.cov_params.to_numpy()))


def _row(res, term):
    if not term.startswith("E["):
        return np.eye(len(res.params))[list(res.params.index).index(term)]
    design = res.problem.design
    c = np.zeros(len(res.params))
    c[design.slices["E"]] = design.param("E").cells[list(design.param("E").cell_labels).index(term[2:-1])]
    return c


@pytest.mark.parametrize("term", ["b.mix1", "b.(Intercept)"])
def test_tau_slope_is_the_multiplier(example_fit, term):
    search = _search(example_fit, _row(example_fit, term))
    v0, se = example_fit.params[term], example_fit.bse[term]
    for v in (v0 + 1.5 * se, v0 - 2.0 * se):
        _, slope = search(v)
        h = 1e-4 * se
        numeric = (search(v + h)[0] - search(v - h)[0]) / (2 * h)
        assert slope == pytest.approx(numeric, rel=1e-4)


def test_limits_solve_the_profile_equation_like_bisection(example_fit):
    q = t_quantile(0.95, example_fit.df_resid)
    for term in ("b.mix1", "E[EvalSet=sklearn_digits, TrainSet=mnist5k]"):
        row = example_fit.profile.loc[term]
        c = _row(example_fit, term)
        search = _search(example_fit, c)
        se = math.sqrt(float(c @ example_fit.cov_params.to_numpy() @ c))
        for side, sign in (("upper", 1.0), ("lower", -1.0)):
            v = float(row[side])
            assert abs(abs(search(v)[0]) - q) < 1e-7
            # bisection between the estimate and well past the limit, to 1e-12 in v
            lo, hi = float(row["estimate"]), v + sign * se
            while abs(hi - lo) > 1e-12:
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if abs(search(mid)[0]) < q else (lo, mid)
            assert abs(v - 0.5 * (lo + hi)) < 1e-6 * se


def test_few_solves_per_limit(example_fit):
    # two limits per term; the regula falsi before the Newton search took 8 to 14 solves per term here
    evaluations = example_fit.profile["evaluations"]
    assert (evaluations <= 12).all(), evaluations.to_dict()
    assert evaluations.sum() <= 45, evaluations.to_dict()


def test_every_floor_cell_by_one_name(example_fit):
    cells = [f"E[{label}]" for label in example_fit.designs["E"].cell_labels]
    assert list(example_fit.profile.index) == ["b.mix1", *cells]
    listed = quiet(load_example(), "saturating", SEED_TERMS, weights="w", profile=["b.mix1", *cells], compare=False)
    assert listed.profile.equals(example_fit.profile)
    with pytest.raises(OptionError, match=r"E\[\*\]"):
        quiet(load_example(), "saturating", SEED_TERMS, weights="w", profile=["E[nope]"], compare=False)
    line = quiet(load_example(), "loglinear", {"a": "mix", "b": "mix"}, weights="w", profile=["b.mix1"])
    with pytest.raises(OptionError, match="cannot profile 'E\\[\\*\\]'"):
        quiet(load_example(), "loglinear", {"a": "mix", "b": "mix"}, weights="w", profile=["E[*]"])
    assert list(line.profile.index) == ["b.mix1"]


def test_shared_designs_give_the_same_fits():
    table = simulate_study(DEFAULT_TRUTH, seed=7)
    alone = [quiet(table, "saturating", DEFAULT_PARAMS, weights="w", compare=False),
             quiet(table, "saturating", {**DEFAULT_PARAMS, "E": "1"}, weights="w", compare=False)]
    with shared_designs():
        shared = [quiet(table, "saturating", DEFAULT_PARAMS, weights="w", compare=False),
                  quiet(table, "saturating", {**DEFAULT_PARAMS, "E": "1"}, weights="w", compare=False)]
    assert shared[0].designs["b"] is shared[1].designs["b"] and shared[0].data is shared[1].data
    assert alone[0].designs["b"] is not alone[1].designs["b"]
    for a, s in zip(alone, shared):
        assert a.params.equals(s.params) and a.bse.equals(s.bse) and a.profile.equals(s.profile)


def test_shared_designs_never_serve_another_table():
    table = simulate_study(DEFAULT_TRUTH, seed=8)
    other = table.assign(error=table["error"] * 1.5)
    with shared_designs():
        one = quiet(table, "saturating", DEFAULT_PARAMS, weights="w", profile=False, compare=False)
        two = quiet(other, "saturating", DEFAULT_PARAMS, weights="w", profile=False, compare=False)
        where = quiet(table, "saturating", DEFAULT_PARAMS, weights="w", where="train_size > 3125", profile=False, compare=False)
    assert two.params["a.(Intercept)"] > one.params["a.(Intercept)"] + 0.1
    assert where.nobs < one.nobs
    after = quiet(table, "saturating", DEFAULT_PARAMS, weights="w", profile=False, compare=False)
    assert after.designs["b"] is not one.designs["b"]  # nothing outlives the block
