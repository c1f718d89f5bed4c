"""Ctrl-C for a command under test: wait until it is busy, send SIGINT, and time how soon it exits."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

INTERRUPT_S = 5.0  # from SIGINT to exit; the target is 2 s, and a loaded CI machine needs room


def as_at_a_terminal() -> None:
    """``preexec_fn`` for a command that will get SIGINT: Ctrl-C raises KeyboardInterrupt in it, as at a terminal.

    A shell starts a background job (``cmd &``) with SIGINT ignored, its children inherit that,
    and Python installs its KeyboardInterrupt handler only where SIGINT is not ignored: without
    this, a test run started in the background sends Ctrl-C to a command that cannot hear it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(proc: subprocess.Popen, start_s: float, what: str) -> tuple[str, str]:
    """Send SIGINT to ``proc`` after ``start_s`` seconds; its stdout and stderr once it exits.

    Fails if ``proc`` (``what`` in the message) ended before the signal, or takes longer than
    :data:`INTERRUPT_S` to exit after it.
    """
    time.sleep(start_s)
    assert proc.poll() is None, f"the {what} ended before it could be interrupted"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=3 * INTERRUPT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"still running {3 * INTERRUPT_S:g} s after Ctrl-C")
    assert time.monotonic() - sent < INTERRUPT_S
    return out, err
