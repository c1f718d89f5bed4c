"""The report's six sections, in the seed study's order, as blocks of prose, tables and figures.

Each function takes the computed :class:`Analysis` and returns one :class:`Section`; nothing
here computes a statistic, it only says what the numbers mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import OptionError
from ..estimation.methods import label_words
from ..estimation.mm import MMControl
from ..formats import ci_labels, num, p_is, pval
from ..options import SeLabel
from ..plots import fit as plots
from ..plots.layout import blank
from ..results import FitResult
from .analysis import (
    Calibrated,
    DataSummary,
    Fits,
    ResidualShape,
    VarianceTests,
    Verdict,
    agreement,
    estimator_name,
    weight_summary,
)
from .blocks import Bullets, Figure, FigureRow, Heading, Note, Para, Section, Table
from .check import DESIGN_NAMES, REALISTIC, SimulationCheck
from .dependence import DependenceCheck

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure as MplFigure

DPI = plots.DPI  # raster figures at 150 dpi: sharp on high-density screens and in print


@dataclass(frozen=True)
class Analysis:
    """Everything the sections talk about."""

    formula: str
    weights: str | None
    effect: str | None  # the stored term name
    level: float
    data: DataSummary
    fits: Fits
    shape: ResidualShape
    bp: VarianceTests
    simulation: SimulationCheck | None
    verdict: Verdict | None
    calibrated: Calibrated | None  # the effect's test with the SE the simulation measured, when the reported one was too small
    example_note: str | None  # what the bundled example is, when the report runs on it
    synthetic: bool  # the data are invented, not real runs: the page warns
    dependence: DependenceCheck | None = None  # the dependence-aware test the conclusion believes (report/dependence.py)

    @property
    def term(self) -> str:
        """The effect term, for the parts of the page that exist only when one was named."""
        if self.effect is None:
            raise OptionError("no effect term was named; pass --effect TERM")
        return self.effect

    @property
    def judged(self) -> Verdict:
        """The simulation's verdict, for the parts of the page that exist only when it ran."""
        if self.verdict is None:
            raise OptionError("the simulation did not run; pass --trials N and --effect TERM")
        return self.verdict


def figure_block(name: str, fig, caption: str, alt: str, fmt: Literal["png", "svg"] = "png") -> Figure:
    """A matplotlib figure as the page's block (``figures/<name>.<fmt>`` beside the page); PNG by default."""
    return Figure(name, plots.to_bytes(fig, fmt, DPI), caption, alt, fmt)


def coefficient_table(result: FitResult, effect: str | None, caption: str) -> Table:
    """The coefficient table sorted by |t|, R's columns, the effect row emphasised."""
    tab = result.table("t")
    header = ("term", *tab.columns)
    rows = tuple((term, *(num(v, 7) for v in r.iloc[:5]), pval(r.iloc[5])) for term, r in tab.iterrows())
    strong = tuple(i for i, term in enumerate(tab.index) if term == effect)
    return Table(header, rows, caption, strong_rows=strong)


# ----------------------------------------------------------------------------- 1. data


def data_section(an: Analysis) -> Section:
    """Section 1: the rows used, the groups, the runs per size."""
    d = an.data
    blocks: list = []
    if an.example_note:
        note = an.example_note[0].upper() + an.example_note[1:]
        blocks.append(Note(note + ("" if note.endswith(".") else "."), "warn" if an.synthetic else "info"))
    blocks.append(Para(f"The model `{an.formula}` was fitted to {d.rows_used} rows"
                       + (f" with prior weights `{an.weights}`" if an.weights else " without prior weights") + ". "
                       + _dropped_sentence(d)))
    blocks.append(Para(_groups_sentence(d)))
    blocks.append(_counts_table(d))
    if d.trials_column is not None:
        per = "; ".join(f"{s:,.0f}: {', '.join(map(str, t))}" for s, t in d.trials_column.items())
        blocks.append(Para(f"The table's `trials` column, by {d.x} (several values where groups differ): {per}."
                           + (" Weights `1/trials` give each training size the same total weight within a group."
                              if an.weights in ("w", "1/trials") else "")))
    return Section("data", "1. The data", tuple(blocks))


