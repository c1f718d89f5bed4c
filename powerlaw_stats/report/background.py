"""The report's simulation beside the rest of the report: in a forked process, or a thread of its own.

The figures are Python drawing on one core; the simulation's trials are numpy on a pool of
threads. Run one after the other they leave a core idle. Where the system forks (Linux),
:class:`Forked` runs the trials and draws their panels in a child process forked from the
report's own, so neither waits for the other's GIL; elsewhere :class:`Background` runs the
trials in a thread (numpy releases the GIL in the products that dominate) and the caller draws
the panels. :class:`Steps` keeps one progress bar for both. Nothing else changes: the trials are
seeded by scenario and chunk, so they give the same numbers in any process or thread, and an
error in either place reaches the caller as it would have one after the other.
The sections' own numbers (the dependence test, the floor's law fits, the backtest) run beside the
trials too: the report holds BLAS to one thread from before the trials start until all of them are
done (the engine does so for the whole process while trials run, and threaded BLAS sums dot
products in another order), so those numbers do not depend on which runs first.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import IO, Any

from ..errors import PowerlawStatsError
from .check import Progress


class Stopped(BaseException):  # noqa: N818 - not an error: the caller asked the trials to stop
    """Raised in the background thread at its next progress tick once the caller stops it (Ctrl-C, an error)."""


class Job:
    """The report's simulation job, run in a thread (:class:`Background`) or a forked child (:class:`Forked`).

    Its value or error through :meth:`result`, a :meth:`stop`, and a context manager around the
    caller's own work beside it: an interruption or a bug there stops the job; a
    :class:`~powerlaw_stats.errors.PowerlawStatsError` there waits for the job and raises the job's
    error instead when it has one, since the work it runs came first — unless the caller's work ran
    in :meth:`before`, whose errors stop the job and stand.
    """

    def __init__(self) -> None:
        self._done, self._stopped = threading.Event(), threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def stop(self) -> None:  # pragma: no cover - every job says how it stops
        """End the job (a no-op once it has ended)."""
        raise NotImplementedError

    @property
    def done(self) -> bool:
        """Whether the job has ended (with a value or an error)."""
        return self._done.is_set()

    def check(self) -> None:
        """Raise the job's error now if it has already failed (so the caller stops drawing for nothing)."""
        if self._done.is_set() and self._error is not None:
            raise self._error

    def result(self) -> Any:
        """Wait for the job (Ctrl-C still interrupts) and return its value or raise its error."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value

    @contextlib.contextmanager
    def before(self) -> Iterator[None]:
        """The caller's work that comes before the job's in the report's order, run beside it.

        An error there is the first the report meets: it stops the job and is the one raised.
        """
        try:
            yield
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Job:
        """The caller's work beside the job."""
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        """Stop the job after an interruption or a bug; after a data error, raise the job's error first."""
        if exc is None:
            return
        try:
            if isinstance(exc, PowerlawStatsError) and not self._stopped.is_set():
                self.result()  # the simulation came first: its error, when it has one, is the one to report
        finally:
            self.stop()


