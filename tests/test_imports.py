"""`import powerlaw_stats` and a fit stay light: no torch, matplotlib, statsmodels.api or scipy."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ["torch", "matplotlib", "statsmodels.api", "scipy.stats", "scipy.special"]


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_is_light():
    assert loaded_after("import powerlaw_stats") == set()


def test_fit_path_is_light():
    code = ("import powerlaw_stats as ps\n"
            "r = ps.fit('log_err ~ I(log2(TS)-IXMin)*mix', method='huber', weights='w')\n"
            "ps.breusch_pagan(r); r.table(); r.to_dict()")
    assert loaded_after(code) == set()


def test_fit_command_loads_no_other_commands_modules():
    # the CLI registers every command, but only the one that runs imports its library module
    code = ("import sys\nfrom powerlaw_stats.cli import app\n"
            "print(' '.join(m for m in ('simulation', 'scaling', 'report', 'plots')"
            " if 'powerlaw_stats.' + m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_lazy_functions_survive_their_submodules_import():
    code = ("import powerlaw_stats as ps\nimport powerlaw_stats.scaling.plan, powerlaw_stats.simulation.simulate\n"
            "from powerlaw_stats.scaling.region import region\nimport powerlaw_stats.scaling.effect as e\n"
            "print(all(callable(f) and f.__name__ == n for n, f in "
            "[('plan', ps.plan), ('simulate', ps.simulate), ('region', ps.region), ('effect', ps.effect)]),"
            " {'plan', 'simulate', 'region', 'effect'} <= set(dir(ps)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_parquet_and_tsv_read_like_csv(tmp_path):
    import pandas as pd
    import pytest

    import powerlaw_stats as ps
    from powerlaw_stats.data.datasets import load_example

    pytest.importorskip("pyarrow")
    d = load_example()
    d.to_parquet(tmp_path / "t.parquet")
    d.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    f = "log_err ~ I(log2(TS)-IXMin)*mix"
    base = ps.fit(f, d).params
    for name in ["t.parquet", "t.tsv"]:
        pd.testing.assert_series_equal(ps.fit(f, tmp_path / name).params, base)