def _dropped_sentence(d: DataSummary) -> str:
    if not d.dropped:
        return f"All {d.rows_read} rows of the table were used; none were dropped."
    why = "; ".join(f"{n} {reason}" for reason, n in d.dropped.items())
    return f"Of {d.rows_read} rows in the table, {d.rows_read - d.rows_used} were dropped: {why}."


def _groups_sentence(d: DataSummary) -> str:
    groups = f"the combinations of {', '.join(f'`{g}`' for g in d.groups)}" if d.groups else "a single group"
    effect = f", each with and without the effect factor `{d.effect_factor}`" if d.effect_factor else ""
    sizes = ", ".join(f"{s:,.0f}" for s in d.sizes)
    return (f"Groups are {groups}{effect}. Training sizes (`{d.x}`): {sizes}. "
            f"The table below counts runs (rows) per size and group: small sizes have many runs on disjoint parts "
            f"of the training pool, large sizes repeat the pool with fresh initialisations.")


def _counts_table(d: DataSummary) -> Table:
    header = ("group", *(f"{s:,.0f}" for s in d.counts.columns), "total")
    rows = tuple((str(g), *(str(int(v)) for v in r), str(int(r.sum()))) for g, r in d.counts.iterrows())
    return Table(header, rows, f"runs (rows) per group and {d.x}", code_labels=False)


# ----------------------------------------------------------------------------- 2. curves


def curves_section(an: Analysis) -> Section:
    """Section 2: the learning curves with the least-squares fit."""
    res = an.fits.ols
    fig = plots.learning_curves(res, effect=an.effect)
    lay = plots.curve_layout(res, an.effect)
    style = (f"line style and marker the level of `{lay.effect}`" if lay.effect else "one line style (no effect factor)")
    x_words = plots.AXIS_WORDS.get(lay.x, lay.x)
    caption = (f"Each point is a run; lines are the {label_words('ols', 'figure')} fit's power laws, one per group. "
               f"Colour marks the group, {style}. Both axes are logarithmic in the data's units ({x_words}, "
               f"{lay.y_label}); points of different effect levels are nudged apart sideways to stay visible.")
    para = Para("A power law is a straight line on log-log axes. The model gives every group its own intercept and "
                "slope, except where terms are shared across groups — which is how one coefficient, the effect, is "
                "estimated from all groups at once.")
    figure = figure_block("learning-curves", fig, caption, "learning curves on log-log axes")
    return Section("curves", "2. Learning curves", (para, figure))


# ----------------------------------------------------------------------------- 3. least squares


def least_squares_section(an: Analysis) -> Section:
    """Section 3: least squares, its residuals and the variance test."""
    res = an.fits.ols
    weighted = "weighted " if res.is_weighted else ""
    s = res.ls_summary
    assert s is not None  # least squares always has R's summary.lm extras
    intro = Para(f"The {weighted}least-squares fit, sorted by |t| so the weakest terms sink to the bottom. "
                 f"n = {res.nobs}, residual df = {res.df_resid:g}, residual standard error = {num(res.scale)}, "
                 f"R² = {s.rsquared:.4f}, adjusted R² = {s.rsquared_adj:.4f}.")
    lo, hi = ci_labels(res.level)
    table = coefficient_table(res, an.effect, f"{weighted}least squares; {lo}/{hi}: {res.level:.0%} confidence interval"
                                              + se_caption(an))
    qq = plots.qq(res)
    qq_block = figure_block("ls-qq", qq, "Normal QQ plot of the raw residuals; the line passes through the quartiles.",
                            "QQ plot of least-squares residuals")
    hist = plots.residual_histogram(res, blank(qq).axes[0])  # the same size and margins: the QQ plot's axes and ticks
    figs = FigureRow((qq_block, figure_block("ls-hist", hist, "Residual histogram with the normal of the same mean and SD.",
                                             "histogram of least-squares residuals")))
    return Section("least-squares", "3. Least squares", (intro, *_covariance_note(an), table,
                                                          Heading("Are the residuals normal?"), figs,
                                                          Para(_shape_words(an.shape)), Heading("Is their variance constant?"),
                                                          *_bp_blocks(an.bp)))


def se_caption(an: Analysis) -> str:
    """What the tables' standard errors are, for a caption; nothing when they are the estimators' classic ones."""
    cov = an.fits.covariance
    return f"; standard errors {cov.short()} ({', '.join(map(str, cov.n_clusters))} clusters)" if cov else ""


