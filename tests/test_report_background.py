"""The report's simulation beside the report (a forked process or a thread): results, errors, Ctrl-C, one progress bar.

Tolerances: none; the child or thread either gives the function's own value and error or it does not,
and a report is the same to the byte whichever ran its trials.
Waits for a thread are bounded (WAIT_S) so a regression fails instead of hanging; the CLI test
of Ctrl-C uses the shared bound (tests/interrupt.py, INTERRUPT_S).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import pytest
from interrupt import as_at_a_terminal, interrupt

from powerlaw_stats.errors import DataError, OptionError
from powerlaw_stats.report.background import Background, Forked, Steps, Stopped, can_fork

WAIT_S = 10.0
START_S = 8.0  # import, fit and start simulating before the signal is sent
RUNNERS = [Background, *([Forked] if can_fork() else [])]
forking = pytest.mark.skipif(not can_fork(), reason="the report forks on Linux only")


@pytest.mark.parametrize("runner", RUNNERS)
def test_the_value_and_the_progress_come_through(runner):
    calls = []
    job = runner(lambda n, progress: progress("counting", n, 2 * n) or n + 1, 41, progress=lambda *a: calls.append(a))
    with job:
        pass
    assert job.result() == 42 and calls == [("counting", 41, 82)]


@pytest.mark.parametrize("runner", RUNNERS)
def test_an_error_in_the_thread_is_raised_in_the_caller_as_it_is(runner):
    def fail(progress):
        raise DataError("simulation (normal residuals, design n): the design is singular")

    job = runner(fail, progress=None)
    with pytest.raises(DataError, match=r"^simulation \(normal residuals, design n\): the design is singular$"), job:
        job.result()
    job2 = runner(fail, progress=None)
    job2._done.wait(WAIT_S)
    with pytest.raises(DataError):
        job2.check()  # the caller hears of it between its own steps, before it waits


@pytest.mark.parametrize("runner", RUNNERS)
def test_the_thread_s_data_error_comes_before_the_caller_s_as_it_did_one_after_the_other(runner):
    def fail(progress):
        time.sleep(0.2)  # still running when the caller fails
        raise DataError("from the simulation")

    with pytest.raises(DataError, match="from the simulation"):
        with runner(fail, progress=None):
            raise OptionError("from the floor section")
    with pytest.raises(OptionError, match="from the floor section"):  # the thread succeeded: the caller's error stands
        with runner(lambda progress: 1, progress=None):
            raise OptionError("from the floor section")


def test_an_interruption_in_the_caller_stops_the_thread_at_its_next_tick():
    ticks = []

    def trials(progress):
        for i in range(10_000):
            progress("simulating", i, 10_000)
            ticks.append(i)
            time.sleep(0.001)
        return "finished"

    job = Background(trials, progress=None)
    with pytest.raises(KeyboardInterrupt), job:
        time.sleep(0.05)
        raise KeyboardInterrupt
    assert job._done.wait(WAIT_S) and isinstance(job._error, Stopped) and len(ticks) < 10_000


@forking
def test_an_interruption_in_the_caller_ends_the_child_at_once():
    ticks = []

    def trials(progress):
        for i in range(10**9):
            progress("simulating", i, 10**9)
            time.sleep(0.001)

    job = Forked(trials, progress=lambda *a: ticks.append(a))
    with pytest.raises(KeyboardInterrupt), job:
        while not ticks:  # the child is running
            time.sleep(0.01)
        raise KeyboardInterrupt
    assert job._done.wait(WAIT_S) and job._error is None  # stopped, not failed
    with pytest.raises(ChildProcessError):
        os.waitpid(job.pid, os.WNOHANG)  # ended and reaped: no zombie left


@forking
def test_a_child_that_dies_is_an_error_that_says_so():
    job = Forked(lambda progress: os.kill(os.getpid(), signal.SIGKILL), progress=None)
    with pytest.raises(RuntimeError, match=r"process ended without a result \(killed by signal 9\).*--trials 0"):
        job.result()


@forking
@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python 3.11+")
def test_a_bug_in_the_child_keeps_its_type_and_the_child_s_traceback():
    def bug(progress):
        return {}["missing"]

    with pytest.raises(KeyError) as caught:
        Forked(bug, progress=None).result()
    assert "In the report's simulation process" in caught.value.__notes__[0] and "in bug" in caught.value.__notes__[0]


@forking
def test_an_error_that_cannot_be_pickled_comes_back_as_its_words():
    class Local(Exception):  # a class pickle cannot find again
        pass

    def fail(progress):
        raise Local("odd")

    with pytest.raises(RuntimeError, match="Local: odd"):
        Forked(fail, progress=None).result()


@forking
def test_the_child_s_warnings_reach_the_parent():
    def warn(progress):
        warnings.warn("fewer trials converged than asked", UserWarning, stacklevel=1)
        return 1

    with pytest.warns(UserWarning, match="fewer trials converged"):
        assert Forked(warn, progress=None).result() == 1


@forking
def test_what_the_parent_buffered_is_written_once():
    code = ("import sys; from powerlaw_stats.report.background import Forked; sys.stdout.write('before'); "
            "print(Forked(lambda progress: ' after', progress=None).result())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "before after\n"


@forking
def test_the_report_is_the_same_whether_forked_or_threaded(monkeypatch):
    from powerlaw_stats.report import builder

    forked = builder.build_report(trials=30)
    monkeypatch.setattr(builder, "can_fork", lambda: False)
    threaded = builder.build_report(trials=30)
    assert forked.json() == threaded.json() and forked.html() == threaded.html()


@pytest.mark.parametrize("fork", [False, *([True] if can_fork() else [])])
def test_an_error_in_the_fits_beside_the_trials_stops_them_and_is_raised_at_once(monkeypatch, fork):
    # the robust fits run beside the simulation but come before it in the report: their error must not wait
    # for 200,000 trials per scenario to finish, nor give way to the simulation's error
    from powerlaw_stats.report import builder

    started = []

    def failing_fits(*args, **kwargs):
        started.append(True)
        raise DataError("bisquare: the design is singular")

    monkeypatch.setattr(builder, "can_fork", lambda: fork)
    monkeypatch.setattr(builder, "fit_all", failing_fits)
    jobs = []
    for name in ("Background", "Forked"):
        cls = getattr(builder, name)
        monkeypatch.setattr(builder, name, lambda *a, _cls=cls, **k: jobs.append(_cls(*a, **k)) or jobs[-1])
    with pytest.raises(DataError, match="bisquare: the design is singular"):
        builder.build_report(trials=200_000)
    assert started and len(jobs) == 1 and jobs[0]._done.wait(WAIT_S)  # stopped, and ended
    assert jobs[0]._error is None or isinstance(jobs[0]._error, Stopped)


def test_one_progress_bar_names_the_caller_s_step_beside_the_simulation():
    calls = []
    steps = Steps(lambda *a: calls.append(a))
    steps.simulation("simulating normal residuals, design n", 0, 40)
    steps.step("drawing the figures")
    steps.simulation("simulating normal residuals, design n", 10, 40)
    steps.step("")
    steps.simulation("simulating normal residuals, design n", 20, 40)
    steps.simulation("simulation done", 40, 40)
    steps.step("drawing the simulation's figures")
    assert calls == [
        ("simulating normal residuals, design n", 0, 40),
        ("simulating normal residuals, design n; meanwhile drawing the figures", 0, 40),
        ("simulating normal residuals, design n; meanwhile drawing the figures", 10, 40),
        ("simulating normal residuals, design n", 10, 40),
        ("simulating normal residuals, design n", 20, 40),
        ("simulation done", 40, 40),
        ("drawing the simulation's figures", 0, 1),
    ]


@pytest.mark.slow
def test_ctrl_c_stops_the_report_while_it_simulates_and_writes_nothing(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "from powerlaw_stats.cli import main; main()", "report", "--trials",
                             "200000", "-q", "--out", "rep"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=as_at_a_terminal)
    _, err = interrupt(proc, START_S, "report")
    assert proc.returncode != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_the_sections_numbers_beside_the_trials_run_on_one_blas_thread_and_come_out_the_same(monkeypatch):
    # dependence, floor fits and the backtest run beside the trials; with BLAS held to one thread around all of
    # them their numbers cannot depend on whether the engine's own one-thread hold had begun yet
    from threadpoolctl import threadpool_info

    from powerlaw_stats.report import builder

    seen: dict[str, list[int]] = {}

    def recording(name, fn):
        def wrapped(*args, **kwargs):
            seen.setdefault(name, []).extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
            return fn(*args, **kwargs)
        return wrapped

    for name in ("dependence_check", "_floor", "trust_check"):
        monkeypatch.setattr(builder, name, recording(name, getattr(builder, name)))
    first = builder.build_report(trials=30).json()
    assert set(seen) == {"dependence_check", "_floor", "trust_check"}
    assert all(n == 1 for counts in seen.values() for n in counts)
    assert builder.build_report(trials=30).json() == first


def test_leaving_cores_to_a_sibling_runs_fewer_chunk_threads_never_none(monkeypatch):
    from powerlaw_stats.simulation import engine

    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(engine, "_reserved", [0])
    assert engine._workers(8) == 4
    engine.leave_cores(1)
    assert engine._workers(8) == 3 and engine._workers(2) == 2
    engine.leave_cores(9)
    assert engine._workers(8) == 1


@forking
def test_the_forked_child_leaves_its_parent_a_core():
    from powerlaw_stats.simulation import engine

    def workers(progress):
        engine.leave_cores(1)
        return engine._workers(1000)

    cores = len(os.sched_getaffinity(0))
    assert Forked(workers, progress=None).result() == max(1, cores - 1) and engine._workers(1000) == cores
