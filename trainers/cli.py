"""``powerlaw-train``: run a learning-curve grid from a TOML spec, resumably, locally or on Ray.

A thin typer layer: parse options, call :func:`trainers.grid.run_grid`, show a rich progress bar.
Errors are caught here and printed as one line on stderr with exit status 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from trainers.config import DEFAULT_TRAINER
from trainers.errors import TrainersError

app = typer.Typer(
    name="powerlaw-train",
    help="Train learning-curve grids (CIFAR-10, CINIC-10, mixup) and write the learning-curve table.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"powerlaw-train: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


# Engine options, shared by `grid` and `budget-check`: each overrides the spec's [engine] key when given
# (defaults otherwise: grouped, off, fused, cudnn.benchmark on, bf16). None of them changes a run id.
Packing = Annotated[Literal["grouped", "vmap", "loop"] | None, typer.Option(
    help="how a pack runs: grouped convolutions, torch.func vmap, or one member after another")]
Compile = Annotated[Literal["off", "default", "reduce-overhead", "max-autotune"] | None, typer.Option(
    "--compile", help="torch.compile mode for the training step; eager if compiling fails")]
Fused = Annotated[bool | None, typer.Option("--fused/--no-fused", help="fused SGD kernel where torch has one")]
CudnnBenchmark = Annotated[bool | None, typer.Option("--cudnn-benchmark/--no-cudnn-benchmark", help="cuDNN autotuning")]
Precision = Annotated[Literal["bf16", "fp32"] | None, typer.Option(help="autocast precision on CUDA (CPU: fp32)")]


def _engine(**options: object) -> dict[str, object]:
    return {k: v for k, v in options.items() if v is not None}


@app.command()
def grid(
    spec: Annotated[Path, typer.Argument(help="grid spec (TOML): [data], [grid], [train], [engine]")],
    out: Annotated[Path, typer.Option("--out", "-o", help="results CSV; appended to, finished runs skipped")],
    backend: Annotated[Literal["local", "ray"], typer.Option(help="local processes or Ray tasks")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local Ray)")] = None,
    device: Annotated[Literal["auto", "cpu", "cuda"], typer.Option(help="where runs train")] = "auto",
    max_runs: Annotated[int | None, typer.Option(min=1, help="run at most N unfinished runs, then stop")] = None,
    trainer: Annotated[str, typer.Option(help="package.module:function taking a RunConfig, returning rows")] = DEFAULT_TRAINER,
    pack: Annotated[int, typer.Option(min=0, help="runs trained together in one packed model (0: 8 on CUDA, 1 on CPU)")] = 0,
    workers: Annotated[int, typer.Option(min=1, help="local CPU worker processes (GPUs: one per GPU)")] = 1,
    gpus_per_run: Annotated[float, typer.Option(min=0.0, help="Ray: GPUs per task (fractions share a GPU)")] = 1.0,
    download: Annotated[bool, typer.Option(help="download CIFAR-10 if its folder is missing (needs internet)")] = False,
    packing: Packing = None,
    compile_mode: Compile = None,
    fused: Fused = None,
    cudnn_benchmark: CudnnBenchmark = None,
    precision: Precision = None,
) -> None:
    """Run every unfinished run of SPEC and append its rows to OUT."""
    from trainers.backends import make_backend
    from trainers.grid import run_grid

    engine = _engine(packing=packing, compile=compile_mode, fused=fused, cudnn_benchmark=cudnn_benchmark,
                     precision=precision)
    with _one_line_errors(out):
        runs, packs = _runs(spec, trainer, engine, download)
        chosen = make_backend(backend, device, address=address, workers=workers, gpus_per_run=gpus_per_run)
        with _LazyBar() as bar:
            summary = run_grid(runs, out, chosen, pack=_pack_size(pack, packs, chosen), max_runs=max_runs,
                               progress=bar.update)
    _said(summary)


@app.command("budget-check")
def budget_check(
    spec: Annotated[Path, typer.Argument(help="the grid spec (TOML) whose step budget to check")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV for the check's runs; appended to, resumable")],
    results: Annotated[Path | None, typer.Option(
        help="the grid's results CSV: runs at the grid's budget found there are not trained again")] = None,
    factor: Annotated[float, typer.Option(help="times the steps of the longer runs (above 1)")] = 2.0,
    max_trials: Annotated[int, typer.Option(min=1, help="trials per training set, width, mixup and size")] = 4,
    device: Annotated[Literal["auto", "cpu", "cuda"], typer.Option(help="where runs train")] = "auto",
    trainer: Annotated[str, typer.Option(help="package.module:function taking a RunConfig, returning rows")] = DEFAULT_TRAINER,
    pack: Annotated[int, typer.Option(min=0, help="runs trained together in one packed model (0: 8 on CUDA, 1 on CPU)")] = 0,
    workers: Annotated[int, typer.Option(min=1, help="local CPU worker processes (GPUs: one per GPU)")] = 1,
    packing: Packing = None,
    compile_mode: Compile = None,
    fused: Fused = None,
    cudnn_benchmark: CudnnBenchmark = None,
    precision: Precision = None,
) -> None:
    """Rerun SPEC's largest and smallest parts with FACTOR times the steps.

    Reports whether the error moved by more than the spread between trials (then the grid's budget
    is short).
    """
    from trainers.backends import make_backend
    from trainers.budget import budget_runs, compare, read_rows, summary
    from trainers.grid import run_grid

    if factor <= 1:
        raise _fail(f"--factor must be above 1, got {factor}")
    engine = _engine(packing=packing, compile=compile_mode, fused=fused, cudnn_benchmark=cudnn_benchmark,
                     precision=precision)
    with _one_line_errors(out):
        runs, packs = _runs(spec, trainer, engine, download=False)
        base, longer = budget_runs(runs, factor, max_trials)
        have = read_rows(results) if results else {}
        todo = [r for r in base if not all((r.run_id, e) in have for e in r.eval_sets)] + longer
        chosen = make_backend("local", device, workers=workers)
        with _LazyBar() as bar:
            done = run_grid(todo, out, chosen, pack=_pack_size(pack, packs, chosen), progress=bar.update)
        cells = compare({**read_rows(out), **have}, base, longer)
    _said(done)
    Console().print(_budget_table(cells, factor))
    Console().print(summary(cells), highlight=False, soft_wrap=True)


def _runs(spec: Path, trainer: str, engine: dict, download: bool) -> tuple[list, bool]:
    """Expand the spec with the engine overrides; say whether the trainer packs runs."""
    from trainers.backends import supports_packing
    from trainers.grid import check_data, expand, parse_spec

    sys.path.insert(0, os.getcwd())  # so --trainer finds the user's own modules, as `python -m` would
    packs = supports_packing(trainer)  # imported first: a trainer may register its own datasets
    parsed = parse_spec(spec)
    check_data(parsed, download)
    return expand(parsed, trainer, engine), packs


def _pack_size(pack: int, packs: bool, backend: object) -> int:
    return (pack or (8 if _on_cuda(backend) else 1)) if packs else 1


class _one_line_errors:  # noqa: N801 - used as a statement, like contextlib's helpers
    """Turn the errors a user can cause into one line on stderr and an exit status."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, e: BaseException | None, tb: object) -> bool:
        if isinstance(e, TrainersError):
            raise _fail(str(e)) from None
        if isinstance(e, OSError):  # an unwritable --out or cache folder, a full disk
            raise _fail(f"{e.strerror or e}: {e.filename or ''} (check --out and the cache folder)") from None
        if isinstance(e, KeyboardInterrupt):
            raise _fail(f"interrupted; rerun the same command to resume (finished runs are in {self.out})", 130) from None
        return False


