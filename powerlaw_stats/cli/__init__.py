"""The ``powerlaw-stats`` command: a thin typer layer over the library.

Each command lives in its own module and registers itself on ``app`` when imported below.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="powerlaw-stats",
    help="Does an intervention change the power law of a learning curve? R-exact fits, tests and reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
    """Console-script entry point."""
    app()
