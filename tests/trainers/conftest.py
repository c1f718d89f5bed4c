"""Shared fixtures for the trainers tests; the whole folder is skipped when torch is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="trainers tests need torch (pip install -e '.[train]')")

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for path in (ROOT, HERE):  # the repository (for `trainers`) and this folder (fakedata, plugin trainer)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from fakedata import FakeCifar, FakeCinic, write_cifar, write_cinic  # noqa: E402


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def cifar(data_dir: Path) -> FakeCifar:
    return write_cifar(data_dir / "cifar-10-batches-py")


@pytest.fixture(scope="session")
def cinic(data_dir: Path, cifar: FakeCifar) -> FakeCinic:
    return write_cinic(data_dir / "cinic-10", cifar)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test session gets its own .npy cache, never the user's ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("POWERLAW_TRAIN_CACHE", str(cache))