def _said(summary: object) -> None:
    Console().print(
        f"{summary.ran} runs trained, {summary.rows_written} rows written to {summary.out} in {summary.seconds:.1f} s; "
        f"{summary.finished_before} of {summary.total_runs} runs were already finished.",
        highlight=False,
        soft_wrap=True,
    )


def _budget_table(cells: list, factor: float) -> Table:
    table = Table(title=f"step budget check: the grid's steps against {factor:g}x", title_justify="left")
    for name in ("train set", "width", "mixup", "size", "eval set", "trials", "steps", "error", f"error {factor:g}x",
                 "change", "spread", "verdict"):
        table.add_column(name, justify="left" if name in ("train set", "eval set", "verdict") else "right")
    for c in cells:
        table.add_row(c.train_set, str(c.width), "yes" if c.mixup else "no", str(c.train_size), c.eval_set,
                      str(c.trials), f"{c.steps} -> {c.steps_longer}", f"{c.error:.4f}", f"{c.error_longer:.4f}",
                      f"{c.change:+.4f}", f"{c.spread:.4f}", c.verdict)
    return table


def _on_cuda(backend: object) -> bool:
    devices = getattr(backend, "devices", None)
    return any(d.startswith("cuda") for d in devices) if devices else getattr(backend, "device", "") == "cuda"


class _LazyBar:
    """A rich progress bar that appears at the first update, i.e. only once the grid really starts
    (so an error before that is the only line on the terminal)."""

    def __init__(self) -> None:
        self.bar: Progress | None = None

    def __enter__(self) -> _LazyBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = Progress(
                TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err,
            )
            self.bar.start()
            self.task = self.bar.add_task("runs", total=total)
        self.bar.update(self.task, completed=done, total=total)


@app.command()
def download(
    name: Annotated[str, typer.Argument(help="dataset name (cifar10)")],
    folder: Annotated[Path, typer.Argument(help="folder to create, e.g. data/cifar-10-batches-py")],
) -> None:
    """Download a dataset that has a downloader (CIFAR-10) into FOLDER."""
    from trainers.data import entry

    try:
        ds = entry(name)
        if ds.download is None:
            raise _fail(f"{name} has no downloader; {ds.hint}")
        ds.download(folder.expanduser().resolve())
    except TrainersError as e:
        raise _fail(str(e)) from None
    except OSError as e:
        raise _fail(f"download of {name} failed: {e}") from None
    Console().print(f"{name} is in {folder}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