def _covariance_note(an: Analysis) -> list:
    cov = an.fits.covariance
    if cov is None:
        return []
    return [Note(f"The tables in this section and the next give {cov.words()}: the scores are summed within each "
                 "cluster, so rows of one cluster are not counted as independent evidence. The estimates are those of "
                 "the plain fits; t tests keep n − p degrees of freedom. Section 5 checks these standard errors against "
                 "each estimator's classic one.", "info")]


def _shape_words(shape: ResidualShape) -> str:
    side = "right" if shape.skewness > 0 else "left"
    skew = (f"skewed to the {side} (skewness {shape.skewness:.2f}): one tail is heavier than the other"
            if abs(shape.skewness) > 0.5 else f"roughly symmetric (skewness {shape.skewness:.2f})")
    tails = ("heavier-tailed than normal" if shape.excess_kurtosis > 1 else
             "about as heavy-tailed as a normal" if shape.excess_kurtosis > -0.5 else "lighter-tailed than normal")
    return (f"The residuals are {skew}, and {tails} (excess kurtosis {shape.excess_kurtosis:.2f}). Least squares stays "
            "unbiased under such residuals, but its standard errors and p-values assume normal, equal-variance noise; "
            "whether they still hold is what the simulation in section 5 checks.")


def _bp_blocks(bp: VarianceTests) -> list:
    m = bp.main
    verdict = ("rejects constant variance: the classic standard errors, which assume it, may be wrong, and the robust "
               "fits below or a simulation are needed to judge them" if m.pvalue < 0.05 else
               "finds no evidence against constant variance at the 5 % level (it does not test the shape of the "
               "distribution, which the QQ plot shows)")
    words = (f"The {m.method}: BP = {m.statistic:.3f} on {m.df:g} df, {p_is(m.pvalue)}. It regresses the squared "
             f"residuals on the model's regressors; a small p says their variance changes with them. It {verdict}.")
    out: list = [Para(words)]
    if bp.lmtest is not None:
        r = bp.lmtest
        out.append(Note(f"For a weighted fit the test above uses the whitened residuals √w·e, whose variance the weights "
                        f"are meant to make constant. R's `lmtest::bptest` tests the raw residuals instead: BP = "
                        f"{r.statistic:.3f}, {p_is(r.pvalue)} ({r.method}).", "info"))
    return out


# ----------------------------------------------------------------------------- 4. IRWLS


def irwls_section(an: Analysis) -> Section:
    """Section 4: the robust fits, their weights and residuals."""
    blocks: list = [Para("Iteratively reweighted least squares (M-estimation, as R's `MASS::rlm`) gives each run a weight "
                         "between 0 and 1 from its scaled residual, so outliers and the heavy tail pull less. Huber's psi "
                         "only shrinks large residuals; the bisquare's can reject a run entirely (weight 0). A bisquare "
                         "started from least squares can settle in the wrong minimum when bad points pull that start; "
                         "MM-estimation (R's `robustbase::lmrob`) starts it instead from a high-breakdown S-estimate and "
                         "keeps that scale. All use the same prior weights as least squares"
                         f"{' (`' + an.weights + '`)' if an.weights else ''}.")]
    for w in an.fits.warnings:
        blocks.append(Note(w, "warn"))
    again: dict[str, MplFigure] = {}  # each layout's last figure, drawn again for the next one
    for method in (m for m in an.fits.results if m != "ols"):
        blocks += _irwls_blocks(an, an.fits.results[method], again)
    return Section("irwls", "4. Robust fits (IRWLS)", tuple(blocks))


def _redrawn(again: dict[str, MplFigure], kind: str, draw: Callable[[list | None], MplFigure]) -> MplFigure:
    """``draw(axes)`` into the blanked axes of the last figure of ``kind``, or into a new figure (``axes`` None).

    The estimators' figures of one kind share their layout, so all but the first reuse its axes and
    ticks (:func:`~powerlaw_stats.plots.layout.blank`): the same bytes for about a fifth less time.
    """
    last = again.get(kind)
    again[kind] = fig = draw(None if last is None else blank(last).axes)
    return fig


