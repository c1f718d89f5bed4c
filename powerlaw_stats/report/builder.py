"""``build_report``: the seed study's whole analysis as one page, and ``Report.write`` to put it on disk.

The report is built in memory (numbers, then sections, then HTML/Markdown/JSON) and written to a
fresh temporary folder that replaces the output folder only when everything is there, so an
error never leaves a half-written report behind.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shlex
import shutil
import string
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..data import datasets
from ..data.frame import Inputs, model_frame
from ..errors import OptionError
from ..files import current_umask
from ..fitting import fit_options
from ..formats import to_json
from ..formula import parse
from ..options import CLUSTER_KINDS, BootWeights, DependenceMode, check_level, check_option, split_names
from ..plots.fit import curve_layout
from ..simulation.engine import leave_cores, one_blas_thread
from .analysis import (
    ESTIMATORS,
    SIM_ESTIMATORS,
    Calibrated,
    TableFit,
    agreement,
    bootstrap_fits,
    calibrated_test,
    fit_all,
    fit_table,
    residual_shape,
    se_verdict,
    summarize_data,
    variance_tests,
    weight_summary,
)
from .background import Background, Forked, Job, Steps, can_fork
from .blocks import Figure, Note, Section, table_of_contents
from .check import REALISTIC, Progress, Scenario, SimulationCheck, plan_check, run_plan
from .dependence import dependence_check, dependence_section, with_dependence
from .floor import FloorCheck, add_floor_results, floor_check, law_figure, place_floor
from .sections import (
    Analysis,
    answer_line,
    believed,
    conclusion_section,
    conclusion_words,
    curves_section,
    data_section,
    effect_rows,
    effect_words,
    figure_block,
    irwls_section,
    least_squares_section,
    simulation_section,
)
from .trust import TrustCheck, add_trust, curve_columns, trust_check

REPORT_FILES: tuple[str, ...] = ("index.html", "report.md", "results.json")


@dataclass(frozen=True, kw_only=True)
class Report:
    """A built report: its sections, the numbers behind them, and how to render or write it."""

    title: str
    subtitle: str
    notes: tuple[str, ...]
    sections: tuple[Section, ...]
    results: Mapping = field(repr=False)
    command: str = "powerlaw-stats report"
    answer: str = ""  # the conclusion's first sentence, shown under the title too


    def html(self) -> str:
        """The page: one file, its CSS inline and its figures as data URIs, so it opens offline."""
        template = string.Template(resources.files(__package__).joinpath("template.html").read_text("utf-8"))
        css = resources.files(__package__).joinpath("style.css").read_text("utf-8")

        return template.substitute(
            title=_esc(self.title), subtitle=_esc(self.subtitle), css=css, version=__version__,
            notes="\n".join([*([Note(self.answer, "verdict").html()] if self.answer else []),
                              *(Note(n, "warn").html() for n in self.notes)]), toc=table_of_contents(self.sections),
            sections="\n".join(s.html() for s in self.sections), command=_esc(self.command),
        )

    def markdown(self) -> str:
        """The page as Markdown (figures linked from ``figures/``)."""
        notes = ((self.answer,) if self.answer else ()) + self.notes
        head = [f"# {self.title}", "", self.subtitle, "", *(f"> {n}" for n in notes)]
        return "\n".join(head) + "\n\n" + "\n\n".join(s.md() for s in self.sections) + "\n"

    def json(self) -> str:
        """results.json: every number the page shows."""
        return to_json(self.results)

    def write(self, out: str | Path) -> Path:
        """Write ``index.html``, ``report.md``, ``results.json`` and ``figures/`` into ``out``, atomically.

        ``out`` must be new, empty, or a folder holding an earlier report, which is replaced whole.
        """
        out = Path(out)
        check_target(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            self._write_files(tmp)
            _swap_in(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    def _write_files(self, folder: Path) -> None:
        os.chmod(folder, 0o755 & ~current_umask())  # mkdtemp makes it private; a report is for reading
        (folder / "figures").mkdir()
        for sec in self.sections:
            for fig in sec.figures():
                (folder / "figures" / fig.file_name).write_bytes(fig.data)
        (folder / "results.json").write_text(self.json(), "utf-8")
        (folder / "report.md").write_text(self.markdown(), "utf-8")
        (folder / "index.html").write_text(self.html(), "utf-8")


def _esc(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def check_target(out: Path) -> None:
    """Refuse an ``--out`` that is a file, or a folder with other things in it."""
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out}: is a file; give a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not (out / "results.json").exists():
        raise OptionError(f"--out {out}: folder exists and does not hold a report; choose a new or empty folder")


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` with renames only, so readers see the old report or the new one."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old.{os.getpid()}")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- building


@dataclass(frozen=True, kw_only=True)
class ReportInputs:
    """The report's inputs after defaults: the bundled example supplies formula, weights and effect."""

    data: str | Path | pd.DataFrame | None
    formula: str
    weights: str | None
    effect: str | None
    trials: int
    seed: int
    level: float
    where: str | None
    let: tuple[str, ...]
    sim_estimators: tuple[str, ...] = SIM_ESTIMATORS
    cluster: tuple[str, ...] = ()
    vcov: str | None = None  # the tables' cluster-robust covariance (CR1 or CR3); None without cluster
    bootstrap: int = 0  # wild-bootstrap replications per estimator; 0: none
    bootstrap_weights: BootWeights = "rademacher"
    floor: bool = True  # the "Is there a floor?" section (the saturating law beside the straight line)
    dependence: str | None = None  # "auto" | "none"; None: auto on schema data with no SE options (report/dependence.py)

    @property
    def is_example(self) -> bool:
        """Whether the report runs on the bundled example."""
        return self.data is None

    def command(self) -> str:
        """The command line that makes this report again."""
        args = [] if self.data is None or isinstance(self.data, pd.DataFrame) else [str(self.data)]
        if not self.is_example:
            args += ["--formula", self.formula] + (["--weights", self.weights] if self.weights else [])
            args += ["--effect", self.effect] if self.effect else []
        args += ["--where", self.where] if self.where else []
        args += [a for item in self.let for a in ("--let", item)]
        args += [f"--trials={self.trials}"] if self.trials != 1000 else []
        args += [f"--seed={self.seed}"] if self.seed else []
        args += [f"--level={self.level:g}"] if self.level != 0.95 else []
        args += [f"--sim-estimators={','.join(self.sim_estimators)}"] if self.sim_estimators != SIM_ESTIMATORS else []
        args += self._inference_args()
        return " ".join(["powerlaw-stats", "report", *(shlex.quote(a) for a in args)])

    def _inference_args(self) -> list[str]:
        args = [a for c in self.cluster for a in ("--cluster", c)]
        args += [f"--vcov={self.vcov}"] if self.vcov not in (None, "CR1") else []
        args += [f"--bootstrap={self.bootstrap}"] if self.bootstrap else []
        args += [f"--bootstrap-weights={self.bootstrap_weights}"] if self.bootstrap_weights != "rademacher" else []
        args += [] if self.floor else ["--no-floor"]
        args += [f"--dependence={self.dependence}"] if self.dependence else []
        return args

    @property
    def source(self) -> str:
        """Where the data came from, in words."""
        if self.data is None:
            return "the bundled example" + (" (synthetic)" if datasets.EXAMPLE_IS_SYNTHETIC else "")
        return "a data frame" if isinstance(self.data, pd.DataFrame) else str(self.data)


