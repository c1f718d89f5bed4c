"""One training run, or K packed runs of the same shape: ``RunConfig -> rows`` of the schema.

Everything random in a run is drawn before training starts, from the run's own seed: the data order,
crop offsets, flips and mixup partners on the device, with a generator of the run's own; mixup's
lambdas (one per step, a few kilobytes) on the host. A run therefore draws the same alone or inside a
pack, and the training loop is only tensor indexing and arithmetic on the device, with no host
synchronisation inside a step. Per pack, the host sends the device only the members' part indices
and lambdas (about 0.4 MB per member at 50,000 images); the images go once per process and data set.
The same seed draws differently on a CPU and on a GPU (their generators differ); on one device a
rerun draws the same.

Step budget: ``batch = min(batch_size, train_size)`` and
``steps = max(ceil(epochs * train_size / batch), min_steps)``. ``epochs`` passes over the part, but
never fewer than ``min_steps`` optimizer steps, so the smallest subsets are not cut short by the
schedule; the ``epochs`` column records the passes actually made (``steps * batch / train_size``).

The engine options of a :class:`~trainers.config.RunConfig` (packing route, ``torch.compile``, fused
SGD, cuDNN autotuning, bf16) change how a pack is computed, not what: see :class:`Engine`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from trainers import code_version
from trainers.config import COMPILE_MODES, PACKINGS, PRECISIONS, RunConfig, stable_int
from trainers.data import EvalSet, RunData, content_hash, run_data
from trainers.errors import TrainerError
from trainers.models import Pack, build, count_params, pack, to_device

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
    """All randomness of one run, drawn up front.

    Per step: which images, how cropped and flipped, which partner each image is mixed with (tensors
    on the run's device), and the step's lambda (NumPy on the host; 1.0 when mixup is off).
    """

    order: torch.Tensor  # (steps, batch) int64 positions in the run's part
    shift: torch.Tensor  # (steps, batch, 2) uint8 crop offsets in 0..2*PAD
    flip: torch.Tensor  # (steps, batch) bool
    partner: torch.Tensor  # (steps, batch) int64, a permutation of the batch per step
    lam: np.ndarray  # (steps,) float32


def draw(seed: int, train_size: int, budget: Budget, mixup: bool, alpha: float, flip: bool = True,
         device: str | torch.device = "cpu") -> Draws:
    """Draw a run's randomness on ``device``.

    Shuffled passes over the part, one lambda ~ Beta(alpha, alpha) per batch; with ``flip=False`` no
    image is mirrored. Permutations are argsorts of float64 uniforms (ties have probability ~1e-10 per pass at 50,000
    images); the generator is seeded from ``seed`` alone, so a run draws the same alone or packed.

    Parameters
    ----------
    seed : int
        The run's seed.
    train_size : int
        Images in the run's part.
    budget : Budget
        Steps and batch size.
    mixup : bool
        Draw lambdas from Beta(alpha, alpha); else every lambda is 1.
    alpha : float
        Mixup's Beta parameter.
    flip : bool
        Whether images may be mirrored.
    device : str or torch.device
        Where the draws are made and kept.

    Returns
    -------
    Draws
        The run's draws.

    Examples
    --------
    >>> d = draw(0, 10, Budget(steps=5, batch=4, epochs=2.0), mixup=True, alpha=1.0)
    >>> tuple(d.order.shape), d.lam.shape, bool(((d.lam > 0) & (d.lam < 1)).all())
    ((5, 4), (5,), True)
    """
    device = torch.device(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(stable_int(seed, "draws"))
    steps, batch = budget.steps, budget.batch
    passes = math.ceil(steps * batch / train_size)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=gen, device=device, dtype=torch.float64)

    order = uniform(passes, train_size).argsort(dim=1).reshape(-1)[: steps * batch].view(steps, batch)
    shift = torch.randint(0, 2 * PAD + 1, (steps, batch, 2), generator=gen, device=device, dtype=torch.uint8)
    mirror = (uniform(steps, batch) < 0.5) & flip
    partner = uniform(steps, batch).argsort(dim=1)
    lam = np.random.default_rng(seed).beta(alpha, alpha, size=steps) if mixup and alpha > 0 else np.ones(steps)
    return Draws(order, shift, mirror, partner, lam.astype(np.float32))


# ----------------------------------------------------------------------------------------------
# On-device augmentation and mixup


def augment(x: torch.Tensor, shift: torch.Tensor, flip: torch.Tensor, pad: int = PAD) -> torch.Tensor:
    """Random crop after ``pad`` pixels of zero padding, then horizontal flip, for a whole batch.

    ``x`` is ``(N, C, H, W)``; ``shift`` ``(N, 2)`` gives each image's (row, column) crop offset in
    ``0..2*pad``; ``flip`` ``(N,)`` which images are mirrored. Returns a contiguous ``(N, C, H, W)``.

    Examples
    --------
    >>> x = torch.arange(16.).view(1, 1, 4, 4)
    >>> augment(x, torch.tensor([[4, 4]]), torch.tensor([False]))[0, 0].equal(x[0, 0])
    True
    """
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    across, down = torch.arange(w, device=x.device), torch.arange(h, device=x.device)
    rows = shift[:, 0:1].long() + down
    cols = shift[:, 1:2].long() + torch.where(flip[:, None], across.flip(0), across)  # a mirror reads columns backwards
    image, channel = torch.arange(n, device=x.device), torch.arange(c, device=x.device)
    # one gather, (N, C, H, W) in the standard layout: a single run and the members of a pack hand their
    # convolutions the same memory layout (and so, on CPU, the same kernels)
    return padded[image[:, None, None, None], channel[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]


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
# Host to device: counted, and the data sets cached by what they are


class Uploads:
    """Copies arrays from the host to a device and counts the bytes (what a pack costs the bus).

    Examples
    --------
    >>> up = Uploads()
    >>> up(np.zeros(4, np.int64), torch.device("cpu")).shape, up.bytes
    (torch.Size([4]), 32)
    """

    def __init__(self) -> None:
        self.bytes = 0

    def __call__(self, array: np.ndarray, device: torch.device) -> torch.Tensor:
        """Copy ``array`` to ``device`` and count its bytes."""
        tensor = torch.from_numpy(np.array(array)).to(device)  # np.array: a memory map becomes an owned copy
        self.bytes += tensor.nbytes
        return tensor


_ON_DEVICE: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


def on_device(key: str, x: np.ndarray, y: np.ndarray, device: torch.device,
              upload: Uploads | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images and labels on ``device``, copied once per process and data set.

    ``key`` says what the data is (:meth:`trainers.data.Dataset.key`: dataset, source fingerprint,
    split), never which array object holds it: an array freed and another allocated at the same
    address must not be served the old images. An empty key stands for a hash of ``x`` and ``y``.

    Parameters
    ----------
    key : str
        What the images are.
    x, y : numpy.ndarray
        Images ``(N, C, H, W)`` uint8 and labels int64, copied on the first call for ``key``.
    device : torch.device
        Where the copy lives.
    upload : Uploads, optional
        Counts the bytes copied (nothing when the copy is cached).

    Returns
    -------
    tuple of torch.Tensor
        Images and labels on ``device``.
    """
    cache_key = (key or content_hash(x, y), str(device))
    if cache_key not in _ON_DEVICE:
        up = upload or Uploads()
        _ON_DEVICE[cache_key] = (up(x, device), up(y, device))
    return _ON_DEVICE[cache_key]


def clear_device_cache() -> None:
    """Forget every data set copied to a device (frees the memory once nothing else holds it)."""
    _ON_DEVICE.clear()


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` to float, scaled to 0..1 and standardised per channel.

    Examples
    --------
    >>> normalise(torch.full((1, 1, 1, 1), 255, dtype=torch.uint8), torch.tensor([0.5]), torch.tensor([0.25])).item()
    2.0
    """
    return (x.float() / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


# ----------------------------------------------------------------------------------------------
# The engine: how a pack is computed on its device


@dataclass(frozen=True)
class Engine:
    """A config's engine options resolved for its device.

    ``amp``: bf16 autocast (CUDA and ``precision="bf16"``); ``channels_last``: the convolutions'
    inputs and weights laid out channels-last, on every device (cuDNN prefers it under bf16, and on
    CPU oneDNN trained 1.2-1.6x faster with it than in NCHW); ``fused``: the fused SGD kernel where
    torch has one for the device; ``compile``: a ``torch.compile`` mode or ``"off"``;
    ``cudnn_benchmark``: cuDNN autotuning (CUDA).
    """

    device: torch.device
    packing: str
    compile: str
    fused: bool
    cudnn_benchmark: bool
    amp: bool
    channels_last: bool


def engine_for(config: RunConfig) -> Engine:
    """Resolve and check a config's engine options for its device.

    Examples
    --------
    >>> from trainers.config import RunConfig
    >>> e = engine_for(RunConfig("cifar10", ("cifar10",), 1, 0, 0, 1, 16, False, packing="vmap"))
    >>> e.packing, e.amp, e.channels_last, e.fused
    ('vmap', False, True, True)
    """
    device = torch.device(config.device)
    choices = {"packing": PACKINGS, "compile": COMPILE_MODES, "precision": PRECISIONS}
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise TrainerError(f"unknown {name} {getattr(config, name)!r}; use one of {', '.join(allowed)}")
    cuda = device.type == "cuda"
    return Engine(device, config.packing, config.compile, config.fused and device.type in _fused_devices(),
                  config.cudnn_benchmark, cuda and config.precision == "bf16", True)


def _fused_devices() -> tuple[str, ...]:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # a torch without the helper: CUDA has had fused SGD since 2.3
        return ("cuda",)
    return tuple(_get_fused_kernels_supported_devices())


def make_optimizer(net: Pack, config: RunConfig, engine: Engine) -> torch.optim.SGD:
    """SGD with Nesterov momentum and weight decay; the fused kernel when the engine allows it.

    Examples
    --------
    >>> from trainers.config import RunConfig
    >>> from trainers.models import ResNet
    >>> c = RunConfig("cifar10", ("cifar10",), 1, 0, 0, 1, 16, False)
    >>> make_optimizer(ResNet(16), c, engine_for(c)).defaults["fused"]
    True
    """
    return torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True,
                           weight_decay=config.weight_decay, fused=engine.fused or None)


# torch.compile's arguments per mode; "off" trains eagerly.
COMPILE_OPTIONS: dict[str, dict[str, object]] = {
    "off": {},
    "default": {"mode": "default"},
    "reduce-overhead": {"mode": "reduce-overhead"},
    "max-autotune": {"mode": "max-autotune"},
}


# ----------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class PackRun:
    """A pack ready to train: the network, the members' draws stacked on the device, the data.

    ``index`` etc. are ``(steps, K, batch, ...)`` so a step's slice is one contiguous block; ``lam``
    is ``(steps, K)``; ``uploaded`` counts the bytes this pack copied from host to device.
    """

    configs: tuple[RunConfig, ...]
    datas: tuple[RunData, ...]
    engine: Engine
    budget: Budget
    net: Pack
    index: torch.Tensor
    shift: torch.Tensor
    flip: torch.Tensor
    partner: torch.Tensor
    lam: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    stats: tuple[torch.Tensor, torch.Tensor]
    use_mix: bool
    uploaded: int


def prepare(configs: Sequence[RunConfig]) -> PackRun:
    """Build a pack of K runs of the same shape: data, draws and the packed network on the device.

    Parameters
    ----------
    configs : sequence of RunConfig
        The members; they share training set, width, depth, size, budget and engine options.

    Returns
    -------
    PackRun
        Everything :func:`fit` and :func:`score` need.
    """
    first = configs[0]
    engine = engine_for(first)
    device = engine.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = engine.cudnn_benchmark
    datas = tuple(run_data(c) for c in configs)
    ds = datas[0].dataset
    train_size = len(datas[0].train_index)
    budget = step_budget(train_size, first.batch_size, first.epochs, first.min_steps)
    upload = Uploads()
    images, labels = on_device(ds.key("train"), ds.train.x, ds.train.y, device, upload)
    draws = [draw(c.seed, train_size, budget, c.mixup, c.mixup_alpha, ds.flip, device) for c in configs]
    parts = [upload(d.train_index, device) for d in datas]
    nets = [build(stable_int(c.seed, "init"), c.width, c.depth, ds.train.x.shape[1], ds.num_classes) for c in configs]
    lams = np.stack([w.lam for w in draws], axis=1)

    def stacked(name: str) -> torch.Tensor:
        return torch.stack([getattr(w, name) for w in draws], dim=1)

    return PackRun(
        tuple(configs), datas, engine, budget, to_device(pack(nets, engine.packing), device, engine.channels_last),
        torch.stack([part[w.order] for part, w in zip(parts, draws, strict=True)], dim=1), stacked("shift"),
        stacked("flip"), stacked("partner"), upload(lams, device), images, labels,
        (torch.tensor(ds.mean, device=device), torch.tensor(ds.std, device=device)), bool((lams != 1).any()),
        upload.bytes,
    )


def step_losses(net: Pack, images: torch.Tensor, labels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                idx: torch.Tensor, shift: torch.Tensor, flip: torch.Tensor, partner: torch.Tensor, lam: torch.Tensor,
                use_mix: bool, amp: bool, channels_last: bool) -> torch.Tensor:
    """One step's per-model losses ``(K,)`` for a pack: gather, augment, normalise, mix, forward.

    The step's draws are ``idx``, ``flip``, ``partner`` ``(K, B)``, ``shift`` ``(K, B, 2)``, ``lam``
    ``(K,)``. Everything here is device work with static shapes, which is what ``torch.compile``
    captures in one graph.
    """
    k, b = idx.shape
    x = augment(images[idx.reshape(-1)], shift.reshape(-1, 2), flip.reshape(-1))
    x = normalise(x, mean, std).view(k, b, *images.shape[1:])
    y = labels[idx]
    x, y_b = mix(x, y, partner, lam) if use_mix else (x, y)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        logits = net.forward_stacked(x, channels_last)
    return mixup_loss(logits.float(), y, y_b, lam)


class Stepper:
    """Forward, loss and backward of one step, compiled when the engine asks and compiling works.

    The first compiled step is a trial: if compiling or running it fails, the BatchNorm buffers it may
    have touched are restored, the gradients dropped, a warning says why, and this pack and the
    following steps run eagerly. A failure later on is a real error and propagates.
    """

    def __init__(self, run: PackRun) -> None:
        self.run = run
        self.losses: Callable[..., torch.Tensor] = step_losses
        self.trial = False
        if run.engine.compile != "off":
            self.losses, self.trial = _compiled(run.engine.compile), True

    def __call__(self, step: int) -> torch.Tensor:
        """Run step ``step``'s forward, loss and backward; return the per-model losses."""
        if not self.trial:
            return self._step(step)
        saved = [b.detach().clone() for b in self.run.net.buffers()]
        try:
            out = self._step(step)
        except Exception as err:  # noqa: BLE001 - any failure to compile or run compiled code falls back
            for b, s in zip(self.run.net.buffers(), saved, strict=True):
                b.copy_(s)
            self.run.net.zero_grad(set_to_none=True)
            first = (str(err).strip().splitlines() or [""])[0]
            warnings.warn(f"torch.compile (mode {self.run.engine.compile}) failed, training eagerly instead: "
                          f"{type(err).__name__}: {first}", RuntimeWarning, stacklevel=2)
            self.losses = step_losses
            out = self._step(step)
        self.trial = False
        return out

    def _step(self, step: int) -> torch.Tensor:
        r, e = self.run, self.run.engine
        losses = self.losses(r.net, r.images, r.labels, *r.stats, r.index[step], r.shift[step], r.flip[step],
                             r.partner[step], r.lam[step], r.use_mix, e.amp, e.channels_last)
        losses.sum().backward()  # a sum: each member's gradient is its own loss's gradient
        return losses


_COMPILED: dict[str, Callable[..., torch.Tensor]] = {}


def _compiled(mode: str) -> Callable[..., torch.Tensor]:
    """Compile ``step_losses`` once per process and mode (static shapes, one graph).

    A torch without a working ``torch.compile`` gets a function that raises, which the trial turns
    into a warning.
    """
    if mode not in _COMPILED:
        try:
            _COMPILED[mode] = torch.compile(step_losses, fullgraph=True, dynamic=False, **COMPILE_OPTIONS[mode])
        except Exception as err:  # noqa: BLE001 - e.g. a platform torch.compile does not support
            _COMPILED[mode] = _raiser(err)
    return _COMPILED[mode]


def _raiser(err: Exception) -> Callable[..., torch.Tensor]:
    def fail(*args: object, **kwargs: object) -> torch.Tensor:
        raise err

    return fail


def fit(run: PackRun, steps: int | None = None) -> torch.Tensor:
    """SGD with Nesterov momentum on the summed per-model losses.

    Parameters
    ----------
    run : PackRun
        The prepared pack (trained in place).
    steps : int, optional
        Stop after this many steps (the schedule is still the full budget's); default: the budget.

    Returns
    -------
    torch.Tensor
        ``(K,)`` mean training loss per model over the last 10% of the budget's steps (zeros when
        stopped before them).
    """
    budget, cfg = run.budget, run.configs[0]
    opt = make_optimizer(run.net, cfg, run.engine)
    stepper = Stepper(run)
    tail = torch.zeros(run.net.k, device=run.engine.device)
    tail_from = budget.steps - max(1, budget.steps // 10)
    run.net.train()
    for step in range(budget.steps if steps is None else steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, budget.steps, cfg.warmup)
        losses = stepper(step)
        opt.step()
        opt.zero_grad(set_to_none=True)
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
def evaluate(net: Pack, ev: EvalSet, stats: tuple, engine: Engine) -> list[Score]:
    """Score every member of a pack on ``ev`` (eval-mode BatchNorm, no augmentation, no mixup).

    The results stay on the device until one copy at the end.
    """
    net.eval()
    images, labels = on_device(ev.key, ev.x, ev.y, engine.device)
    wrong, losses = [], []
    for start in range(0, len(labels), EVAL_BATCH):
        x = normalise(images[start : start + EVAL_BATCH], *stats)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=engine.amp):
            logits = net.forward_stacked(x.expand(net.k, *x.shape), engine.channels_last).float()
        y = labels[start : start + EVAL_BATCH, None].expand(-1, net.k)
        wrong.append(logits.argmax(-1) != y)
        losses.append(F.cross_entropy(logits.permute(0, 2, 1), y, reduction="none"))
    return _scores(torch.cat(wrong).cpu().numpy(), torch.cat(losses).cpu().numpy(), ev.overlap)


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
    """Train K runs of the same shape in one pack; one list of rows per config.

    Members may differ in seed, part, trial and mixup; they must share training set, width, depth,
    size, step budget and engine options (the grid only packs such runs).
    """
    run = prepare(configs)
    start = time.perf_counter()
    tail = fit(run).cpu().tolist()  # waits for the device, so the clock below is honest
    seconds = (time.perf_counter() - start) / len(configs)
    scores = {ev.name: evaluate(run.net, ev, run.stats, run.engine) for ev in run.datas[0].evals}
    first, train_size = configs[0], len(run.datas[0].train_index)
    common = _common_columns(first, run.budget, count_params(run.net), seconds, run.engine.device, len(configs))
    return [
        [_row(c, name, s[i], tail[i], common, train_size) for name, s in scores.items()]
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
