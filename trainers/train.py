"""One training run, or K packed runs of the same shape: ``RunConfig -> rows`` of the schema.

Everything random in a run (data order, crop offsets, flips, mixup partners and lambdas) is drawn on
the host from the run's own seed before training starts, then moved to the device once. A run
therefore computes the same thing alone or inside a pack, and the training loop itself is only
tensor indexing and arithmetic on the device.

Step budget: ``batch = min(batch_size, train_size)`` and
``steps = max(ceil(epochs * train_size / batch), min_steps)``. ``epochs`` passes over the part, but
never fewer than ``min_steps`` optimizer steps, so the smallest subsets are not cut short by the
schedule; the ``epochs`` column records the passes actually made (``steps * batch / train_size``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from trainers import code_version
from trainers.config import RunConfig, stable_int
from trainers.data import EvalSet, RunData, run_data
from trainers.models import PackedResNet, build, count_params, pack

PAD = 4  # pixels of zero padding before the random 32x32 crop
EVAL_BATCH = 1000

# ----------------------------------------------------------------------------------------------
# Step budget and the run's random draws


@dataclass(frozen=True)
class Budget:
    """How long a run trains: ``steps`` optimizer steps of ``batch`` images."""

    steps: int
    batch: int
    epochs: float


def step_budget(train_size: int, batch_size: int, epochs: float, min_steps: int = 0) -> Budget:
    """The step-budget rule (see the module docstring).

    Examples
    --------
    >>> step_budget(50_000, 512, 30)
    Budget(steps=2930, batch=512, epochs=30.0032)
    >>> step_budget(3125, 512, 30, min_steps=400)
    Budget(steps=400, batch=512, epochs=65.536)
    """
    batch = min(batch_size, train_size)
    steps = max(math.ceil(epochs * train_size / batch), min_steps, 1)
    return Budget(steps, batch, round(steps * batch / train_size, 4))


@dataclass(frozen=True)
class Draws:
    """All randomness of one run, drawn up front: per step, which images, how cropped and flipped,
    which partner each image is mixed with and the step's lambda (1.0 when mixup is off)."""

    order: np.ndarray  # (steps, batch) int64 positions in the run's part
    shift: np.ndarray  # (steps, batch, 2) uint8 crop offsets in 0..2*PAD
    flip: np.ndarray  # (steps, batch) bool
    partner: np.ndarray  # (steps, batch) int64, a permutation of the batch per step
    lam: np.ndarray  # (steps,) float32


def draw(seed: int, train_size: int, budget: Budget, mixup: bool, alpha: float, flip: bool = True) -> Draws:
    """Draw a run's randomness: shuffled passes over the part, one lambda ~ Beta(alpha, alpha) per batch;
    with ``flip=False`` no image is mirrored.

    Examples
    --------
    >>> d = draw(0, 10, Budget(steps=5, batch=4, epochs=2.0), mixup=True, alpha=1.0)
    >>> d.order.shape, d.lam.shape, bool(((d.lam > 0) & (d.lam < 1)).all())
    ((5, 4), (5,), True)
    """
    rng = np.random.default_rng(seed)
    steps, batch = budget.steps, budget.batch
    passes = math.ceil(steps * batch / train_size)
    order = np.argsort(rng.random((passes, train_size)), axis=1).reshape(-1)[: steps * batch]
    shift = rng.integers(0, 2 * PAD + 1, size=(steps, batch, 2), dtype=np.uint8)
    mirror = (rng.random((steps, batch)) < 0.5) & flip
    partner = np.argsort(rng.random((steps, batch)), axis=1)
    lam = rng.beta(alpha, alpha, size=steps) if mixup and alpha > 0 else np.ones(steps)
    return Draws(order.reshape(steps, batch), shift, mirror, partner, lam.astype(np.float32))


# ----------------------------------------------------------------------------------------------
# On-device augmentation and mixup