def resolve_inputs(data, formula, weights, effect, trials, seed, level, where, let,
                   sim_estimators: Sequence[str] = SIM_ESTIMATORS, cluster=None, vcov: str | None = None,
                   bootstrap: int = 0, bootstrap_weights: str = "rademacher", floor: bool = True,
                   dependence: str | None = None) -> ReportInputs:
    """Fill in the example's defaults and check the options once, at the boundary."""
    example = data is None
    if formula is None and not example:
        raise OptionError("a formula is required with data, e.g. \"log_err ~ I(log2(TS)-IXMin)*mix\"")
    if trials < 0:
        raise OptionError(f"--trials must be 0 (no simulation) or more, got {trials}")
    check_level(level)
    cluster, vcov = _check_covariance(cluster, vcov)
    n_boot, boot_weights = _check_bootstrap(bootstrap, bootstrap_weights)
    return ReportInputs(data=data, formula=formula or datasets.EXAMPLE_FORMULA,
                        weights=weights if (weights or not example) else datasets.EXAMPLE_WEIGHTS,
                        effect=effect if (effect or not example or formula) else datasets.EXAMPLE_EFFECT,
                        trials=int(trials), seed=int(seed), level=float(level), where=where, let=tuple(let),
                        sim_estimators=_check_estimators(sim_estimators), cluster=cluster, vcov=vcov, bootstrap=n_boot,
                        bootstrap_weights=boot_weights, floor=bool(floor),
                        dependence=None if dependence is None else check_option(dependence, DependenceMode, "--dependence"))