class Background(Job):
    """``fn(*args, progress)`` in a daemon thread: a :class:`Job`.

    ``progress`` is ``(what, done, total)``; every call checks the stop flag first, so a stopped
    simulation ends after the chunk of trials it is fitting (the engine starts no other).

    Examples
    --------
    >>> job = Background(lambda n, progress: progress("counting", n, n) or n * 2, 21, progress=None)
    >>> with job:
    ...     pass
    >>> job.result()
    42
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, progress: Progress | None) -> None:
        super().__init__()
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
        if self._stopped.is_set():
            raise Stopped
        if self._progress is not None:
            self._progress(what, done, total)

    def stop(self) -> None:
        """Stop the thread at its next progress tick (a no-op once it has ended)."""
        self._stopped.set()


def can_fork() -> bool:
    """Whether :class:`Forked` may run here: Linux only.

    macOS forks too, but a forked child may not use the system frameworks its parent loaded
    (Accelerate's BLAS among them), and Windows does not fork.
    """
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class Forked(Job):
    """``fn(*args, progress)`` in a child process forked from this one: a :class:`Job`.

    The child starts with everything the parent has built (imports, data, the simulation's plan),
    so nothing is pickled on the way in; its progress, its warnings and then its value or error
    come back pickled through a pipe, read by a thread of the parent that calls ``progress``.
    The child ignores Ctrl-C and dies with the parent: the parent decides when it stops
    (:meth:`stop`, on an interruption or a bug in the caller's work), and a child left behind by
    a killed parent does not run on. It never writes to the terminal and leaves with
    :func:`os._exit`, so the parent's buffers and exit handlers run once, in the parent.

    Examples
    --------
    >>> import os
    >>> with Forked(lambda progress: os.getpid(), progress=None) as job:
    ...     pass
    >>> job.result() != os.getpid()  # computed in the child
    True
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, progress: Progress | None) -> None:
        super().__init__()
        self._progress = progress
        self._reaping, self._reaped = threading.Lock(), False
        self.seconds = self.cpu_seconds = 0.0  # the child's wall and CPU time (user + system), once it has ended
        for stream in (sys.stdout, sys.stderr):  # what the parent has buffered must not be written twice
            with contextlib.suppress(Exception):
                stream.flush()
        read, write = os.pipe()
        parent, self._started = os.getpid(), time.perf_counter()
        with warnings.catch_warnings():
            # Python 3.12+ warns of fork in a process with threads; ours are idle pools (BLAS, Arrow, a progress bar)
            # whose libraries reset themselves in the child, and the child takes no lock they hold
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child's lines run in the child only
            os.close(read)
            _child(fn, args, write, parent)
        os.close(write)
        self._reader = threading.Thread(target=self._read, args=(read,), name="report-forked", daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        ended = False
        try:
            with os.fdopen(fd, "rb") as pipe:
                while not ended:
                    ended = self._take(pickle.load(pipe))
        except (EOFError, pickle.UnpicklingError, OSError):
            pass
        finally:
            status = self._reap()
            if not ended and not self._stopped.is_set():
                self._error = RuntimeError(f"the report's simulation process ended without a result ({status}); "
                                           "run the report again, or with --trials 0 to leave the simulation out")
            self._done.set()

    def _take(self, message: tuple) -> bool:
        """Act on one message from the child; True once it has sent its value or error."""
        kind, *body = message
        if kind == "progress":
            if self._progress is not None and not self._stopped.is_set():
                self._progress(*body)
        elif kind == "warning":
            text, category, filename, lineno = body
            warnings.warn_explicit(text, category, filename, lineno)
        elif kind == "value":
            self._value = body[0]
        else:
            self._error = body[0]
        return kind in ("value", "error")

    def _reap(self) -> str:
        """Wait for the child to end, keep its time, and say how it ended, in words."""
        try:
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped: its pid is still ours
            with self._reaping:  # so that stop() never signals a pid the system has given to another process
                self._reaped = True
                _, status, usage = os.wait4(self.pid, 0)
        except ChildProcessError:
            return "exit status unknown"
        self.seconds, self.cpu_seconds = time.perf_counter() - self._started, usage.ru_utime + usage.ru_stime
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit status {os.waitstatus_to_exitcode(status)}"

    def stop(self) -> None:
        """End the child now, whatever it is doing; a no-op once it has ended."""
        self._stopped.set()
        with self._reaping, contextlib.suppress(ProcessLookupError):
            if not self._reaped:
                os.kill(self.pid, signal.SIGKILL)


def _child(fn: Callable[..., Any], args: tuple, fd: int, parent: int) -> None:  # pragma: no cover - runs in the child
    """The forked child: run ``fn``, send what it says and its value or error through ``fd``, and leave."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C reaches the parent, which stops us
        _die_with(parent)
        # the parent's streams may be a terminal it is drawing a progress bar on, or a notebook's, served by a
        # thread the child does not have: whatever the child has to say goes through the pipe
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - closed by os._exit
        with os.fdopen(fd, "wb") as pipe:
            code = _serve(fn, args, pipe)
    finally:
        os._exit(code)


def _serve(fn: Callable[..., Any], args: tuple, pipe: IO[bytes]) -> int:  # pragma: no cover - runs in the child
    def send(message: tuple) -> None:
        pickle.dump(message, pipe, protocol=pickle.HIGHEST_PROTOCOL)
        pipe.flush()

    def tick(what: str, done: int, total: int) -> None:
        send(("progress", what, done, total))

    showwarning = warnings.showwarning
    warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: send(
        ("warning", str(message), category, filename, lineno))
    try:
        value = fn(*args, tick)
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it
        send(("error", _portable(exc)))
        return 1
    finally:
        warnings.showwarning = showwarning
    send(("value", value))
    return 0


def _portable(exc: BaseException) -> BaseException:  # pragma: no cover - runs in the child
    """``exc`` as the parent can unpickle it; a bug keeps the child's traceback as a note."""
    add_note = getattr(exc, "add_note", None)  # Python 3.11+
    if add_note is not None and not isinstance(exc, PowerlawStatsError):
        add_note("In the report's simulation process:\n" + "".join(traceback.format_exception(exc)).rstrip())
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - an exception that does not survive pickling comes back as its words
        kind = PowerlawStatsError if isinstance(exc, PowerlawStatsError) else RuntimeError
        return kind(f"{type(exc).__name__}: {exc}")
    return exc


def _die_with(parent: int) -> None:  # pragma: no cover - runs in the child
    """Ask Linux to kill this process when its parent dies (``PR_SET_PDEATHSIG``), or leave if it has already."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


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
