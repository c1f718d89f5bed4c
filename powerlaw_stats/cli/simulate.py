"""``powerlaw-stats simulate``: do the standard errors hold up on data like ours?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..data import datasets
from ..estimation.methods import METHODS, label_words
from ..files import check_output_file, check_output_folder
from ..formats import num
from ..options import FigureFormat, NaPolicy, ResidualName, SeLabel, WeightType, check_option, choices
from . import app
from . import options as law_options  # simulate --law (cli/law_power.py)
from .common import boundary, check_choice, emit_with_files, example_weights, render, table_width, to_json
from .fit import resolve_formula
from .options import CLUSTER, DATA, FORMULA, LET, NA, OUTPUT, QUIET, R_DEFAULTS, RESIDUALS, WEIGHT_TYPE, WEIGHTS, WHERE
from .progress import ProgressBar

if TYPE_CHECKING:
    from ..simulation.simulate import SimulationResult

SIM_FORMATS: tuple[str, ...] = ("table", "json", "csv")
COLUMNS = (("truth", "truth"), ("mean_estimate", "mean est."), ("bias", "bias"), ("sd_estimate", "SD of est."),
           ("mean_se", "mean SE"), ("se_ratio", "SE ratio"), ("coverage", "coverage"), ("rmse", "RMSE"))


@app.command("simulate")
@boundary
def simulate_command(
    data: DATA = None,
    formula: FORMULA = None,
    weights: WEIGHTS = None,
    weight_type: WEIGHT_TYPE = "inv.var",
    coef: Annotated[list[str] | None, typer.Option("--coef", help="term to report (repeatable; default all)")] = None,
    trials: Annotated[int, typer.Option("--trials", help="number of simulated data sets")] = 1000,
    residuals: RESIDUALS = "normal",
    design: Annotated[str, typer.Option(help="observed | n | min4 (minK: at least K trials per size)")] = "observed",
    min_trials: Annotated[int | None, typer.Option(help="the K of a min design, e.g. --design min4 --min-trials 6")] = None,
    estimators: Annotated[str, typer.Option(help="comma-separated: " + ", ".join(METHODS))] = "ols,huber,bisquare",
    vcov: Annotated[str | None, typer.Option(help="standard errors to check, comma-separated: classic, HC0, HC1, HC3 "
                                             "(least squares), CR1, CR3; default classic (and CR1 with --cluster)")] = None,
    cluster: CLUSTER = None,
    truth: Annotated[str | None, typer.Option(help="estimator whose fit gives the truth (default ols)")] = None,
    within: Annotated[str | None, typer.Option(help="column: resample residuals within its groups")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    level: Annotated[float, typer.Option(help="confidence level whose coverage is measured")] = 0.95,
    where: WHERE = None,
    let: LET = None,
    na: NA = "drop",
    output_format: Annotated[str, typer.Option("--format", help=" | ".join(SIM_FORMATS))] = "table",
    output: OUTPUT = None,
    plots: Annotated[Path | None, typer.Option("--plots", help="folder for the histogram panels and the summary figure")] = None,
    plot_format: Annotated[str, typer.Option(help=" | ".join(choices(FigureFormat)))] = "png",
    r_defaults: R_DEFAULTS = False,
    quiet: QUIET = False,
    law: law_options.LAW = None,
    param: law_options.PARAM = None,
) -> None:
    """Simulate data sets like the real one and check each estimator's bias, SE and coverage."""
    if law is not None or param:  # a law's simulation: its own module
        from .law_power import run_law_simulate

        return run_law_simulate(**locals())
    check_choice(output_format, SIM_FORMATS, "--format")
    check_choice(plot_format, choices(FigureFormat), "--plot-format")
    names = tuple(e.strip() for e in estimators.split(",") if e.strip())
    if output is not None:
        check_output_file(output, "--output")
    if plots is not None:
        check_output_folder(plots, "--plots")
    from ..simulation.simulate import simulate  # on use: `fit` does not load the other commands' modules

    with ProgressBar(quiet) as progress:
        result = simulate(resolve_formula(data, formula), data, weights=example_weights(data, formula, weights),
                          weight_type=check_option(weight_type, WeightType, "weight type"), estimators=names,
                          residuals=check_option(residuals, ResidualName, "residual model"), design=design,
                          min_trials=min_trials, n_trials=trials, seed=seed, truth=truth, terms=coef or None, level=level,
                          where=where, let=let or [], na=check_option(na, NaPolicy, "na"), progress=progress,
                          resample_within=within, r_defaults=r_defaults, vcov=vcov, cluster=cluster or None)
    notes = [datasets.EXAMPLE_NOTE] if data is None else []
    emit_with_files(RENDERERS[output_format](result, notes), output, _figures(result, plots, plot_format))


def _figures(result: SimulationResult, plots: Path | None, plot_format: str) -> dict[Path, bytes]:
    """Every figure ``--plots`` asks for, drawn in memory: one folder per term when several were simulated."""
    if plots is None:
        return {}
    from ..plots.simulation import figure_files

    several = len(result.terms) > 1
    return {(plots / _slug(term) if several else plots) / name: data
            for term in result.terms for name, data in figure_files(result, plot_format, term).items()}


def _slug(term: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in term).strip("_")


# ----------------------------------------------------------------------------- rendering


def header_lines(result: SimulationResult) -> list[str]:
    """What was simulated, in words: trials, seed, residual model, design."""
    return [f"{result.n_trials} trials, seed {result.seed}, coverage of the {result.level:.0%} t interval; "
            f"failed trials are counted and left out",
            result.residuals_description, result.design_description]


def render_table(result: SimulationResult, notes: list[str]) -> str:
    """One table per estimator: the summary rows of each term (and kind of SE)."""
    from rich.table import Table

    summary = result.summary
    labels = summary["estimator"].map(SeLabel.parse)
    base, kind = labels.map(lambda label: label.method), labels.map(lambda label: label.kind)
    several = bool((kind != "classic").any())  # more than one kind of SE: compare them row by row in each table
    header = ["term", *(["SE"] if several else []), *(label for _, label in COLUMNS), "failures"]
    tables, width = [], 120
    for estimator, rows in summary.assign(_kind=kind).groupby(base, sort=False):
        cells = [[r["term"], *([r["_kind"]] if several else []), *(num(r[key], 4) for key, _ in COLUMNS),
                  str(int(r["failures"]))] for _, r in rows.sort_values("term", kind="stable", key=_term_order(rows)).iterrows()]
        table = Table(title=f"{label_words(estimator, 'title')}: {result.formula}", title_justify="left")
        for i, label in enumerate(header):
            table.add_column(label, justify="left" if i < len(header) - len(COLUMNS) - 1 else "right", no_wrap=True)
        for row in cells:
            table.add_row(*row)
        tables.append(table)
        width = max(width, table_width(header, cells))
    return render([*(f"[yellow]note: {n}[/yellow]" for n in notes), *header_lines(result), *tables], width=width)


def _term_order(rows):
    # the kinds of SE of one term stand together, the terms in the model's order
    order = {t: i for i, t in enumerate(dict.fromkeys(rows["term"]))}
    return lambda col: col.map(order)


def render_json(result: SimulationResult, notes: list[str]) -> str:
    """The JSON of ``simulate --format json``."""
    return to_json(result.to_dict())


def render_csv(result: SimulationResult, notes: list[str]) -> str:
    """The summary rows as CSV, numbers to 17 digits."""
    return result.summary.to_csv(index=False, float_format="%.17g")


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv}