def _check_covariance(cluster, vcov: str | None) -> tuple[tuple[str, ...], str | None]:
    """The cluster columns and the tables' covariance (CR1 by default with a cluster), checked as ``fit`` checks them."""
    names = split_names(cluster, "cluster columns")
    if vcov is not None and vcov not in CLUSTER_KINDS:
        raise OptionError(f"--vcov {vcov!r}: the report's tables take a cluster-robust covariance, "
                          f"{' or '.join(CLUSTER_KINDS)}, with --cluster COL")
    kind = vcov or ("CR1" if names else None)
    for method in ESTIMATORS:
        fit_options(method, vcov=kind or "classic", cluster=names)
    return names, kind


def _check_bootstrap(n_boot, weights: str) -> tuple[int, BootWeights]:
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0 or n_boot == 1:
        raise OptionError(f"--bootstrap {n_boot}: give 0 (none) or at least 2 replications, e.g. 999")
    checked = check_option(weights, BootWeights, "--bootstrap-weights", message="{what} {value!r}: choose one of {values}")
    return int(n_boot), checked


def _check_estimators(names: Sequence[str]) -> tuple[str, ...]:
    """The simulation's estimators: known to the report's fits, at least one, each once, in the fits' order."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown or not names:
        raise OptionError(f"--sim-estimators: unknown estimator {', '.join(map(repr, unknown)) or '(none given)'}; "
                          f"choose from {', '.join(ESTIMATORS)}")
    return tuple(e for e in ESTIMATORS if e in names)


def build_report(
    data: str | Path | pd.DataFrame | None = None,
    formula: str | None = None,
    *,
    weights: str | None = None,
    effect: str | None = None,
    trials: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    where: str | None = None,
    let: Sequence[str] = (),
    sim_estimators: Sequence[str] = SIM_ESTIMATORS,
    cluster: str | Sequence[str] | None = None,
    vcov: str | None = None,
    bootstrap: int = 0,
    bootstrap_weights: str = "rademacher",
    progress: Progress | None = None,
    floor: bool = True,
    dependence: str | None = None,
) -> Report:
    """Fit, test, simulate and explain: the seed study's analysis as a :class:`Report`.

    With no ``data`` it runs on the bundled example with its formula, weights and effect
    (``datasets.EXAMPLE_FORMULA``, ``EXAMPLE_WEIGHTS``, ``EXAMPLE_EFFECT``). ``trials=0`` skips the
    simulation check, which by default checks least squares, Huber and bisquare (``sim_estimators``
    may add ``"mm"``, at a much higher cost).

    ``cluster`` (one or two columns, e.g. ``"run_id"``) gives every table cluster-robust standard
    errors of kind ``vcov`` (``"CR1"``, the default, or ``"CR3"``), and the simulation then checks
    each estimator's classic SE against that one. ``bootstrap=B`` adds each estimator's wild
    (cluster) bootstrap of the effect to the conclusion, drawn with ``bootstrap_weights``
    (``"rademacher"`` or ``"webb"``) and seeded by ``seed``.

    Parameters
    ----------
    data, formula, weights, effect
        The table (None: the bundled example), the model, its prior weights and the term of interest.
    trials, seed, level
        Simulated data sets per scenario (0: no simulation), their seed, the confidence level.
    where, let
        Rows kept and names defined, as for :func:`powerlaw_stats.fit`.
    sim_estimators : sequence of str
        The estimators the simulation checks.
    cluster, vcov, bootstrap, bootstrap_weights
        Cluster-robust standard errors for the tables, and the wild bootstrap of the effect.
    progress : callable, optional
        Called as ``progress(what, done, total)`` while the report is built.
    floor : bool
        Add the section "Is there a floor?": the saturating law (a floor per group) beside the
        straight line, the floor test, and the effect under each (``docs/laws.md``).
    dependence : "auto", "none" or None
        On a schema table with runs and splits (and no ``cluster``, ``vcov`` or ``bootstrap``),
        ``None`` and ``"auto"`` make the conclusion believe ``effect``'s default test for rows that
        depend (the mixed model with ``(1|run_id) + (1|split_id)`` when a REML likelihood-ratio
        test finds a split variance, else CR1 by run), with the section "When rows depend" saying
        why in numbers; ``"none"`` takes rows as independent and believes the simulation's verdict.

    Returns
    -------
    Report
        The sections, the numbers behind them (``results``) and ``write(folder)``.

    Examples
    --------
    >>> from powerlaw_stats.report import build_report
    >>> rep = build_report(trials=0)
    >>> [s.id for s in rep.sections]
    ['data', 'curves', 'least-squares', 'irwls', 'simulation', 'dependence', 'floor', 'trust', 'conclusion']
    >>> from powerlaw_stats.data import datasets
    >>> rep.results["formula"] == datasets.EXAMPLE_FORMULA, sorted(rep.results["fits"])
    (True, ['bisquare', 'huber', 'mm', 'ols'])
    """
    inputs = resolve_inputs(data, formula, weights, effect, trials, seed, level, where, let, sim_estimators,
                            cluster, vcov, bootstrap, bootstrap_weights, floor, dependence)
    frame, rows_read, dropped = _model_rows(inputs)
    steps, finished = Steps(progress), queue.SimpleQueue[Scenario]()  # finished: each scenario as it is done
    # From here on BLAS runs on one thread throughout: the engine holds it so for the whole process while the
    # trials run, and threaded BLAS sums in another order, so the numbers computed beside the trials would
    # otherwise depend on the timing. Held here, around them all, they are the same in every run.
    with one_blas_thread():
        ols = fit_table(inputs.formula, frame, "ols", inputs.weights, inputs.level, inputs.cluster, inputs.vcov)
        term = ols.shown.term(inputs.effect) if inputs.effect else None  # the simulation needs the effect's name only
        with _start_simulation(inputs, frame, term, steps, finished.put) as job:
            with job.before():  # the fits come first in the report: an error there is the one to report
                fits = _fits(inputs, frame, ols, steps.step)
            base, floor_an, trust = _numbers(inputs, frame, fits, term, rows_read, dropped, steps.step)
            early, floor_figure = _fit_sections(base, floor_an, steps.step, job)
            panels = _panels_beside(job, finished, term, steps.step)
            steps.step("")  # nothing left to do beside the simulation
            sim, verdict, drawn = job.result()
    panels.take(drawn)
    dep_check = base.dependence
    an = dataclasses.replace(base, simulation=sim, verdict=verdict,
                             calibrated=None if dep_check else _calibrated(sim, verdict, fits, term, inputs.level))
    sections = _sections(an, steps.step, early, panels)
    if dep_check is not None and term is not None:
        sections = with_dependence(sections, dependence_section(dep_check, fits.ols.coefficient(term).to_dict(), inputs.level))
    subtitle = f"Data: {inputs.source} · formula: {inputs.formula} · weights: {inputs.weights or 'none'}"
    subtitle += f" · standard errors: {fits.covariance.short()}" if fits.covariance else ""
    results = results_document(inputs, an)
    answer = results["conclusion"]["answer"] if results["conclusion"] else ""
    if floor_an is not None:  # the section before the conclusion, its sentence after the answer
        sections = place_floor(sections, floor_an, floor_figure, answer)
        answer = add_floor_results(results, floor_an)
    # the backtest of these curves, before the conclusion
    sections, results["trust"] = add_trust(sections, trust), trust.to_dict()
    return Report(title=_title(an), subtitle=subtitle, notes=tuple(fits.warnings), sections=sections, results=results,
                  command=inputs.command(), answer=answer)


def _model_rows(inputs: ReportInputs) -> tuple[pd.DataFrame, int, dict[str, int]]:
    """The rows the model uses, with its constants (IXMin, --let scalars) as columns.

    Filtering once here means every fit and every simulation sees exactly the same rows, and
    constants computed on the whole table (IXMin before --where) keep their values.
    """
    parsed = parse(inputs.formula)
    mf = model_frame(Inputs(data=inputs.data, weights=inputs.weights, where=inputs.where, let=inputs.let),
                     parsed.variables, extra_columns=inputs.cluster)
    scalars = {k: v for k, v in mf.namespace.items() if np.ndim(v) == 0 and k not in mf.frame.columns}
    return mf.frame.assign(**scalars).reset_index(drop=True), mf.source_rows, dict(mf.dropped)


def _numbers(inputs: ReportInputs, frame: pd.DataFrame, fits, term: str | None, rows_read: int,
             dropped: dict[str, int], progress: Progress) -> tuple[Analysis, FloorCheck | None, TrustCheck]:
    """The sections' own numbers beside the trials: effect's default test, the data's summary, the floor, the backtest."""
    dep_check = dependence_check(inputs.data, inputs.formula, term, weights=inputs.weights, level=inputs.level,
                                 where=inputs.where, let=inputs.let, cluster=inputs.cluster, vcov=inputs.vcov,
                                 bootstrap=inputs.bootstrap, mode=inputs.dependence)  # effect's default test
    base = Analysis(
        formula=inputs.formula, weights=inputs.weights, effect=term, level=inputs.level,
        data=summarize_data(fits.ols, curve_layout(fits.ols, term), rows_read, dropped), fits=fits,
        shape=residual_shape(fits.ols.resid), bp=variance_tests(fits.ols), simulation=None, verdict=None,
        calibrated=None, example_note=datasets.EXAMPLE_NOTE if inputs.is_example else None,
        synthetic=inputs.is_example and datasets.EXAMPLE_IS_SYNTHETIC, dependence=dep_check,
    )
    floor_an = _floor(inputs, frame, base, progress)
    trust = trust_check(inputs.formula, frame, curve_columns(base.data.groups, base.data.effect_factor), inputs.level)
    return base, floor_an, trust