def _irwls_blocks(an: Analysis, res: FitResult, again: dict[str, MplFigure]) -> list:
    name = label_words(res.method)
    ws = weight_summary(res)
    control = res.control
    assert control is not None  # an IRWLS fit always has its iteration settings
    conv = (f"converged after {res.n_iter} iterations" if res.converged else
            f"did NOT converge in {res.n_iter} iterations; the estimates are the last iterate")
    words = (f"{name[0].upper() + name[1:]} (tuning constant {res.tuning:g}, scale {res.scale_est} "
             f"s = {num(res.scale)}{_s_start(res)}) {conv} (tolerance {control.acc:g}, limit {control.maxit}). "
             "Final weights: "
             f"{ws['down_weighted']} of {ws['n']} runs below full weight, {ws['below_half']} below one half, "
             f"{ws['rejected']} rejected (weight 0); smallest {num(ws['min_weight'], 3)}.")
    m = res.method
    # both residual plots have one size and margins: each is drawn into the last one's axes once that is encoded
    resid = _redrawn(again, "resid", lambda axes: plots.residuals_vs_fitted(res, None if axes is None else axes[0]))
    resid_block = figure_block(f"{m}-resid", resid, "Residuals against fitted values; each point as opaque as "
                               "its final IRWLS weight (empty rings were ignored).", f"{name} residuals shaded by weight")
    wresid = _redrawn(again, "resid",
                      lambda axes: plots.weighted_residuals_vs_fitted(res, None if axes is None else axes[0]))
    figs = FigureRow((resid_block, figure_block(f"{m}-wresid", wresid, "Weighted residuals √(w₀w)·e: what the final "
                                                "weighted least-squares step sees.", f"{name} weighted residuals")))
    qq_fig = _redrawn(again, "qq", lambda axes: plots.qq_raw_weighted(res, None if axes is None else (axes[0], axes[1])))
    qq = figure_block(f"{m}-qq", qq_fig, "QQ plots of the raw residuals (left) and of the weighted "
                 "residuals (right). The weights pull the tails in where the weighted QQ is straighter.", f"{name} QQ plots")
    table = coefficient_table(res, an.effect, f"{name} {'(lmrob)' if m == 'mm' else 'IRWLS'}, sorted by |t|"
                              + se_caption(an))
    heading = "MM-estimation" if m == "mm" else f"{name.capitalize()} M-estimation"
    return [Heading(heading), Para(words), table, figs, qq]


def _s_start(res: FitResult) -> str:
    """For MM: where its start and fixed scale came from."""
    c = res.control
    if not isinstance(c, MMControl):
        return ""
    return (f", fixed from an S-estimate with bisquare c = {c.s_tuning:g} (50 % breakdown) on "
            f"{c.n_resample} subsamples, seed {res.seed}")


# ----------------------------------------------------------------------------- 5. simulation


def simulation_section(an: Analysis, panels: Sequence[Sequence[Figure]], summary: Figure | None = None) -> Section:
    """Section 5: the verdict first (table, summary figure, words), then each scenario's table and panels."""
    sim = an.simulation
    if sim is None:
        return Section("simulation", "5. Simulation check of the standard errors", (Note(
            "Skipped: run with `--trials N` (N > 0) and an effect term (`--effect TERM`) to check by simulation which "
            "estimator's standard error to trust.", "warn"),))
    v = an.judged
    blocks: list = [Para(
        f"Do the standard errors in the tables above tell the truth about `{sim.term}`? Each scenario draws "
        f"{sim.n_trials} synthetic data sets from the least-squares coefficients plus simulated residuals, fits each by "
        "every estimator, and compares the spread of the estimates (the measured SE) with the average reported SE. "
        "An SE ratio below 1 means the reported standard error is too small and p-values too optimistic."),
        Bullets((
            "`normal`: normal residuals with the fitted variance (what least squares assumes);",
            f"`{REALISTIC}`: skewed, heteroscedastic residuals shaped like the data's (what the data look like);",
            "designs: the seed's trial schemes, n trials at 1/n of the pool, and at least 4 trials at every size.",
            *_variant_bullet(an),
        ))]
    blocks += [Note(n, "info") for n in sim.notes]
    if sim.data_design:
        others = sorted({sc.design for sc in sim.scenarios} - {sim.data_design})
        blocks.append(Note(
            f"The data's runs follow design `{sim.data_design}` ({DESIGN_NAMES[sim.data_design]}: its `trials` column "
            f"is what that design gives every size), so the verdict rests on the `{sim.data_design}` scenarios. "
            + "".join(f"The `{d}` scenarios show what the standard errors would do had the runs followed "
                      f"{DESIGN_NAMES[d]}. " for d in others), "info"))
    skipped = unsimulated(an)
    if skipped:
        every = ",".join(an.fits.results)
        blocks.append(Note(f"{_names(skipped)} {'was' if len(skipped) == 1 else 'were'} fitted above but not simulated: "
                           f"its batched fit is far slower per trial than the others'. Add it with "
                           f"`--sim-estimators {every}`.", "info"))
    blocks += [_verdict_table(an), *([summary] if summary else []), Note(_verdict_words(an), "verdict" if v.trusted else "warn")]
    for sc, figs in zip(sim.scenarios, panels):
        blocks += [Heading(sc.name.capitalize()), *([Para(sc.description)] if sc.description else []), _scenario_table(sc), *figs]
    return Section("simulation", "5. Simulation check of the standard errors", tuple(blocks))


