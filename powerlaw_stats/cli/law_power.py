"""``simulate --law`` and ``plan --law``: simulated studies and power from a law fitted to the data.

``simulate`` and ``plan`` hand over here when ``--law`` or ``--param`` is given; the numbers come
from :mod:`powerlaw_stats.laws.power`. Options that only mean something for a linear formula
(residual models, rebuilt designs, other estimators, cluster-robust SEs) are refused in one line
when given, rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import datasets
from ..formats import num
from ..options import NaPolicy, check_option
from .common import PowerlawStatsErrorOption as OptionErr
from .common import check_choice, emit, render, to_json
from .law import _given_on_command_line, example_params
from .progress import ProgressBar

if TYPE_CHECKING:
    from ..laws.power import LawSimulation
    from ..scaling.plan import PlanResult

# ``simulate``'s and ``plan``'s options that a law's simulation has no use for
_SIMULATE_REFUSES = ("formula", "weight_type", "residuals", "design", "min_trials", "estimators", "vcov", "cluster",
                     "truth", "within", "plots", "plot_format", "r_defaults")
_PLAN_REFUSES = ("formula", "weight_type", "estimator", "residuals", "dependence")
SIM_FORMATS: tuple[str, ...] = ("table", "json", "csv")


def _refuse(names: Sequence[str], command: str) -> None:
    for name in names:
        if _given_on_command_line(name):
            flag = "--" + name.replace("_", "-")
            raise OptionErr(f"{flag} does not apply to {command} --law: the law fitted to the data is simulated with "
                            "normal noise of its fitted scale and refitted by least squares (docs/laws.md)")


def _law_and_params(data: Path | None, law: str | None, param: Sequence[str] | None) -> tuple[str, list[str] | dict]:
    from ..laws import LAWS

    name = check_choice(law or "saturating", tuple(LAWS), "--law")
    return name, (example_params(name) if data is None and not param else list(param or []))


def _studies(trials: int) -> int:
    from ..laws.power import DEFAULT_STUDIES

    # one nonlinear fit per study: the linear commands' 1000 would take minutes, so 200 unless asked
    return trials if _given_on_command_line("trials") else DEFAULT_STUDIES


def _weights(data: Path | None, param: Sequence[str] | None, weights: str | None) -> str | None:
    return weights or (datasets.EXAMPLE_WEIGHTS if data is None and not param else None)


def run_law_simulate(*, data: Path | None, law: str | None, param: Sequence[str] | None, weights: str | None,
                     coef: Sequence[str] | None, trials: int, seed: int, level: float, where: str | None,
                     let: Sequence[str] | None, na: str, output_format: str, output: Path | None, quiet: bool,
                     **unused: object) -> None:
    """``simulate --law``: the law fitted to the data is the truth; each term's bias, SE ratio, coverage and power."""
    from ..laws.power import simulate_law

    _refuse(_SIMULATE_REFUSES, "simulate")
    check_choice(output_format, SIM_FORMATS, "--format")
    if output is not None and not output.parent.exists():
        raise OptionErr(f"--output {output}: folder {output.parent} does not exist")
    name, params = _law_and_params(data, law, param)
    with ProgressBar(quiet) as progress:
        result = simulate_law(data, name, params, weights=_weights(data, param, weights), terms=coef or None,
                              n_trials=_studies(trials), seed=seed, level=level, where=where, let=let or [],
                              na=check_option(na, NaPolicy, "na"), progress=progress)
    notes = [datasets.EXAMPLE_NOTE] if data is None else []
    text = {"table": render_table, "json": lambda r, n: to_json(r.to_dict()),
            "csv": lambda r, n: r.summary.to_csv(index=False, float_format="%.17g")}[output_format](result, notes)
    emit(text, output)


COLUMNS = (("truth", "truth"), ("mean_estimate", "mean est."), ("bias", "bias"), ("sd_estimate", "SD of est."),
           ("mean_se", "mean SE"), ("se_ratio", "SE ratio"), ("coverage", "coverage"), ("rejects", "excl. 0"),
           ("bound_active", "at bound"))


def render_table(result: LawSimulation, notes: list[str]) -> str:
    """One table: each term's summary over the simulated studies."""
    from rich.table import Table

    formulas = ", ".join(f"{p} ~ {f}" for p, f in result.formulas.items())
    table = Table(title=f"{result.law} law, least squares: {formulas}", title_justify="left")
    for i, label in enumerate(["term", *(label for _, label in COLUMNS), "failures"]):
        table.add_column(label, justify="left" if i == 0 else "right", no_wrap=True)
    for _, r in result.summary.iterrows():
        table.add_row(r["term"], *(num(r[key], 4) for key, _ in COLUMNS), str(int(r["failures"])))
    head = [f"{result.n_trials} simulated studies, seed {result.seed}, coverage of the {result.level:.0%} Wald t interval; "
            "failed fits are counted and left out",
            f"truth: the law fitted to the data's {result.rows} rows; noise: normal, SD σ/√w with σ = "
            f"{num(result.sigma, 4)} (the fit's residual scale) and w each row's prior weight; "
            "'excl. 0': share of intervals that exclude 0 (power, or size at a zero truth); "
            "'at bound': share of studies with a floor at its bound"]
    return render([*(f"[yellow]note: {n}[/yellow]" for n in notes), *head, table], width=150)


def law_planner(law: str | None, param: Sequence[str] | None) -> Callable[..., PlanResult]:
    """``plan --law``: a stand-in for :func:`powerlaw_stats.plan` that plans with the law.

    ``--effect`` is a law coefficient (default b.mix1); ``plan``'s options for linear models are
    refused when given on the command line.
    """
    _refuse(_PLAN_REFUSES, "plan")

    def planner(data, *, delta, effect, weights, n_trials, formula=None, weight_type=None, estimator=None,
                residuals=None, dependence=None, **options) -> PlanResult:  # --dependence: refused above
        from ..laws.power import plan_law

        name, params = _law_and_params(data, law, param)
        return plan_law(data, name, params, term=effect or "b.mix1", delta=delta, weights=_weights(data, param, weights),
                        n_trials=_studies(n_trials), **options)

    return planner
