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


@app.command()
def grid(
    spec: Annotated[Path, typer.Argument(help="grid spec (TOML): [data], [grid], [train]")],
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
) -> None:
    """Run every unfinished run of SPEC and append its rows to OUT."""
    from trainers.backends import make_backend, supports_packing
    from trainers.grid import check_data, expand, parse_spec, run_grid

    sys.path.insert(0, os.getcwd())  # so --trainer finds the user's own modules, as `python -m` would
    try:
        packing = supports_packing(trainer)  # imported first: a trainer may register its own datasets
        parsed = parse_spec(spec)
        check_data(parsed, download)
        runs = expand(parsed, trainer)
        chosen = make_backend(backend, device, address=address, workers=workers, gpus_per_run=gpus_per_run)
        size = (pack or (8 if _on_cuda(chosen) else 1)) if packing else 1
        with _LazyBar() as bar:
            summary = run_grid(runs, out, chosen, pack=size, max_runs=max_runs, progress=bar.update)
    except TrainersError as e:
        raise _fail(str(e)) from None
    except OSError as e:  # an unwritable --out or cache folder, a full disk
        raise _fail(f"{e.strerror or e}: {e.filename or ''} (check --out and the cache folder)") from None
    except KeyboardInterrupt:
        raise _fail(f"interrupted; rerun the same command to resume (finished runs are in {out})", 130) from None
    Console().print(
        f"{summary.ran} runs trained, {summary.rows_written} rows written to {summary.out} in {summary.seconds:.1f} s; "
        f"{summary.finished_before} of {summary.total_runs} runs were already finished.",
        highlight=False,
        soft_wrap=True,
    )


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
