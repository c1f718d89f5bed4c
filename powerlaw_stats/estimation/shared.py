"""Work that the batched fits of one simulation share, so that each piece is computed once.

A simulation fits chunk after chunk of responses on one design with several estimators. Some of
their work does not depend on the responses at all (the whitened design, its QR, the weighted
solver's column products, the diagonal of (X̃ᵀX̃)⁻¹), and some is the same for every estimator of a
chunk: least squares is the "ols" estimate and the start of every M-estimator, and Huber and
bisquare IRWLS start from the same residuals and the same first scale. A :class:`SharedWork`
remembers both kinds by name: the design's pieces for the whole run, under a lock since chunks
run on threads, and a chunk's pieces in the view that :meth:`SharedWork.for_chunk` gives that
chunk. Every piece is computed exactly as the estimator alone computes it, so sharing changes
no number.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any


class SharedWork:
    """A memo of named pieces: ``design`` ones for the whole run, ``chunk`` ones for one chunk of responses.

    Examples
    --------
    >>> run = SharedWork()
    >>> a, b = run.for_chunk(), run.for_chunk()
    >>> a.design("qr", lambda: "factored") is b.design("qr", lambda: "again")
    True
    >>> a.chunk("ls", lambda: 1), b.chunk("ls", lambda: 2)
    (1, 2)
    """

    def __init__(self, _design: dict | None = None, _lock: threading.Lock | None = None) -> None:
        self._design: dict[Hashable, Any] = {} if _design is None else _design
        self._lock = threading.Lock() if _lock is None else _lock
        self._chunk: dict[Hashable, Any] = {}

    def for_chunk(self) -> SharedWork:
        """A view for one chunk: the run's design pieces, and a memo of its own for the chunk's."""
        return SharedWork(self._design, self._lock)

    def design(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The run's piece ``key``, made by ``make()`` the first time any chunk asks for it."""
        with self._lock:  # held while making: the other thread would only make the same piece again
            if key not in self._design:
                self._design[key] = make()
            return self._design[key]

    def chunk(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The chunk's piece ``key``, made by ``make()`` the first time it is asked for (one thread per chunk)."""
        if key not in self._chunk:
            self._chunk[key] = make()
        return self._chunk[key]


class _OneBlasThread:
    """BLAS held to one thread while anyone holds it: set by the first holder, restored by the last.

    The report holds it around the trials and the numbers it computes beside them, the simulation
    engine around its chunks, a mixed-model fit around its optimisation; they nest, and run on
    different threads at once. Changing OpenBLAS's thread count while another thread is inside a
    BLAS call is unsafe (it resizes the thread pool under that call), so only the first entry and
    the last exit touch it, under a lock; everyone in between finds one thread already set.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._limits: Any = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                from threadpoolctl import threadpool_limits  # a dependency; imported at the first hold only

                self._limits = threadpool_limits(1, user_api="blas")
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    self._limits.restore_original_limits()
                    self._limits = None


one_blas_thread = _OneBlasThread()
one_blas_thread.__doc__ = """Run BLAS on one thread inside ``with one_blas_thread():`` (nested and concurrent holds share it).

The batched products here are small (p ~ 10 to 100 columns): BLAS threads cost more in
synchronisation than they save, and on a busy machine they made trials six times and mixed-model
cross-products 10 to 40 times slower.
"""