def _fits(inputs: ReportInputs, frame: pd.DataFrame, ols: TableFit, progress: Progress | None):
    fits = fit_all(inputs.formula, frame, inputs.weights, inputs.level, inputs.cluster, inputs.vcov, ols=ols)
    if not inputs.bootstrap:
        return fits
    if progress:
        progress(f"wild bootstrap, {inputs.bootstrap} replications per estimator", 0, 1)
    return bootstrap_fits(fits, inputs.bootstrap, inputs.bootstrap_weights, inputs.seed)


def _floor(inputs: ReportInputs, frame: pd.DataFrame, an: Analysis, progress: Progress | None) -> FloorCheck | None:
    if not inputs.floor:
        return None
    if progress:
        progress("fitting the saturating law (is there a floor?)", 0, 1)
    return floor_check(inputs.formula, frame, inputs.weights, an.effect, an.data.effect_factor, inputs.level)


def _start_simulation(inputs: ReportInputs, frame: pd.DataFrame, term: str | None, steps: Steps,
                      finished: Callable[[Scenario], object]) -> Job:
    """The simulation check (its plan, then its trials) beside the caller.

    Where the system forks, a child process runs the trials and draws their panels (the figures'
    Python then never waits for the trials' GIL, nor they for it). Elsewhere a thread runs the
    trials and ``finished`` hears of each scenario when it is done, so the caller draws its panels
    while the next runs.
    """
    if term is None or inputs.trials == 0:
        return Background(lambda progress: (None, None, None), progress=None)
    if can_fork():
        _Panels.prepare()  # imported before the fork: once, not in each process
        return Forked(_simulate_and_draw, inputs, frame, term, progress=steps.simulation)
    return Background(_simulate, inputs, frame, term, finished, progress=steps.simulation)


