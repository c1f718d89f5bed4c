"""Where runs execute: in this process, in one process per GPU, or as Ray tasks on a cluster.

Every backend takes packs of runs (tuples of :class:`RunConfig`; a pack of one is a single run) and
yields one :class:`RunResult` per run as runs finish. Only the process that called the backend writes
the results file, so workers never contend for it.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import queue
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from trainers.config import RunConfig
from trainers.errors import TrainerError, TrainersError

Device = Literal["auto", "cpu", "cuda"]
Pack = tuple[RunConfig, ...]


@dataclass(frozen=True)
class RunResult:
    """One finished run: its config, the rows its trainer returned and the training wall time."""

    config: RunConfig
    rows: list[dict]
    seconds: float


# ----------------------------------------------------------------------------------------------
# Trainers: "package.module:function", config -> rows


def resolve_trainer(path: str) -> Callable[[RunConfig], list[dict]]:
    """Import the trainer named ``package.module:function``.

    Examples
    --------
    >>> resolve_trainer("trainers.train:train_run").__name__
    'train_run'
    >>> resolve_trainer("no_colon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    trainers.errors.TrainerError: --trainer must look like package.module:function, got 'no_colon'
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise TrainerError(f"--trainer must look like package.module:function, got {path!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise TrainerError(f"cannot import trainer {path}: {err}") from None
    if not callable(fn):
        raise TrainerError(f"trainer {path} is not callable")
    return fn


def supports_packing(path: str) -> bool:
    """A trainer packs runs when it carries a ``packed(configs) -> [rows, ...]`` attribute."""
    return callable(getattr(resolve_trainer(path), "packed", None))


def execute(pack: Pack, device: str) -> list[RunResult]:
    """Run one pack on ``device`` with its trainer; any failure becomes one :class:`TrainerError` line."""
    configs = [c.replace(device=device) for c in pack]
    fn = resolve_trainer(configs[0].trainer)
    packed = getattr(fn, "packed", None)
    start = time.perf_counter()
    try:
        outputs = packed(configs) if len(configs) > 1 and packed else [fn(c) for c in configs]
    except TrainersError:
        raise
    except Exception as err:
        c = configs[0]
        raise TrainerError(f"run {c.run_id} ({c.train_set}, 1/{c.n_splits}, trial {c.trial}) failed on "
                           f"{device}: {type(err).__name__}: {err}") from err
    seconds = (time.perf_counter() - start) / len(configs)
    return [RunResult(c, list(rows), seconds) for c, rows in zip(configs, outputs, strict=True)]


# ----------------------------------------------------------------------------------------------
# Local: one run at a time per device


def local_devices(device: Device, workers: int = 1) -> tuple[str, ...]:
    """``cpu`` (``workers`` times) or every visible GPU; ``auto`` picks GPUs when there are any.

    Examples
    --------
    >>> local_devices("cpu", workers=2)
    ('cpu', 'cpu')
    """
    if device == "cpu":
        return ("cpu",) * workers
    count = _cuda_count()
    if count == 0 and device == "cuda":
        raise TrainerError("--device cuda but no CUDA device is visible; use --device cpu")
    return tuple(f"cuda:{i}" for i in range(count)) if count else ("cpu",) * workers


def _cuda_count() -> int:
    try:
        import torch
    except ModuleNotFoundError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@dataclass(frozen=True)
class LocalBackend:
    """Runs packs one at a time per device: in this process for one device, else one process each."""

    devices: tuple[str, ...]

    def run(self, packs: Sequence[Pack]) -> Iterator[RunResult]:
        if len(self.devices) == 1:
            for p in packs:
                yield from execute(p, self.devices[0])
        else:
            yield from _run_in_processes(packs, self.devices)


def _worker(device: str, threads: int, tasks: mp.Queue, results: mp.Queue) -> None:
    _pin(device, threads)
    while (item := tasks.get()) is not None:
        try:
            results.put((execute(item, device), None))
        except Exception as err:  # crosses a process boundary as one line
            results.put((None, f"{err}"))


def _pin(device: str, threads: int) -> None:
    """Give a worker its GPU (else each would also open a context on GPU 0) or its share of the cores
    (else N CPU workers would each start a thread per core)."""
    try:
        import torch
    except ModuleNotFoundError:  # a plugged-in trainer without torch
        return
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(threads)


def _run_in_processes(packs: Sequence[Pack], devices: Sequence[str]) -> Iterator[RunResult]:
    ctx = mp.get_context("spawn")  # CUDA cannot be used in forked children
    tasks, results = ctx.Queue(), ctx.Queue()
    for p in packs:
        tasks.put(p)
    for _ in devices:
        tasks.put(None)
    threads = max(1, (os.cpu_count() or 1) // len(devices))
    procs = [ctx.Process(target=_worker, args=(d, threads, tasks, results), daemon=True) for d in devices]
    for p in procs:
        p.start()
    try:
        for _ in packs:
            out, err = _next_result(results, procs, devices)
            if err:
                raise TrainerError(err)
            yield from out
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _next_result(results: mp.Queue, procs: list, devices: Sequence[str]) -> tuple:
    """Wait for a result, noticing a worker that died without sending one (killed, out of memory)."""
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            dead = [(d, p.exitcode) for d, p in zip(devices, procs, strict=True) if p.exitcode not in (None, 0)]
            if dead:
                raise TrainerError(f"the worker on {dead[0][0]} died (exit code {dead[0][1]})") from None


# ----------------------------------------------------------------------------------------------
# Ray: each pack is a task asking for num_gpus (fractions allowed) on a local or existing cluster


def _ray_task(pack: Pack, device: str) -> list[RunResult]:
    return execute(pack, device)


@dataclass(frozen=True)
class RayBackend:
    """Submits every pack as a Ray task; ``address=None`` starts a local Ray for this grid."""

    address: str | None = None
    device: Device = "auto"
    gpus_per_run: float = 1.0
    cpus_per_run: float = 1.0

    def run(self, packs: Sequence[Pack]) -> Iterator[RunResult]:
        """Connect (or start Ray) and check the device now, so those errors come before any progress."""
        ray = _import_ray()
        # the first failure is reported as one line; tasks that fail after it must not print tracebacks
        os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
        started = not ray.is_initialized()
        if started:
            _init_ray(ray, self.address)
        try:
            device = self._device(ray)
        except TrainerError:
            if started:
                ray.shutdown()
            raise
        return self._submit(ray, packs, device, started)

    def _submit(self, ray, packs: Sequence[Pack], device: str, started: bool) -> Iterator[RunResult]:  # noqa: ANN001
        try:
            yield from self._results(ray, packs, device)
        finally:
            if started:
                ray.shutdown()

    def _results(self, ray, packs: Sequence[Pack], device: str) -> Iterator[RunResult]:  # noqa: ANN001
        gpus = self.gpus_per_run if device == "cuda" else 0
        task = ray.remote(_ray_task).options(num_gpus=gpus, num_cpus=self.cpus_per_run, max_retries=1)
        pending = [task.remote(p, device) for p in packs]
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                yield from _ray_get(ray, ready[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _device(self, ray) -> str:  # noqa: ANN001
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        if self.device == "cuda" and not has_gpu:
            raise TrainerError("--device cuda but the Ray cluster has no GPU resources; use --device cpu")
        return "cuda" if self.device == "cuda" or (self.device == "auto" and has_gpu) else "cpu"


def _import_ray():  # noqa: ANN202
    try:
        import ray
    except ModuleNotFoundError:
        raise TrainerError("--backend ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def _init_ray(ray, address: str | None) -> None:  # noqa: ANN001
    """Connect to ``address``, or start a local Ray whose workers import what this process imports."""
    quiet = {"log_to_driver": False, "configure_logging": False}
    try:
        if address:
            _check_reachable(address)
            ray.init(address=address, **quiet)
        else:
            path = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
            ray.init(include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}}, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise TrainerError(f"cannot start or reach Ray{' at ' + address if address else ''}: {err}") from None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse an address nobody listens on in seconds; Ray itself retries for minutes.

    Examples
    --------
    >>> _check_reachable("127.0.0.1:1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    trainers.errors.TrainerError: cannot reach Ray at 127.0.0.1:1 (...); is the cluster running?
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return  # Ray's own discovery (auto) or a form Ray will judge itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise TrainerError(f"cannot reach Ray at {address} ({err.strerror or err}); is the cluster running?") from None


def _ray_get(ray, ref) -> list[RunResult]:  # noqa: ANN001
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None) or err
        raise TrainerError(str(cause).strip().splitlines()[-1] if str(cause).strip() else repr(cause)) from None
    except ray.exceptions.RayError as err:
        raise TrainerError(f"a Ray task failed: {str(err).strip().splitlines()[0]}") from None


# ----------------------------------------------------------------------------------------------
# Choosing a backend

Kind = Literal["local", "ray"]


def make_backend(kind: Kind, device: Device, *, address: str | None = None, workers: int = 1,
                 gpus_per_run: float = 1.0) -> LocalBackend | RayBackend:
    """The backend for ``--backend``; options that do not apply to it are ignored."""
    builders: dict[str, Callable[[], LocalBackend | RayBackend]] = {
        "local": lambda: LocalBackend(local_devices(device, workers)),
        "ray": lambda: RayBackend(address, device, gpus_per_run),
    }
    if kind not in builders:
        raise TrainerError(f"unknown backend {kind!r}; use local or ray")
    return builders[kind]()
