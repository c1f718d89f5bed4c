"""The ``powerlaw-stats`` command: a thin typer layer over the library.

Each command lives in its own module and registers itself on ``app`` when imported below.
"""

from __future__ import annotations

import sys

import click
import typer

app = typer.Typer(
    name="powerlaw-stats",
    help="Does an intervention change the power law of a learning curve? R-exact fits, tests and reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        sys.stdout.write(f"powerlaw-stats {__version__}\n")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", help="print the version and exit", callback=_version, is_eager=True),
) -> None:
    """Does an intervention change the power law of a learning curve? R-exact fits, tests and reports."""


from . import backtest as _backtest  # noqa: E402,F401  (registers backtest)
from . import effect as _effect  # noqa: E402,F401  (registers effect)
from . import fit as _fit  # noqa: E402,F401  (registers fit, bptest)
from . import plan as _plan  # noqa: E402,F401  (registers plan)
from . import plot as _plot  # noqa: E402,F401  (registers plot)
from . import predict as _predict  # noqa: E402,F401  (registers predict)
from . import region as _region  # noqa: E402,F401  (registers region)
from . import report as _report  # noqa: E402,F401  (registers report)
from . import simulate as _simulate  # noqa: E402,F401  (registers simulate)


def main() -> None:
    """Console-script entry point: every refusal is one ``error:`` line on stderr, never a box or a traceback.

    Usage errors (an unknown option, a value of the wrong type, a missing option) exit with
    status 2 as click's do; everything else the commands refuse exits with status 1.
    """
    try:
        status = app(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # no command given: the help was printed, as it asks
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        sys.stderr.write(f"error: {usage_message(exc)}\n")
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        sys.stderr.write(f"error: {_one_line(exc.format_message())}\n")
        sys.exit(exc.exit_code)
    except click.Abort:  # Ctrl-C or end of input outside a command's own boundary
        sys.stderr.write("error: interrupted; nothing was written\n")
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


def usage_message(exc: click.UsageError) -> str:
    """Click's usage error as one line: the command, what is wrong, where to read more."""
    command = exc.ctx.command_path if exc.ctx is not None else "powerlaw-stats"
    return f"{_one_line(exc.format_message())} (see {command} --help)"


def _one_line(text: str) -> str:
    return " ".join(text.split())
