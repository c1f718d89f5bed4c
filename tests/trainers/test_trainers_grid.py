"""The grid end to end: spec errors at the CLI, resume after kill -9, torn lines, a plugged-in
trainer, worker processes, the lock. Row bookkeeping is compared exactly (sets of keys)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainers.backends import LocalBackend
from trainers.cli import app
from trainers.errors import ResultsError
from trainers.grid import ResultsFile, expand, parse_spec, run_grid

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
POLL = 0.02  # seconds between looks at the results file while waiting to kill
GIVE_UP = 300  # seconds: only guards against a hung child, never a performance limit


def write_spec(path: Path, cifar, cinic, grid: str = "", train: str = "") -> Path:
    path.write_text(f"""
[data]
cifar10 = "{cifar.root}"
cinic10 = "{cinic.root}"
[grid]
train_sets = ["cifar10"]
eval_sets = ["cifar10", "cinic10"]
widths = [16]
mixup = [false, true]
n_splits = [1, 2]
min_trials = 2
{grid}
[train]
epochs = 0
min_steps = 3
batch_size = 32
lr = 0.05
{train}
""")
    return path


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    return subprocess.run([sys.executable, "-m", "trainers.cli", *args], capture_output=True, text=True, env=env,
                          cwd=HERE, check=False)


# ---- bad input: one line, exit 1, nothing written ----------------------------------------------

BAD_SPECS = [
    ("[grid\nwidths = [16]", "is not valid TOML"),
    ('[data]\ncifar10 = "x"\n[grid]\ntrain_sets = ["imagenet"]\neval_sets = ["cifar10"]\nwidths = [16]\n'
     'mixup = [false]\nn_splits = [1]', r"unknown dataset 'imagenet' \(known: cifar10, cinic10, mnist5k, sklearn_digits\)"),
    ('[data]\ncifar10 = "no/such/folder"\n[grid]\ntrain_sets = ["cifar10"]\neval_sets = ["cifar10"]\n'
     'widths = [16]\nmixup = [false]\nn_splits = [1]', "cifar10 folder not found: .*no/such/folder"),
    ('[data]\ncifar10 = "x"\n[grid]\ntrain_sets = ["cifar10"]\neval_sets = ["cifar10"]\nwidths = "16"\n'
     'mixup = [false]\nn_splits = [1]', r"\[grid\] widths must be a non-empty list of positive integers"),
    ('[data]\ncifar10 = "x"\n[grid]\ntrain_sets = ["cifar10"]\neval_sets = ["cifar10"]\nwidths = [16]\n'
     'mixup = [false]\nn_splits = [1]\n[train]\nepoch = 3', "unknown key 'epoch' in \\[train\\]"),
    ('[data]\ncifar10 = "x"\n[grid]\ntrain_sets = ["cifar10"]\neval_sets = ["cinic10"]\nwidths = [16]\n'
     'mixup = [false]\nn_splits = [1]', "\\[data\\] gives no folder for cinic10"),
    ('[data]\ncifar10 = "x"\n[grid]\ntrain_sets = ["cifar10"]\neval_sets = ["cifar10"]\nwidths = [16]\n'
     'mixup = [false]\nn_splits = [1]\n[engine]\npacking = "bmm"',
     r"\[engine\] packing must be one of 'grouped', 'vmap', 'loop', got 'bmm'"),
    ('[data]\ncifar10 = "x"\n[grid]\ntrain_sets = ["cifar10"]\neval_sets = ["cifar10"]\nwidths = [16]\n'
     'mixup = [false]\nn_splits = [1]\n[engine]\nfused = "yes"', r"\[engine\] fused must be true or false"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS)
def test_bad_specs_are_one_line_and_exit_1(tmp_path, text, message):
    import re

    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    result = CliRunner().invoke(app, ["grid", str(spec), "--out", str(tmp_path / "r.csv"), "--device", "cpu"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("powerlaw-train: ")
    assert re.search(message, lines[0]) and "Traceback" not in result.output
    assert not (tmp_path / "r.csv").exists()


def test_engine_options_come_from_the_spec_or_the_cli_and_never_change_run_ids(tmp_path, cifar, cinic):
    from trainers.grid import parse_spec as parse

    plain = write_spec(tmp_path / "plain.toml", cifar, cinic)
    spec = tmp_path / "engine.toml"
    spec.write_text(plain.read_text() + '[engine]\npacking = "vmap"\ncompile = "reduce-overhead"\nfused = false\n')
    runs = expand(parse(spec))
    assert {(r.packing, r.compile, r.fused, r.cudnn_benchmark, r.precision) for r in runs} == {
        ("vmap", "reduce-overhead", False, True, "bf16")}
    assert [r.run_id for r in runs] == [r.run_id for r in expand(parse(plain))]
    assert {r.packing for r in expand(parse(spec), engine={"packing": "loop"})} == {"loop"}  # the CLI wins


def test_the_cli_trains_with_the_route_it_is_given(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(app, ["grid", str(spec), "--out", str(out), "--device", "cpu", "--pack", "2",
                                      "--max-runs", "2", "--packing", "loop", "--no-fused"])
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert len(rows) == 4 and {r["pack_size"] for r in rows} == {"2"}
    bad = CliRunner().invoke(app, ["grid", str(spec), "--out", str(out), "--packing", "bmm"])
    assert bad.exit_code == 2 and "bmm" in bad.output  # typer refuses it before anything runs


def test_the_real_entry_point_prints_no_traceback(tmp_path):
    proc = cli("grid", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "r.csv"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"powerlaw-train: spec file not found: {tmp_path / 'missing.toml'}"


# ---- resume ------------------------------------------------------------------------------------


def test_kill_9_mid_grid_then_rerun_leaves_every_row_exactly_once(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    out = tmp_path / "results.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "trainers.cli", "grid", str(spec), "--out", str(out), "--device", "cpu"]
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + GIVE_UP
    while time.monotonic() < deadline and child.poll() is None:
        if out.exists() and len(out.read_bytes().splitlines()) >= 2:
            break
        time.sleep(POLL)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    partial = read_rows(out)
    assert 1 <= len(partial) < 16  # killed mid-grid: 8 runs x 2 eval sets when complete
    with out.open("ab") as f:
        f.write(b"0123456789abcdef,cifar10,cinic10,100,2,0")  # a line cut short, as by a crash mid-write
    proc = cli("grid", str(spec), "--out", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(out)
    keys = [(r["run_id"], r["eval_set"]) for r in rows]
    expected = {(c.run_id, e) for c in expand(parse_spec(spec)) for e in c.eval_sets}
    assert len(keys) == len(set(keys)) == 16 and set(keys) == expected
    assert rows[: len(partial)] == partial  # finished rows were kept, not retrained


def test_max_runs_then_resume(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic, grid="", train="")
    runs = expand(parse_spec(spec))
    out = tmp_path / "r.csv"
    first = run_grid(runs, out, LocalBackend(("cpu",)), max_runs=3)
    assert (first.ran, first.rows_written, first.finished_before) == (3, 6, 0)
    second = run_grid(runs, out, LocalBackend(("cpu",)), pack=4)
    assert (second.ran, second.finished_before) == (5, 3)
    assert len({(r["run_id"], r["eval_set"]) for r in read_rows(out)}) == len(read_rows(out)) == 16
    # left: two runs at 1/1 and three at 1/2 (mixup on and off share packs, sizes do not)
    assert sorted(r["pack_size"] for r in read_rows(out)[6:]) == ["2"] * 4 + ["3"] * 6


def test_results_file_is_locked_while_a_grid_writes(tmp_path):
    out = tmp_path / "r.csv"
    with ResultsFile(out), pytest.raises(ResultsError, match="being written by another powerlaw-train"):
        ResultsFile(out).__enter__()


def test_a_file_with_other_columns_is_refused(tmp_path, cifar, cinic):
    out = tmp_path / "r.csv"
    out.write_text("run_id,eval_set,something\n")
    runs = expand(parse_spec(write_spec(tmp_path / "s.toml", cifar, cinic)))
    with pytest.raises(ResultsError, match="other columns"):
        run_grid(runs[:1], out, LocalBackend(("cpu",)))


# ---- plugged-in trainers and worker processes ----------------------------------------------------


def test_a_plugged_in_trainer_gets_the_grids_splits_and_checks(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic, grid="")
    spec.write_text(spec.read_text().replace('train_sets = ["cifar10"]', 'train_sets = ["cifar10", "cinic10"]')
                    .replace("n_splits = [1, 2]", "n_splits = [1, 2, 4]"))
    out = tmp_path / "r.csv"
    proc = cli("grid", str(spec), "--out", str(out), "--device", "cpu", "--trainer", "plugin_trainer:nearest_mean")
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(out)
    assert len(rows) == 2 * 2 * (2 + 2 + 4) * 2
    sizes = {(r["train_set"], r["n_splits"]): int(r["train_size"]) for r in rows}
    assert sizes == {("cifar10", "1"): 200, ("cifar10", "2"): 100, ("cifar10", "4"): 50,
                     ("cinic10", "1"): 120, ("cinic10", "2"): 60, ("cinic10", "4"): 30}
    assert {r["trainer_name"] for r in rows} == {"nearest_mean"} and {r["device"] for r in rows} == {"cpu"}
    assert all(r["code_version"] and float(r["train_seconds"]) >= 0 and 0 < float(r["error"]) <= 1 for r in rows)
    assert "pack_size" not in rows[0]  # never packed: the plug-in has no packed form


@pytest.mark.parametrize(("trainer", "message"), [
    ("plugin_trainer:broken", "failed on cpu: RuntimeError: the plug-in broke on cifar10"),
    ("plugin_trainer:wrong_eval_sets", "expected one row for each of"),
    ("plugin_trainer:nope", "cannot import trainer plugin_trainer:nope"),
])
def test_failing_plugged_in_trainers_are_one_line(tmp_path, cifar, cinic, trainer, message):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    result = CliRunner().invoke(app, ["grid", str(spec), "--out", str(tmp_path / "r.csv"), "--trainer", trainer,
                                      "--device", "cpu"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and message in lines[-1] and "Traceback" not in result.output


def test_worker_processes_give_the_same_rows_as_one_process(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    runs = expand(parse_spec(spec), "plugin_trainer:nearest_mean")
    run_grid(runs, tmp_path / "one.csv", LocalBackend(("cpu",)))
    summary = run_grid(runs, tmp_path / "two.csv", LocalBackend(("cpu", "cpu")))
    assert summary.ran == 8
    strip = lambda rows: sorted((r["run_id"], r["eval_set"], r["error"], r["loss"]) for r in rows)  # noqa: E731
    assert strip(read_rows(tmp_path / "one.csv")) == strip(read_rows(tmp_path / "two.csv"))


def test_an_unwritable_out_is_one_line(tmp_path, cifar, cinic):
    spec = write_spec(tmp_path / "spec.toml", cifar, cinic)
    (tmp_path / "out_dir").mkdir()
    result = CliRunner().invoke(app, ["grid", str(spec), "--out", str(tmp_path / "out_dir"), "--device", "cpu"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and "out_dir" in lines[0] and "Traceback" not in result.output
