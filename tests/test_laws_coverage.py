"""Do the saturating law's intervals and its floor test hold their level on seed-like studies?

Slow: a few hundred simulated studies each. The full measurement (1000 studies per scenario,
and the scenarios where it fails) is ``examples/law_coverage.py``; its table is in docs/laws.md.

Tolerances: with S studies the Monte Carlo SE of a 95 % coverage is √(0.95·0.05/S); the bands
below are the nominal level ± 3 of those SEs (S = 300: ± 3.8 points), so a correct interval fails
them about 3 times in 1000 runs, and an interval off by 5 points fails them most of the time.
The likelihood-ratio test's size at 5 % is checked the same way (S = 300: 5 % ± 3.8 points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from powerlaw_stats.inference.distributions import chi2_sf
from powerlaw_stats.laws import LAWS
from powerlaw_stats.laws.coverage import DEFAULT_PARAMS, DEFAULT_TRUTH, StudyDesign, coverage
from powerlaw_stats.laws.design import parse_params
from powerlaw_stats.laws.fit import prepare
from powerlaw_stats.laws.identification import nested_problem
from powerlaw_stats.laws.problem import estimate

pytestmark = pytest.mark.slow
STUDIES = 300
BAND = 3 * math.sqrt(0.95 * 0.05 / STUDIES)


def test_intervals_for_mixups_slope_effect_hold_their_level():
    res = coverage(n_studies=STUDIES, seed=11, terms=("b.mix1",))
    row = res.summary.loc["b.mix1"]
    assert row["failed"] == 0
    assert abs(row["wald_coverage"] - 0.95) < BAND
    assert abs(row["profile_coverage"] - 0.95) < BAND
    assert abs(row["mean_estimate"] - DEFAULT_TRUTH["b.mix1"]) < 3 * row["sd_estimate"] / math.sqrt(STUDIES)


def test_floor_test_holds_its_size_without_a_floor():
    law = LAWS["saturating"]
    params = {**DEFAULT_PARAMS, "E": "1"}
    problem, design, *_ = prepare(StudyDesign().table(), law, parse_params(law, params), weights="w")
    truth = {**DEFAULT_TRUTH, "E": 0.0}
    mean = problem.fitted(np.array([truth[n] for n in design.names]))
    nested = nested_problem(problem)
    rng = np.random.default_rng(12)
    rejected = 0
    for _ in range(STUDIES):
        y = mean + 0.08 * rng.standard_normal(problem.n)
        full, null = estimate(problem.with_y(y), None), estimate(nested.with_y(y), None)
        lr = max(0.0, problem.n * math.log(null.rss / full.rss))
        p = 0.5 * chi2_sf(lr, 1) if lr > 0 else 1.0
        rejected += p < 0.05
    size = rejected / STUDIES
    assert abs(size - 0.05) < 3 * math.sqrt(0.05 * 0.95 / STUDIES)