def _variant_bullet(an: Analysis) -> list[str]:
    cov = an.fits.covariance
    if cov is None:
        return []
    return [f"standard errors: each estimator twice, with its classic SE and with the {cov.kind} SE clustered by "
            f"{', '.join(f'`{c}`' for c in cov.cluster)} (rows \"with {cov.kind} SEs\"; a rebuilt design gives every "
            "new run its own cluster); the estimates are the same, only the standard errors differ."]


def unsimulated(an: Analysis) -> list[str]:
    """Estimators the report fitted that the simulation did not check."""
    done = {SeLabel.parse(c.estimator).method for c in an.verdict.checks} if an.verdict else set()
    return [m for m in an.fits.results if m not in done] if an.verdict else []


def _names(methods: Sequence[str]) -> str:
    return " and ".join(label_words(m) for m in methods)


def _verdict_table(an: Analysis) -> Table:
    v = an.judged
    scenarios = list(dict.fromkeys(c.scenario for c in v.checks))
    estimators = list(dict.fromkeys(c.estimator for c in v.checks))
    cell = {(c.estimator, c.scenario): f"{c.se_ratio:.2f} / {c.coverage:.1%} {'✓' if c.ok else '✗'}" for c in v.checks}
    rows = tuple((estimator_name(e), *(cell[e, s] for s in scenarios), "yes" if e in v.trusted else "no")
                 for e in estimators)
    caption = (f"SE ratio (reported / measured) and {an.level:.0%} CI coverage per scenario; ✓ within "
               f"±{v.ratio_tolerance:.0%} of 1 and ±{v.coverage_tolerance:.1%} of {an.level:.0%}")
    judged = {c.scenario for c in v.checks if c.judged}
    if len(judged) < len(scenarios):
        caption += "; † a design other than the data's, shown for comparison and not judged"
    header = tuple(sc if sc in judged else f"{sc} †" for sc in scenarios)
    return Table(("estimator", *header, "trusted"), rows, caption, code_labels=False,
                 strong_rows=tuple(i for i, e in enumerate(estimators) if e == v.recommended))


def _verdict_words(an: Analysis) -> str:
    v = an.judged
    name = estimator_name(v.recommended)
    if v.trusted:
        return f"**Verdict: trust {name}'s standard error** — {v.reason}."
    return f"**Verdict: no standard error passed; {name}'s came closest** — {v.reason}."


SCENARIO_COLUMNS = ("estimator", "truth", "mean estimate", "bias", "measured SE (SD)", "mean reported SE", "SE ratio",
                    "coverage", "failures")


def _scenario_table(sc) -> Table:
    rows = tuple(_scenario_row(r) for r in sc.rows)
    return Table(SCENARIO_COLUMNS, rows, f"`{sc.rows[0]['term']}`, {sc.name}", code_labels=False)


def _scenario_row(r: dict) -> tuple[str, ...]:
    return (estimator_name(r["estimator"]), num(r["truth"]), num(r["mean_estimate"]), num(r["bias"], 2),
            num(r["sd_estimate"]), num(r["mean_se"]), f"{r['se_ratio']:.3f}", f"{r['coverage']:.1%}", str(int(r["failures"])))


