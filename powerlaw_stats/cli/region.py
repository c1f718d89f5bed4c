"""``powerlaw-stats region``: which sizes are in the power-law region of each group?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..data import datasets
from ..files import check_output_file
from ..formats import num, pval
from ..options import Adjust, NaPolicy, Side, check_option
from . import app
from .common import PowerlawStatsErrorOption as OptErr
from .common import boundary, check_choice, emit_with_files, render, to_json
from .options import DATA, LET, NA, OUTPUT, WHERE

if TYPE_CHECKING:
    from ..scaling.region import RegionResult

REGION_FORMATS: tuple[str, ...] = ("table", "json")
GROUPS_HELP = "comma-separated group columns, one curve each (default: train_set, eval_set, width, mixup where they vary)"


@app.command("region")
@boundary
def region_command(
    data: DATA = None,
    groups: Annotated[str | None, typer.Option(help=GROUPS_HELP)] = None,
    size: Annotated[str, typer.Option(help="size column (TS is the schema's train_size)")] = "TS",
    response: Annotated[str, typer.Option(help="response on a log scale (log2 error by default)")] = "log_err",
    weights: Annotated[str | None, typer.Option(help="inverse-variance weights (column or expression); default none")] = None,
    alpha: Annotated[float, typer.Option(help="level of the lack-of-fit test")] = 0.05,
    level: Annotated[float, typer.Option(help="confidence level of the break's interval")] = 0.95,
    side: Annotated[str, typer.Option(help="small: flag sizes below the break | large: flag sizes above it")] = "small",
    adjust: Annotated[str, typer.Option(help="holm | bonferroni | none: p-value adjustment for the number of groups")] = "holm",
    where: WHERE = None,
    let: LET = None,
    na: NA = "drop",
    plot: Annotated[Path | None, typer.Option("--plot", help="draw every group's curve with its break (.png or .svg)")] = None,
    floor: Annotated[bool, typer.Option("--floor", help="also test each line against a floor (saturating law)")] = False,
    output_format: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    output: OUTPUT = None,
) -> None:
    """Lack-of-fit F test and one-break fit per group; flag sizes outside the power law, recommend a minimum size."""
    check_choice(output_format, REGION_FORMATS, "--format")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise OptErr(f"--plot {plot}: name a .png or .svg file in an existing folder")
    if plot is not None:
        check_output_file(plot, "--plot")
    if output is not None:
        check_output_file(output, "--output")
    group_list = None if groups is None else [g for g in groups.split(",") if g.strip()]
    from ..scaling.region import region  # on use: `fit` does not load the other commands' modules

    result = region(data, groups=group_list, size=size, response=response, weights=weights, alpha=alpha, level=level,
                    side=check_option(side, Side, "side"), adjust=check_option(adjust, Adjust, "adjust"), where=where,
                    let=let or [], na=check_option(na, NaPolicy, "na"), floor=floor)
    notes = [datasets.EXAMPLE_NOTE] if data is None else []
    text = render_json(result, notes) if output_format == "json" else render_table(result, notes)
    figures = {}
    if plot is not None:
        from ..plots.fit import to_bytes
        from ..plots.scaling import region_figure

        figures[plot] = to_bytes(region_figure(result), plot.suffix.lower().lstrip("."))
    emit_with_files(text, output, figures)  # the figure and the output land together or not at all


def _ci(group) -> str:
    b = group.breakpoint
    if b is None:
        return "n/a"
    lo = ("≤" if b.ci_open[0] else "") + num(b.ci_low, 4)
    hi = ("≥" if b.ci_open[1] else "") + num(b.ci_high, 4)
    return f"{lo} – {hi}"


def verdict_lines(result: RegionResult) -> list[str]:
    """The recommendation in words."""
    flagged = result.flagged
    what = "below" if result.side == "small" else "above"
    lines = [f"{len(result.groups)} groups by {', '.join(result.group_columns) or '(one curve)'}; lack-of-fit test at "
             f"{result.alpha:g} ({result.adjust} adjustment over groups), break interval {result.level:.0%}; "
             f"flagged: sizes {what} the break where the line is rejected"]
    if not flagged:
        lines.append("every group's straight line passes the lack-of-fit test: all sizes are in the power-law region")
    else:
        lines.append(f"{len(flagged)} of {len(result.groups)} groups have sizes outside the power-law region")
    end = (f"recommended minimum size: {num(result.recommended_min_size, 7)}" if result.side == "small"
           else f"recommended maximum size: {num(result.recommended_max_size, 7)}")
    lines.append(end + " (keeps every group in its region)")
    if result.dropped:
        lines.append("rows dropped: " + ", ".join(f"{k}: {v}" for k, v in result.dropped.items()))
    return lines


def render_table(result: RegionResult, notes: list[str]) -> str:
    """One row per group: the test, the break, the flagged sizes."""
    from rich.table import Table

    table = Table(title=f"Power-law region of {result.response} on log2 {result.size}", title_justify="left")
    for i, name in enumerate(["group", "sizes", "n", "lack-of-fit F", "df", "p", "p adj.", "break", "break CI",
                              "slope below", "slope above", "flagged sizes", "p kept"]):
        table.add_column(name, justify="left" if i in (0, 11) else "right", overflow="fold")
    for g in result.groups:
        lof, b, kept = g.lack_of_fit, g.breakpoint, g.lack_of_fit_kept
        table.add_row(
            g.label, str(len(g.sizes)), str(g.n), "n/a" if lof is None else num(lof.statistic, 4),
            "n/a" if lof is None else f"{lof.df_lack}, {lof.df_pure}", "n/a" if lof is None else pval(lof.pvalue, table=True),
            "n/a" if lof is None else pval(g.pvalue_adjusted, table=True),
            "n/a" if b is None else num(b.location, 4), _ci(g), "n/a" if b is None else num(b.slope_below, 3),
            "n/a" if b is None else num(b.slope_above, 3), ", ".join(num(s, 6) for s in g.flagged_sizes) or "none",
            "" if kept is None else pval(kept.pvalue, table=True))
    floors = [floor_table(result)] if any(g.floor_test is not None for g in result.groups) else []
    return render([*(f"[yellow]note: {n}[/yellow]" for n in notes), table, *floors, *verdict_lines(result)], width=160)


def floor_table(result: RegionResult):
    """``--floor``: each group's line against the saturating law (a floor E ≥ 0 the curve flattens towards)."""
    from rich.table import Table

    table = Table(title="Floor or no floor: log2 err = log2(E + 2^(a + b·x)) against the line (E = 0)",
                  title_justify="left")
    for i, name in enumerate(["group", "floor E", f"profile {result.level:.0%} CI", "slope with floor", "slope without",
                              "LR", "p (½χ²₁)", "AIC floor", "AIC line"]):
        table.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
    for g in result.groups:
        t = g.floor_test
        if t is None:
            table.add_row(g.label, *["n/a"] * 8)
            continue
        table.add_row(g.label, num(max(t.floor, 0.0), 4), f"{num(t.floor_lower, 4)} – {num(t.floor_upper, 4)}",
                      num(t.slope, 4), num(t.slope_without_floor, 4), num(t.statistic, 4), pval(t.p_value, table=True),
                      num(t.aic, 6), num(t.aic_without_floor, 6))
    return table


def render_json(result: RegionResult, notes: list[str]) -> str:
    """The JSON of ``region --format json``, with the notes."""
    doc = result.to_dict()
    doc["notes"] = notes
    return to_json(doc)
