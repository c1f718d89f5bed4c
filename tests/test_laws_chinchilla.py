"""A second law on the same machinery: Hoffmann et al.'s L = E + A/N^α + B/D^β, as Epoch AI refit it.

Besiroglu et al. (2024, "Chinchilla Scaling: A replication attempt") digitised 245 points from
Hoffmann et al.'s figure 4, dropped the 5 with the largest loss and fitted
``ln L = LSE(a − α ln N, b − β ln D, e)`` with a Huber loss (δ = 1e-3) in log space; they report
E 1.817, α 0.3478, β 0.3659 and, from 4000 bootstrap resamples of the rows, SEs 0.026 (0.02566),
0.0154 (0.01540), 0.0206 (0.02060). The data are theirs, not ours to ship: this test reads their
``data/svg_extracted_data.csv`` from the path in ``CHINCHILLA_CSV`` and is skipped otherwise.

Tolerance: 1 %, the issue's. Measured: E 1.81722 (+0.02 %), α 0.34731 (−0.14 %), β 0.36717
(+0.35 %): their headline numbers come from a Huber *likelihood* with a free scale, which lands
on an effectively least-absolute-deviations fit; ours is the fixed-scale Huber loss their grid
search and bootstrap minimise (their grid-search optimum: 1.817236, 0.347313, 0.367183). Bootstrap
SEs, replaying their resamples (legacy NumPy seed 42): 0.025677 (+0.07 %), 0.015396 (−0.03 %),
0.020629 (+0.14 %).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from powerlaw_stats.laws import fit_law, law_bootstrap

CSV = os.environ.get("CHINCHILLA_CSV")
pytestmark = pytest.mark.skipif(not CSV or not Path(CSV).is_file(),
                                reason="set CHINCHILLA_CSV to Epoch AI's data/svg_extracted_data.csv")
PUBLISHED = {"E": 1.81686, "alpha": 0.34781, "beta": 0.36585}
PUBLISHED_SE = {"E": 0.02566, "alpha": 0.01540, "beta": 0.02060}
RTOL = 0.01


def _table() -> tuple[pd.DataFrame, list[int]]:
    raw = pd.read_csv(CSV)
    table = pd.DataFrame({"N": raw["Model Size"], "D": raw["Training FLOP"] / (6.0 * raw["Model Size"]),
                          "loss": raw["loss"]}).dropna().reset_index(drop=True)
    losses = table["loss"].to_numpy()
    kept = [i for i in range(len(losses)) if losses[i] < sorted(losses)[-5]]  # their 5 worst points out
    return table, kept


def _fit():
    table, kept = _table()
    return fit_law(table.iloc[kept].reset_index(drop=True), law="chinchilla", profile=False, compare=False), kept


def test_estimates_match_the_replication():
    res, kept = _fit()
    assert res.nobs == len(kept) == 240 and res.method == "huber" and res.tuning == 1e-3
    got = {"E": np.exp(res.params["e"]), "alpha": res.params["alpha"], "beta": res.params["beta"]}
    for name, value in PUBLISHED.items():
        assert abs(got[name] / value - 1) < RTOL, (name, got[name], value)


@pytest.mark.slow
def test_bootstrap_standard_errors_match_the_replication():
    res, kept = _fit()
    rng = np.random.RandomState(42)  # their np.random.seed(42), then np.random.choice per resample
    position = {row: k for k, row in enumerate(kept)}
    indices = np.array([[position[i] for i in rng.choice(kept, size=len(kept), replace=True)] for _ in range(4000)])
    boot = law_bootstrap(res, kind="pairs", indices=indices)
    assert boot.n_failed == 0
    draws = pd.DataFrame(boot.draws, columns=res.params.index)
    got = {"E": np.exp(draws["e"]).std(ddof=1), "alpha": draws["alpha"].std(ddof=1), "beta": draws["beta"].std(ddof=1)}
    for name, value in PUBLISHED_SE.items():
        assert abs(got[name] / value - 1) < RTOL, (name, got[name], value)