# ----------------------------------------------------------------------------- 6. conclusion


def conclusion_section(an: Analysis) -> Section:
    """Section 6: the effect by estimator and the answer in words."""
    if an.effect is None:
        return Section("conclusion", "6. Conclusion", (Note(
            "No effect term was named. Pass `--effect TERM` (one of the table's terms) for a conclusion about it.", "warn"),))
    rows = effect_rows(an)
    agree = agreement({m: {"estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "p_value": r["p_value"]}
                       for m, r in rows.items()}, 1 - an.level)
    lo, hi = ci_labels(an.level)
    table = Table(("estimator", "estimate", lo, hi, "std. error", "p"),
                  tuple((estimator_name(m), num(r["estimate"]), num(r["ci_low"]), num(r["ci_high"]), num(r["std_error"]),
                         pval(r["p_value"])) for m, r in rows.items()),
                  f"`{an.effect}` by estimator" + (" and standard error" if an.fits.covariance else ""), code_labels=False,
                  strong_rows=tuple(i for i, m in enumerate(rows) if (an.verdict or an.dependence) and m == believed(an)))
    words = conclusion_words(an, rows, agree)
    return Section("conclusion", "6. Conclusion", (table, *(Para(p) for p in words[:3]), *bootstrap_blocks(an),
                                                   *(Para(p) for p in words[3:])))


def effect_rows(an: Analysis) -> dict[str, dict]:
    """The effect's row by label: every fit's, then the dependence-aware test's when the report chose one."""
    rows = {label: r.coefficient(an.term).to_dict() for label, r in an.fits.variants.items()}
    return {**rows, an.dependence.label: an.dependence.effect} if an.dependence else rows


def believed(an: Analysis) -> str:
    """The label whose numbers the conclusion reports.

    The dependence-aware test on schema data (the simulation draws rows independently, so it
    cannot judge that), else the simulation's verdict, else least squares with the tables' SE.
    """
    if an.dependence:
        return an.dependence.label
    return an.verdict.recommended if an.verdict else an.fits.label("ols")


def bootstrap_blocks(an: Analysis) -> list:
    """The wild bootstrap's intervals and p-values of the effect, one row per estimator, when it ran."""
    boots = {m: r.bootstrap for m, r in an.fits.results.items() if r.bootstrap is not None}
    if not boots:
        return []
    lo, hi = ci_labels(an.level)
    header = ("estimator", "estimate", "bootstrap SE", f"studentized {lo}", f"studentized {hi}", "studentized p",
              f"percentile {lo}", f"percentile {hi}", "percentile p", "failed")
    rows = tuple((label_words(m), *_bootstrap_row(b, an.term)) for m, b in boots.items())
    strong = tuple(i for i, m in enumerate(boots) if m == SeLabel.parse(believed(an)).method)
    caption = _bootstrap_caption(next(iter(boots.values())), an.term)
    return [Heading("Wild bootstrap"), Table(header, rows, caption, code_labels=False, strong_rows=strong)]


def _bootstrap_row(b, term: str) -> tuple[str, ...]:
    (slo, shi), (plo, phi) = b.ci_studentized.loc[term], b.ci_percentile.loc[term]
    return (num(b.params[term]), num(b.boot_se[term]), num(slo), num(shi), pval(b.pvalues_studentized[term]),
            num(plo), num(phi), pval(b.pvalues_percentile[term]), str(b.n_failed))


def _bootstrap_caption(b, effect: str) -> str:
    by = f", drawn per cluster of `{b.cluster}` (wild cluster bootstrap)" if b.cluster else ", drawn per row"
    return (f"`{effect}`: wild bootstrap, {b.n_boot} replications, {b.weights} weights{by}, seed {b.seed}; studentized "
            f"by {b.studentized_by}; {b.level:.0%} intervals")


def conclusion_words(an: Analysis, rows: dict, agree) -> list[str]:
    """The answer in plain words: did the effect change the curve, how sure, do estimators agree, which to believe."""
    best = believed(an)
    alpha = 1 - an.level
    first = f"{answer_line(an, rows)} {_meaning(an, rows[best]['estimate'])}"
    each = "; ".join(f"{estimator_name(m)} {num(x['estimate'])} ({p_is(x['p_value'])})" for m, x in rows.items())
    how = ("The estimators agree" if agree.agree else "The estimators disagree") + f": {each}."
    if agree.agree and not agree.within_each_others_ci:
        how += " They tell the same story, though some estimate lies outside another's interval."
    if not agree.same_significance:
        how += " Whether the effect is distinguishable from zero therefore depends on which standard error one believes."
    trust = _trust_words(an)
    trust += _calibrated_words(an.calibrated, an.level, alpha)
    skipped = unsimulated(an)
    if skipped:
        one = len(skipped) == 1
        trust += (f" {_names(skipped)} {'was' if one else 'were'} not part of the simulation, so "
                  f"{'its standard error is' if one else 'their standard errors are'} unchecked.")
    return [first, how, trust, *_bootstrap_words(an, best)]


def _bootstrap_words(an: Analysis, best: str) -> list[str]:
    """The believed estimator's bootstrap in words, beside its t-based test."""
    method = SeLabel.parse(best).method
    b = an.fits.results[method].bootstrap if best in an.fits.variants else None  # not for the dependence-aware test
    if b is None:
        return []
    t = an.term
    lo, hi = b.ci_studentized.loc[t]
    plo, phi = b.ci_percentile.loc[t]
    alpha = 1 - an.level
    same = (b.pvalues_studentized[t] < alpha) == (an.fits.variants[best].pvalues[t] < alpha)
    return [f"The wild {'cluster ' if b.cluster else ''}bootstrap of {label_words(method)} ({b.n_boot} replications, "
            f"{b.weights} weights) gives the studentized {an.level:.0%} interval {num(lo)} to {num(hi)}, "
            f"{p_is(b.pvalues_studentized[t])}, and the percentile interval {num(plo)} to {num(phi)}, "
            f"{p_is(b.pvalues_percentile[t])}. The studentized one is the better guide (docs/inference.md); it "
            + ("agrees with the t test above on whether the effect is distinguishable from zero." if same else
               "disagrees with the t test above on whether the effect is distinguishable from zero: read the evidence "
               "as weaker than the t test says.")]


def _trust_words(an: Analysis) -> str:
    v = an.verdict
    if an.dependence:
        return _dependence_trust(an.dependence, v)
    if v is None:
        return "Without the simulation check it is not known which standard error to believe; least squares is shown."
    name = estimator_name(v.recommended)
    if v.trusted:
        return f"The simulation says to believe {name}: {v.reason}."
    return f"The simulation found no standard error honest everywhere and says to believe {name} as the least wrong: {v.reason}."


def _dependence_trust(d: DependenceCheck, v: Verdict | None) -> str:
    """Why the conclusion believes the dependence-aware test, in numbers, and what the simulation's pick was."""
    c = d.choice
    why = (f"no mixed model could be fitted ({c.error})" if c.error else
           f"the split variance's likelihood-ratio test gave chi2 = {c.lr_stat:.3g}, {p_is(c.p_value)}; variance "
           f"components " + ", ".join(f"{k} {num(x)}" for k, x in c.variance_components.items()))
    text = (f"Rows of this table depend (runs and the images they trained on), so the conclusion believes "
            f"{estimator_name(d.label)}, as `effect` does by default: {why} (section \"When rows depend\").")
    if v is not None:
        text += (f" The simulation, which draws rows independently, judged {estimator_name(v.recommended)} best for "
                 "heavy tails and unequal variances; it does not see rows that move together.")
    return text


def answer_line(an: Analysis, rows: dict) -> str:
    """The headline: did the effect change the curve, the believed estimate, and how sure we are.

    How sure follows the simulation: when it found the believed SE too small, the p-value judged
    is the one with the SE scaled up to the spread it measured.
    """
    best = believed(an)
    r, c, alpha = rows[best], an.calibrated, 1 - an.level
    p_final = c.p_value if c else r["p_value"]
    text = (f"{_answer(an, p_final, alpha)} According to {estimator_name(best)}, the estimate is {num(r['estimate'])} "
            f"({an.level:.0%} CI {num(r['ci_low'])} to {num(r['ci_high'])}, {p_is(r['p_value'])}")
    if c:
        text += (f"; with its SE scaled up to the spread the simulation measured, CI {num(c.ci_low)} to {num(c.ci_high)}, "
                 f"{p_is(c.p_value)}")
    return f"{text}): {_evidence(p_final, alpha)}."


def _calibrated_words(c: Calibrated | None, level: float, alpha: float) -> str:
    """How sure we are once the reported SE is corrected by what the simulation measured."""
    if c is None:
        return ""
    verdict = ("the effect stays distinguishable from zero" if c.p_value < alpha else
               "the effect is no longer distinguishable from zero: the evidence above was overstated")
    return (f" Even so, under residuals like the data's its reported SE was only {c.se_ratio:.2f} of the estimates' real "
            f"spread, so the p-value above is too small. With the SE scaled up to the measured spread ({num(c.std_error)}), "
            f"t = {c.t_value:.2f}, {p_is(c.p_value)}, {level:.0%} CI {num(c.ci_low)} to {num(c.ci_high)}: {verdict}.")


# p-value thresholds, strictest first, and how sure each lets us be
_EVIDENCE: tuple[tuple[float, str], ...] = (
    (1e-3, "strong evidence; an effect this large would almost never arise by chance alone"),
    (1e-2, "clear evidence, though a chance effect of this size is not impossible"),
)


def _evidence(p: float, alpha: float) -> str:
    """How sure the p-value lets us be, in words.

    Examples
    --------
    >>> _evidence(0.03, 0.05)
    'some evidence, but modest: the interval only just excludes zero'
    """
    for bound, words in _EVIDENCE:
        if p < bound and p < alpha:
            return words
    if p < alpha:
        return "some evidence, but modest: the interval only just excludes zero"
    return "no convincing evidence; the interval includes zero, so no change is also consistent with the data"


# the schema's derived factors in words (powerlaw_stats.data.schema.SCHEMA_COLUMNS), for the conclusion's headline
PLAIN_FACTORS = {"mix": "mixup", "CinicTr": "training on CINIC-10", "CinicEv": "evaluating on CINIC-10",
                 "TrainSet": "the training set", "EvalSet": "the evaluation set"}


def effect_words(an: Analysis) -> tuple[str, str | None, bool]:
    """How to name the effect in words: its factor and level (``mix``, ``1``), and whether it is a slope term."""
    factor = an.data.effect_factor
    parts = [p.replace(" ", "") for p in an.term.split(":")]
    level = next((p[len(factor):] for p in parts if factor and p.startswith(factor) and not p.startswith("I(")), None)
    slope = len(parts) > 1 and any(an.data.x in p for p in parts)
    if not factor:
        return f"`{an.term}`", None, slope
    plain = f"{PLAIN_FACTORS[factor]} (`{factor}`)" if factor in PLAIN_FACTORS else f"`{factor}`"
    return plain, (level or None), slope


def _versus(an: Analysis, level: str) -> str:
    """``(`mix` = 1 against `mix` = 0)``: the level the effect is about against the others."""
    factor = an.data.effect_factor
    others = sorted({str(v) for v in an.fits.ols.data[factor].unique()} - {level})
    against = " or ".join(f"`{factor}` = {o}" for o in others) or "the other levels"
    return f" (`{factor}` = {level} against {against})"


def _answer(an: Analysis, p_value: float, alpha: float) -> str:
    what, level, slope = effect_words(an)
    where = _versus(an, level) if level else ""
    change = "the power-law slope" if slope else "the learning curve's level"
    if p_value < alpha:
        return f"**Yes: {what} changed {change}**{where}."
    return f"**Not shown: the data do not establish that {what} changed {change}**{where}."


def _meaning(an: Analysis, estimate: float) -> str:
    term, x = an.term, an.data.x
    _, level, slope = effect_words(an)
    if slope and "log2" in term and an.formula.split("~")[0].strip() == "log_err":
        change = 2.0**estimate - 1
        steeper = "steeper: the error falls faster" if estimate < 0 else "flatter: the error falls more slowly"
        return (f"`{term}` is the change in the power-law slope (log2 error per doubling of {x}). With the effect the "
                f"curve is {steeper} as data grow, each doubling of the training set changing the error by a further "
                f"{change:+.1%}.")
    if slope:
        return f"`{term}` is the change in the slope with respect to `{x}` where the effect applies."
    return f"`{term}` shifts the fitted curve (its intercept) where the effect applies."
