"""``powerlaw-train budget-check``: which runs it reruns, how a cell is judged, and the command end to
end on a tiny grid (CPU, a few steps per run).

Tolerances: the cells are means and standard deviations of a handful of errors, recomputed here from
the rows the command wrote, to 1e-12 (the same float64 arithmetic in another order). Row bookkeeping
is compared exactly.
"""

from __future__ import annotations

import math
import statistics

import pytest
from typer.testing import CliRunner

from trainers.budget import BudgetCell, budget_runs, compare, read_rows, summary
from trainers.cli import app
from trainers.config import RunConfig
from trainers.errors import ResultsError
from trainers.grid import expand, parse_spec

TOL = 1e-12


def runs_at(sizes=(1, 2, 4), trials=2, eval_sets=("c", "d")) -> list[RunConfig]:
    out = []
    for n in sizes:
        t_n = max(n, trials)
        out += [RunConfig("c", eval_sets, n, t % n, t, t_n, 16, False, epochs=3, min_steps=5)
                for t in range(t_n)]
    return out


def test_the_check_reruns_the_largest_and_smallest_parts_with_more_steps():
    base, longer = budget_runs(runs_at(), factor=2.0, max_trials=3)
    assert [(r.n_splits, r.trial) for r in base] == [(1, 0), (1, 1), (4, 0), (4, 1), (4, 2)]
    assert all((t.epochs, t.min_steps) == (6.0, 10) for t in longer)
    assert all(t.run_id != r.run_id and t.replace(epochs=3.0, min_steps=5).run_id == r.run_id
               for r, t in zip(base, longer, strict=True))
    with pytest.raises(ValueError, match="factor must be above 1"):
        budget_runs(runs_at(), factor=1.0)


def _rows(base, longer, short_errors, long_errors, eval_set="c"):
    rows = {}
    for r, t, e, f in zip(base, longer, short_errors, long_errors, strict=True):
        rows[(r.run_id, eval_set)] = {"error": e, "train_size": 100 // r.n_splits, "steps": 10}
        rows[(t.run_id, eval_set)] = {"error": f, "train_size": 100 // r.n_splits, "steps": 20}
    return rows


def test_a_cell_moves_when_the_paired_change_exceeds_the_trial_spread():
    base, longer = budget_runs(runs_at(sizes=(1, 4), trials=2, eval_sets=("c",)), max_trials=2)
    # largest part: errors 0.30, 0.32 (spread 0.0141) drop by 0.05 -> moved; smallest part: within noise
    rows = _rows(base, longer, [0.30, 0.32, 0.50, 0.56], [0.25, 0.27, 0.51, 0.55])
    big, small = compare(rows, base, longer)
    assert (big.train_size, big.trials, big.steps, big.steps_longer) == (100, 2, 10, 20)
    assert abs(big.change + 0.05) < TOL and abs(big.spread - statistics.stdev([0.30, 0.32])) < TOL
    assert big.moved and big.verdict == "moved"
    assert abs(small.change - 0.0) < TOL and not small.moved and small.verdict == "within spread"
    assert summary([big, small]).startswith("the budget looks short: 1 of 2 cells moved")
    assert summary([small]).startswith("the budget looks long enough: none of 1 cells")


def test_one_trial_has_no_spread_and_is_never_judged():
    cell = BudgetCell(train_set="c", width=16, mixup=False, train_size=10, eval_set="c", trials=1, steps=1,
                      steps_longer=2, error=0.5, error_longer=0.1, change=-0.4, spread=math.nan)
    assert not cell.moved and cell.verdict == "no spread (1 trial)"


def test_a_missing_row_is_an_error_naming_the_run():
    base, longer = budget_runs(runs_at(eval_sets=("c",)), max_trials=1)
    with pytest.raises(ResultsError, match=f"no row for run {base[0].run_id} on c"):
        compare({}, base, longer)


SPEC = """
[data]
cifar10 = "{root}"
[grid]
train_sets = ["cifar10"]
eval_sets = ["cifar10"]
widths = [16]
mixup = [false]
n_splits = [1, 2, 4]
min_trials = 2
[train]
epochs = 0
min_steps = 3
batch_size = 32
lr = 0.05
"""


def test_budget_check_end_to_end_on_a_tiny_grid(tmp_path, cifar):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(root=cifar.root))
    out = tmp_path / "check.csv"
    args = ["budget-check", str(spec), "--out", str(out), "--device", "cpu", "--max-trials", "2"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})  # the whole table on one line per cell
    assert result.exit_code == 0, result.output
    assert "8 runs trained" in result.output  # 2 trials at 1/1 and at 1/4, each at 3 and at 6 steps
    base, longer = budget_runs(expand(parse_spec(spec)), 2.0, 2)
    rows = read_rows(out)
    assert set(rows) == {(r.run_id, "cifar10") for r in [*base, *longer]}
    assert {rows[(r.run_id, "cifar10")]["steps"] for r in longer} == {"6"}
    for cell in compare(rows, base, longer):
        errors = [float(rows[(r.run_id, "cifar10")]["error"]) for r in base if r.n_splits * cell.train_size == 200]
        assert abs(cell.spread - statistics.stdev(errors)) < TOL
        assert f"{cell.error:.4f}" in result.output and f"{cell.change:+.4f}" in result.output
    assert "the budget looks" in result.output and "3 -> 6" in result.output
    again = CliRunner().invoke(app, args)  # resumable: nothing trained twice
    assert again.exit_code == 0 and "0 runs trained" in again.output


def test_budget_check_reuses_the_grids_own_rows(tmp_path, cifar):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(root=cifar.root))
    grid_out = tmp_path / "grid.csv"
    assert CliRunner().invoke(app, ["grid", str(spec), "--out", str(grid_out), "--device", "cpu"]).exit_code == 0
    result = CliRunner().invoke(app, ["budget-check", str(spec), "--out", str(tmp_path / "check.csv"), "--device",
                                      "cpu", "--max-trials", "2", "--results", str(grid_out)])
    assert result.exit_code == 0, result.output
    assert "4 runs trained" in result.output  # only the longer twins


@pytest.mark.parametrize(("extra", "message"), [(["--factor", "1"], "--factor must be above 1, got 1.0"),
                                                (["--results", "/no/such.csv"], "results file not found: /no/such.csv")])
def test_budget_check_bad_input_is_one_line(tmp_path, cifar, extra, message):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(root=cifar.root))
    result = CliRunner().invoke(app, ["budget-check", str(spec), "--out", str(tmp_path / "c.csv"), *extra])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and lines == [f"powerlaw-train: {message}"]
