"""Time of the default report (bundled example, 1000 simulation trials) by phase, in one process.

Run:  python benchmarks/bench_report.py [--trials 1000] [--runs 3]

The report is built ``--runs`` times (after one warm-up that pays matplotlib's import and font
cache); each phase is timed by wrapping the builder's own steps (wall seconds):

- fits: least squares and the robust fits on the example;
- simulation + panels (child), or simulation (thread, not forked): the four scenarios' trials
  (2 residual models x 2 designs) and their panels, in a forked child process (Linux) that runs
  beside the next four phases; its CPU seconds are the child's own. Where the report does not
  fork, the trials run in a thread instead and the panels are drawn after them ("simulation figures");
- dependence, floor fits, trust: the sections' numbers, computed beside the simulation;
- figures beside the simulation: sections 1-4 and the floor's figure;
- waiting for the simulation: what is left of it once those are done (0 when it finished first);
- simulation figures: what is left of the panels to draw in the main process (the summary only
  when the child drew them);
- writing: ``index.html``, ``report.md``, ``results.json`` and ``figures/`` to a temporary folder.
- total CPU: this process's (every thread) plus the child's.

Baselines measured in the same process:
- the 15 s goal for the whole command (the ratio says how much of it the report uses);
- the report's figures re-encoded as SVG and as PNG at 300 dpi: the cost of the encoding chosen
  for the page (PNG at sections.DPI, 150 dpi), against the alternatives.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable

from powerlaw_stats.plots import fit as plots
from powerlaw_stats.report import builder, sections

PAGE = f"PNG {sections.DPI} dpi (page)"

GOAL_S = 15.0
CHILD, CHILD_CPU = "simulation + panels (child)", "child CPU"
PHASES = {"fits": "fit_all", "simulation (thread, not forked)": "_simulate", "dependence": "dependence_check",
          "floor fits": "_floor", "trust": "trust_check", "figures beside the simulation": "_fit_sections",
          "simulation figures": "_sections"}
WAIT = "waiting for the simulation"


def timed(times: dict[str, list[float]], phase: str, fn: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[phase].append(time.perf_counter() - t0)

    return wrapper


class Timed(builder.Forked):
    """The report's forked child, remembered so its wall and CPU time can be read once it has ended."""

    started: list[builder.Forked] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        Timed.started.append(self)


def build_once(trials: int, times: dict[str, list[float]]) -> builder.Report:
    t0, c0 = time.perf_counter(), time.process_time()
    Timed.started.clear()
    rep = builder.build_report(trials=trials)
    child_cpu = sum(job.cpu_seconds for job in Timed.started)
    times[CHILD].append(sum(job.seconds for job in Timed.started))
    times[CHILD_CPU].append(child_cpu)
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        rep.write(f"{tmp}/report")
        times["writing"].append(time.perf_counter() - t1)
    times["total"].append(time.perf_counter() - t0)
    times["total CPU (all threads)"].append(time.process_time() - c0 + child_cpu)
    return rep


def encodings(rep: builder.Report, runs: int) -> dict[str, float]:
    """Median seconds to draw and encode every fit figure of the report three ways, interleaved."""
    ways = {PAGE: ("png", sections.DPI), "PNG 300 dpi": ("png", 300), "SVG": ("svg", sections.DPI)}
    figures = _figures(rep)
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(runs):
        for name, (fmt, dpi) in ways.items():  # interleaved, so load from other processes hits each alike
            t0 = time.perf_counter()
            for fig in figures:
                plots.to_bytes(fig, fmt, dpi)
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in samples.items()}


def _figures(rep: builder.Report) -> list:
    """The report's fit figures as matplotlib objects again, drawn from the same fits."""
    from powerlaw_stats.report.analysis import fit_all

    res = rep.results
    frame = builder._model_rows(builder.resolve_inputs(None, None, None, None, 0, 0, 0.95, None, ()))[0]
    fits = fit_all(res["formula"], frame, res["weights"], res["level"]).results
    ols = fits["ols"]
    figs = [plots.learning_curves(ols, effect=res["effect"]), plots.qq(ols), plots.residual_histogram(ols)]
    for robust in (r for m, r in fits.items() if m != "ols"):
        figs += [plots.residuals_vs_fitted(robust), plots.weighted_residuals_vs_fitted(robust), plots.qq_raw_weighted(robust)]
    return figs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    times: dict[str, list[float]] = defaultdict(list)
    for phase, name in PHASES.items():
        setattr(builder, name, timed(times, phase, getattr(builder, name)))
    builder.Background.result = timed(times, WAIT, builder.Background.result)  # type: ignore[method-assign]
    builder.Forked = Timed  # type: ignore[misc]
    Timed.result = timed(times, WAIT, builder.Forked.result)  # type: ignore[method-assign]
    rep = build_once(args.trials, times)  # warm-up: imports, font cache
    times.clear()
    for _ in range(args.runs):
        build_once(args.trials, times)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"default report, {args.trials} trials per scenario, median of {args.runs} runs after a warm-up")
    print(f"{'phase (the child overlaps the next five)':32s} {'median s':>9s} {'share':>7s}")
    for phase in ("fits", CHILD, CHILD_CPU, *list(PHASES)[1:], WAIT, "writing", "total", "total CPU (all threads)"):
        print(f"{phase:32s} {med.get(phase, 0.0):9.3f} {med.get(phase, 0.0) / med['total']:7.1%}")
    print(f"{'total / 15 s goal':32s} {med['total'] / GOAL_S:9.2f}")
    enc = encodings(rep, args.runs)
    page = enc[PAGE]
    print(f"\n{'figures encoded as':28s} {'median s':>9s} {'page / this':>12s}")
    for name, s in enc.items():
        print(f"{name:28s} {s:9.3f} {page / s:12.2f}")


if __name__ == "__main__":
    main()
