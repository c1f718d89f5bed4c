"""The examples in the core's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "powerlaw_stats.norms", "powerlaw_stats.estimators", "powerlaw_stats.inference", "powerlaw_stats.diagnostics",
    "powerlaw_stats.formula", "powerlaw_stats.data", "powerlaw_stats.results", "powerlaw_stats.fitting",
    "powerlaw_stats.distributions", "powerlaw_stats.datasets", "powerlaw_stats.datasets.synthetic", "powerlaw_stats.files",
    "powerlaw_stats.expressions", "powerlaw_stats.mm", "powerlaw_stats.plots",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
