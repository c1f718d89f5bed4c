"""The options several commands share, declared once: each an ``Annotated`` type a command's parameter takes.

A command writes ``data: DATA = None``; the flag, its help and its parsing live here, so every
command spells them alike. Choices are checked by :func:`powerlaw_stats.options.check_option`,
whose one-line error names the allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..estimation.methods import METHODS
from ..laws.registry import LAWS
from ..options import NaPolicy, ResidualName, WeightType, choices

DATA_HELP = "learning-curve table (.csv, .tsv, .parquet); omit it to use the bundled example"
WEIGHTS_HELP = "prior weights: a column or an expression such as 1/trials; with the example's formula, w (1/trials)"


def _one_of(alias: object) -> str:
    return " | ".join(choices(alias))


DATA = Annotated[Path | None, typer.Argument(help=DATA_HELP, show_default=False)]
FORMULA = Annotated[str | None, typer.Option("--formula", "-f", help="model formula; on the example: the seed's")]
METHOD = Annotated[str, typer.Option(help=" | ".join(METHODS))]
WEIGHTS = Annotated[str | None, typer.Option(help=WEIGHTS_HELP)]
WEIGHT_TYPE = Annotated[str, typer.Option(help=f"{_one_of(WeightType)} (how M-estimation uses the weights)")]
VCOV = Annotated[str | None, typer.Option(help="classic | HC0 | HC1 | HC3 (least squares) | CR1 | CR3; "
                                               "default classic, CR1 with --cluster")]
CLUSTER = Annotated[list[str] | None,
                    typer.Option(help="cluster column (repeat or comma-separate for two-way), e.g. run_id")]
WHERE = Annotated[str | None, typer.Option(help="keep rows where this pandas query holds, e.g. \"error > 0\"")]
LET = Annotated[list[str] | None,
                typer.Option(help="NAME=EXPR, a constant or column (repeatable), e.g. IXMin=log2(3125)")]
NA = Annotated[str, typer.Option(help=f"{_one_of(NaPolicy)}: what to do with rows missing a used value")]
RESIDUALS = Annotated[str, typer.Option(help=_one_of(ResidualName))]
R_DEFAULTS = Annotated[bool, typer.Option("--r-defaults", help="MASS's IRWLS settings: maxit 20, acc 1e-4")]
OUTPUT = Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of standard output")]
QUIET = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
LAW = Annotated[str | None, typer.Option(help=f"fit a law instead of a formula: {' | '.join(LAWS)} (docs/laws.md)")]
PARAM = Annotated[list[str] | None, typer.Option(
    "--param", help="a law parameter's formula (repeatable), e.g. \"E ~ EvalSet\"; on the example: the seed's terms")]
