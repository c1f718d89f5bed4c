"""The schema's trial scheme, run ids, seeds and packing groups: exact integer checks, no tolerance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from trainers.config import RunConfig
from trainers.data import part_indices, pool_indices, split_of_trial, trials_at
from trainers.grid import GridSpec, expand, make_packs


@pytest.mark.parametrize("pool_size", [160, 163, None])
@pytest.mark.parametrize("n", [1, 2, 4, 8, 16])
def test_parts_are_disjoint_equal_and_inside_the_pool(n, pool_size):
    pool = pool_indices(200, "cifar10", 7, pool_size)
    parts = [part_indices(pool, n, k) for k in range(n)]
    sizes = {len(p) for p in parts}
    assert sizes == {len(pool) // n}
    flat = np.concatenate(parts)
    assert len(np.unique(flat)) == len(flat) and set(flat) <= set(pool)


def test_pool_is_seeded_by_seed_and_dataset():
    a, b = pool_indices(100, "cifar10", 0), pool_indices(100, "cifar10", 0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, pool_indices(100, "cifar10", 1))
    assert not np.array_equal(a, pool_indices(100, "cinic10", 0))


@pytest.mark.parametrize(("n", "min_trials", "splits"), [
    (1, 4, [0, 0, 0, 0]),
    (2, 4, [0, 1, 0, 1]),  # two runs on each half
    (4, 4, [0, 1, 2, 3]),
    (8, 4, list(range(8))),
    (3, 4, [0, 1, 2, 0]),
    (2, 1, [0, 1]),
])
def test_trials_reuse_parts_with_new_initialisations(n, min_trials, splits):
    assert trials_at(n, min_trials) == len(splits)
    assert [split_of_trial(t, n) for t in range(len(splits))] == splits


def _spec(**changes) -> GridSpec:
    base = GridSpec(data=(("cifar10", "/d/c"), ("cinic10", "/d/n")), cache_dir=None,
                    train_sets=("cifar10", "cinic10"), eval_sets=("cifar10", "cinic10"), widths=(16, 32),
                    mixup=(False, True), n_splits=(1, 2, 4, 8, 16), min_trials=4, train=(("epochs", 3.0),))
    return dataclasses.replace(base, **changes)


def test_expand_gives_the_seed_grid():
    runs = expand(_spec())
    assert len(runs) == 2 * 2 * 2 * (4 + 4 + 4 + 8 + 16)
    assert len({r.run_id for r in runs}) == len(runs) and len({r.seed for r in runs}) == len(runs)
    at8 = [r for r in runs if r.n_splits == 8 and r.train_set == "cinic10" and r.width == 32 and r.mixup]
    assert [r.split for r in at8] == list(range(8)) and {r.trials for r in at8} == {8}
    assert [r.run_id for r in expand(_spec())] == [r.run_id for r in runs]  # deterministic


def test_run_id_hashes_content_not_location():
    run = expand(_spec())[5]
    moved = run.replace(data=(("cifar10", "/elsewhere"),), cache_dir="/tmp/c", device="cuda:3")
    assert moved.run_id == run.run_id
    for change in ({"epochs": 4.0}, {"seed": run.seed + 1}, {"trainer": "x:y"}, {"lr": 0.1}, {"mixup_alpha": 0.4}):
        assert run.replace(**change).run_id != run.run_id


def test_seed_of_a_run_does_not_depend_on_the_rest_of_the_grid():
    full = {(r.train_set, r.width, r.mixup, r.n_splits, r.trial): r.seed for r in expand(_spec())}
    small = expand(_spec(widths=(32,), n_splits=(8,)))
    assert all(full[(r.train_set, r.width, r.mixup, r.n_splits, r.trial)] == r.seed for r in small)


def test_packs_join_only_runs_of_the_same_shape():
    runs = expand(_spec())
    packs = make_packs(runs, 8)
    assert sorted(r.run_id for p in packs for r in p) == sorted(r.run_id for r in runs)
    for p in packs:
        assert 1 <= len(p) <= 8
        shapes = {(r.train_set, r.width, r.n_splits, r.depth, r.epochs) for r in p}
        assert len(shapes) == 1
    assert any(len({r.mixup for r in p}) == 2 for p in packs)  # mixup may differ inside a pack


def test_make_packs_of_one_keeps_grid_order():
    runs = expand(_spec(n_splits=(2,)))
    assert [p[0] for p in make_packs(runs, 1)] == runs


def test_identity_columns_follow_the_config():
    c = RunConfig("cinic10", ("cifar10",), 4, 3, 7, 8, 32, True, mixup_alpha=0.4, seed=11)
    assert c.identity() == {"run_id": c.run_id, "train_set": "cinic10", "n_splits": 4, "split": 3, "trial": 7,
                            "trials": 8, "width": 32, "mixup": 1, "seed": 11, "mixup_alpha": 0.4}


def test_run_id_does_not_depend_on_how_numbers_are_spelled():
    a = RunConfig("cifar10", ["cifar10"], 4, 0, 0, 4, 16, 1, epochs=30, lr=1)
    b = RunConfig("cifar10", ("cifar10",), 4, 0, 0, 4, 16, True, epochs=30.0, lr=1.0)
    assert a.run_id == b.run_id and a.mixup is True and a.eval_sets == ("cifar10",)
