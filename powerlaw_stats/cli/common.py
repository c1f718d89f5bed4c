"""What every command shares: the error boundary, output writing, number formats, rich tables."""

from __future__ import annotations

import errno
import functools
import io
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from ..data import datasets
from ..errors import PowerlawStatsError
from ..files import check_output_file, write_atomic, write_together
from ..formats import to_json
from ..options import OutputFormat, check_option, choices

FORMATS: tuple[str, ...] = choices(OutputFormat)
__all__ = ["FORMATS", "boundary", "check_choice", "emit", "emit_with_files", "example_weights", "fail", "os_message", "render",
           "table_width", "to_json"]


def fail(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit to raise (status 1)."""
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(1)


def boundary(func: Callable) -> Callable:
    """Turn the library's errors into one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # numpy's log(0) noise; we report it ourselves
                return func(*args, **kwargs)
        except PowerlawStatsError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was written") from None
        except MemoryError:
            raise fail("out of memory; nothing was written: ask for less (fewer trials, rows or factor levels)") from None
        except OSError as exc:  # the file system refused a read or a write the checks up front could not foresee
            if exc.errno == errno.EPIPE:  # `| head` closed the pipe: typer ends quietly, as a pipe's reader expects
                raise
            raise fail(os_message(exc)) from None

    return wrapper


def os_message(exc: OSError) -> str:
    """An operating-system error in one line: the file, what went wrong, and that nothing was left half-written."""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc}; nothing was written"


def example_weights(data: Path | None, formula: str | None, weights: str | None) -> str | None:
    """The weights to use: those given, or the seed's ``w`` (1/trials) when the bundled example runs with its own formula."""
    if weights or data is not None or formula is not None:
        return weights
    return datasets.EXAMPLE_WEIGHTS


def check_choice(value: str, allowed: tuple[str, ...], option: str) -> Any:
    """A command-line choice, refused in one line naming the allowed values; typed as the caller declares it."""
    return check_option(value, allowed, option, PowerlawStatsErrorOption, "{what} {value!r} is not one of {values}")


class PowerlawStatsErrorOption(PowerlawStatsError):
    """A CLI option outside its allowed values."""


def emit(text: str, output: Path | None) -> None:
    """Print ``text``, or write it to ``output`` atomically (a temporary file renamed into place)."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    write_atomic(check_output_file(output, "--output"), text)


def emit_with_files(text: str, output: Path | None, files: dict[Path, bytes]) -> None:
    """Write ``files`` (figures) and ``text`` (to ``output`` or standard output) so that all land or none does."""
    if output is not None:
        write_together({**files, check_output_file(output, "--output"): text})
        return
    write_together(files)
    emit(text, None)


def table_width(header: list[str], rows: list[list[str]]) -> int:
    """Console width that fits a table of unwrapped cells: at least 120 columns, more when the cells need it.

    Long interaction names must not squeeze the numbers into '…' or fold a term over two lines.
    """
    cols = [max(len(c) for c in col) for col in zip(header, *rows)]
    return max(120, sum(cols) + 3 * len(cols) + 1)


def render(renderables: list, width: int | None = None) -> str:
    """Render rich objects to text (colour only when writing to a terminal)."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width or 120, force_terminal=sys.stdout.isatty(), highlight=False)
    for r in renderables:
        console.print(r)
    return buf.getvalue()
