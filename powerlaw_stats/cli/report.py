"""``powerlaw-stats report``: the whole analysis as ``DIR/index.html``, ``DIR/report.md``, ``DIR/results.json``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import app
from .common import boundary
from .options import DATA, LET, QUIET, WHERE
from .progress import ProgressBar


@app.command("report")
@boundary
def report_command(
    data: DATA = None,
    formula: Annotated[str | None, typer.Option("--formula", "-f", help="model formula; example's default: the seed's")] = None,
    weights: Annotated[str | None, typer.Option(help="prior weights: a column or an expression; example's default: w")] = None,
    effect: Annotated[str | None, typer.Option(help="the term of interest, e.g. I(log2(TS)-IXMin):mix1")] = None,
    trials: Annotated[int, typer.Option(help="simulation trials per scenario; 0 skips the simulation")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed of the simulation")] = 0,
    level: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    where: WHERE = None,
    let: LET = None,
    sim_estimators: Annotated[str, typer.Option(
        "--sim-estimators", help="estimators the simulation checks, comma-separated; mm is slow")] = "ols,huber,bisquare",
    cluster: Annotated[list[str] | None, typer.Option(
        help="cluster column for cluster-robust SEs (repeat or comma-separate for two-way), e.g. run_id")] = None,
    vcov: Annotated[str | None, typer.Option(help="CR1 | CR3: cluster-robust covariance (default CR1 with --cluster)")] = None,
    bootstrap: Annotated[int, typer.Option(help="wild-bootstrap replications per estimator, e.g. 999 (0: none)")] = 0,
    bootstrap_weights: Annotated[str, typer.Option(help="rademacher | webb")] = "rademacher",
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write; replaces an earlier report")] = Path("report"),
    quiet: QUIET = False,
    floor: Annotated[bool, typer.Option("--floor/--no-floor", help="the section \"Is there a floor?\" (saturating law)")] = True,
    dependence: Annotated[str | None, typer.Option(
        help="auto (default on schema tables with runs and splits, no --cluster/--vcov/--bootstrap): believe effect's "
             "test for dependent rows; none: rows as independent")] = None,
) -> None:
    """Write the seed study's analysis as one HTML page: data, curves, fits, diagnostics, simulation, conclusion."""
    from ..report import build_report
    from ..report.builder import check_target

    check_target(out)  # refuse a bad --out before minutes of work
    with ProgressBar(quiet) as progress:
        rep = build_report(data, formula, weights=weights, effect=effect, trials=trials, seed=seed, level=level, where=where,
                           let=let or [], sim_estimators=[e.strip() for e in sim_estimators.split(",") if e.strip()],
                           cluster=cluster or None, vcov=vcov, bootstrap=bootstrap, bootstrap_weights=bootstrap_weights,
                           progress=progress, floor=floor, dependence=dependence)
    rep.write(out)
    sys.stdout.write(f"wrote {out / 'index.html'}, {out / 'report.md'}, {out / 'results.json'}\n")
    for note in rep.notes:
        sys.stderr.write(f"note: {note}\n")
