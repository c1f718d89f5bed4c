"""``powerlaw-stats fit`` and ``powerlaw-stats bptest``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ..data import datasets
from ..errors import ConvergenceWarning
from ..estimation.methods import label_words
from ..files import check_output_file
from ..fitting import breusch_pagan, fit
from ..formats import num, pval
from ..inference.tests import TestResult
from ..options import BootWeights, NaPolicy, ScaleEst, SortBy, WeightType, check_option, choices
from ..results import BootstrapResult, FitResult
from . import app
from .common import FORMATS, boundary, check_choice, emit, example_weights, render, table_width, to_json
from .common import PowerlawStatsErrorOption as OptionErr
from .options import CLUSTER, DATA, FORMULA, LAW, LET, METHOD, NA, OUTPUT, PARAM, R_DEFAULTS, VCOV, WEIGHT_TYPE, WEIGHTS, WHERE


def resolve_formula(data: Path | None, formula: str | None) -> str:
    """The formula to use: the one given, or the seed's on the bundled example."""
    if formula:
        return formula
    if data is None:
        return datasets.EXAMPLE_FORMULA
    raise OptionErr("--formula is required with DATA, e.g. --formula \"log_err ~ I(log2(TS)-IXMin)*mix\"")


@app.command("fit")
@boundary
def fit_command(
    data: DATA = None,
    formula: FORMULA = None,
    method: METHOD = "ols",
    weights: WEIGHTS = None,
    weight_type: WEIGHT_TYPE = "inv.var",
    vcov: VCOV = None,
    cluster: CLUSTER = None,
    bootstrap: Annotated[int, typer.Option(help="wild-bootstrap replications, e.g. 9999 (0: none)")] = 0,
    bootstrap_weights: Annotated[str, typer.Option(help=" | ".join(choices(BootWeights)))] = "rademacher",
    seed: Annotated[int, typer.Option(help="seed of the bootstrap draws and of MM's subsampling")] = 1,
    where: WHERE = None,
    let: LET = None,
    na: NA = "drop",
    sort: Annotated[str, typer.Option(help="t (by |t|, largest first) | none (model order)")] = "t",
    level: Annotated[float, typer.Option(help="confidence level of the intervals")] = 0.95,
    r_defaults: R_DEFAULTS = False,
    ml: Annotated[bool, typer.Option("--ml", help="fit a mixed model by maximum likelihood (default REML)")] = False,
    tuning: Annotated[float | None, typer.Option(help="psi tuning constant (default 1.345 Huber, 4.685 bisquare)")] = None,
    scale_est: Annotated[str, typer.Option(help="MAD | proposal2 (Huber's proposal 2 scale)")] = "MAD",
    maxit: Annotated[int | None, typer.Option(help="IRWLS iteration limit (default 200; 20 with --r-defaults)")] = None,
    acc: Annotated[float | None, typer.Option(help="IRWLS convergence tolerance (default 1e-10; 1e-4 with --r-defaults)")] = None,
    output_format: Annotated[str, typer.Option("--format", help=" | ".join(FORMATS))] = "table",
    output: OUTPUT = None,
    law: LAW = None,
    param: PARAM = None,
) -> None:
    """Fit a power-law model and print R's coefficient table, sorted by |t|.

    With lme4's random-effect terms in the formula (``+ (1|run_id) + (1|split_id)``) the model is
    a linear mixed model: lmerTest's table with Satterthwaite df, then the variance components.
    --law fits a law (docs/laws.md).
    """
    if law is not None or param:
        from .law import run_law_fit  # a law's parameters have formulas of their own: its own module

        return run_law_fit(**locals())
    check_choice(output_format, FORMATS, "--format")
    order: SortBy = check_choice(sort, choices(SortBy), "--sort")
    check_choice(bootstrap_weights, choices(BootWeights), "--bootstrap-weights")
    if bootstrap < 0 or bootstrap == 1:
        raise OptionErr(f"--bootstrap {bootstrap}: give 0 (none) or at least 2 replications, e.g. 9999")
    if output is not None:
        check_output_file(output, "--output")  # before the fit, not after it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = fit(resolve_formula(data, formula), data, method=method, weights=example_weights(data, formula, weights),
                     weight_type=check_option(weight_type, WeightType, "weight type"), vcov=vcov,
                     cluster=cluster or None, level=level, tuning=tuning,
                     scale_est=check_option(scale_est, ScaleEst, "scale_est"), maxit=maxit, acc=acc, r_defaults=r_defaults,
                     na=check_option(na, NaPolicy, "na"), where=where, let=let or [], seed=seed, bootstrap=bootstrap,
                     bootstrap_weights=check_option(bootstrap_weights, BootWeights, "bootstrap weights"), reml=not ml,
                     columns="used")  # the command shows no data column, so it reads only those the model needs
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    if data is None:
        notes.insert(0, datasets.EXAMPLE_NOTE)
    if not isinstance(result, FitResult):  # random-effect terms: lme4's model, lmerTest's table
        from .mixed import RENDERERS as MIXED_RENDERERS

        emit(MIXED_RENDERERS[output_format](result, order, notes), output)
        return
    if ml:
        raise OptionErr("--ml applies to a formula with random-effect terms such as (1|run_id)")
    bp = breusch_pagan(result)
    emit(RENDERERS[output_format](result, bp, order, notes), output)


