"""The README's usage examples run as written (from the repository root)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def cli_examples() -> list[str]:
    lines = [ln for b in blocks("bash") for ln in b.splitlines() if ln.startswith("powerlaw-stats ")]
    return [ln for ln in lines if "Quick start" not in ln]


@pytest.mark.parametrize("line", cli_examples())
def test_cli_example_runs(line):
    exe = Path(sys.executable).with_name("powerlaw-stats")
    args = shlex.split(line)
    args[0] = str(exe) if exe.exists() else "powerlaw-stats"
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()


@pytest.mark.parametrize("code", blocks("python"))
def test_python_example_runs(code, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out.strip()


def test_quick_start_is_two_lines():
    section = README.split("## Quick start", 1)[1]
    first = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    assert len(first.strip().splitlines()) == 2
