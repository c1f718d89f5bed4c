"""``powerlaw-stats plot``: one diagnostic figure of a fit, written as PNG or SVG."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..data import datasets
from ..files import check_output_file, write_atomic
from ..fitting import fit_fixed
from ..options import PlotKind, choices
from . import app
from .common import PowerlawStatsErrorOption as OptionErr
from .common import boundary, check_choice, example_weights
from .fit import resolve_formula
from .options import DATA, LET, METHOD, WHERE


@app.command("plot")
@boundary
def plot_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="figure file to write; .png or .svg picks the format")],
    data: DATA = None,
    formula: Annotated[str | None, typer.Option("--formula", "-f", help="model formula; example's default: the seed's")] = None,
    kind: Annotated[str, typer.Option(help="curves | qq | hist | resid | weights")] = "curves",
    method: METHOD = "ols",
    weights: Annotated[str | None, typer.Option(help="prior weights: a column or an expression; example's default: w")] = None,
    effect: Annotated[str | None, typer.Option(help="curves: the term whose factor sets the line style")] = None,
    where: WHERE = None,
    let: LET = None,
) -> None:
    """Draw one diagnostic figure: learning curves, QQ plot, residual histogram, residual plots."""
    from ..plots import fit as plots

    plot_kind: PlotKind = check_choice(kind, choices(PlotKind), "--kind")
    if out.suffix.lower() not in (".png", ".svg"):
        raise OptionErr(f"--out {out}: name the file .png or .svg (the extension picks the format)")
    check_output_file(out, "--out")
    example = data is None and formula is None
    weights = example_weights(data, formula, weights)
    effect = effect if effect or not example else datasets.EXAMPLE_EFFECT
    result = fit_fixed(resolve_formula(data, formula), data, method=method, weights=weights, where=where, let=let or [])
    fig = plots.plot(plot_kind, result, **({"effect": effect} if plot_kind == "curves" else {}))
    write_atomic(out, plots.to_bytes(fig, out.suffix.lower().lstrip(".")))
    sys.stdout.write(f"wrote {out}\n")
