"""``powerlaw-stats backtest``: fit each law on the smallest sizes of each curve, score its forecasts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..data import datasets
from ..formats import num, pval
from . import app
from .common import PowerlawStatsErrorOption, boundary, check_choice, emit, render, table_width, to_json
from .options import DATA, OUTPUT, QUIET
from .progress import ProgressBar

if TYPE_CHECKING:
    from ..extrapolation.backtest import BacktestResult

BACKTEST_FORMATS: tuple[str, ...] = ("table", "csv", "json")
LAWS_HELP = "comma-separated laws (default: loglinear, saturating and LCDB's pow3 pow4 mmf4 wbl4 exp3 vap3 log2 last1)"
JOBS_HELP = "worker processes (--backend processes) or CPUs of the local Ray (--backend ray); default: all cores"
RESULTS_HELP = "append each finished (curve, law, cutoff) here as JSON lines; rerun with the same file to resume"


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise PowerlawStatsErrorOption(f"{what} {text!r}: give comma-separated numbers, e.g. 0.2,0.4,0.8") from None


@app.command("backtest")
@boundary
def backtest_command(
    data: DATA = None,
    laws: Annotated[str | None, typer.Option(help=LAWS_HELP)] = None,
    cutoffs: Annotated[str, typer.Option(help="fractions of each curve's sizes the fit sees")] = "0.05,0.1,0.2,0.4,0.8",
    groups: Annotated[str | None, typer.Option(help="comma-separated columns, one curve each (default: those that vary)")] = None,
    level: Annotated[float, typer.Option(help="coverage of the prediction intervals")] = 0.95,
    backend: Annotated[str, typer.Option(help="serial | processes | ray")] = "serial",
    jobs: Annotated[int | None, typer.Option(help=JOBS_HELP)] = None,
    address: Annotated[str | None, typer.Option(help="a Ray cluster's host:port (--backend ray; default: a local Ray)")] = None,
    results: Annotated[Path | None, typer.Option(help=RESULTS_HELP)] = None,
    predictions: Annotated[Path | None, typer.Option(help="write the per-size forecasts here as CSV")] = None,
    output_format: Annotated[str, typer.Option("--format", help=" | ".join(BACKTEST_FORMATS))] = "table",
    output: OUTPUT = None,
    quiet: QUIET = False,
) -> None:
    """Rank the laws by how well they forecast each curve's held-out larger sizes (LCDB's protocol)."""
    check_choice(output_format, BACKTEST_FORMATS, "--format")
    from ..extrapolation.backends import Backend
    from ..extrapolation.backtest import DEFAULT_LAWS, backtest
    from ..options import choices

    law_list = DEFAULT_LAWS if laws is None else tuple(x.strip() for x in laws.split(",") if x.strip())
    group_list = None if groups is None else [g.strip() for g in groups.split(",") if g.strip()]
    if predictions is not None and not predictions.parent.exists():
        raise PowerlawStatsErrorOption(f"--predictions {predictions}: folder {predictions.parent} does not exist")
    with ProgressBar(quiet, "backtesting") as bar:
        res = backtest(data, laws=law_list, cutoffs=_floats(cutoffs, "--cutoffs"), level=level, groups=group_list,
                       backend=check_choice(backend, choices(Backend), "--backend"), jobs=jobs, address=address,
                       results=results, progress=bar)
    notes = [datasets.EXAMPLE_NOTE] if data is None else []
    if predictions is not None:
        from ..files import write_atomic

        write_atomic(predictions, res.predictions.to_csv(index=False, float_format="%.17g"))
    emit(RENDERERS[output_format](res, notes), output)


def _rank_rows(res: BacktestResult) -> tuple[list[str], list[list[str]]]:
    cols = [str(c) for c in res.ranks.columns]
    header = ["law", *(f"rank @{c}" for c in cols), *(f"PI cover @{c:g}" for c in res.coverage.columns)]
    rows = []
    for law in res.laws:
        ranks = [num(res.ranks.loc[law, c], 3) for c in res.ranks.columns]
        cover = [num(res.coverage.loc[law, c], 3) for c in res.coverage.columns]
        rows.append([law, *ranks, *cover])
    return header, rows


def test_lines(res: BacktestResult) -> list[str]:
    """Friedman's test and Nemenyi's CD per cutoff, in words."""
    return [f"cutoff {k}: Friedman χ² = {num(t.statistic, 4)} on {t.df} df, p = {pval(t.pvalue)}, {t.n_blocks} blocks; "
            f"Nemenyi CD ({t.alpha:g}) = {num(t.critical_difference, 3)}; best: {t.mean_ranks.index[0]}"
            for k, t in res.tests.items()]


def render_table(res: BacktestResult, notes: list[str]) -> str:
    """Mean ranks (lower is better) and interval coverage per law and cutoff, then the tests."""
    from rich.table import Table

    header, rows = _rank_rows(res)
    table = Table(title=f"Backtest of {res.n_curves} curves: mean rank of the squared error at the last anchor "
                        f"(lower is better), {res.level:.0%} prediction-interval coverage", title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return render([*(f"[yellow]note: {n}[/yellow]" for n in notes), table, *test_lines(res)],
                  width=table_width(header, rows))


def render_csv(res: BacktestResult, notes: list[str]) -> str:
    """One row per (curve, law, cutoff): its scores."""
    return res.scores.to_csv(index=False, float_format="%.17g")


def render_json(res: BacktestResult, notes: list[str]) -> str:
    """Ranks, coverage, tests and settings."""
    return to_json({
        "n_curves": res.n_curves, "laws": list(res.laws), "cutoffs": list(res.cutoffs), "level": res.level,
        "mean_ranks": {str(c): res.ranks[c].to_dict() for c in res.ranks.columns},
        "coverage": {str(c): res.coverage[c].to_dict() for c in res.coverage.columns},
        "tests": {k: {"statistic": t.statistic, "df": t.df, "p_value": t.pvalue, "blocks": t.n_blocks,
                      "critical_difference": t.critical_difference, "alpha": t.alpha} for k, t in res.tests.items()},
        "notes": notes})


RENDERERS = {"table": render_table, "csv": render_csv, "json": render_json}
