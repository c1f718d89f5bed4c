"""The report's simulation in a thread of its own, while the report draws what does not need it.

The figures are Python drawing on one core; the simulation's trials are numpy, which releases the
GIL, on a pool of threads. Run one after the other they leave a core idle; :class:`Background`
runs the trials beside the figures and :class:`Steps` keeps one progress bar for both. Nothing
else changes: the trials are seeded by scenario and chunk, so they give the same numbers in any
thread, and an error in either place reaches the caller as it would have one after the other.
The sections' own numbers (the dependence test, the floor's law fits, the backtest) run beside the
trials too: the report holds BLAS to one thread from before the trials start until all of them are
done (the engine does so for the whole process while trials run, and threaded BLAS sums dot
products in another order), so those numbers do not depend on which thread gets there first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import PowerlawStatsError
from .check import Progress


class Stopped(BaseException):  # noqa: N818 - not an error: the caller asked the trials to stop
    """Raised in the background thread at its next progress tick once the caller stops it (Ctrl-C, an error)."""


class Background:
    """``fn(*args, progress)`` in a daemon thread: its result or error through :meth:`result`, and a stop.

    ``progress`` is ``(what, done, total)``; every call checks the stop flag first, so a stopped
    simulation ends after the chunk of trials it is fitting (the engine starts no other). Used as
    a context manager around the caller's own work: an interruption or a bug there stops the
    thread; a :class:`~powerlaw_stats.errors.PowerlawStatsError` there waits for the thread and
    raises the thread's error instead when it has one, since the work it ran came first.

    Examples
    --------
    >>> job = Background(lambda n, progress: progress("counting", n, n) or n * 2, 21, progress=None)
    >>> with job:
    ...     pass
    >>> job.result()
    42
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, progress: Progress | None) -> None:
        self._stop, self._done = threading.Event(), threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._progress = progress
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="report-background", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._value = fn(*args, self._tick)
        except BaseException as exc:  # noqa: BLE001 - kept and raised in the caller's thread
            self._error = exc
        finally:
            self._done.set()

    def _tick(self, what: str, done: int, total: int) -> None:
        if self._stop.is_set():
            raise Stopped
        if self._progress is not None:
            self._progress(what, done, total)

    @property
    def done(self) -> bool:
        """Whether the thread has ended (with a value or an error)."""
        return self._done.is_set()

    def check(self) -> None:
        """Raise the thread's error now if it has already failed (so the caller stops drawing for nothing)."""
        if self._done.is_set() and self._error is not None:
            raise self._error

    def result(self) -> Any:
        """Wait for the thread (Ctrl-C still interrupts) and return its value or raise its error."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value

    def __enter__(self) -> Background:
        """The caller's work beside the thread."""
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        """Stop the thread after an interruption or a bug; after a data error, raise the thread's error first."""
        if exc is None:
            return
        try:
            if isinstance(exc, PowerlawStatsError):
                self.result()  # the simulation came first: its error, when it has one, is the one to report
        finally:
            self._stop.set()  # a no-op once the thread has ended


class Steps:
    """One progress callback for the background simulation and the caller's steps beside it.

    While the simulation runs the bar counts its trials and names the caller's step too ("...;
    meanwhile drawing the figures"); before and after, the caller's steps show as they come.
    Calls from both threads go through one lock, so the bar sees them in order.
    """

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._sim: tuple[str, int, int] | None = None
        self._step = ""

    def simulation(self, what: str, done: int, total: int) -> None:
        """The background simulation's ``progress``."""
        with self._lock:
            self._sim = None if what == "simulation done" else (what, done, total)
            self._emit(self._beside(what), done, total)

    def step(self, what: str, done: int = 0, total: int = 1) -> None:
        """The caller's ``progress``: a step of its own ("" once it only waits for the simulation)."""
        with self._lock:
            self._step = what
            if self._sim is not None:
                sim_what, sim_done, sim_total = self._sim
                self._emit(self._beside(sim_what), sim_done, sim_total)
            elif what:
                self._emit(what, done, total)

    def _beside(self, what: str) -> str:
        return f"{what}; meanwhile {self._step}" if self._step else what

    def _emit(self, what: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(what, done, total)
