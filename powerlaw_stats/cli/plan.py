"""``powerlaw-stats plan``: the cheapest design that detects the effect with the power wanted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..data import datasets
from ..estimation.methods import METHODS
from ..files import check_output_file
from ..formats import num
from ..options import NaPolicy, ResidualName, WeightType, check_option
from . import app
from . import options as law_options  # plan --law (cli/law_power.py)
from .common import PowerlawStatsErrorOption as OptErr
from .common import boundary, check_choice, emit_with_files, example_weights, render, to_json
from .options import DATA_HELP, LET, NA, OUTPUT, QUIET, RESIDUALS, WEIGHT_TYPE, WHERE
from .progress import ProgressBar

if TYPE_CHECKING:
    from ..scaling.plan import PlanResult

PLAN_FORMATS: tuple[str, ...] = ("table", "json")


def _numbers(text: str | None, option: str, kind: type) -> list | None:
    if text is None:
        return None
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise OptErr(f"{option} {text!r}: give comma-separated numbers, e.g. {option} 3125,6250") from None


@app.command("plan")
@boundary
def plan_command(
    delta: Annotated[float, typer.Option(help="smallest change of the effect worth detecting, e.g. -0.03")],
    data: Annotated[Path | None, typer.Argument(help="pilot data; " + DATA_HELP, show_default=False)] = None,
    formula: Annotated[str | None, typer.Option("--formula", "-f", help="model formula (default: the seed's)")] = None,
    effect: Annotated[str | None, typer.Option(help="effect term (default: mixup's change to the slope)")] = None,
    weights: Annotated[str | None, typer.Option(help="prior weights: a column or an expression such as 1/trials; "
                                                  "example's default: w")] = None,
    weight_type: WEIGHT_TYPE = "inv.var",
    power: Annotated[float, typer.Option(help="power wanted")] = 0.8,
    level: Annotated[float, typer.Option(help="confidence level whose interval must exclude 0")] = 0.95,
    estimator: Annotated[str, typer.Option(help=" | ".join(METHODS))] = "ols",
    residuals: RESIDUALS = "normal",
    smallest: Annotated[str | None, typer.Option(help="candidate smallest sizes, comma-separated "
                                                "(default: each pilot size with two larger ones)")] = None,
    min_trials: Annotated[str | None, typer.Option(help="candidate minimum trials per size (default 1,2,4,8)")] = None,
    max_trials: Annotated[str | None, typer.Option(help="candidate caps on runs per size, e.g. 4 (default: none)")] = None,
    groups: Annotated[str | None, typer.Option(help="candidate numbers of groups, e.g. 2,4 (default: all)")] = None,
    group_by: Annotated[str, typer.Option(help="columns whose combinations are the groups")] = "train_set,eval_set",
    trials: Annotated[int, typer.Option("--trials", help="simulated studies per candidate")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    rate: Annotated[float | None, typer.Option(help="training images per second per GPU: cost in GPU-hours")] = None,
    epochs: Annotated[float | None, typer.Option(help="epochs per run when the data has no epochs column (default 1)")] = None,
    where: WHERE = None,
    let: LET = None,
    na: NA = "drop",
    plot: Annotated[Path | None, typer.Option("--plot", help="power against cost (.png or .svg)")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    output: OUTPUT = None,
    quiet: QUIET = False,
    law: law_options.LAW = None,
    param: law_options.PARAM = None,
    dependence: Annotated[str | None, typer.Option(
        help="auto (default on pilots with runs and splits): also simulate each design's size at delta 0 with the "
             "pilot's run and split variances, flag sizes above 5 %; none: independent rows only")] = None,
) -> None:
    """Simulate the power of candidate designs and recommend the cheapest one reaching it."""
    check_choice(output_format, PLAN_FORMATS, "--format")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise OptErr(f"--plot {plot}: name a .png or .svg file in an existing folder")
    if plot is not None:
        check_output_file(plot, "--plot")
    if output is not None:
        check_output_file(output, "--output")
    from ..scaling.plan import plan  # on use: `fit` does not load the other commands' modules

    if law is not None or param:  # a law's power: the same candidates and output (cli/law_power.py)
        from .law_power import law_planner

        plan = law_planner(law, param)

    with ProgressBar(quiet) as progress:
        result = plan(data, delta=delta, formula=formula, effect=effect,
                      weights=example_weights(data, formula, weights),
                      weight_type=check_option(weight_type, WeightType, "weight type"),
                      power=power, level=level, estimator=estimator,
                      residuals=check_option(residuals, ResidualName, "residual model"),
                      smallest=_numbers(smallest, "--smallest", float), min_trials=_numbers(min_trials, "--min-trials", int),
                      max_trials=_numbers(max_trials, "--max-trials", int), n_groups=_numbers(groups, "--groups", int),
                      group_by=[g for g in group_by.split(",") if g.strip()],
                      n_trials=trials, seed=seed, rate=rate, epochs=epochs, where=where, let=let or [],
                      na=check_option(na, NaPolicy, "na"),
                      progress=progress, dependence=dependence)
    notes = [datasets.EXAMPLE_NOTE] if data is None else []
    text = render_json(result, notes) if output_format == "json" else render_table(result, notes)
    figures = {}
    if plot is not None:
        from ..plots.fit import to_bytes
        from ..plots.scaling import power_cost

        figures[plot] = to_bytes(power_cost(result), plot.suffix.lower().lstrip("."))
    emit_with_files(text, output, figures)  # the figure and the output land together or not at all


def header_lines(result: PlanResult) -> list[str]:
    """What was simulated, in words."""
    return [f"effect {result.effect}: pilot estimate {num(result.pilot_estimate, 4)}, simulated at delta = "
            f"{num(result.delta, 4)}; power = share of {result.n_trials} simulated studies whose {result.level:.0%} "
            f"interval ({result.estimator}) excludes 0",
            result.residuals_description]


def _cost(value: float, result: PlanResult) -> str:
    return f"{value:,.0f}" if result.rate is None else num(value, 4)


def verdict(result: PlanResult) -> str:
    """The recommendation in one line (or why there is none)."""
    best = result.recommended
    if best is None:
        top = max(result.designs, key=lambda d: d.power)
        return (f"no candidate reaches power {result.power_wanted:g}; the most powerful is '{top.design.label}' "
                f"({top.power:.3f}): add smaller sizes, more trials or groups")
    return (f"recommended: '{best.design.label}', power {best.power:.3f} ± {best.power_se:.3f} at "
            f"{_cost(best.cost, result)} {result.cost_unit} ({best.runs} training runs)")


def render_table(result: PlanResult, notes: list[str]) -> str:
    """The candidates, cheapest first, as rich renders them."""
    from rich.table import Table

    table = Table(title=f"Power to detect {result.effect} = {num(result.delta, 4)} (wanted {result.power_wanted:g})",
                  title_justify="left")
    cost = "GPU-hours" if result.rate else "images"
    for i, name in enumerate(["design", "sizes", "groups", "runs", cost, "power", "± MC SE", "mean SE", "SD of est.", "verdict"]):
        table.add_column(name, justify="left" if i in (0, 9) else "right")
    order = sorted(result.designs, key=lambda d: (d.cost, -d.power))
    for d in order:
        mark = "recommended" if d is result.recommended else ("flagged" if d.flags else ("reaches" if d.reaches else ""))
        table.add_row(d.design.label, f"{num(d.sizes[0], 6)}–{num(d.sizes[-1], 6)} ({len(d.sizes)})",
                      str(d.n_groups), str(d.runs), _cost(d.cost, result), f"{d.power:.3f}", f"{d.power_se:.3f}",
                      num(d.mean_se, 4), num(d.sd_estimate, 4), mark)
    flagged = [f"flagged '{d.design.label}': {'; '.join(d.flags)}" for d in order if d.flags]
    return render([*(f"[yellow]note: {n}[/yellow]" for n in notes), *header_lines(result), table, *flagged,
                   verdict(result)], width=140)


def render_json(result: PlanResult, notes: list[str]) -> str:
    """The JSON of ``plan --format json``, with the notes."""
    doc = result.to_dict()
    doc["notes"] = notes
    return to_json(doc)