@app.command("bptest")
@boundary
def bptest_command(
    data: DATA = None,
    formula: Annotated[str | None, typer.Option("--formula", "-f", help="model formula")] = None,
    weights: WEIGHTS = None,
    classic: Annotated[bool, typer.Option("--classic", help="Breusch and Pagan's original statistic, not Koenker's")] = False,
    r_compatible: Annotated[bool, typer.Option("--r-compatible", help="lmtest's form on a weighted fit (raw residuals)")] = False,
    where: WHERE = None,
    let: LET = None,
    output_format: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """Breusch–Pagan test for heteroscedasticity of the least-squares residuals."""
    check_choice(output_format, ("table", "json"), "--format")
    weights = example_weights(data, formula, weights)
    result = fit(resolve_formula(data, formula), data, weights=weights, where=where, let=let or [], columns="used")
    if not isinstance(result, FitResult):
        raise OptionErr("bptest tests the residual variance of a model without random effects; drop the (1|g) terms")
    bp = breusch_pagan(result, studentize=not classic, whitened=False if r_compatible else None)
    emit(to_json(bp.to_dict()) if output_format == "json" else bp_line(bp) + "\n", None)


# ----------------------------------------------------------------------------- rendering


def bp_line(bp: TestResult) -> str:
    """The Breusch–Pagan test in one line, as lmtest prints it."""
    return f"{bp.method}: BP = {bp.statistic:.4f}, df = {bp.df:g}, p-value = {_p(bp.pvalue)}"


def footer_lines(result: FitResult, bp: TestResult) -> list[str]:
    """The lines under the table: sample, fit quality, weights, dropped rows, convergence, BP."""
    lines = [f"n = {result.nobs}, residual df = {result.df_resid:g}"]
    if result.ls_summary is not None:
        s = result.ls_summary
        lines[0] += f", residual standard error = {num(result.scale, 5)}"
        lines.append(f"R² = {s.rsquared:.4f}, adjusted R² = {s.rsquared_adj:.4f}, F = {num(s.fvalue, 5)} "
                     f"on {s.f_df[0]:g} and {s.f_df[1]:g} df, p-value = {_p(s.f_pvalue)}")
    elif result.control is not None:
        c = result.control
        lines[0] += f", scale s = {num(result.scale, 5)} ({result.scale_est}), tuning constant {result.tuning:g}"
        lines.append(f"{'converged' if result.converged else 'NOT CONVERGED'} after {result.n_iter} iterations "
                     f"(acc {c.acc:g}, maxit {c.maxit})")
    lines.append(weights_line(result))
    if result.dropped_rows:
        why = ", ".join(f"{k}: {v}" for k, v in result.dropped_reasons.items())
        lines.append(f"rows dropped: {result.dropped_rows} ({why})")
    if result.aliased:
        lines.append(f"{len(result.aliased)} not defined because of singularities: {', '.join(result.aliased)}")
    if result.vcov not in ("classic", "rlm (MASS, XtX)"):
        lines.append(f"standard errors: {result.vcov}")
    if result.bootstrap is not None:
        lines.append(bootstrap_line(result.bootstrap))
    lines.append(bp_line(bp))
    return lines


def bootstrap_line(b: BootstrapResult) -> str:
    """The bootstrap's settings in one footer line."""
    by = f", drawn by cluster of {b.cluster}" if b.cluster else ""
    failed = f", {b.n_failed} refits failed and were left out" if b.n_failed else ""
    return (f"wild bootstrap: {b.n_boot} replications, {b.weights} weights{by}, seed {b.seed}, "
            f"studentized by {b.studentized_by}{failed}")


def _boot_cells(result: FitResult, boot: BootstrapResult, sort: SortBy) -> tuple[list[str], list[list[str]]]:
    tab = boot.table().reindex([t for t in result.table(sort).index if t in boot.params.index])
    tab = tab.drop(columns="Estimate")  # already in the main table; the rest must fit 120 columns
    rows = [[term, *(_p(v) if str(col).endswith(" p") else num(v, 4) for col, v in r.items())]
            for term, r in tab.iterrows()]
    return ["term", "boot SE", "pct low", "pct high", "pct p", "stud low", "stud high", "stud p"], rows


def weights_line(result: FitResult) -> str:
    """The prior weights in one line: their kind and spread."""
    if result.prior_weights is None:
        return "prior weights: none"
    w = np.asarray(result.prior_weights)
    kind = "inverse-variance" if result.weight_type == "inv.var" or result.method == "ols" else "case"
    spread = f"min {num(w.min(), 4)}, median {num(float(np.median(w)), 4)}, max {num(w.max(), 4)}"
    return f"prior weights ({kind}): {spread}"


def _title(result: FitResult) -> str:
    weighted = " (weighted)" if result.prior_weights is not None else ""
    return f"{label_words(result.method, 'title')}{weighted}: {result.formula}"


def _cells(result: FitResult, sort: SortBy) -> tuple[list[str], list[list[str]]]:
    tab = result.table(sort)
    header = ["term", *tab.columns]
    rows = [[term, *(num(v, 7) for v in r.iloc[:5]), _p(r.iloc[5])] for term, r in tab.iterrows()]
    return header, rows


def render_table(result: FitResult, bp: TestResult, sort: SortBy, notes: list[str]) -> str:
    """The coefficient table (and bootstrap table) as rich renders it, with the footer."""
    from rich.table import Table

    header, rows = _cells(result, sort)
    table = Table(title=_title(result), title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    extra = [f"[yellow]note: {n}[/yellow]" for n in notes]
    width = table_width(header, rows)
    if result.bootstrap is not None:
        width = max(width, table_width(*_boot_cells(result, result.bootstrap, sort)))
    return render([*extra, table, *_boot_table(result, sort), *footer_lines(result, bp)], width=width)


def _boot_table(result: FitResult, sort: SortBy) -> list:
    boot = result.bootstrap
    if boot is None:
        return []
    from rich.table import Table

    header, rows = _boot_cells(result, boot, sort)
    table = Table(title=f"Wild bootstrap ({boot.n_boot} replications): percentile and studentized",
                  title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return [table]


def render_markdown(result: FitResult, bp: TestResult, sort: SortBy, notes: list[str]) -> str:
    """The tables and footer as Markdown."""
    header, rows = _cells(result, sort)
    header = [h.replace("|", "\\|") for h in header]  # Pr(>|t|) would split the column
    lines = [f"**{_title(result)}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(r)) + " |" for r in rows]
    if result.bootstrap is not None:
        bh, brows = _boot_cells(result, result.bootstrap, sort)
        lines += ["", "| " + " | ".join(bh) + " |", "|" + "---|" * len(bh)]
        lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(r)) + " |" for r in brows]
    return "\n".join([*(f"> note: {n}" for n in notes), *lines, "", *(f"- {line}" for line in footer_lines(result, bp))]) + "\n"


def render_csv(result: FitResult, bp: TestResult, sort: SortBy, notes: list[str]) -> str:
    """The coefficient table (and bootstrap columns) as CSV, numbers to 17 digits."""
    tab = result.table(sort)
    if result.bootstrap is not None:
        tab = tab.join(result.bootstrap.table().drop(columns="Estimate"))
    tab.index.name = "term"
    return tab.to_csv(float_format="%.17g")


def render_json(result: FitResult, bp: TestResult, sort: SortBy, notes: list[str]) -> str:
    """The JSON of ``fit --format json``, with the Breusch–Pagan test and the notes."""
    doc = result.to_dict(sort, breusch_pagan=bp)
    doc["notes"] = notes + doc.get("notes", [])  # the command's notes first, then what the result says of its nulls
    return to_json(doc)


RENDERERS = {"table": render_table, "markdown": render_markdown, "csv": render_csv, "json": render_json}


def _p(p: float) -> str:
    return pval(p, table=True)  # R's coefficient tables print "<2e-16"
