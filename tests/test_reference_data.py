"""Every reference JSON under tests/data has the R script that made it beside it."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def test_every_reference_json_has_its_generator():
    made_by_r = sorted(DATA.glob("*.R.json"))
    assert made_by_r, "no reference JSON found"
    for path in made_by_r:
        script = path.with_name(path.name.removesuffix(".json"))
        assert script.is_file(), f"{path.name} has no generator {script.name} beside it"
