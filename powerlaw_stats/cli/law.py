"""``powerlaw-stats fit --law``: a law (the saturating power law, ...) with factor effects on its parameters.

``fit`` hands over here when ``--law`` or ``--param`` is given; the law is fitted by
:func:`powerlaw_stats.laws.fit_law` and printed in every format ``fit`` has, with a footer that
says where the floor is, whether a bound holds, and whether the data need a floor at all.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import datasets
from ..errors import ConvergenceWarning, IdentificationWarning
from ..estimation.methods import label_words
from ..formats import num, pval
from ..options import BootWeights, NaPolicy, SortBy, check_option, choices
from .common import FORMATS, check_choice, emit, render, table_width, to_json
from .common import PowerlawStatsErrorOption as OptionErr

if TYPE_CHECKING:
    from ..laws import LawFit
    from ..results import BootstrapResult

# options of ``fit`` a law fit has no use for, with the value that means "not given"
_NOT_FOR_LAWS = {"formula": None, "weight_type": "inv.var", "r_defaults": False, "acc": None}


def example_params(law: str) -> dict[str, str]:
    """The bundled example's formulas for the parameters ``law`` has (the others keep the law's defaults).

    Examples
    --------
    >>> example_params("saturating")["E"], example_params("loglinear")
    ('TrainSet*EvalSet', {'a': 'mix+TrainSet*EvalSet', 'b': 'mix+TrainSet*EvalSet'})
    """
    from ..laws import get_law

    return {p: f for p, f in datasets.EXAMPLE_LAW_PARAMS.items() if p in get_law(law).params}


def _given_on_command_line(name: str) -> bool:
    """Whether option ``name`` came from the command line rather than its default."""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def run_law_fit(*, data: Path | None, law: str | None, param: Sequence[str] | None, method: str, weights: str | None,
                vcov: str | None, cluster: Sequence[str] | None, bootstrap: int, bootstrap_weights: str, seed: int,
                where: str | None, let: Sequence[str] | None, na: str, sort: str, level: float, tuning: float | None,
                scale_est: str, maxit: int | None, output_format: str, output: Path | None, **unused: object) -> None:
    """Fit ``law`` with the ``--param`` formulas and print it; ``unused`` are ``fit``'s options a law refuses."""
    from ..laws import LAWS, fit_law, get_law, law_bootstrap

    name = check_choice(law or "saturating", tuple(LAWS), "--law")
    for option, default in _NOT_FOR_LAWS.items():
        if option in unused and unused[option] != default:
            flag = "--" + option.replace("_", "-")
            raise OptionErr(f"{flag} does not apply to a law fit: give each parameter's formula with --param, "
                            "e.g. --param \"E ~ EvalSet\"" if option == "formula" else
                            f"{flag} does not apply to a law fit (inverse-variance weights, the law's own solver)")
    check_choice(output_format, FORMATS, "--format")
    order = check_choice(sort, choices(SortBy), "--sort") if _given_on_command_line("sort") else "none"
    check_choice(bootstrap_weights, choices(BootWeights), "--bootstrap-weights")
    if bootstrap < 0 or bootstrap == 1:
        raise OptionErr(f"--bootstrap {bootstrap}: give 0 (none) or at least 2 replications, e.g. 999")
    the_law = get_law(name)
    example = data is None and not param
    params = example_params(name) if example else list(param or [])
    chosen_method = method if _given_on_command_line("method") or the_law.method == "ols" else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", IdentificationWarning)
        result = fit_law(data, name, params, weights=weights or (datasets.EXAMPLE_WEIGHTS if example else None),
                         method=chosen_method, vcov=vcov, cluster=cluster or None, level=level,  # type: ignore[arg-type]
                         tuning=tuning, scale_est=scale_est, where=where, let=let or [],
                         na=check_option(na, NaPolicy, "na"), maxit=maxit or 500, seed=seed)
        boot = law_bootstrap(result, bootstrap, weights=bootstrap_weights, seed=seed) if bootstrap else None
    notes = list(dict.fromkeys(str(w.message) for w in caught
                               if issubclass(w.category, (ConvergenceWarning, IdentificationWarning))))
    if data is None:
        notes.insert(0, datasets.EXAMPLE_NOTE)
    emit(RENDERERS[output_format](result, boot, order, notes), output)