def _simulate(inputs: ReportInputs, frame: pd.DataFrame, term: str, finished: Callable[[Scenario], object],
              progress: Progress):
    """The trials: the check and its verdict (and no panels, which the caller draws)."""
    plan = plan_check(inputs.formula, inputs.data, frame, weights=inputs.weights, where=inputs.where, let=inputs.let,
                      term=term, n_trials=inputs.trials, seed=inputs.seed, level=inputs.level,
                      estimators=inputs.sim_estimators, cluster=inputs.cluster, vcov=inputs.vcov)
    sim: SimulationCheck = run_plan(plan, progress, finished)
    rows = [{**r, "scenario": sc.key} for sc in sim.scenarios for r in sc.rows]
    realistic = [sc.key for sc in sim.scenarios if sc.residuals == REALISTIC]
    return sim, se_verdict(rows, inputs.trials, inputs.level, realistic, sim.judged), None


def _simulate_and_draw(inputs: ReportInputs, frame: pd.DataFrame, term: str, progress: Progress):
    """The trials and their panels, each scenario's drawn as soon as it is done (in the forked child)."""
    leave_cores(1)  # the parent draws the figures on one core meanwhile
    panels, end = _Panels(term), []

    def trials(what: str, done: int, total: int) -> None:
        if what == "simulation done":  # said once the summary is drawn too
            end.append((done, total))
        else:
            progress(what, done, total)

    sim, verdict, _ = _simulate(inputs, frame, term, panels.draw, trials)
    counts = end[0] if end else (0, 1)
    progress("drawing the simulation's figures", *counts)
    panels.finish(sim)
    progress("simulation done", *counts)
    return sim, verdict, panels.figures()


