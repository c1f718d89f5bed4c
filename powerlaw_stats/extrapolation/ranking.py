"""Ranks of competing laws across curves: mean ranks, Friedman's test and Nemenyi's critical difference.

Demšar (2006, JMLR 7) is the recipe LCDB follows: rank the k laws within each block (a curve at
one cutoff; ties share the mean rank; a law that failed to fit ranks last), average the ranks
over the N blocks, test "all laws rank alike" with Friedman's statistic
``χ²_F = 12N/(k(k+1))·(Σ R_j² − k(k+1)²/4)`` on k − 1 df, and call two laws different when their
mean ranks differ by more than ``CD = q_α·√(k(k+1)/(6N))``, q_α the studentized range quantile
for k groups and infinite df over √2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..inference.distributions import chi2_sf


@dataclass(frozen=True, kw_only=True)
class RankTest:
    """Mean ranks (lower is better), Friedman's test and the Nemenyi critical difference."""

    mean_ranks: pd.Series
    statistic: float
    df: int
    pvalue: float
    n_blocks: int
    critical_difference: float
    alpha: float


def block_ranks(scores: pd.DataFrame) -> pd.DataFrame:
    """Ranks within each row (a block) of a blocks × laws table of errors; NaN (a failed fit) ranks last.

    Examples
    --------
    >>> block_ranks(pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, np.nan], "c": [2.0, 1.0]})).values.tolist()
    [[1.0, 2.5, 2.5], [2.0, 3.0, 1.0]]
    """
    filled = scores.to_numpy(dtype=float, copy=True)
    filled[~np.isfinite(filled)] = np.inf
    ranks = pd.DataFrame(filled, index=scores.index, columns=scores.columns).rank(axis=1, method="average")
    return ranks


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """The studentized range quantile for k groups and infinite df, over √2 (Demšar's q_α)."""
    from scipy.stats import studentized_range  # only the backtest needs it

    return float(studentized_range.ppf(1.0 - alpha, k, 1e6)) / math.sqrt(2.0)


def friedman_nemenyi(scores: pd.DataFrame, alpha: float = 0.05) -> RankTest:
    """Friedman's test and Nemenyi's CD for a blocks × laws table of errors (lower is better).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = pd.DataFrame(rng.random((40, 3)) + [0.0, 0.3, 0.6], columns=["x", "y", "z"])
    >>> t = friedman_nemenyi(s)
    >>> t.mean_ranks.idxmin(), t.pvalue < 1e-6, round(t.critical_difference, 3)
    ('x', True, 0.524)
    """
    ranks = block_ranks(scores)
    n, k = ranks.shape
    mean = ranks.mean(axis=0)
    stat = 12.0 * n / (k * (k + 1)) * (float((mean**2).sum()) - k * (k + 1) ** 2 / 4.0)
    cd = nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n)) if k >= 2 else math.nan
    return RankTest(mean_ranks=mean.sort_values(), statistic=stat, df=k - 1, pvalue=chi2_sf(stat, k - 1), n_blocks=n,
                    critical_difference=cd, alpha=alpha)