# ----------------------------------------------------------------------------- rendering


def _table(result: LawFit, sort: str):
    tab = result.table()
    if sort == "t":  # by |t| within each parameter, so E, a and b stay together
        param = [t.split(".")[0] for t in tab.index]
        key = np.nan_to_num(-np.abs(tab["t value"].to_numpy()), nan=np.inf)
        rank = {p: i for i, p in enumerate(dict.fromkeys(param))}
        tab = tab.iloc[np.lexsort((key, [rank[p] for p in param]))]
    return tab


def _cells(result: LawFit, sort: str) -> tuple[list[str], list[list[str]]]:
    tab = _table(result, sort)
    header = ["term", *tab.columns]
    rows = [[term, *(pval(v, table=True) if col == "Pr(>|t|)" else num(v, 7) for col, v in r.items())]
            for term, r in tab.iterrows()]
    return header, rows


def _title(result: LawFit) -> str:
    weighted = " (weighted)" if result.prior_weights is not None else ""
    formulas = ", ".join(f"{p} ~ {f}" for p, f in result.formulas.items())
    return f"{result.law} law, {label_words(result.method, 'title')}{weighted}: {formulas}"


def footer_lines(result: LawFit, boot: BootstrapResult | None = None) -> list[str]:
    """Under the table: the law, sample and fit, weights, floors and bounds, the floor test, convergence."""
    from ..laws import get_law

    lines = [f"law: {get_law(result.law).summary}"]
    lines += [f"n = {result.nobs}, residual df = {result.df_resid:g}, "
             + (f"residual standard error = {num(result.scale, 5)}" if result.method == "ols"
                else f"scale s = {num(result.scale, 5)}, tuning constant {num(result.tuning, 4)}")]
    lines.append(("converged" if result.converged else "NOT CONVERGED (the estimates are the last iterate)")
                 + f" after {result.n_iter} iterations (tolerance {result.control.get('tol', 1e-10):g})")
    lines.append(_weights_line(result))
    if result.vcov_kind != "classic":
        lines.append(f"standard errors: {result.vcov}")
    lines += _floor_lines(result)
    if result.dropped_rows:
        why = ", ".join(f"{k}: {v}" for k, v in result.dropped_reasons.items())
        lines.append(f"rows dropped: {result.dropped_rows} ({why})")
    if boot is not None:
        failed = f", {boot.n_failed} refits failed and were left out" if boot.n_failed else ""
        lines.append(f"wild bootstrap: {boot.n_boot} replications, {boot.weights} weights, seed {boot.seed}, every "
                     f"replicate refitted by the law's own estimator{failed}")
    return lines


def _weights_line(result: LawFit) -> str:
    if result.prior_weights is None:
        return "prior weights: none"
    w = np.asarray(result.prior_weights)
    return (f"prior weights (inverse-variance): min {num(w.min(), 4)}, median {num(float(np.median(w)), 4)}, "
            f"max {num(w.max(), 4)}")


def _floor_lines(result: LawFit) -> list[str]:
    lines = []
    if result.floors is not None:
        for cell, r in result.floors.iterrows():
            prof = (f"; profile {num(r['profile_lower'])} to {num(r['profile_upper'])}"
                    if "profile_lower" in r and r["profile_lower"] == r["profile_lower"] else "")
            where = "0, at the bound" if r["at_bound"] else f"{num(r['estimate'])} (SE {num(r['std_error'])})"
            lines.append(f"floor {cell} = {where}{prof}")
    if result.bounds and result.floors is not None:
        lines.append("bound_active: " + (", ".join(result.bound_active) if result.bound_active else "none"))
    ft = result.floor_test
    if ft is not None:
        lines += floor_test_lines(ft)
    return lines


