"""Tiny datasets written in the official formats, so tests exercise the real loaders.

CIFAR-10: ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` pickled as the originals are
(dicts of bytes keys, ``data`` a (N, 3072) uint8 array in channel-major order, ``labels`` a list).
CINIC-10: ``train/ valid/ test/<class>/<name>.png`` with CINIC's names: ``cifar10-train-<i>`` for
CIFAR-10 training images (the same pixels as image i of the fake CIFAR-10), ``cifar10-test-<i>``,
and ImageNet-style ``n<8 digits>_<k>`` for the rest.

Images are learnable on purpose: each class is a fixed random 4x4 colour pattern, upsampled, plus
noise, so a few training steps already beat chance and more data helps.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class FakeCifar:
    root: Path
    train_x: np.ndarray  # (N, 3, 32, 32) uint8
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


@dataclass(frozen=True)
class FakeCinic:
    root: Path
    test_names: tuple[str, ...]  # in loader order (class, then sorted name)
    overlap_names: frozenset[str]  # CINIC test images that are fake-CIFAR training images


def images(rng: np.random.Generator, labels: np.ndarray, noise: float = 60.0, shift: float = 0.0) -> np.ndarray:
    """Class patterns (fixed by a separate seed, the same for every dataset) plus per-image noise."""
    patterns = np.random.default_rng(1234).uniform(40, 215, size=(10, 3, 4, 4))
    base = patterns[labels].repeat(8, axis=2).repeat(8, axis=3) + shift
    return np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)


def write_cifar(root: Path, per_batch: int = 40, n_test: int = 100, seed: int = 0) -> FakeCifar:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    train_y = rng.integers(0, 10, 5 * per_batch)
    train_x = images(rng, train_y)
    test_y = rng.integers(0, 10, n_test)
    test_x = images(rng, test_y)
    for b in range(5):
        sl = slice(b * per_batch, (b + 1) * per_batch)
        _dump(root / f"data_batch_{b + 1}", train_x[sl], train_y[sl], f"training batch {b + 1} of 5")
    _dump(root / "test_batch", test_x, test_y, "testing batch 1 of 1")
    with (root / "batches.meta").open("wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}, f, protocol=2)
    return FakeCifar(root, train_x, train_y, test_x, test_y)


def _dump(path: Path, x: np.ndarray, y: np.ndarray, label: str) -> None:
    batch = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in y],
        b"data": x.reshape(len(x), -1),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(y))],
    }
    with path.open("wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_cinic(root: Path, cifar: FakeCifar, per_split: int = 120, seed: int = 1) -> FakeCinic:
    """Train and valid take fake-CIFAR training images 0.. and ImageNet-named ones; test holds the
    last fake-CIFAR training images (the overlap), fake-CIFAR test images and ImageNet-named ones."""
    rng = np.random.default_rng(seed)
    n_cifar_train = len(cifar.train_y)
    overlap = list(range(n_cifar_train - 20, n_cifar_train))
    splits = {
        "train": [("cifar10-train", i) for i in range(0, 30)],
        "valid": [("cifar10-train", i) for i in range(30, 50)],
        "test": [("cifar10-train", i) for i in overlap] + [("cifar10-test", i) for i in range(20)],
    }
    test_names = []
    for s, (split, cifar_items) in enumerate(splits.items()):
        for source, i in cifar_items:
            x, y = (cifar.train_x, cifar.train_y) if source == "cifar10-train" else (cifar.test_x, cifar.test_y)
            _png(root / split / CLASSES[y[i]] / f"{source}-{i}.png", x[i])
        labels = rng.integers(0, 10, per_split - len(cifar_items))
        for k, (img, y) in enumerate(zip(images(rng, labels, shift=-25.0), labels, strict=True)):
            _png(root / split / CLASSES[y] / f"n{1440764 + 17 * y:08d}_{1000 * s + k}.png", img)
    for c in CLASSES:
        test_names += sorted(p.stem for p in (root / "test" / c).glob("*.png"))
    names = frozenset(f"cifar10-train-{i}" for i in overlap)
    return FakeCinic(root, tuple(test_names), names)


def _png(path: Path, chw: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(chw.transpose(1, 2, 0)).save(path)