def _calibrated(sim: SimulationCheck | None, verdict, fits, term: str | None, level: float) -> Calibrated | None:
    if sim is None or verdict is None:
        return None
    best = fits.variants[verdict.recommended]
    realistic = [sc.key for sc in sim.scenarios if sc.residuals == REALISTIC]
    return calibrated_test(best.coefficient(term).to_dict(), verdict, realistic, best.df_resid, level)


def _fit_sections(an: Analysis, floor: FloorCheck | None, progress: Progress | None,
                  job: Job) -> tuple[tuple[Section, ...], Figure | None]:
    """Sections 1-4 and the floor's figure: they read the data and the fits only, so they are drawn beside the simulation."""
    if progress:
        progress("drawing the figures", 0, 1)
    sections = []
    for draw in (data_section, curves_section, least_squares_section, irwls_section):
        job.check()  # the simulation failed: say so now rather than after the figures
        sections.append(draw(an))
    if floor is None:
        return tuple(sections), None
    return tuple(sections), law_figure(floor, an.data.x, an.data.groups, an.data.effect_factor, figure_block)


def _panels_beside(job: Job, finished: queue.SimpleQueue, term: str | None, progress: Progress) -> _Panels:
    """Each finished scenario's panels, drawn while the next scenarios run, until the simulation ends."""
    panels = _Panels(term or "")
    while not job.done or not finished.empty():
        try:
            sc = finished.get(timeout=0.05)  # a short wait: Ctrl-C and the thread's end are noticed at once
        except queue.Empty:
            continue
        progress("drawing the simulation's figures", 0, 1)
        panels.draw(sc)
    return panels


class _Panels:
    """The scenarios' panels drawn so far, the summary, and the figure they are drawn into (:class:`.panels.ScenarioPanels`)."""

    def __init__(self, term: str) -> None:
        self.term = term
        self.drawn: list = []
        self.summary: Figure | None = None
        self._draw: Callable[[Scenario], list] | None = None

    @staticmethod
    def prepare() -> None:
        """Import matplotlib and the simulation's plots (only when a report simulates)."""
        from . import panels  # noqa: F401

    def draw(self, sc: Scenario) -> None:
        """Draw the next scenario's panels."""
        if self._draw is None:
            from .panels import ScenarioPanels

            self._draw = ScenarioPanels(self.term)
        self.drawn.append(self._draw(sc))

    def finish(self, sim: SimulationCheck) -> None:
        """Draw the scenarios not drawn yet and the summary."""
        from .panels import summary_panel

        for sc in sim.scenarios[len(self.drawn):]:
            self.draw(sc)
        if self.summary is None:
            self.summary = summary_panel(sim)

    def figures(self) -> tuple[tuple, Figure | None]:
        """What was drawn (the scenarios' figure blocks and the summary), as :meth:`take` takes it."""
        return tuple(self.drawn), self.summary

    def take(self, figures: tuple[tuple, Figure | None] | None) -> None:
        """The panels drawn elsewhere (in the forked child); None: none were."""
        if figures is not None:
            drawn, self.summary = figures
            self.drawn = list(drawn)


