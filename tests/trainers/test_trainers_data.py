"""The real loaders on tiny data written in the official formats: decoding, cache, overlap, errors.

Comparisons of decoded pixels and labels are exact (uint8 / int64): nothing is resampled.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from trainers import data
from trainers.config import RunConfig
from trainers.errors import DataError


@pytest.fixture(autouse=True)
def _fresh_memo():
    """Each test loads from disk or cache, never from another test's in-process memo."""
    data._LOADED.clear()
    yield
    data._LOADED.clear()


def test_cifar_pickles_decode_exactly(cifar):
    ds = data.load_dataset("cifar10", cifar.root)
    assert np.array_equal(ds.train.x, cifar.train_x) and np.array_equal(ds.train.y, cifar.train_y)
    assert np.array_equal(ds.test.x, cifar.test_x) and np.array_equal(ds.test.y, cifar.test_y)
    assert ds.train.origin[7] == "cifar10-train-7" and ds.test.origin[3] == "cifar10-test-3"
    assert ds.mean == (0.4914, 0.4822, 0.4465) and ds.num_classes == 10


def test_cinic_folders_decode_with_names_and_labels(cinic, cifar):
    ds = data.load_dataset("cinic10", cinic.root)
    assert tuple(ds.test.origin) == cinic.test_names
    assert ds.train.x.shape == (120, 3, 32, 32) and ds.test.x.shape == (120, 3, 32, 32)
    i = list(ds.test.origin).index("cifar10-train-190")
    assert np.array_equal(ds.test.x[i], cifar.train_x[190]) and ds.test.y[i] == cifar.train_y[190]
    assert ds.mean == (0.47889522, 0.47227842, 0.43047404)  # CINIC-10's published constants


def test_cache_is_written_then_used_without_decoding(cifar, monkeypatch, tmp_path):
    data.load_dataset("cifar10", cifar.root, cache_dir=tmp_path)
    (folder,) = tmp_path.iterdir()
    assert (folder / "meta.json").is_file() and (folder / "train_x.npy").is_file()
    data._LOADED.clear()
    entry = data._REGISTRY["cifar10"]

    def refuse(root: Path):
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setitem(data._REGISTRY, "cifar10", data.Entry("cifar10", refuse, entry.mean, entry.std, entry.hint))
    ds = data.load_dataset("cifar10", cifar.root, cache_dir=tmp_path)
    assert isinstance(ds.train.x, np.memmap) and np.array_equal(ds.train.x, cifar.train_x)


def test_cache_is_rebuilt_when_the_source_changes(tmp_path):
    from fakedata import write_cifar

    src = write_cifar(tmp_path / "c", per_batch=4, n_test=4)
    first = data.load_dataset("cifar10", src.root, cache_dir=tmp_path / "cache")
    changed = write_cifar(tmp_path / "c", per_batch=4, n_test=4, seed=9)
    os.utime(src.root / "test_batch", ns=(1, 1))  # a different stamp even within one clock tick
    data._LOADED.clear()
    second = data.load_dataset("cifar10", src.root, cache_dir=tmp_path / "cache")
    assert not np.array_equal(first.test.x, second.test.x)
    assert np.array_equal(second.test.x, changed.test_x)


def test_pickles_that_would_run_code_are_refused(tmp_path):
    from fakedata import write_cifar

    root = write_cifar(tmp_path / "c", per_batch=4, n_test=4).root
    with (root / "test_batch").open("wb") as f:
        pickle.dump({b"data": os.system, b"labels": []}, f, protocol=2)
    with pytest.raises(DataError, match="not an official CIFAR-10 python batch"):
        data.load_dataset("cifar10", root, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("cifar10", lambda r: (r / "data_batch_3").unlink(), "cifar10 file missing: .*data_batch_3"),
        ("cinic10", lambda r: os.rename(r / "test" / "frog", r / "frogs"), "lacks class folders frog"),
        ("cifar10", lambda r: None, None),
    ],
)
def test_incomplete_folders_are_clear_errors(tmp_path, cifar, name, damage, message):
    from fakedata import write_cifar, write_cinic

    small = write_cifar(tmp_path / "cifar", per_batch=10, n_test=20)
    root = small.root if name == "cifar10" else write_cinic(tmp_path / "cinic", small, per_split=45).root
    damage(root)
    if message is None:
        assert len(data.load_dataset(name, root, cache_dir=tmp_path / "cache").train) == 50
    else:
        with pytest.raises(DataError, match=message):
            data.load_dataset(name, root, cache_dir=tmp_path / "cache")


def test_missing_folder_and_unknown_name(tmp_path):
    with pytest.raises(DataError, match="cinic10 folder not found: .*official|cinic10 folder not found"):
        data.load_dataset("cinic10", tmp_path / "nope")
    with pytest.raises(DataError, match="unknown dataset 'imagenet'; known datasets: cifar10, cinic10"):
        data.load_dataset("imagenet", tmp_path)


def test_registering_a_dataset_is_one_function(tmp_path, monkeypatch, cifar):
    monkeypatch.setattr(data, "_REGISTRY", dict(data._REGISTRY))

    @data.register("tiny_gray", mean=(0.5,), std=(0.25,), hint="made in a test", flip=False)
    def decode(root: Path) -> data.Decoded:
        x = np.zeros((6, 1, 28, 28), np.uint8)
        y = np.arange(6) % 3
        return data.Decoded(data.Split(x, y, np.array([f"g{i}" for i in range(6)])),
                            data.Split(x[:2], y[:2], np.array(["t0", "t1"])), num_classes=3)

    ds = data.load_dataset("tiny_gray", tmp_path, cache_dir=tmp_path / "cache")
    assert ds.train.x.shape == (6, 1, 28, 28) and ds.num_classes == 3 and "tiny_gray" in data.dataset_names()
    assert ds.flip is False and data.load_dataset("cifar10", cifar.root).flip is True


# ---- the overlap filter -------------------------------------------------------------------------


def _config(cifar, cinic, train_set: str) -> RunConfig:
    return RunConfig(train_set, ("cifar10", "cinic10"), 2, 0, 0, 2, 16, False,
                     data=(("cifar10", str(cifar.root)), ("cinic10", str(cinic.root))))


@pytest.mark.parametrize(("train_set", "expected"), [("cifar10", {"cifar10": 0, "cinic10": 20}),
                                                     ("cinic10", {"cifar10": 0, "cinic10": 0})])
def test_overlap_marks_cifar_training_images_in_cinic_test(cifar, cinic, train_set, expected):
    run = data.run_data(_config(cifar, cinic, train_set))
    assert {ev.name: int(ev.overlap.sum()) for ev in run.evals} == expected
    if train_set == "cifar10":
        marked = {o for o, m in zip(cinic.test_names, run.evals[1].overlap, strict=True) if m}
        assert marked == cinic.overlap_names


def test_error_excludes_overlap_and_error_incl_overlap_keeps_it():
    from trainers.train import _scores

    wrong = np.array([[1, 0], [0, 0], [1, 1], [0, 1]], bool)  # 4 images x 2 models
    overlap = np.array([False, False, True, True])
    loss = np.array([[1.0, 2.0], [3.0, 4.0], [9.0, 9.0], [9.0, 9.0]])
    a, b = _scores(wrong, loss, overlap)
    assert (a.error, a.error_incl_overlap, a.loss, a.n_eval, a.n_overlap) == (0.5, 0.5, 2.0, 2, 2)
    assert (b.error, b.error_incl_overlap, b.loss, b.n_wrong) == (0.25, 0.5, 3.0, 0)  # 0 wrong -> half an error
