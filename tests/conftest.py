"""Hooks for the whole test run."""

from __future__ import annotations

import faulthandler
import sys

import pytest


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Keep a fault handler on while the interpreter shuts down, after pytest's own has been turned off.

    What crashes after the last test (a library's native thread or destructor at exit) would
    otherwise end the run as a bare "Segmentation fault" with every test passed and no stack.
    """
    if sys.__stderr__ is not None and not faulthandler.is_enabled():
        faulthandler.enable(file=sys.__stderr__, all_threads=True)