def _sections(an: Analysis, progress: Progress | None, early: Sequence[Section], panels: _Panels) -> tuple[Section, ...]:
    """Every section but the floor's: ``early`` (sections 1-4), the simulation's, the conclusion.

    ``panels`` holds the scenarios' panels drawn already, in order; those of the scenarios after
    them are drawn here, then the summary, unless drawn already too.
    """
    if an.simulation:
        if progress and panels.summary is None:
            progress("drawing the simulation's figures", 0, 1)
        panels.finish(an.simulation)
    return (*early, simulation_section(an, panels.drawn, panels.summary), conclusion_section(an))


def _title(an: Analysis) -> str:
    if an.effect:
        what, _, slope = effect_words(an)
        return f"Does {what.replace('`', '')} change the {'power-law slope' if slope else 'learning curve'}?"
    return "Power-law learning curves: fit and diagnostics"


# ----------------------------------------------------------------------------- results.json


def results_document(inputs: ReportInputs, an: Analysis) -> dict:
    """Every number the page shows, by section."""
    fits = {m: {**r.to_dict("t", breusch_pagan=an.bp.main if m == "ols" else None), **_robust_doc(r)}
            for m, r in an.fits.results.items()}
    return {
        "powerlaw_stats_version": __version__, "command": inputs.command(), "data_source": inputs.source,
        "synthetic": an.synthetic,
        "formula": inputs.formula, "weights": inputs.weights, "effect": an.effect, "level": inputs.level,
        "where": inputs.where, "let": list(inputs.let),
        "covariance": an.fits.covariance.to_dict() if an.fits.covariance else None,
        "bootstrap": _bootstrap_settings(inputs),
        "data": an.data.to_dict(), "fits": fits, "convergence_warnings": list(an.fits.warnings),
        "residual_shape": an.shape.to_dict(), "breusch_pagan": an.bp.to_dict(),
        "simulation": None if an.simulation is None else an.simulation.to_dict(),
        "verdict": None if an.verdict is None else an.verdict.to_dict(),
        "dependence": None if an.dependence is None else an.dependence.to_dict(),
        "conclusion": _conclusion_doc(an),
    }


def _robust_doc(result) -> dict:
    """What section 4 says of a robust fit beyond ``fit --format json``: tuning, control, weights."""
    if result.method == "ols":
        return {}
    control = result.control_dict()
    return {"tuning": result.tuning, "control": control, "weights_summary": weight_summary(result)}


def _bootstrap_settings(inputs: ReportInputs) -> dict | None:
    if not inputs.bootstrap:
        return None
    return {"n_boot": inputs.bootstrap, "weights": inputs.bootstrap_weights, "seed": inputs.seed,
            "cluster": inputs.cluster[0] if inputs.cluster else None}


def _conclusion_doc(an: Analysis) -> dict | None:
    if an.effect is None:
        return None
    rows = effect_rows(an)
    agree = agreement(rows, 1 - an.level)
    return {"term": an.effect, "by_estimator": rows, "agreement": agree.to_dict(),
            "believe": believed(an) if (an.verdict or an.dependence) else None,
            "calibrated": an.calibrated.to_dict() if an.calibrated else None,
            "bootstrap": _bootstrap_doc(an), "answer": answer_line(an, rows), "text": conclusion_words(an, rows, agree)}


def _bootstrap_doc(an: Analysis) -> dict | None:
    """Per estimator, the effect's row of its wild bootstrap (``fit --format json``'s ``bootstrap`` entry)."""
    boots = {m: r.bootstrap for m, r in an.fits.results.items() if r.bootstrap is not None}
    if not boots:
        return None
    return {m: {**next(c for c in b.to_dict()["coefficients"] if c["term"] == an.effect), "n_failed": b.n_failed,
                "studentized_by": b.studentized_by} for m, b in boots.items()}

