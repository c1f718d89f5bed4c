"""Every bad-input class of issue 12: one clear line, the right exit status, nothing left behind.

The CLI runs in a subprocess (its real stderr, its real tracebacks). A refusal must be exactly one
line on stderr starting with ``error:``, exit status 1 (2 for click's usage errors), no traceback
anywhere, and no new file in the working folder. The library must raise a
``PowerlawStatsError`` subclass, never numpy's, pandas', patsy's or Python's own exceptions.

No tolerances: these are yes/no properties. Three tests watch a process over time (Ctrl-C, an
oversized simulation, a 10,000-level factor); they are marked slow and give generous bounds
(Ctrl-C must end the run within INTERRUPT_S; the issue asks for 2 s where it took 50-58 s), and
they cap the child's address space (RLIMIT_AS) so that a run that grows without bound fails the
test instead of the machine.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from interrupt import INTERRUPT_S, as_at_a_terminal, interrupt
from refdata import DATA

import powerlaw_stats as ps
from powerlaw_stats.errors import PowerlawStatsError

CURVES = DATA / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*mix"
START_S = 6.0  # time to import, read and start simulating before the signal is sent
MEMORY_CAP = 3 * 2**30  # bytes of address space for the children of the slow tests


def run_cli(args: list[str], cwd: Path, cap: int | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    def limit():  # pragma: no cover - runs in the child
        if cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return subprocess.run([sys.executable, "-c", "from powerlaw_stats.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True, preexec_fn=limit, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, status: int = 1) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error:"), lines[0]
    assert proc.returncode == status, (proc.returncode, lines[0])
    return lines[0]


@pytest.fixture()
def work(tmp_path) -> Path:
    (tmp_path / "curves.csv").write_bytes(CURVES.read_bytes())
    return tmp_path


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# ----------------------------------------------------------------------------- output targets


def test_output_that_is_a_directory(work):
    (work / "out").mkdir()
    before = listing(work)
    proc = run_cli(["fit", "curves.csv", "-f", FORMULA, "--output", "out"], work)
    assert "out" in assert_one_line_error(proc)
    assert listing(work) == before


def test_output_where_nothing_can_be_written(work):
    if os.geteuid() == 0:  # root writes through permissions; /proc refuses new files to everyone
        target = "/proc/powerlaw-stats-test.json"
    else:
        ro = work / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = str(ro / "out.json")
    before = listing(work)
    proc = run_cli(["fit", "curves.csv", "-f", FORMULA, "--output", target], work)
    assert_one_line_error(proc)
    assert listing(work) == before


def test_plots_folder_that_is_an_existing_file(work):
    (work / "plots").write_text("not a folder")
    before = listing(work)
    proc = run_cli(["simulate", "curves.csv", "-f", FORMULA, "--trials", "20", "-q", "--plots", "plots"], work)
    assert "plots" in assert_one_line_error(proc)
    assert listing(work) == before and (work / "plots").read_text() == "not a folder"


def test_a_failed_run_leaves_no_new_files(work):
    # the plots folder and its PNGs used to be written before --output failed
    (work / "out").mkdir()
    before = listing(work)
    proc = run_cli(["simulate", "curves.csv", "-f", FORMULA, "--trials", "20", "-q", "--plots", "newplots",
                    "--output", "out"], work)
    assert_one_line_error(proc)
    assert listing(work) == before


# ----------------------------------------------------------------------------- the table


def test_non_numeric_value_in_a_numeric_column(work):
    table = pd.read_csv(CURVES)
    table["error"] = table["error"].astype(object)
    table.loc[3, "error"] = "oops"  # data row 4
    table.to_csv(work / "bad.csv", index=False)
    line = assert_one_line_error(run_cli(["fit", "bad.csv", "-f", FORMULA], work))
    assert "error" in line.split(":", 1)[1] and "oops" in line and "4" in line
    with pytest.raises(PowerlawStatsError):
        ps.fit(FORMULA, table)


def test_all_nan_response(work):
    table = pd.DataFrame({"y": [np.nan] * 6, "x": [1.0, 2, 3, 4, 5, 6]})
    table.to_csv(work / "nan.csv", index=False)
    line = assert_one_line_error(run_cli(["fit", "nan.csv", "-f", "y ~ x"], work))
    assert "y" in line and ("NA" in line or "missing" in line), line
    for method in ("ols", "huber", "bisquare", "mm"):
        with pytest.raises(PowerlawStatsError, match="y"):
            ps.fit("y ~ x", table, method=method)


@pytest.mark.parametrize("method", ["ols", "huber", "bisquare", "mm"])
@pytest.mark.parametrize("rows", [2, 3])
def test_no_more_rows_than_coefficients(method, rows):
    # 3 coefficients; huber/bisquare silently fitted 3 rows, mm raised LinAlgError, 2 rows gave math/zero-division errors
    data = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2], "x": [1.0, 2, 3, 4], "z": [3.0, 1, 4, 1]}).iloc[:rows]
    with pytest.raises(PowerlawStatsError, match="degrees of freedom|rows"):
        ps.fit("y ~ x + z", data, method=method)


def test_no_more_rows_than_coefficients_from_the_cli(work):
    pd.DataFrame({"y": [1.0, 2.1, 2.9], "x": [1.0, 2, 3], "z": [3.0, 1, 4]}).to_csv(work / "three.csv", index=False)
    for method in ("huber", "bisquare", "mm"):
        assert_one_line_error(run_cli(["fit", "three.csv", "-f", "y ~ x + z", "--method", method], work))


@pytest.mark.parametrize("kwargs", [
    {"data": 42},
    {"seed": "abc", "method": "mm"},
    {"weights": np.ones((6, 2))},
    {"data": [1, 2, 3]},
], ids=["data=42", "seed=abc", "2-D weights", "data=list"])
def test_library_arguments_of_the_wrong_kind(kwargs):
    data = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 5.1, 5.8], "x": [1.0, 2, 3, 4, 5, 6]})
    kwargs = {"data": data, **kwargs}
    with pytest.raises(PowerlawStatsError):
        ps.fit("y ~ x", **kwargs)


# ----------------------------------------------------------------------------- extreme values


@pytest.fixture()
def huge(work) -> Path:
    pd.DataFrame({"y": np.array([1.0, 2.1, 2.9, 4.2, 5.1, 5.8]) * 1e300, "x": [1.0, 2, 3, 4, 5, 6]}).to_csv(
        work / "huge.csv", index=False)
    pd.DataFrame({"y": np.array([1.0, 2.1, 2.9, 4.2, 5.1, 5.8]) * 1e-300, "x": [1.0, 2, 3, 4, 5, 6]}).to_csv(
        work / "tiny.csv", index=False)
    return work


def _strict_json(text: str) -> dict:
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("name", ["huge.csv", "tiny.csv"])
def test_json_output_writes_null_for_non_finite_numbers_and_says_so(huge, name):
    proc = run_cli(["fit", name, "-f", "y ~ x", "--format", "json"], huge)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    doc = _strict_json(proc.stdout)
    text = json.dumps(doc)
    # null by design, not a lost number: no test asked for, no weight type on an unweighted fit
    if "null" in text.replace('"breusch_pagan": null', "").replace('"weight_type": null', ""):
        assert any("null" in note or "finite" in note for note in doc["notes"]), doc["notes"]


def test_breusch_pagan_at_extreme_values(huge):
    for name in ("huge.csv", "tiny.csv"):
        bp = ps.breusch_pagan(ps.fit("y ~ x", huge / name))
        assert np.isnan(bp.pvalue) or 0.0 <= bp.pvalue <= 1.0
        # the statistic is scale invariant: y * 1e300 and y * 1e-300 give y's test
        plain = ps.breusch_pagan(ps.fit("y ~ x", pd.read_csv(huge / name).assign(y=lambda d: d.y / d.y.abs().max())))
        assert bp.statistic == pytest.approx(plain.statistic, rel=1e-9)
        if np.isnan(bp.statistic):
            assert np.isnan(bp.pvalue)  # was 1.0: a NaN statistic "accepting" the null
    proc = run_cli(["bptest", "huge.csv", "-f", "y ~ x", "--format", "json"], huge)
    if proc.returncode == 0:
        _strict_json(proc.stdout)
    else:
        assert_one_line_error(proc)


# ----------------------------------------------------------------------------- files


def test_truncated_gzip(work):
    packed = gzip.compress(CURVES.read_bytes())
    (work / "cut.csv.gz").write_bytes(packed[: len(packed) // 2])
    line = assert_one_line_error(run_cli(["fit", "cut.csv.gz", "-f", FORMULA], work))
    assert "cut.csv.gz" in line  # was only "Aborted."
    with pytest.raises(PowerlawStatsError):
        ps.fit(FORMULA, work / "cut.csv.gz")


def test_a_directory_given_as_data(work):
    (work / "runs.csv").mkdir()
    line = assert_one_line_error(run_cli(["fit", "runs.csv", "-f", FORMULA], work))
    assert "director" in line and "no such file" not in line, line


def test_a_missing_column_with_a_huge_name_is_not_echoed_whole(work):
    name = "Q" * 100_000
    line = assert_one_line_error(run_cli(["fit", "curves.csv", "-f", f"log_err ~ {name}"], work))
    assert len(line) < 500
    with pytest.raises(PowerlawStatsError) as err:
        ps.fit(f"log_err ~ {name}", CURVES)
    assert len(str(err.value)) < 500


# ----------------------------------------------------------------------------- click's usage errors


@pytest.mark.parametrize("args", [
    ["fit", "--bogus"],
    ["fit", "--level", "high"],
    ["plot"],  # --out is required
    ["no-such-command"],
], ids=["unknown option", "--level high", "missing required option", "unknown command"])
def test_usage_errors_are_one_line(work, args):
    line = assert_one_line_error(run_cli(args, work), status=2)
    assert "Usage" not in line


# ----------------------------------------------------------------------------- long runs


@pytest.mark.slow
def test_ctrl_c_stops_a_long_simulation_quickly_and_writes_nothing(work):
    before = listing(work)
    proc = subprocess.Popen([sys.executable, "-c", "from powerlaw_stats.cli import main; main()", "simulate", "curves.csv",
                             "-f", FORMULA, "--trials", "200000", "-q", "--output", "sim.json", "--plots", "figs"],
                            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_at_a_terminal)
    out, err = interrupt(proc, START_S, "simulation")
    assert_one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert listing(work) == before


@pytest.mark.slow
def test_a_simulation_too_large_for_memory_is_refused_or_runs_in_bounded_memory(work):
    # --trials 10000000 grew to 2 GiB in 120 s and ignored Ctrl-C
    before = listing(work)
    args = [sys.executable, "-c", "from powerlaw_stats.cli import main; main()", "simulate", "curves.csv", "-f", FORMULA,
            "--trials", "10000000", "-q", "--output", "sim.json"]

    def capped() -> None:
        as_at_a_terminal()
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    proc = subprocess.Popen(args, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=capped)
    try:
        out, err = proc.communicate(timeout=30)  # refused up front, with its estimated size
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # still running: in bounded memory, and it must still stop on Ctrl-C
        try:
            out, err = proc.communicate(timeout=3 * INTERRUPT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("an oversized simulation ignored Ctrl-C")
    assert_one_line_error(subprocess.CompletedProcess(args, proc.returncode, out, err))
    assert listing(work) == before


@pytest.mark.slow
def test_a_factor_with_ten_thousand_levels(work):
    # 20,000 rows: ran past 300 s at 7.6-10.6 GiB. Fit it in bounded memory and seconds, or refuse with the estimate.
    rng = np.random.default_rng(0)
    level = np.repeat(np.arange(10_000), 2)
    pd.DataFrame({"y": rng.normal(size=20_000) + level % 7, "x": rng.normal(size=20_000), "g": [f"g{v}" for v in level]}
                 ).to_csv(work / "levels.csv", index=False)
    started = time.monotonic()
    try:
        proc = run_cli(["fit", "levels.csv", "-f", "y ~ x + g"], work, cap=MEMORY_CAP, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the fit neither finished nor refused")
    assert time.monotonic() - started < 120
    if proc.returncode != 0:
        assert_one_line_error(proc)
    else:
        assert "Traceback" not in proc.stderr
