"""Awkward and bad inputs beyond issue 12's list, tried as a new user would: odd CSV files and
encodings, odd names, odd formulas, odd options, extreme values.

Each case says what must happen:
- "ok": the command succeeds (exit 0, no traceback) — R or common sense accepts the input;
- "error": exactly one line on stderr starting with ``error:``, exit 1 (2 for click's own type
  errors, such as a number option given a word), no traceback, no new file;
- "ok or error": either, but never a traceback or a half-written file;
- "finite or error": as "ok or error", and a success (asked for as JSON) gives every finite
  estimate a finite standard error: a fit whose estimates are numbers but whose SEs overflowed to
  infinity (t = 0, p = 1) is a silent wrong answer.
``expect_text`` (when given) must appear in the error line (case-insensitive), e.g. the column
the message has to name; ``expect_re`` is a pattern it must match (row numbers are 1-based: the
first data row is row 1). The CLI runs in a subprocess; a few library calls run in process
and must raise PowerlawStatsError (or succeed) rather than numpy/pandas/patsy exceptions.
No tolerances: yes/no properties, and one numeric check (a logical response fits as 0/1, R's
lm) at 1e-12.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import PowerlawStatsError

BASE = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 5.1, 5.8, 7.2, 7.9], "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
                     "z": [3.0, 1, 4, 1, 5, 9, 2, 6], "g": list("aabbabab")})


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    expect: str  # "ok" | "error" | "ok or error"
    files: dict = field(default_factory=dict)  # name -> bytes written before the run
    expect_text: str = ""
    status: int = 1
    expect_re: str = ""  # a pattern the error line must match, e.g. a 1-based row number


def csv(frame: pd.DataFrame, **kwargs) -> bytes:
    return frame.to_csv(index=False, **kwargs).encode()


def text(s: str) -> bytes:
    return s.encode()


ONE_LEVEL = BASE.assign(g="a")
WITH_NA_X = BASE.assign(x=np.nan)
INF_ROW = BASE.astype({"x": object}).copy()
INF_ROW.loc[2, "x"] = "inf"
TYPO = BASE.astype({"x": object}).copy()
TYPO.loc[4, "x"] = "5,0"
KEYWORD = BASE.rename(columns={"z": "class"})
DOTTED = BASE.rename(columns={"z": "z.value"})
SPACED = BASE.rename(columns={"z": "z value"})
UNICODE = BASE.rename(columns={"z": "température", "x": "größe"})
BOOL = BASE.assign(flag=[True, False] * 4)
BOOL_Y = BASE.assign(y=[True, False, True, True, False, True, False, True])
CONST = BASE.assign(c=2.0)
COLLINEAR = BASE.assign(x2=BASE["x"] * 2)
HUGE = BASE.assign(y=BASE["y"] * 1e307)
TINY_W = BASE.assign(w=[1e-320] * 8)

CASES: dict[str, Case] = {
    # files and their encodings
    "empty file": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": b""}, "empty"),
    "header only": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": b"y,x\n"}, "no data rows"),
    "blank lines only": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": b"\n\n\n"}),
    "single data row": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": b"y,x\n1,2\n"}),
    "utf-8 BOM": Case(("fit", "d.csv", "-f", "y ~ x"), "ok", {"d.csv": b"\xef\xbb\xbf" + csv(BASE)}),
    "latin-1 bytes": Case(("fit", "d.csv", "-f", "y ~ x"), "ok or error",
                          {"d.csv": csv(BASE.assign(g="café")).decode().encode("latin-1")}),
    "utf-16 file": Case(("fit", "d.csv", "-f", "y ~ x"), "ok or error", {"d.csv": csv(BASE).decode().encode("utf-16")}),
    "semicolon separated": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": csv(BASE, sep=";")}, "y"),
    "tsv with commas": Case(("fit", "d.tsv", "-f", "y ~ x"), "error", {"d.tsv": csv(BASE)}, "y"),
    "parquet that is a csv": Case(("fit", "d.parquet", "-f", "y ~ x"), "error", {"d.parquet": csv(BASE)}, "d.parquet"),
    "binary garbage": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": bytes(range(256)) * 8}),
    "no extension": Case(("fit", "data", "-f", "y ~ x"), "error", {"data": csv(BASE)}, "data"),
    "ragged rows": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": b"y,x\n1,2\n3,4,5,6\n5,6\n"}),
    "trailing commas": Case(("fit", "d.csv", "-f", "y ~ x"), "ok", {"d.csv": text(csv(BASE).decode().replace("\n", ",\n"))}),
    "duplicate column names": Case(("fit", "d.csv", "-f", "y ~ x"), "error",
                                   {"d.csv": text("y,x,x\n" + "".join(f"{a},{b},{c}\n" for a, b, c in
                                                                      zip(BASE.y, BASE.x, BASE.z)))}, "x"),
    "path with spaces": Case(("fit", "my data/the runs.csv", "-f", "y ~ x"), "ok", {"my data/the runs.csv": csv(BASE)}),
    "unicode path": Case(("fit", "données/essai.csv", "-f", "y ~ x"), "ok", {"données/essai.csv": csv(BASE)}),
    "gzip that is not gzip": Case(("fit", "d.csv.gz", "-f", "y ~ x"), "error", {"d.csv.gz": csv(BASE)}, "d.csv.gz"),
    # names
    "unicode column names": Case(("fit", "d.csv", "-f", "y ~ größe + température"), "ok", {"d.csv": csv(UNICODE)}),
    "column name with a space, quoted": Case(("fit", "d.csv", "-f", 'y ~ x + Q("z value")'), "ok", {"d.csv": csv(SPACED)}),
    "dotted name unquoted (R style)": Case(("fit", "d.csv", "-f", "y ~ x + z.value"), "ok or error",
                                           {"d.csv": csv(DOTTED)}, "z.value"),
    "python keyword as a column": Case(("fit", "d.csv", "-f", "y ~ x + class"), "ok or error",
                                       {"d.csv": csv(KEYWORD)}, "class"),
    # formulas
    "intercept only": Case(("fit", "d.csv", "-f", "y ~ 1"), "ok", {"d.csv": csv(BASE)}),
    "no coefficients": Case(("fit", "d.csv", "-f", "y ~ 0"), "error", {"d.csv": csv(BASE)}),
    "one-sided formula": Case(("fit", "d.csv", "-f", "~ x"), "error", {"d.csv": csv(BASE)}, "response"),
    "two tildes": Case(("fit", "d.csv", "-f", "y ~ x ~ z"), "error", {"d.csv": csv(BASE)}),
    "unbalanced parenthesis": Case(("fit", "d.csv", "-f", "y ~ log(x"), "error", {"d.csv": csv(BASE)}),
    "unknown function": Case(("fit", "d.csv", "-f", "y ~ open(x)"), "error", {"d.csv": csv(BASE)}, "open"),
    "factor response": Case(("fit", "d.csv", "-f", "g ~ x"), "error", {"d.csv": csv(BASE)}, "g"),
    "logical response (R fits 0/1)": Case(("fit", "d.csv", "-f", "y ~ x"), "ok", {"d.csv": csv(BOOL_Y)}),
    "logical regressor": Case(("fit", "d.csv", "-f", "y ~ x + flag"), "ok", {"d.csv": csv(BOOL)}),
    "factor with one level": Case(("fit", "d.csv", "-f", "y ~ x + g"), "error", {"d.csv": csv(ONE_LEVEL)}, "g"),
    "regressor all NA": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": csv(WITH_NA_X)}, "x"),
    "huber on a constant column": Case(("fit", "d.csv", "-f", "y ~ x + c", "--method", "huber"), "error",
                                       {"d.csv": csv(CONST)}, "c"),
    "mm on collinear columns": Case(("fit", "d.csv", "-f", "y ~ x + x2", "--method", "mm"), "error",
                                    {"d.csv": csv(COLLINEAR)}, "x2"),
    "inf in a regressor": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": csv(INF_ROW)}, "x",
                               expect_re=r"rows?\D{0,3}3\b"),
    "decimal comma typo in a numeric column": Case(("fit", "d.csv", "-f", "y ~ x"), "error", {"d.csv": csv(TYPO)}, "5,0"),
    "response near the largest double": Case(("fit", "d.csv", "-f", "y ~ x", "--format", "json"), "finite or error",
                                             {"d.csv": csv(HUGE)}),
    "weights near the smallest double": Case(("fit", "d.csv", "-f", "y ~ x", "--weights", "w", "--format", "json"),
                                             "finite or error", {"d.csv": csv(TINY_W)}),
    # options
    "where keeps no rows": Case(("fit", "d.csv", "-f", "y ~ x", "--where", "x > 100"), "error", {"d.csv": csv(BASE)}, "no rows"),
    "where syntax error": Case(("fit", "d.csv", "-f", "y ~ x", "--where", "x >"), "error", {"d.csv": csv(BASE)}),
    "where unknown column": Case(("fit", "d.csv", "-f", "y ~ x", "--where", "q > 1"), "error", {"d.csv": csv(BASE)}, "q"),
    "let without a value": Case(("fit", "d.csv", "-f", "y ~ x", "--let", "k="), "error", {"d.csv": csv(BASE)}),
    "weights of strings": Case(("fit", "d.csv", "-f", "y ~ x", "--weights", "g"), "error", {"d.csv": csv(BASE)}, "g"),
    "weights all zero": Case(("fit", "d.csv", "-f", "y ~ x", "--weights", "0*x"), "error", {"d.csv": csv(BASE)}, "zero"),
    "weights infinite": Case(("fit", "d.csv", "-f", "y ~ x", "--weights", "1/(x-1)"), "error", {"d.csv": csv(BASE)},
                             expect_re=r"rows?\D{0,3}1\b"),
    "level above one": Case(("fit", "d.csv", "-f", "y ~ x", "--level", "1.5"), "error", {"d.csv": csv(BASE)}, "level"),
    "level a word": Case(("fit", "d.csv", "-f", "y ~ x", "--level", "high"), "error", {"d.csv": csv(BASE)}, status=2),
    "maxit zero": Case(("fit", "d.csv", "-f", "y ~ x", "--method", "huber", "--maxit", "0"), "error", {"d.csv": csv(BASE)}),
    "negative acc": Case(("fit", "d.csv", "-f", "y ~ x", "--method", "huber", "--acc", "-1"), "error", {"d.csv": csv(BASE)}),
    "tuning nan": Case(("fit", "d.csv", "-f", "y ~ x", "--method", "huber", "--tuning", "nan"), "error", {"d.csv": csv(BASE)}),
    "unknown cluster column": Case(("fit", "d.csv", "-f", "y ~ x", "--cluster", "run"), "error", {"d.csv": csv(BASE)}, "run"),
    "a single cluster": Case(("fit", "d.csv", "-f", "y ~ x", "--cluster", "g"), "error", {"d.csv": csv(ONE_LEVEL)}, "cluster"),
    "HC3 with huber": Case(("fit", "d.csv", "-f", "y ~ x", "--method", "huber", "--vcov", "HC3"), "error", {"d.csv": csv(BASE)}),
    "bootstrap of one": Case(("fit", "d.csv", "-f", "y ~ x", "--bootstrap", "1"), "error", {"d.csv": csv(BASE)}, "bootstrap"),
    "unknown format": Case(("fit", "d.csv", "-f", "y ~ x", "--format", "xml"), "error", {"d.csv": csv(BASE)}, "format"),
    "output folder missing": Case(("fit", "d.csv", "-f", "y ~ x", "--output", "nowhere/out.txt"), "error",
                                  {"d.csv": csv(BASE)}, "nowhere"),
    "bptest with intercept only": Case(("bptest", "d.csv", "-f", "y ~ 1"), "ok or error", {"d.csv": csv(BASE)}),
    "simulate zero trials": Case(("simulate", "d.csv", "-f", "y ~ x", "--trials", "0", "-q"), "error", {"d.csv": csv(BASE)}),
    "plot with an unknown kind": Case(("plot", "d.csv", "-f", "y ~ x", "--kind", "pie", "--out", "p.png"), "error",
                                      {"d.csv": csv(BASE)}, "pie"),
}


def run(case: Case, folder: Path) -> subprocess.CompletedProcess:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return subprocess.run([sys.executable, "-c", "from powerlaw_stats.cli import main; main()", *case.args], cwd=folder,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", sorted(CASES))
def test_awkward_input(tmp_path, name):
    case = CASES[name]
    proc = run(case, tmp_path)
    before = set(case.files) | {str(Path(n).parent) for n in case.files if Path(n).parent != Path(".")}
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-1500:]
    if case.expect == "ok" or (case.expect in ("ok or error", "finite or error") and proc.returncode == 0):
        assert proc.returncode == 0, proc.stderr[-1500:]
        if case.expect == "finite or error":
            rows = json.loads(proc.stdout)["coefficients"]
            bad = [r["term"] for r in rows if _finite(r["estimate"]) and not _finite(r["std_error"])]
            assert not bad, f"finite estimates with infinite or missing SEs: {bad}"
        return
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr[-1500:]
    assert proc.returncode == case.status, lines
    assert case.expect_text.lower() in lines[0].lower(), lines[0]
    assert re.search(case.expect_re, lines[0]), lines[0]
    left = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")} - before
    assert not left, left


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and np.isfinite(value)


# ----------------------------------------------------------------------------- library calls


def test_logical_response_fits_as_zero_one_like_r():
    res = ps.fit("y ~ x", BOOL_Y)
    ref = ps.fit("y ~ x", BOOL_Y.assign(y=BOOL_Y["y"].astype(float)))
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-12)


def test_multiindex_columns_are_refused_in_one_line():
    frame = BASE.copy()
    frame.columns = pd.MultiIndex.from_tuples([("a", c) for c in frame.columns])
    with pytest.raises(PowerlawStatsError):
        ps.fit("y ~ x", frame)


def test_duplicate_column_names_in_a_frame_are_refused():
    frame = pd.concat([BASE[["y", "x"]], BASE[["z"]].rename(columns={"z": "x"})], axis=1)
    with pytest.raises(PowerlawStatsError, match="x"):
        ps.fit("y ~ x", frame)


def test_weights_series_with_another_index_is_refused_or_aligned():
    w = pd.Series(np.arange(1.0, 9.0), index=np.arange(100, 108))
    try:
        res = ps.fit("y ~ x", BASE, weights=w)
    except PowerlawStatsError:
        return
    ref = ps.fit("y ~ x", BASE, weights=np.arange(1.0, 9.0))
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-12)


@pytest.mark.parametrize("factor", [1e300, 1e-300])
def test_a_regressor_in_extreme_units_is_not_silently_aliased(factor):
    # x * 1e300 made the column norm overflow: the slope came back NaN ("aliased") with no word said
    scaled = BASE.assign(x=BASE["x"] * factor)
    try:
        res = ps.fit("y ~ x", scaled)
    except PowerlawStatsError:
        return
    ref = ps.fit("y ~ x", BASE)
    assert res.aliased == ()
    np.testing.assert_allclose(res.params["x"] * factor, ref.params["x"], rtol=1e-9)
    np.testing.assert_allclose(res.tvalues.to_numpy(), ref.tvalues.to_numpy(), rtol=1e-9)
