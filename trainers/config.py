"""The one description of a training run that every part of ``trainers`` passes around.

A :class:`RunConfig` is what the grid hands to a trainer (``config -> rows``), what a Ray task
receives and what the ``run_id`` is a hash of. Fields marked ``hash=False`` say *where*, *on what*
or *how* a run happens (data folders, cache, device, and the engine options: packing route,
``torch.compile``, fused SGD, cuDNN autotuning, precision), not *what* it computes, so moving the
data, changing GPUs or trying a faster engine never makes finished runs look unfinished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

DEFAULT_TRAINER = "trainers.train:train_run"

# Engine options: how a run is executed. Each is checked at the boundary (spec, CLI) against these.
PACKINGS = ("grouped", "vmap", "loop")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
PRECISIONS = ("bf16", "fp32")
ENGINE_OPTIONS = ("packing", "compile", "fused", "cudnn_benchmark", "precision")


def _where(default: object) -> object:
    """Declare a field left out of the run id (location or execution engine, not content)."""
    return field(default=default, metadata={"hash": False})


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; frozen so a run cannot drift from its ``run_id``.

    Examples
    --------
    >>> c = RunConfig(train_set="cifar10", eval_sets=("cifar10",), n_splits=4, split=1, trial=1,
    ...               trials=4, width=16, mixup=True)
    >>> len(c.run_id)
    16
    >>> c.replace(packing="vmap", device="cuda").run_id == c.run_id  # the engine is not the run
    True
    """

    train_set: str
    eval_sets: tuple[str, ...]
    n_splits: int
    split: int
    trial: int
    trials: int
    width: int
    mixup: bool
    depth: int = 8
    mixup_alpha: float = 1.0
    epochs: float = 30.0
    min_steps: int = 0
    batch_size: int = 512
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup: float = 0.1
    pool_size: int | None = None
    split_seed: int = 0
    seed: int = 0
    trainer: str = DEFAULT_TRAINER
    data: tuple[tuple[str, str], ...] = _where(())  # type: ignore[assignment]
    cache_dir: str | None = _where(None)  # type: ignore[assignment]
    device: str = _where("cpu")  # type: ignore[assignment]
    packing: str = _where("grouped")  # type: ignore[assignment]
    compile: str = _where("off")  # type: ignore[assignment]
    fused: bool = _where(True)  # type: ignore[assignment]
    cudnn_benchmark: bool = _where(True)  # type: ignore[assignment]
    precision: str = _where("bf16")  # type: ignore[assignment]

    def __post_init__(self) -> None:
        """Coerce to the declared types, so ``epochs=30`` and ``epochs=30.0`` (or ``mixup=1`` and
        ``mixup=True``) are the same run with the same ``run_id``."""
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), _COERCE.get(f.name)
            if kind is not None and value is not None:
                object.__setattr__(self, f.name, kind(value))

    @property
    def run_id(self) -> str:
        """First 16 hex digits of the SHA-256 of every field that changes what the run computes."""
        content = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("hash", True)}
        blob = json.dumps(content, sort_keys=True, default=list).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def data_root(self, name: str) -> str:
        """The folder configured for dataset ``name``."""
        folders = dict(self.data)
        if name not in folders:
            from trainers.errors import DataError

            raise DataError(f"no folder given for dataset {name!r}; add it under [data] in the spec")
        return folders[name]

    def identity(self) -> dict[str, object]:
        """The schema columns that the grid, not the trainer, decides (the same for every eval row)."""
        return {
            "run_id": self.run_id,
            "train_set": self.train_set,
            "n_splits": self.n_splits,
            "split": self.split,
            "trial": self.trial,
            "trials": self.trials,
            "width": self.width,
            "mixup": int(self.mixup),
            "seed": self.seed,
            "mixup_alpha": self.mixup_alpha if self.mixup else 0.0,
        }

    def replace(self, **changes: object) -> RunConfig:
        """A copy with some fields changed (the frozen way to set the device of a worker)."""
        return dataclasses.replace(self, **changes)


_INT = ("n_splits", "split", "trial", "trials", "width", "depth", "min_steps", "batch_size", "pool_size",
        "split_seed", "seed")
_FLOAT = ("mixup_alpha", "epochs", "lr", "momentum", "weight_decay", "warmup")
_COERCE: dict[str, object] = {
    **dict.fromkeys(_INT, int),
    **dict.fromkeys(_FLOAT, float),
    "mixup": bool,
    "fused": bool,
    "cudnn_benchmark": bool,
    "eval_sets": tuple,
    "data": lambda pairs: tuple((str(k), str(v)) for k, v in pairs),
}


def stable_int(*parts: object) -> int:
    """A 31-bit integer from the SHA-256 of ``parts``: seeds that do not depend on Python's hash salt.

    Examples
    --------
    >>> stable_int("cifar10", 4) == stable_int("cifar10", 4)
    True
    """
    blob = json.dumps([str(p) for p in parts]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF
