"""One BLAS thread held by nested and concurrent holders (estimation.shared.one_blas_thread).

Tolerances: none; thread counts are integers. Changing OpenBLAS's thread count while another
thread is inside a BLAS call is unsafe, so only the first hold sets it and only the last restores it.
"""

from __future__ import annotations

import threading

from threadpoolctl import threadpool_info

from powerlaw_stats.estimation.shared import one_blas_thread


def blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_an_inner_hold_leaves_one_thread_and_the_last_restores_the_original():
    original = blas_threads()
    with one_blas_thread():
        assert all(n == 1 for n in blas_threads())
        with one_blas_thread():
            pass
        assert all(n == 1 for n in blas_threads())  # the inner exit did not restore
    assert blas_threads() == original


def test_a_hold_on_another_thread_ending_first_leaves_one_thread_until_the_last_hold_ends():
    # the report's shape: the main thread holds around the trials, the engine holds on the background thread
    # and ends first; its exit must not restore the thread count under the main thread's BLAS calls
    original = blas_threads()
    entered, release = threading.Event(), threading.Event()

    def worker():
        with one_blas_thread():
            entered.set()
            release.wait(10)

    with one_blas_thread():
        t = threading.Thread(target=worker)
        t.start()
        assert entered.wait(10)
        release.set()
        t.join(10)
        assert not t.is_alive() and all(n == 1 for n in blas_threads())
    assert blas_threads() == original
