"""``powerlaw-stats predict``: a fitted law's forecast at training sizes, with its interval."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..data import datasets
from ..formats import num
from ..options import NaPolicy, PredictInterval, check_option, choices
from . import app
from .common import FORMATS, PowerlawStatsErrorOption, boundary, check_choice, emit, render, to_json
from .options import DATA, LET, NA, OUTPUT, WEIGHTS, WHERE

if TYPE_CHECKING:
    import pandas as pd

AT_HELP = "training size to predict at (repeat: --at 5120 --at 40960)"
PARAM_HELP = "a parameter's formula, e.g. 'b ~ mix' (repeat per parameter; default ~ 1 each)"
PLOT_HELP = "draw the curves, band and interval out to the largest --at (.png or .svg)"
INTERVAL_HELP = f"{' | '.join(choices(PredictInterval))}: the mean curve's band, or the interval for one new run"
NEW_WEIGHT_HELP = ("prior weight of the new observation (with weights 1/trials: 1/k for a mean of k runs); "
                   "default: the average weight of the rows fitted")


@app.command("predict")
@boundary
def predict_command(
    data: DATA = None,
    at: Annotated[list[float], typer.Option("--at", help=AT_HELP)] = [],  # noqa: B006  (typer's list option)
    law: Annotated[str, typer.Option(help="the law to fit: loglinear | saturating | pow3 | ...")] = "saturating",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help=PARAM_HELP)] = None,
    weights: WEIGHTS = None,
    interval: Annotated[str, typer.Option(help=INTERVAL_HELP)] = "prediction",
    level: Annotated[float, typer.Option(help="coverage of the interval")] = 0.95,
    new_weight: Annotated[float | None, typer.Option(help=NEW_WEIGHT_HELP)] = None,
    where: WHERE = None,
    let: LET = None,
    na: NA = "drop",
    plot: Annotated[Path | None, typer.Option("--plot", help=PLOT_HELP)] = None,
    output_format: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "table",
    output: OUTPUT = None,
) -> None:
    """Fit a law and forecast the error at new training sizes for every group, with a band or a prediction interval."""
    check_choice(output_format, FORMATS, "--format")
    kind: PredictInterval = check_option(interval, PredictInterval, "--interval")
    if not at:
        raise PowerlawStatsErrorOption("name at least one size to predict at, e.g. --at 40960")
    if plot is not None and (plot.suffix.lower() not in (".png", ".svg") or not plot.parent.exists()):
        raise PowerlawStatsErrorOption(f"--plot {plot}: name a .png or .svg file in an existing folder")
    from ..extrapolation.predict import ExtrapolationWarning, predict_sizes
    from ..laws import fit_law

    if data is None and weights is None:
        weights = datasets.EXAMPLE_WEIGHTS
    res = fit_law(data, law, list(param or []), weights=weights, level=level, where=where, let=let or [],
                  na=check_option(na, NaPolicy, "na"), profile=False, compare=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)  # the table's note says it instead
        tab = predict_sizes(res, at, interval=kind, level=level, weights=new_weight)
    notes = [datasets.EXAMPLE_NOTE] if data is None else []
    if (tab["distance"] > 0).any():
        notes.append(f"sizes beyond the data (up to {tab['distance'].max():.2f} observed log-size ranges): the "
                     "law's form carries them; `powerlaw-stats backtest` shows how far such forecasts held")
    if not res.converged:
        notes.append(f"the {res.law} law did not converge ({res.message}); the forecast uses the last iterate")
    if plot is not None:
        from ..plots.fit import save
        from ..plots.forecast import forecast_figure

        save(forecast_figure(res, max(at), level=level), plot)
    emit(RENDERERS[output_format](tab, res, interval, level, notes), output)


def _title(res, interval: str, level: float) -> str:
    return f"{res.law} law, {level:.0%} {interval} interval ({res.nobs} rows, {res.df_resid:g} residual df)"


def _cells(tab: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    error_scale = "error" in tab.columns
    cols = [c for c in tab.columns if c not in ("fit", "se_fit", "lower", "upper", "error", "error_lower",
                                                "error_upper", "TS", "distance")]
    header = [*cols, "TS", "distance", *(["error", "lower", "upper"] if error_scale else ["fit", "lower", "upper"]),
              "se_fit (response)"]
    picks = ["error", "error_lower", "error_upper"] if error_scale else ["fit", "lower", "upper"]
    rows = [[str(r[c]) for c in cols] + [num(r["TS"], 7), num(r["distance"], 3)] + [num(r[c], 4) for c in picks]
            + [num(r["se_fit"], 3)] for _, r in tab.iterrows()]
    return header, rows


def render_table(tab: pd.DataFrame, res, interval: str, level: float, notes: list[str]) -> str:
    """One row per group and size."""
    from rich.table import Table

    header, rows = _cells(tab)
    table = Table(title=_title(res, interval, level), title_justify="left")
    for name in header:
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return render([*(f"[yellow]note: {n}[/yellow]" for n in notes), table])


def render_markdown(tab: pd.DataFrame, res, interval: str, level: float, notes: list[str]) -> str:
    """The table as Markdown."""
    header, rows = _cells(tab)
    lines = [f"**{_title(res, interval, level)}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join([*(f"> note: {n}" for n in notes), *lines]) + "\n"


def render_csv(tab: pd.DataFrame, res, interval: str, level: float, notes: list[str]) -> str:
    """Every column, numbers to 17 digits."""
    return tab.to_csv(index=False, float_format="%.17g")


def render_json(tab: pd.DataFrame, res, interval: str, level: float, notes: list[str]) -> str:
    """Settings, the rows, the notes."""
    return to_json({"law": res.law, "formulas": res.formulas, "interval": interval, "level": level,
                    "df_resid": res.df_resid, "scale": res.scale, "rows": tab.to_dict("records"), "notes": notes})


RENDERERS = {"table": render_table, "markdown": render_markdown, "csv": render_csv, "json": render_json}
