"""The dependent-study generator: the grid, its seeds, and dependence a mixed model can find again.

The recovery test is statistical with a fixed seed: on one study of 576 rows the REML estimates of
a run and a split standard deviation of 0.08 fall within 35 % of the truth (their sampling
standard errors are about 6 % and 12 %), and a null split effect is estimated below 0.02.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from powerlaw_stats.data.datasets.dependent import (
    Dependence,
    StudyDesign,
    draw_errors,
    make_dependent_study,
    study_skeleton,
)
from powerlaw_stats.errors import OptionError
from powerlaw_stats.mixed import fit_mixed, with_split_id

SCHEMA = ["run_id", "train_set", "eval_set", "train_size", "n_splits", "split", "trial", "trials", "width", "params",
          "mixup", "error"]
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet*C(width))"


def test_the_grid_follows_the_schemas_trial_scheme():
    t = make_dependent_study(Dependence(run_sd=0.05), seed=1)
    assert set(SCHEMA) <= set(t.columns)
    assert len(t) == 576 and t.run_id.nunique() == 288
    runs = t.drop_duplicates("run_id")
    assert (runs.trials == np.maximum(runs.n_splits, 4)).all()
    assert (runs.split == runs.trial % runs.n_splits).all()
    assert sorted(runs.train_size.unique()) == [3125, 6250, 12500, 25000, 50000]
    assert t.groupby("run_id").eval_set.nunique().eq(2).all()
    assert ((t.error > 0) & (t.error <= 1)).all()
    assert with_split_id(t).split_id.nunique() == 62


def test_same_seed_same_study_and_batches_are_independent_draws():
    a = make_dependent_study(Dependence(run_sd=0.05, split_sd=0.02), seed=3)
    b = make_dependent_study(Dependence(run_sd=0.05, split_sd=0.02), seed=3)
    pd.testing.assert_frame_equal(a, b)
    err, _ = draw_errors(study_skeleton(), Dependence(run_sd=0.05), np.random.default_rng(3), n_studies=2)
    assert not np.allclose(err[0], err[1])


def test_a_runs_rows_move_together_only_with_a_run_effect():
    sk = study_skeleton()
    rng = np.random.default_rng(0)

    def correlation(dep: Dependence) -> float:
        err, _ = draw_errors(sk, dep, rng, n_studies=200)
        resid = np.log2(err) - sk.mean
        first, second = resid[:, 0::2].ravel(), resid[:, 1::2].ravel()  # each run's two evaluation rows
        return float(np.corrcoef(first, second)[0, 1])

    assert correlation(Dependence(run_sd=0.08)) > 0.8
    assert abs(correlation(Dependence(row_sd=0.05))) < 0.05


def test_heavy_tails_keep_the_standard_deviation():
    sk = study_skeleton()
    err, _ = draw_errors(sk, Dependence(row_sd=0.1, tails="t", tail_df=5, binomial=False), np.random.default_rng(2), 400)
    resid = np.log2(err) - sk.mean
    assert resid.std() == pytest.approx(0.1, rel=0.05)
    assert ((resid / 0.1) ** 4).mean() > 4  # normal: 3; t with 5 df: 9


def test_a_mixed_model_finds_the_components_again():
    t = make_dependent_study(Dependence(run_sd=0.08, split_sd=0.08), seed=11)
    res = fit_mixed(FORMULA + " + (1|run_id) + (1|split_id)", t)
    assert np.sqrt(res.variance_components["run_id"]) == pytest.approx(0.08, rel=0.35)
    assert np.sqrt(res.variance_components["split_id"]) == pytest.approx(0.08, rel=0.35)
    null = fit_mixed(FORMULA + " + (1|run_id) + (1|split_id)", make_dependent_study(Dependence(run_sd=0.08), seed=12))
    assert np.sqrt(null.variance_components["split_id"]) < 0.02


def test_a_mixup_slope_is_put_in():
    design = StudyDesign(mixup_slope=-0.05)
    sk0, sk1 = study_skeleton(), study_skeleton(design)
    mix = sk0.table.mixup.to_numpy() == 1
    x = np.log2(sk0.table.train_size.to_numpy() / 3125)
    np.testing.assert_allclose(sk1.mean - sk0.mean, np.where(mix, -0.05 * x, 0.0))


@pytest.mark.parametrize("kwargs", [{"run_sd": -1.0}, {"tails": "cauchy"}, {"tails": "t", "tail_df": 2}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(OptionError):
        Dependence(**kwargs)
