"""Learning-curve studies with the dependence real ones have, for measuring tests' level and power.

A study is laid out like the seed's grid: two training sets × two widths × mixup on/off, each
trained on 1/1, 1/2, ..., 1/16 of a 50,000-image pool with the schema's trial scheme (n runs at
1/n of the pool, at least four: run t trains on part t mod n), and every run scored on both
evaluation sets. The log2 error of a row is

    mean(train set, eval set, width, mixup, size) + run effect + split effect + row noise,

and the error reported is a binomial count on the evaluation set's ``n_eval`` images at that
rate. The run effect is shared by a run's rows (a better model is better on every test set); the
split effect by every run trained on the same images (train set, n_splits, split: across mixup,
widths and repeated initialisations). Effects are normal or, for heavy tails, Student t scaled to
the same standard deviation. The mean follows the seed study's least-squares coefficients, with
width 32 a little better than 16; mixup changes intercept and slope by what you ask (0: a null).

Tables come out in the learning-curve schema (``run_id`` ... ``error``, plus ``n_eval`` and
``n_wrong``); ``split_id`` is derivable from ``train_set``, ``n_splits`` and ``split``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ...errors import OptionError
from .synthetic import SEED_COEFFICIENTS

Tails = Literal["normal", "t"]
TAILS: tuple[str, ...] = ("normal", "t")


@dataclass(frozen=True, kw_only=True)
class Dependence:
    """The dependence of a study's rows: run, split and row effects, their growth and their tails.

    Standard deviations (log2 error) of the run, split and row effects on the full pool, how they
    grow on smaller parts (runs on fewer images vary more), and their tails.
    """

    run_sd: float = 0.0
    split_sd: float = 0.0
    row_sd: float = 0.0
    size_power: float = 0.0  # at 1/n of the pool every sd above is multiplied by n ** size_power
    tails: Tails = "normal"
    tail_df: float = 3.0  # Student t degrees of freedom when tails == "t"
    binomial: bool = True  # the evaluation set's binomial noise on top

    def __post_init__(self) -> None:
        """Refuse negative or non-finite spreads."""
        for name in ("run_sd", "split_sd", "row_sd"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 0 and np.isfinite(value)):
                raise OptionError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.tails not in TAILS:
            raise OptionError(f"tails must be one of {', '.join(TAILS)}, got {self.tails!r}")
        if not self.tail_df > 2:
            raise OptionError(f"tail_df must exceed 2 (a finite variance), got {self.tail_df!r}")


@dataclass(frozen=True, kw_only=True)
class StudyDesign:
    """The grid: pool size, fractions 1/n, minimum runs per size, sets with their test sizes, widths."""

    pool: int = 50_000
    n_splits: tuple[int, ...] = (1, 2, 4, 8, 16)
    min_trials: int = 4
    train_sets: tuple[str, ...] = ("cifar10", "cinic10")
    eval_sets: dict[str, int] = field(default_factory=lambda: {"cifar10": 10_000, "cinic10": 90_000})
    widths: dict[int, int] = field(default_factory=lambda: {16: 175_258, 32: 697_162})  # width: parameters
    width_effect: float = -0.1  # log2 error of width 32 against 16, at every size
    mixup_intercept: float = 0.0
    mixup_slope: float = 0.0

    def __post_init__(self) -> None:
        """Refuse a study without runs or with more parts than images."""
        if self.min_trials < 1 or any(n < 1 for n in self.n_splits) or self.pool < max(self.n_splits):
            raise OptionError("a study needs min_trials >= 1 and 1 <= n_splits <= pool")


@dataclass(frozen=True, kw_only=True)
class StudySkeleton:
    """The rows of a study and the indices its random effects are drawn on, fixed across draws."""

    table: pd.DataFrame  # schema columns except error and n_wrong
    mean: np.ndarray  # log2 error without any random effect
    n_splits: np.ndarray  # each row's n (the run trained on 1/n of the pool)
    run: np.ndarray  # each row's run index
    split: np.ndarray  # each row's split index
    n_eval: np.ndarray
    n_runs: int
    n_split_ids: int


def study_skeleton(design: StudyDesign | None = None) -> StudySkeleton:
    """Lay out a study's rows.

    Examples
    --------
    >>> sk = study_skeleton()
    >>> len(sk.table), sk.n_runs, sk.n_split_ids
    (576, 288, 62)
    """
    design = design or StudyDesign()
    runs = _runs(design)
    rows = runs.loc[runs.index.repeat(len(design.eval_sets))].reset_index(drop=True)
    rows.insert(2, "eval_set", list(design.eval_sets) * len(runs))
    smallest = design.pool // max(design.n_splits)
    x = np.log2(rows.train_size.to_numpy() / smallest)
    mean = _seed_mean(x, rows, design)
    split_key = rows.train_set + ":" + rows.n_splits.astype(str) + ":" + rows.split.astype(str)
    split_codes, split_levels = pd.factorize(split_key)
    n_eval = rows.eval_set.map(design.eval_sets).to_numpy()
    table = rows.drop(columns=["run"]).assign(n_eval=n_eval)
    return StudySkeleton(table=table, mean=mean, n_splits=rows.n_splits.to_numpy(), run=rows.run.to_numpy(),
                         split=split_codes, n_eval=n_eval,
                         n_runs=len(runs), n_split_ids=len(split_levels))


def _runs(design: StudyDesign) -> pd.DataFrame:
    out = []
    for train_set in design.train_sets:
        for width, params in design.widths.items():
            for mixup in (0, 1):
                for n in design.n_splits:
                    trials = max(n, design.min_trials)
                    out += [(train_set, design.pool // n, n, t % n, t, trials, width, params, mixup) for t in range(trials)]
    runs = pd.DataFrame(out, columns=["train_set", "train_size", "n_splits", "split", "trial", "trials", "width", "params",
                                      "mixup"])
    runs.insert(0, "run_id", [f"d{i:04d}" for i in range(len(runs))])
    runs["run"] = np.arange(len(runs))
    return runs


def _seed_mean(x: np.ndarray, rows: pd.DataFrame, design: StudyDesign) -> np.ndarray:
    b = SEED_COEFFICIENTS
    tr = (rows.train_set == design.train_sets[-1]).to_numpy(float)
    ev = (rows.eval_set == list(design.eval_sets)[-1]).to_numpy(float)
    mix = rows.mixup.to_numpy(float)
    wide = (rows.width == max(design.widths)).to_numpy(float)
    intercept = (b["(Intercept)"] + b["CinicTr"] * tr + b["CinicEv"] * ev + b["CinicTr:CinicEv"] * tr * ev
                 + design.width_effect * wide + design.mixup_intercept * mix)
    slope = (b["slope"] + b["slope:CinicTr"] * tr + b["slope:CinicEv"] * ev + b["slope:CinicTr:CinicEv"] * tr * ev
             + design.mixup_slope * mix)
    return intercept + slope * x


def draw_errors(skeleton: StudySkeleton, dependence: Dependence, rng: np.random.Generator,
                n_studies: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Errors and wrong counts of ``n_studies`` studies at once, each (n_studies, rows).

    Examples
    --------
    >>> sk = study_skeleton()
    >>> err, wrong = draw_errors(sk, Dependence(run_sd=0.05), np.random.default_rng(1), n_studies=3)
    >>> err.shape, bool(((err > 0) & (err <= 1)).all())
    ((3, 576), True)
    """
    shape = (n_studies,)
    noise = (_effects(rng, dependence, shape + (skeleton.n_runs,), dependence.run_sd)[:, skeleton.run]
             + _effects(rng, dependence, shape + (skeleton.n_split_ids,), dependence.split_sd)[:, skeleton.split]
             + _effects(rng, dependence, shape + (len(skeleton.mean),), dependence.row_sd))
    mu = skeleton.mean[None, :] + noise * (skeleton.n_splits.astype(float) ** dependence.size_power)[None, :]
    rate = np.clip(2.0**mu, 1e-6, 1 - 1e-6)
    if not dependence.binomial:
        return rate, rate * skeleton.n_eval
    wrong = rng.binomial(skeleton.n_eval[None, :], rate)
    # a count of zero would make log error -inf; the schema's error is in (0, 1], so report half a mistake
    return np.maximum(wrong, 0.5) / skeleton.n_eval, wrong


def _effects(rng: np.random.Generator, dep: Dependence, shape: tuple[int, ...], sd: float) -> np.ndarray:
    if sd == 0:
        return np.zeros(shape)
    if dep.tails == "normal":
        return sd * rng.standard_normal(shape)
    return sd * np.sqrt((dep.tail_df - 2) / dep.tail_df) * rng.standard_t(dep.tail_df, shape)


def make_dependent_study(dependence: Dependence, *, design: StudyDesign | None = None,
                         seed: int | np.random.Generator = 0) -> pd.DataFrame:
    """One study as a learning-curve table.

    Examples
    --------
    >>> t = make_dependent_study(Dependence(run_sd=0.05, split_sd=0.03), seed=4)
    >>> t.groupby("n_splits").run_id.nunique().tolist()  # per size: 2 sets x 2 widths x mixup x max(n, 4)
    [32, 32, 32, 64, 128]
    >>> sorted(t.eval_set.unique()), t.columns[:4].tolist()
    (['cifar10', 'cinic10'], ['run_id', 'train_set', 'eval_set', 'train_size'])
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    skeleton = study_skeleton(design)
    error, wrong = draw_errors(skeleton, dependence, rng)
    return skeleton.table.assign(error=error[0], n_wrong=wrong[0])
