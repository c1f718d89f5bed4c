"""Time of the default report (bundled example, 1000 simulation trials) by phase, in one process.

Run:  python benchmarks/bench_report.py [--trials 1000] [--runs 3]

The report is built ``--runs`` times (after one warm-up that pays matplotlib's import and font
cache); each phase is timed by wrapping the builder's own steps, so the phases add up to the whole:

- fits: least squares and the robust fits on the example;
- simulation: the four scenarios (2 residual models x 2 designs) of the effect term;
- figures: drawing every figure of sections 1-5 and encoding it as PNG (the sections);
- floor figure: the floor section's page, almost all of it its figure (``floor-curves``);
- writing: ``index.html``, ``report.md``, ``results.json`` and ``figures/`` to a temporary folder.

Each phase prints its median wall and CPU seconds. ``--per-figure`` adds the CPU seconds of each
of the report's figures, drawn and encoded again from the last build's numbers (median of
``--runs``).

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
PHASES = {"fits": "fit_all", "simulation": "_simulate", "figures": "_sections", "floor figure": "add_floor"}
CAPTURED: dict = {}  # the last build's Analysis and floor check, for --per-figure


def timed(times: dict[str, list[float]], phase: str, fn: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            times[phase].append(time.perf_counter() - t0)
            times[f"{phase} cpu"].append(time.process_time() - c0)
            CAPTURED[phase] = args

    return wrapper


def build_once(trials: int, times: dict[str, list[float]]) -> builder.Report:
    t0, c0 = time.perf_counter(), time.process_time()
    rep = builder.build_report(trials=trials)
    with tempfile.TemporaryDirectory() as tmp:
        t1, c1 = time.perf_counter(), time.process_time()
        rep.write(f"{tmp}/report")
        times["writing"].append(time.perf_counter() - t1)
        times["writing cpu"].append(time.process_time() - c1)
    times["total"].append(time.perf_counter() - t0)
    times["total cpu"].append(time.process_time() - c0)
    return rep


def figure_makers() -> dict[str, Callable[[], object]]:
    """Each figure of the last build by its page name: a call that draws and encodes it."""
    from powerlaw_stats.report.floor import law_figure
    from powerlaw_stats.report.panels import scenario_panels, summary_panel

    an = CAPTURED["figures"][0]
    block = sections.figure_block
    ols = an.fits.ols
    makers = {"learning-curves": lambda: block("x", plots.learning_curves(ols, effect=an.effect), "", ""),
              "ls-qq": lambda: block("x", plots.qq(ols), "", ""),
              "ls-hist": lambda: block("x", plots.residual_histogram(ols), "", "")}
    for m, res in ((m, r) for m, r in an.fits.results.items() if m != "ols"):
        makers[f"{m}-resid"] = lambda res=res: block("x", plots.residuals_vs_fitted(res), "", "")
        makers[f"{m}-wresid"] = lambda res=res: block("x", plots.weighted_residuals_vs_fitted(res), "", "")
        makers[f"{m}-qq"] = lambda res=res: block("x", plots.qq_raw_weighted(res), "", "")
    for sc in an.simulation.scenarios if an.simulation else ():
        makers[f"sim-{sc.residuals}-{sc.design}"] = lambda sc=sc: scenario_panels(sc, an.simulation.term)
    if an.simulation:
        makers["sim-summary"] = lambda: summary_panel(an.simulation)
    _, check, size, panels, colour, _ = CAPTURED["floor figure"]
    makers["floor-curves"] = lambda: law_figure(check, size, panels, colour, block)
    return makers


def per_figure(runs: int) -> dict[str, float]:
    """Median CPU seconds to draw and encode each figure, the figures interleaved run by run."""
    makers = figure_makers()
    samples: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(runs):
        for name, make in makers.items():
            c0 = time.process_time()
            make()
            samples[name].append(time.process_time() - c0)
    return {name: statistics.median(v) for name, v in samples.items()}


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
    ap.add_argument("--per-figure", action="store_true", help="also time each figure (CPU seconds)")
    args = ap.parse_args()
    times: dict[str, list[float]] = defaultdict(list)
    for phase, name in PHASES.items():
        setattr(builder, name, timed(times, phase, getattr(builder, name)))
    rep = build_once(args.trials, times)  # warm-up: imports, font cache
    times.clear()
    for _ in range(args.runs):
        build_once(args.trials, times)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"default report, {args.trials} trials per scenario, median of {args.runs} runs after a warm-up")
    print(f"{'phase':28s} {'median s':>9s} {'share':>7s} {'CPU s':>7s}")
    for phase in (*PHASES, "writing", "total"):
        print(f"{phase:28s} {med[phase]:9.3f} {med[phase] / med['total']:7.1%} {med[f'{phase} cpu']:7.3f}")
    print(f"{'total / 15 s goal':28s} {med['total'] / GOAL_S:9.2f}")
    if args.per_figure:
        cpu = per_figure(args.runs)
        print(f"\n{'figure (draw + PNG)':28s} {'CPU s':>9s}")
        for name, s in cpu.items():
            print(f"{name:28s} {s:9.3f}")
        print(f"{'all figures':28s} {sum(cpu.values()):9.3f}")
    enc = encodings(rep, args.runs)
    page = enc[PAGE]
    print(f"\n{'figures encoded as':28s} {'median s':>9s} {'page / this':>12s}")
    for name, s in enc.items():
        print(f"{name:28s} {s:9.3f} {page / s:12.2f}")


if __name__ == "__main__":
    main()