def augment(x: torch.Tensor, shift: torch.Tensor, flip: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """Random crop after ``pad`` pixels of zero padding, then horizontal flip, for a whole batch.

    ``x`` is ``(N, C, H, W)``; ``shift`` ``(N, 2)`` gives each image's (row, column) crop offset in
    ``0..2*pad``; ``flip`` ``(N,)`` which images are mirrored.

    Examples
    --------
    >>> x = torch.arange(16.).view(1, 1, 4, 4)
    >>> augment(x, torch.tensor([[4, 4]]), torch.tensor([False]))[0, 0].equal(x[0, 0])
    True
    """
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)
    rows = shift[:, 0:1].long() + torch.arange(h, device=x.device)
    cols = shift[:, 1:2].long() + torch.arange(w, device=x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    crop = padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    return torch.where(flip[:, None, None, None], crop.flip(3), crop)


class Mixed(NamedTuple):
    """Mixed inputs and the partners' labels."""

    x: torch.Tensor
    y_b: torch.Tensor


def mix(x: torch.Tensor, y: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor) -> Mixed:
    """Mixup inputs for K packed models: ``lam[k] * x[k] + (1 - lam[k]) * x[k, partner[k]]``.

    ``x`` is ``(K, B, ...)``, ``y`` and ``partner`` ``(K, B)``, ``lam`` ``(K,)``.

    Examples
    --------
    >>> m = mix(torch.tensor([[[0.0], [4.0]]]), torch.tensor([[3, 5]]), torch.tensor([[1, 0]]), torch.tensor([0.75]))
    >>> m.x.flatten().tolist(), m.y_b.tolist()
    ([1.0, 3.0], [[5, 3]])
    """
    rows = torch.arange(x.shape[0], device=x.device)[:, None]
    shape = (-1,) + (1,) * (x.dim() - 1)
    mixed = lam.view(shape) * x + (1 - lam.view(shape)) * x[rows, partner]
    return Mixed(mixed, y.gather(1, partner))


def mixup_loss(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Per-model loss ``lam * CE(y_a) + (1 - lam) * CE(y_b)`` (mixup's paper); ``(K,)``.

    ``logits`` is ``(B, K, classes)``, labels ``(K, B)``. With ``lam = 1`` it is plain cross-entropy.

    Examples
    --------
    >>> logits = torch.zeros(4, 1, 10)
    >>> y = torch.zeros(1, 4, dtype=torch.long)
    >>> round(float(mixup_loss(logits, y, y, torch.tensor([0.3]))[0]), 4) == round(math.log(10), 4)
    True
    """
    scores = logits.permute(0, 2, 1)
    ce_a = F.cross_entropy(scores, y_a.T, reduction="none").mean(0)
    ce_b = F.cross_entropy(scores, y_b.T, reduction="none").mean(0)
    return lam * ce_a + (1 - lam) * ce_b


def lr_factor(step: int, steps: int, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of steps, then linear decay to zero.

    Examples
    --------
    >>> [round(lr_factor(s, 10, 0.2), 3) for s in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 0.875, 0.375, 0.0]
    """
    rise = max(1, round(warmup * steps))
    if step < rise:
        return (step + 1) / rise
    return max(0.0, (steps - 1 - step) / max(1, steps - rise)) if steps > rise else 1.0


# ----------------------------------------------------------------------------------------------
# Device-resident data

_ON_DEVICE: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def on_device(x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and labels moved to ``device`` once per process (keyed by the cached array)."""
    key = (id(x), str(device))
    if key not in _ON_DEVICE:
        _ON_DEVICE[key] = (torch.from_numpy(np.array(x)).to(device), torch.from_numpy(np.array(y)).to(device))
    return _ON_DEVICE[key]


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` to float, scaled to 0..1 and standardised per channel.

    Examples
    --------
    >>> normalise(torch.full((1, 1, 1, 1), 255, dtype=torch.uint8), torch.tensor([0.5]), torch.tensor([0.25])).item()
    2.0
    """
    return (x.float() / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


# ----------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class Packed:
    """The tensors of a pack, stacked over its K members."""

    index: torch.Tensor  # (K, steps, batch) indices into the training split
    shift: torch.Tensor
    flip: torch.Tensor
    partner: torch.Tensor
    lam: torch.Tensor  # (steps, K)


def _stack_draws(datas: Sequence[RunData], draws: Sequence[Draws], device: torch.device) -> Packed:
    index = np.stack([d.train_index[w.order] for d, w in zip(datas, draws, strict=True)])

    def stack(name: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([getattr(w, name) for w in draws])).to(device)

    return Packed(torch.from_numpy(index).to(device), stack("shift"), stack("flip"), stack("partner"), stack("lam").T)


def _batch(p: Packed, step: int, images: torch.Tensor, labels: torch.Tensor, stats: tuple, use_mix: bool):
    idx = p.index[:, step]
    k, b = idx.shape
    x = augment(images[idx.reshape(-1)], p.shift[:, step].reshape(-1, 2), p.flip[:, step].reshape(-1))
    x = normalise(x, *stats).view(k, b, *images.shape[1:])
    y = labels[idx]
    lam = p.lam[step]
    x, y_b = mix(x, y, p.partner[:, step], lam) if use_mix else (x, y)
    return x.transpose(0, 1).reshape(b, -1, *images.shape[2:]), y, y_b, lam


def _fit(net: PackedResNet, p: Packed, cfg: RunConfig, budget: Budget, images, labels, stats, device) -> torch.Tensor:
    """SGD with Nesterov momentum on the summed per-model losses; returns the late-training loss per model."""
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)
    use_mix, cuda = bool((p.lam != 1).any()), device.type == "cuda"
    tail = torch.zeros(net.k, device=device)
    tail_from = budget.steps - max(1, budget.steps // 10)
    net.train()
    for step in range(budget.steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, budget.steps, cfg.warmup)
        x, y_a, y_b, lam = _batch(p, step, images, labels, stats, use_mix)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            logits = net(x.contiguous(memory_format=torch.channels_last) if cuda else x)
        losses = mixup_loss(logits.float(), y_a, y_b, lam)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()  # a sum: each member's gradient is its own loss's gradient
        opt.step()
        if step >= tail_from:
            tail += losses.detach()
    return tail / (budget.steps - tail_from)


# ----------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Score:
    """One model on one evaluation set; ``error`` excludes overlapping images, ``error_incl_overlap`` not."""

    error: float
    error_incl_overlap: float
    loss: float
    n_eval: int
    n_overlap: int
    n_wrong: int


@torch.no_grad()
def evaluate(net: PackedResNet, ev: EvalSet, stats: tuple, device: torch.device) -> list[Score]:
    """Score every member of a pack on ``ev`` (eval-mode BatchNorm, no augmentation, no mixup)."""
    net.eval()
    images, labels = on_device(ev.x, ev.y, device)
    wrong, losses = [], []
    for start in range(0, len(labels), EVAL_BATCH):
        x = normalise(images[start : start + EVAL_BATCH], *stats).repeat(1, net.k, 1, 1)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = net(x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x).float()
        y = labels[start : start + EVAL_BATCH, None].expand(-1, net.k)
        wrong.append((logits.argmax(-1) != y).cpu())
        losses.append(F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none").cpu())
    return _scores(torch.cat(wrong).numpy(), torch.cat(losses).numpy(), ev.overlap)


def _scores(wrong: np.ndarray, loss: np.ndarray, overlap: np.ndarray) -> list[Score]:
    """Per model (columns): error without overlap, with overlap, loss without overlap.

    A perfect score is recorded as half a mistake (``0.5 / n``): the schema's error lies in (0, 1]
    and log error must stay finite; ``n_wrong`` keeps the true count.
    """
    keep = ~overlap
    n = int(keep.sum())
    counts = wrong[keep].sum(0)
    return [
        Score(max(float(c), 0.5) / n, max(float(w), 0.5) / len(wrong), float(lo), n, int(overlap.sum()), int(c))
        for c, w, lo in zip(counts, wrong.sum(0), loss[keep].mean(0), strict=True)
    ]


# ----------------------------------------------------------------------------------------------
# Runs: config -> rows


def device_label(device: torch.device) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``: the device column of the table."""
    if device.type != "cuda":
        return device.type
    return f"{device} ({torch.cuda.get_device_name(device)})"


def train_pack(configs: Sequence[RunConfig]) -> list[list[dict]]:
    """Train K runs of the same shape in one packed network; one list of rows per config.

    Members may differ in seed, part, trial and mixup; they must share training set, width, depth,
    size and step budget (the grid only packs such runs).
    """
    first = configs[0]
    device = torch.device(first.device)
    datas = [run_data(c) for c in configs]
    ds = datas[0].dataset
    budget = step_budget(len(datas[0].train_index), first.batch_size, first.epochs, first.min_steps)
    draws = [draw(c.seed, len(d.train_index), budget, c.mixup, c.mixup_alpha, ds.flip)
             for c, d in zip(configs, datas, strict=True)]
    channels = ds.train.x.shape[1]
    nets = [build(stable_int(c.seed, "init"), c.width, c.depth, channels, ds.num_classes) for c in configs]
    net = pack(nets).to(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    stats = (torch.tensor(ds.mean, device=device), torch.tensor(ds.std, device=device))
    images, labels = on_device(ds.train.x, ds.train.y, device)
    start = time.perf_counter()
    tail = _fit(net, _stack_draws(datas, draws, device), first, budget, images, labels, stats, device)
    tail = tail.cpu().tolist()  # waits for the device, so the clock below is honest
    seconds = (time.perf_counter() - start) / len(configs)
    scores = {ev.name: evaluate(net, ev, stats, device) for ev in datas[0].evals}
    common = _common_columns(first, budget, count_params(net), seconds, device, len(configs))
    return [
        [_row(c, name, s[i], tail[i], common, len(datas[0].train_index)) for name, s in scores.items()]
        for i, c in enumerate(configs)
    ]


def _common_columns(cfg: RunConfig, budget: Budget, params: int, seconds: float, device: torch.device, k: int) -> dict:
    return {
        "depth": cfg.depth,
        "params": params,
        "epochs": budget.epochs,
        "steps": budget.steps,
        "batch_size": budget.batch,
        "train_seconds": round(seconds, 3),
        "device": device_label(device),
        "code_version": code_version(),
        "pack_size": k,
    }


def _row(cfg: RunConfig, eval_set: str, score: Score, tail: float, common: dict, train_size: int) -> dict:
    return {
        **cfg.identity(),
        "eval_set": eval_set,
        "train_size": train_size,
        "error": score.error,
        "error_incl_overlap": score.error_incl_overlap,
        "loss": score.loss,
        "n_eval": score.n_eval,
        "n_overlap": score.n_overlap,
        "n_wrong": score.n_wrong,
        "train_loss": tail,
        **common,
    }


def train_run(config: RunConfig) -> list[dict]:
    """The built-in trainer: one run, one row per evaluation set.

    Examples
    --------
    >>> callable(train_run.packed)  # the grid packs runs through this attribute
    True
    """
    return train_pack([config])[0]


train_run.packed = train_pack  # type: ignore[attr-defined]
