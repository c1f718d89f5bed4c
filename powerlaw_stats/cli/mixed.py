"""``powerlaw-stats fit`` for a formula with random-effect terms: lmerTest's table and lme4's variance components.

``fit_command`` sends a :class:`~powerlaw_stats.mixed.MixedResult` here. The coefficient table
carries a degrees of freedom per term (Satterthwaite's, or Bell and McCaffrey's with CR2); below
it the variance components as lme4's ``VarCorr`` prints them (variance and standard deviation by
grouping factor, ``Residual`` last), then the fit's criteria. There is no Breusch–Pagan line: the
test is for a model without random effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..formats import num, pval
from ..options import SortBy
from .common import render, table_width, to_json

if TYPE_CHECKING:
    import pandas as pd

    from ..mixed import MixedResult


def sorted_table(result: MixedResult, sort: SortBy) -> pd.DataFrame:
    """The coefficient table in model order, or by |t| (largest first) as ``fit`` sorts."""
    tab = result.table()
    if sort == "t":
        tab = tab.loc[result.tvalues.abs().sort_values(ascending=False, kind="stable").index]
    return tab


def coefficient_cells(result: MixedResult, sort: SortBy) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of the coefficient table."""
    tab = sorted_table(result, sort)
    rows = [[str(term), num(r.iloc[0], 7), num(r.iloc[1], 7), num(r.iloc[2], 6), num(r.iloc[3], 7),
             pval(r.iloc[4], table=True), num(r.iloc[5], 7), num(r.iloc[6], 7)] for term, r in tab.iterrows()]
    return ["term", *map(str, tab.columns)], rows


def component_cells(result: MixedResult) -> tuple[list[str], list[list[str]]]:
    """lme4's ``VarCorr``: one row per variance (and covariance, with its correlation)."""
    rows = []
    for _, r in result.varcorr.iterrows():
        name = r["var1"] if not r["var2"] else f"{r['var1']},{r['var2']}"
        rows.append([str(r["grp"]), str(name), num(r["vcov"], 6),
                     num(r["sdcor"], 6) if r["var2"] == "" else f"cor {num(r['sdcor'], 4)}"])
    return ["group", "name", "variance", "std. dev."], rows


def footer_lines(result: MixedResult) -> list[str]:
    """What the fit was and how it went, one fact a line."""
    groups = ", ".join(f"{g} {k}" for g, k in result.ngroups.items())
    lines = [f"n = {result.nobs}; groups: {groups}",
             f"{result.estimation}: logLik = {num(result.loglik, 7)}, AIC = {num(result.aic, 7)}, BIC = {num(result.bic, 7)}",
             f"standard errors: {result.vcov}; df: {result.df_method}"]
    lines.append("prior weights: inverse-variance (lme4's weights)" if result.weighted else "prior weights: none")
    if result.is_singular:
        zeros = ", ".join(result.zero_components) or "a variance or correlation at its bound"
        lines.append(f"boundary (singular) fit: {zeros} estimated at 0, as lme4 reports it")
    if not result.converged:
        lines.append(f"NOT CONVERGED after {result.n_iter} iterations")
    if result.dropped_rows:
        lines.append(f"rows dropped: {result.dropped_rows} ("
                     + ", ".join(f"{k}: {v}" for k, v in result.dropped_reasons.items()) + ")")
    if result.aliased:
        lines.append(f"{len(result.aliased)} fixed effects dropped as aliased: {', '.join(result.aliased)}")
    return lines


def render_table(result: MixedResult, sort: SortBy, notes: list[str]) -> str:
    """Both tables as rich renders them, with the footer."""
    from rich.table import Table

    tables, width = [], 0
    title = f"Linear mixed model ({result.estimation}): {result.formula}"
    for name, (header, rows) in ((title, coefficient_cells(result, sort)), ("Variance components", component_cells(result))):
        table = Table(title=name, title_justify="left")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i < 2 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        tables.append(table)
        width = max(width, table_width(header, rows))
    extra = [f"[yellow]note: {n}[/yellow]" for n in notes]
    return render([*extra, *tables, *footer_lines(result)], width=width)


def render_markdown(result: MixedResult, sort: SortBy, notes: list[str]) -> str:
    """Both tables and the footer as Markdown."""
    lines = [f"**Linear mixed model ({result.estimation}): {result.formula}**"]
    for header, rows in (coefficient_cells(result, sort), component_cells(result)):
        lines += ["", "| " + " | ".join(h.replace("|", "\\|") for h in header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(r)) + " |" for r in rows]
    return "\n".join([*(f"> note: {n}" for n in notes), *lines, "", *(f"- {line}" for line in footer_lines(result))]) + "\n"


def render_csv(result: MixedResult, sort: SortBy, notes: list[str]) -> str:
    """The coefficient table as CSV, numbers to 17 digits (the variance components are in the JSON)."""
    tab = sorted_table(result, sort)
    tab.index.name = "term"
    return tab.to_csv(float_format="%.17g")


def render_json(result: MixedResult, sort: SortBy, notes: list[str]) -> str:
    """The fit's JSON (coefficients with df, ``variance_components``, criteria) with the notes."""
    doc = result.to_dict()
    order = list(sorted_table(result, sort).index)
    doc["coefficients"] = sorted(doc["coefficients"], key=lambda c: order.index(c["term"]))
    doc["notes"] = notes
    return to_json(doc)


RENDERERS = {"table": render_table, "markdown": render_markdown, "csv": render_csv, "json": render_json}
