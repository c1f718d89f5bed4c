"""The routes a single fit on a large table takes, checked against the routes small tables take.

A tall design (at least ``TALL_ROWS`` rows) is solved from one QR of [X | y] without forming Q,
and a single IRWLS fit whose column-product table would be large builds its Gram matrices from
blocks of rows. Both are the same arithmetic as the small-table routes, summed in another order,
so they must agree to rounding: tolerance 1e-12 relative on designs with condition numbers below
1e3 (an error of a few hundred ulps), and IRWLS is run to 1e-12 so its optimum is stable. The
thresholds are lowered here so the test runs on a small table; aliased designs must still come
out as R reports them (NaN for the aliased column).
"""

from __future__ import annotations

import numpy as np
import pytest

from powerlaw_stats.estimation import least_squares as ls_module
from powerlaw_stats.estimation.irwls import IrwlsControl, irwls
from powerlaw_stats.estimation.least_squares import WeightedSolver, least_squares
from powerlaw_stats.estimation.norms import Bisquare, Huber

RTOL = 1e-12


def design(seed: int, n: int = 3000, p: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = x @ rng.normal(size=p) + rng.standard_t(3, n)
    return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tall_least_squares_matches_the_explicit_q_route(seed, monkeypatch):
    x, y = design(seed)
    small = least_squares(x, y)
    monkeypatch.setattr(ls_module, "TALL_ROWS", 100)
    tall = least_squares(x, y)
    np.testing.assert_allclose(tall.coef, small.coef, rtol=RTOL)
    np.testing.assert_allclose(tall.xtx_inv, small.xtx_inv, rtol=RTOL)
    np.testing.assert_allclose(tall.resid, small.resid, rtol=RTOL, atol=RTOL * np.abs(y).max())
    assert tall.kept.all()


def test_tall_least_squares_keeps_r_aliasing(monkeypatch):
    x, y = design(3)
    x = np.column_stack([x, x[:, 1] + 2 * x[:, 2]])  # the last column is a combination of two others
    monkeypatch.setattr(ls_module, "TALL_ROWS", 100)
    fit = least_squares(x, y)
    assert fit.kept.tolist() == [True] * 6 + [False]
    assert np.isnan(fit.coef[-1])
    np.testing.assert_allclose(fit.coef[:-1], least_squares(x[:, :-1], y).coef, rtol=RTOL)


@pytest.mark.parametrize("norm", [Huber(), Bisquare()], ids=["huber", "bisquare"])
@pytest.mark.parametrize("case", [False, True], ids=["inv.var", "case"])
def test_single_fit_by_row_blocks_matches_the_pairs_table(norm, case, monkeypatch):
    x, y = design(4)
    w = np.random.default_rng(5).integers(1, 5, len(y)).astype(float) if case else None
    control = IrwlsControl(maxit=500, acc=1e-12)
    table = irwls(x, y[None], norm, case_weights=w, control=control)
    monkeypatch.setattr(ls_module, "PAIRS_LIMIT", 0)
    monkeypatch.setattr(ls_module, "ROW_BLOCK", 700)  # several blocks and a short last one
    assert WeightedSolver(x, trials=1).pairs is None
    blocks = irwls(x, y[None], norm, case_weights=w, control=control)
    assert blocks.converged[0] and table.converged[0]
    np.testing.assert_allclose(blocks.coef, table.coef, rtol=RTOL)
    np.testing.assert_allclose(blocks.scale, table.scale, rtol=1e-10)


def test_batches_keep_the_pairs_table(monkeypatch):
    monkeypatch.setattr(ls_module, "PAIRS_LIMIT", 0)
    x, _ = design(6, n=50)
    assert WeightedSolver(x, trials=2).pairs is not None
    assert WeightedSolver(x).pairs is not None