def floor_test_lines(ft) -> list[str]:
    """The floor-or-no-floor test in words: LR with its boundary p-value, AIC of both laws, held-out error."""
    lines = []
    if ft.p_value is not None or ft.p_value_conservative is not None:
        mix = "/".join(f"{w:.2f}" for w in ft.mixture)
        p = (f"p = {pval(ft.p_value)} (chi-bar-square, weights {mix})" if ft.p_value is not None
             else "p: chi-bar-square weights not available")
        lines.append(f"floor or no floor: LR = {num(ft.statistic)} against the {ft.nested_law} law, {p}; "
                     f"chi2 bound p = {pval(ft.p_value_conservative)}")
        lines.append("AIC: " + ", ".join(f"{law} {num(v, 6)}" for law, v in ft.aic.items()))
    elif ft.note:
        lines.append(f"floor or no floor: {ft.note}")
    if ft.heldout is not None:
        x = float(ft.heldout["heldout_input"].iloc[0])
        lines.append(f"held-out largest size (x = {x:g}, {int(ft.heldout['n_heldout'].iloc[0])} rows): RMS error "
                     + ", ".join(f"{law} {num(r['rms_error'])}" for law, r in ft.heldout.iterrows()))
    elif ft.heldout_note:
        lines.append(f"held-out largest size: {ft.heldout_note}")
    return lines


def _boot_cells(result: LawFit, boot: BootstrapResult, sort: str) -> tuple[list[str], list[list[str]]]:
    tab = boot.table().reindex(_table(result, sort).index).drop(columns="Estimate")
    rows = [[term, *(pval(v, table=True) if str(col).endswith(" p") else num(v, 4) for col, v in r.items())]
            for term, r in tab.iterrows()]
    return ["term", "boot SE", "pct low", "pct high", "pct p", "stud low", "stud high", "stud p"], rows


def render_table(result: LawFit, boot: BootstrapResult | None, sort: str, notes: list[str]) -> str:
    """The coefficient table (Wald and profile intervals) as rich renders it, with the footer."""
    from rich.table import Table

    def rich_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
        table = Table(title=title, title_justify="left")
        for i, name in enumerate(header):
            table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        return table

    header, rows = _cells(result, sort)
    parts: list = [f"[yellow]note: {n}[/yellow]" for n in notes]
    parts.append(rich_table(_title(result), header, rows))
    width = table_width(header, rows)
    if boot is not None:
        bh, brows = _boot_cells(result, boot, sort)
        parts.append(rich_table(f"Wild bootstrap ({boot.n_boot} replications): percentile and studentized", bh, brows))
        width = max(width, table_width(bh, brows))
    return render([*parts, *footer_lines(result, boot)], width=width)


def render_markdown(result: LawFit, boot: BootstrapResult | None, sort: str, notes: list[str]) -> str:
    """The tables and footer as Markdown."""
    def md(header: list[str], rows: list[list[str]]) -> list[str]:
        head = [h.replace("|", "\\|") for h in header]
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                *("| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(r)) + " |" for r in rows)]

    lines = [*(f"> note: {n}" for n in notes), f"**{_title(result)}**", "", *md(*_cells(result, sort))]
    if boot is not None:
        lines += ["", *md(*_boot_cells(result, boot, sort))]
    return "\n".join([*lines, "", *(f"- {line}" for line in footer_lines(result, boot))]) + "\n"


def render_csv(result: LawFit, boot: BootstrapResult | None, sort: str, notes: list[str]) -> str:
    """The coefficient table (and bootstrap columns) as CSV, numbers to 17 digits."""
    tab = _table(result, sort)
    if boot is not None:
        tab = tab.join(boot.table().drop(columns="Estimate"))
    tab.index.name = "term"
    return tab.to_csv(float_format="%.17g")


def render_json(result: LawFit, boot: BootstrapResult | None, sort: str, notes: list[str]) -> str:
    """``LawFit.to_dict()`` with the bootstrap and the notes."""
    doc = result.to_dict()
    doc["bootstrap"] = None if boot is None else boot.to_dict()
    doc["notes"] = notes
    return to_json(doc)


RENDERERS = {"table": render_table, "markdown": render_markdown, "csv": render_csv, "json": render_json}
