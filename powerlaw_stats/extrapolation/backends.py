"""Where the backtest's tasks run: in this process, in worker processes, or as Ray tasks.

Each backend maps one function over a list of items and yields the results as they finish (in any
order: the caller sorts). Only the calling process writes the results file, so workers never
contend for it. The Ray backend follows the trainers' engine (``trainers/backends.py``): with an
address it connects to that cluster after checking that something listens there (Ray itself retries
for minutes); without one it starts a local Ray whose workers import what this process imports,
and stops it afterwards. A Ray already started in this process is used as it is.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Literal

from ..errors import OptionError, PowerlawStatsError

Backend = Literal["serial", "processes", "ray"]
Mapper = Callable[[Callable, Sequence, "int | None", "str | None"], Iterable]


def _serial(fn: Callable, items: Sequence, jobs: int | None, address: str | None) -> Iterable:
    return map(fn, items)


def _processes(fn: Callable, items: Sequence, jobs: int | None, address: str | None) -> Iterable:
    if (jobs or 0) == 1:
        return map(fn, items)
    return _pooled(fn, items, jobs or os.cpu_count() or 1)


def _pooled(fn: Callable, items: Sequence, workers: int) -> Iterator:
    # one item per job, yielded as each finishes, so a kill loses only the running ones
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for job in as_completed([pool.submit(fn, item) for item in items]):
            yield job.result()


def _ray(fn: Callable, items: Sequence, jobs: int | None, address: str | None) -> Iterable:
    """Connect (or start Ray) now, so an unreachable cluster fails before anything is written."""
    ray = _import_ray()
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")  # the first failure is raised; no tracebacks after it
    started = not ray.is_initialized()
    if started:
        _init_ray(ray, address, jobs)
    return _ray_results(ray, fn, items, started)


def _ray_results(ray: Any, fn: Callable, items: Sequence, started: bool) -> Iterator:
    try:
        task = ray.remote(fn).options(num_cpus=1, max_retries=1)
        pending = [task.remote(item) for item in items]
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                yield _ray_get(ray, ready[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
    finally:
        if started:
            ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise OptionError("backend 'ray' needs Ray: pip install 'powerlaw-stats[ray]'") from None
    return ray


def _init_ray(ray: Any, address: str | None, jobs: int | None) -> None:
    """Connect to ``address``, or start a local Ray with ``jobs`` CPUs (all cores by default)."""
    quiet = {"log_to_driver": False, "configure_logging": False}
    try:
        if address:
            check_reachable(address)
            ray.init(address=address, **quiet)
        else:
            path = os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)
            ray.init(num_cpus=jobs or os.cpu_count() or 1, include_dashboard=False,
                     runtime_env={"env_vars": {"PYTHONPATH": path}}, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = f" at {address}" if address else ""
        raise OptionError(f"cannot start or reach Ray{where}: {str(err).strip().splitlines()[0]}") from None


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse, in seconds, an address nobody listens on.

    Examples
    --------
    >>> check_reachable("127.0.0.1:1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    powerlaw_stats.errors.OptionError: cannot reach Ray at 127.0.0.1:1 (...); is the cluster running?
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return  # Ray's own discovery (auto) or a form Ray will judge itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise OptionError(f"cannot reach Ray at {address} ({err.strerror or err}); is the cluster running?") from None


def _ray_get(ray: Any, ref: Any) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:  # the task's own exception, as the other backends raise it
        cause = getattr(err, "cause", None)
        raise (cause if isinstance(cause, Exception) else err) from None
    except ray.exceptions.RayError as err:  # a worker died (killed, out of memory), a node left
        raise PowerlawStatsError(f"a Ray task failed: {str(err).strip().splitlines()[0]}") from None


BACKENDS: dict[str, Mapper] = {"serial": _serial, "processes": _processes, "ray": _ray}


def map_tasks(backend: Backend, fn: Callable, items: Sequence, *, jobs: int | None = None,
              address: str | None = None) -> Iterable:
    """``fn`` over ``items`` on ``backend``; results as they finish.

    Examples
    --------
    >>> sorted(map_tasks("serial", abs, [-2, 1]))
    [1, 2]
    """
    if address is not None and backend != "ray":
        raise OptionError(f"an address is for backend 'ray'; backend is {backend!r}")
    return BACKENDS[backend](fn, items, jobs, address)
