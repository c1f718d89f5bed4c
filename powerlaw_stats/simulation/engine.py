"""The trial engine ``simulate`` and ``plan`` share: seeded chunks of simulated responses, run side by side.

Trials come in chunks of :data:`CHUNK`; chunk ``b`` draws its responses from its own random
stream, ``SeedSequence(seed, spawn_key=(b,))``, so a trial's numbers depend on the seed and its
position only, never on how many threads ran or in which order the chunks finished. Chunks run on
a thread pool (numpy releases the GIL in the partitions and products that dominate), with BLAS on
one thread each.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import itertools
import os
import resource
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import OptionError
from ..estimation.shared import one_blas_thread
from .residuals import ResidualModel

CHUNK = 250  # trials per batch: the T x n working arrays stay in cache, and random streams are per chunk
Progress = Callable[[int, int], None]  # (trials done, trials in all)


@dataclass(frozen=True, slots=True, kw_only=True)
class Draws:
    """How a trial's response is drawn: ``mean`` plus the residual model's whitened draws times ``noise``.

    ``x`` is the design the residual model may read (its heteroscedastic scale), ``groups`` the
    labels it resamples within (None: across all rows).
    """

    mean: np.ndarray
    x: np.ndarray
    noise: np.ndarray
    model: ResidualModel
    seed: int
    groups: np.ndarray | None = None

    def chunk(self, b: int, n: int) -> np.ndarray:
        """The ``n`` responses (n × rows) of chunk ``b``, from the chunk's own stream."""
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(b,)))
        return self.mean + self.model.draw(rng, n, self.x, self.groups) * self.noise


def run_chunks(n_trials: int, work: Callable[[int, int, int], Any], progress: Progress | None = None) -> None:
    """Call ``work(b, start, stop)`` for every chunk of ``n_trials``, chunks side by side.

    ``work`` writes its own rows of the caller's outputs, so nothing depends on the order in which
    chunks finish; ``progress(done, n_trials)`` hears of each finished chunk.
    """
    keep_freed_memory()
    starts = list(enumerate(range(0, n_trials, CHUNK)))
    workers = _workers(len(starts))
    done = 0
    pool = ThreadPoolExecutor(max_workers=workers)
    work = _holding_one_blas_thread(work)
    try:
        with one_blas_thread():
            # a few chunks in flight, not all of them queued: Ctrl-C then waits for the running ones only
            pending: dict[Future, int] = {}
            queue = iter(starts)
            for b, s in itertools.islice(queue, 2 * workers):
                pending[pool.submit(work, b, s, min(s + CHUNK, n_trials))] = min(s + CHUNK, n_trials) - s
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for job in finished:
                    job.result()
                    done += pending.pop(job)
                    if progress is not None:
                        progress(done, n_trials)
                for b, s in itertools.islice(queue, len(finished)):
                    pending[pool.submit(work, b, s, min(s + CHUNK, n_trials))] = min(s + CHUNK, n_trials) - s
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # the chunks running finish; nothing new starts
        raise
    pool.shutdown(wait=True)


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse, before any work, a run whose results would take more than half the memory it may use.

    The memory it may use is the smaller of what the system has available and what the process's
    address-space limit (``ulimit -v``) leaves. ``fix`` says what to do instead.
    """
    budget = memory_available() / 2
    if nbytes > budget:
        raise OptionError(f"{what} would hold about {_size(nbytes)} in memory, more than half of the {_size(2 * budget)} "
                          f"available; {fix}")


def memory_available() -> float:
    """Bytes this process can still allocate: the system's available memory, within the address-space limit."""
    avail = _meminfo("MemAvailable") or float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        avail = min(avail, max(soft - (_status("VmSize") or 0.0), 0.0))
    return avail


def _meminfo(key: str) -> float | None:
    return _kib_field("/proc/meminfo", key)


def _status(key: str) -> float | None:
    return _kib_field("/proc/self/status", key)


def _kib_field(path: str, key: str) -> float | None:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _size(nbytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes:.0f} bytes"


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed memory rather than return it to the system (once per process).

    Every IRWLS iteration allocates several T x n temporaries (1.7 MB at 250 trials x 832 rows).
    With glibc's defaults each is a fresh mmap, or heap memory trimmed away as soon as it is freed,
    so its pages fault in again on first touch: a third of the simulation's time. Raising the mmap
    threshold to 32 MiB and the trim threshold to 256 MiB lets the process reuse those blocks; the
    cost is that up to that much freed memory stays with the process. No-op off glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    return bool(mallopt(M_TRIM_THRESHOLD, 256 << 20)) and bool(mallopt(M_MMAP_THRESHOLD, 32 << 20))


_reserved = [0]  # cores this process leaves to others (set by leave_cores)


def leave_cores(n: int) -> None:
    """Run the chunks of this process on ``n`` fewer threads than it has cores (at least one).

    For a process with a sibling that keeps ``n`` cores busy beside it: the report's forked child
    runs its trials while its parent draws the figures on a core of its own; a thread more than
    the cores left would take turns with the parent's drawing and slow it, when the parent's
    work is what the report waits for.
    """
    _reserved[0] = max(0, int(n))


def _workers(n_chunks: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n_chunks, cores - _reserved[0]))


def _holding_one_blas_thread(work: Callable[[int, int, int], Any]) -> Callable[[int, int, int], None]:
    # each chunk holds the one-thread BLAS too: after Ctrl-C or an error the running chunks finish on their own,
    # and the thread count must not be restored under them
    def held(b: int, start: int, stop: int) -> None:
        with one_blas_thread():
            work(b, start, stop)

    return held
