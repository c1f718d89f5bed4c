"""``powerlaw-stats effect``: a factor's change to the power law, estimated over experiment groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..data import datasets
from ..estimation.methods import label_words
from ..files import check_output_file
from ..formats import ci_labels, num, pval
from ..options import NaPolicy, WeightType, check_option
from ..results import FitResult
from . import app
from .common import boundary, check_choice, emit, render, table_width, to_json
from .options import CLUSTER, DATA, LET, METHOD, NA, OUTPUT, VCOV, WEIGHT_TYPE, WHERE

if TYPE_CHECKING:
    from ..scaling.effect import EffectResult

GROUPS_HELP = "comma-separated group columns, each combination its own power law (default train_set,eval_set; '' for one curve)"
SHARED_HELP = "one slope for all groups; the factor moves the intercept only"
DEPENDENCE_HELP = ("auto (default on schema tables with run_id, least squares and no --vcov/--cluster/--random): "
                   "the split variance picks the mixed model or CR1 by run | none: the rows as given")
RANDOM_HELP = ("comma-separated grouping columns with random intercepts, e.g. run_id,split_id: a mixed model "
               "(with --cluster split_id its CR2 covariance)")
EFFECT_FORMATS: tuple[str, ...] = ("table", "json")
KIND_LABEL = {"intercept": "intercept", "slope": "slope"}
KIND_NOTE = ("intercept: change to the response at the smallest size; "
             "slope: change to the response per doubling of the size")


@app.command("effect")
@boundary
def effect_command(
    data: DATA = None,
    factor: Annotated[str, typer.Option(help="the intervention: mixup/mix, width, or any column")] = "mix",
    groups: Annotated[str | None, typer.Option(help=GROUPS_HELP)] = None,
    shared_slope: Annotated[bool, typer.Option("--shared-slope", help=SHARED_HELP)] = False,
    size: Annotated[str, typer.Option(help="size column (TS is the schema's train_size)")] = "TS",
    response: Annotated[str, typer.Option(help="response (log2 error by default)")] = "log_err",
    method: METHOD = "ols",
    weights: Annotated[str | None, typer.Option(help="prior weights: a column or an expression such as 1/trials")] = None,
    weight_type: WEIGHT_TYPE = "inv.var",
    vcov: VCOV = None,
    cluster: CLUSTER = None,
    level: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    where: WHERE = None,
    let: LET = None,
    na: NA = "drop",
    random: Annotated[str | None, typer.Option(help=RANDOM_HELP)] = None,
    dependence: Annotated[str | None, typer.Option(help=DEPENDENCE_HELP)] = None,
    output_format: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    output: OUTPUT = None,
) -> None:
    """Write the effect model (reuse it with `fit`), fit it, and report the factor's change to intercept and slope."""
    check_choice(output_format, EFFECT_FORMATS, "--format")
    if output is not None:
        check_output_file(output, "--output")
    group_list = None if groups is None else [g for g in groups.split(",") if g.strip()]
    from ..scaling.effect import effect  # on use: `fit` does not load the other commands' modules

    result = effect(data, factor=factor, groups=group_list, shared_slope=shared_slope, size=size, response=response,
                    method=method, weights=weights, weight_type=check_option(weight_type, WeightType, "weight type"), vcov=vcov,
                    cluster=cluster or None, level=level, where=where, let=let or [], na=check_option(na, NaPolicy, "na"),
                    random=random, dependence=dependence)
    notes = [datasets.EXAMPLE_NOTE] if data is None else []
    emit(render_json(result, notes) if output_format == "json" else render_table(result, notes), output)


def summary_lines(result: EffectResult) -> list[str]:
    """The model in words: formula, groups, what is shared."""
    fit = result.fit
    groups = ", ".join(result.groups) or "none (one curve)"
    shared = ("every group its own intercept, one shared slope; the factor moves the intercept only" if result.shared_slope
              else "every group its own intercept and slope; the factor's change to both is shared by all groups")
    lines = [f"formula: {result.formula}", f"groups: {groups} ({result.n_groups} groups); {shared}", *_fit_lines(result)]
    if result.inference:
        lines.append(f"inference: {result.inference}")
    if result.dropped_groups:
        lines.append(f"left out of the groups (one value in the rows used): {', '.join(result.dropped_groups)}")
    if fit.dropped_rows:
        lines.append(f"rows dropped: {fit.dropped_rows} ({', '.join(f'{k}: {v}' for k, v in fit.dropped_reasons.items())})")
    if fit.aliased:
        lines.append(f"not defined because of singularities: {', '.join(fit.aliased)}")
    return lines


def _fit_lines(result: EffectResult) -> list[str]:
    fit = result.fit
    if isinstance(fit, FitResult):
        return [f"{label_words(fit.method, 'title')}, n = {fit.nobs}, residual df = {fit.df_resid:g}, "
                f"standard errors: {fit.vcov}"]
    parts = ", ".join(f"{k} {num(v, 4)}" for k, v in fit.variance_components.items())
    return [f"linear mixed model ({fit.estimation}), n = {fit.nobs}, standard errors: {fit.vcov}, df: {fit.df_method}",
            f"variance components: {parts}"]


def render_table(result: EffectResult, notes: list[str]) -> str:
    """The effect table, the meaning of its rows and the model in words."""
    from rich.table import Table

    lo, hi = ci_labels(result.fit.level)
    header = ["change to", "level", "term", "Estimate", lo, hi, "Std. Error", "t value", "Pr(>|t|)"]
    rows = [[KIND_LABEL[e.kind], e.level, e.term,
             *(num(v, 7) for v in (e.estimate, e.ci_low, e.ci_high, e.std_error, e.t_value)), pval(e.p_value, table=True)]
            for e in result.estimates]
    table = Table(title=f"Effect of {result.factor} ({result.factor_term})", title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 3 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return render([*(f"[yellow]note: {n}[/yellow]" for n in notes), table, KIND_NOTE, *summary_lines(result)],
                  width=table_width(header, rows))


def render_json(result: EffectResult, notes: list[str]) -> str:
    """The JSON of ``effect --format json``, with the notes."""
    doc = result.to_dict()
    doc["notes"] = notes
    return to_json(doc)
