"""The report's "Is there a floor?" section: the seed's straight line against the saturating power law.

A floor bends the learning curve, and a factor that only lowers the floor shows up in a straight
line as a change of slope. So the section refits the report's model as two laws on the same rows
(:mod:`powerlaw_stats.laws`): the log-linear law, which is the report's formula exactly, and the
saturating law ``log2 err = log2(E + 2^(a + b·x))`` with one floor per group, shared by the effect
factor's levels. Then it asks whether the data need the floor (the boundary likelihood-ratio test,
AIC, the error of the largest size predicted from the others), and whether the effect on the slope
survives once the floor is allowed, and once the effect may move the floor too, each with its
profile-likelihood interval. The headline says whether the answer depends on the floor.

Numbers here, words in :func:`floor_section`; ``results.json`` gets :meth:`FloorCheck.to_dict`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConvergenceWarning, IdentificationWarning, PowerlawStatsError
from ..formats import json_float, num, p_is, pval
from ..formula import parse
from .blocks import Note, Para, Section, Table

LAW_INPUT = "I(log2(TS)-IXMin)"  # the saturating law's x, as the seed's formulas write it
LAW_RESPONSE = "log_err"
CONSTANTS = ("IXMin",)  # scalars the law's input reads; passed as --let so the sizes are known


# ----------------------------------------------------------------------------- the formulas


@dataclass(frozen=True)
class LawFormulas:
    """The report's linear formula as the laws' parameter formulas, and the effect's name under them."""

    a: str
    b: str
    floor: str  # E: the groups' terms without the effect factor (one floor per group, shared by its levels)
    floor_with_effect: str | None  # E with the effect factor's terms too; None when the floor has them already
    term: str | None  # the effect as a law coefficient ("b.mix1"), None without one


def law_formulas(formula: str, effect: str | None, effect_factor: str | None) -> LawFormulas | str:
    """Split ``log_err ~ I(log2(TS)-IXMin)*(...)`` into a, b and E formulas, or say why it cannot be.

    Terms without the size input go to ``a`` (the intercept), terms with it to ``b`` (the slope)
    with the input taken out; the floor gets ``a``'s terms that do not involve the effect factor.

    Examples
    --------
    >>> f = law_formulas("log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)", "I(log2(TS)-IXMin):mix1", "mix")
    >>> f.a, f.floor, f.term
    ('1 + mix + TrainSet + EvalSet + TrainSet:EvalSet', '1 + TrainSet + EvalSet + TrainSet:EvalSet', 'b.mix1')
    >>> law_formulas("log_err ~ mix", None, None)
    'the formula has no size term I(log2(TS)-IXMin), so there is no power law to give a floor'
    """
    parsed = parse(formula)
    if _compact(parsed.response) != LAW_RESPONSE:
        return f"the response is {parsed.response}, not {LAW_RESPONSE} (log2 error), which the saturating law models"
    a_terms: list[str] = []
    b_terms: list[str] = []
    for term in parsed.desc.rhs_termlist:
        codes = [f.code for f in term.factors]
        rest = ":".join(c for c in codes if _compact(c) != LAW_INPUT) or "1"
        (b_terms if any(_compact(c) == LAW_INPUT for c in codes) else a_terms).append(rest)
    if not b_terms:
        return f"the formula has no size term {LAW_INPUT}, so there is no power law to give a floor"
    if any(LAW_INPUT in _compact(t) or "TS" in re.findall(r"\w+", t) for t in a_terms + b_terms):
        return f"the size enters the formula other than through {LAW_INPUT}; the saturating law cannot mirror it"
    own = [t for t in a_terms if not (effect_factor and effect_factor in t.split(":"))]
    floor, with_effect = _rhs(own), _rhs(a_terms)
    return LawFormulas(a=_rhs(a_terms), b=_rhs(b_terms), floor=floor,
                       floor_with_effect=with_effect if with_effect != floor else None, term=_law_term(effect))


def _compact(text: str) -> str:
    return "".join(text.split())


def _rhs(terms: Sequence[str]) -> str:
    return " + ".join(terms) if "1" in terms else " + ".join(["0", *terms])


def _law_term(effect: str | None) -> str | None:
    if effect is None:
        return None
    parts = [p for p in effect.split(":")]
    rest = [p for p in parts if _compact(p) != LAW_INPUT]
    return f"{'b' if len(rest) < len(parts) else 'a'}.{':'.join(rest) or '(Intercept)'}"


# ----------------------------------------------------------------------------- the numbers


@dataclass(frozen=True, kw_only=True)
class Reading:
    """The effect under one law: estimate, Wald and profile intervals, p-value."""

    label: str
    law: str
    formulas: Mapping[str, str]
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    profile_low: float
    profile_high: float
    p_value: float
    floor_shift: Mapping[str, float | str] | None = None  # the effect's own term in E, where the floor may move
    when: str = ""  # the reading in words: "without a floor", "with a floor per group", ...

    def excludes_zero(self) -> bool:
        """Whether the profile interval (the Wald one where there is none) leaves out zero."""
        lo, hi = (self.profile_low, self.profile_high) if self.profile_low == self.profile_low else (self.ci_low, self.ci_high)
        return bool(lo > 0 or hi < 0)

    def agrees_with(self, other: Reading) -> bool:
        """The same answer: both intervals leave out zero on the same side, or both hold it."""
        return self.excludes_zero() == other.excludes_zero() and (
            not self.excludes_zero() or np.sign(self.estimate) == np.sign(other.estimate))

    def to_dict(self) -> dict:
        """The reading as results.json holds it."""
        def plain(v):
            return json_float(v) if isinstance(v, float) else {k: plain(x) for k, x in v.items()} if isinstance(v, Mapping) else v

        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True, kw_only=True)
class FloorCheck:
    """Both laws on the report's rows: the fits, the floor test, the effect under each, the verdict."""

    formulas: LawFormulas | None
    skipped: str | None = None
    fits: Mapping[str, object] = field(default_factory=dict, repr=False)  # label -> LawFit, drawn in the figure
    saturating: object | None = field(default=None, repr=False)  # the LawFit with a floor per group
    readings: tuple[Reading, ...] = ()
    warnings: tuple[str, ...] = ()
    depends: bool | None = None  # does the answer about the effect change once a floor is allowed?
    level: float = 0.95

    def to_dict(self) -> dict:
        """Every number the section shows."""
        if self.skipped or self.saturating is None or self.formulas is None:
            return {"skipped": self.skipped}
        sat = self.saturating
        doc = sat.to_dict()  # type: ignore[attr-defined]
        return {
            "skipped": None, "law": "saturating", "formulas": doc["formulas"], "term": self.formulas.term,
            "floors": doc["floors"], "bound_active": doc["bound_active"], "floor_test": doc["floor_test"],
            "identification": doc["identification"], "readings": [r.to_dict() for r in self.readings],
            "depends_on_floor": self.depends, "warnings": list(self.warnings), "headline": headline(self),
        }


def floor_check(formula: str, frame: pd.DataFrame, weights: str | None, effect: str | None,
                effect_factor: str | None, level: float) -> FloorCheck:
    """Fit the log-linear and the saturating law to the report's rows and read the effect under each."""
    from ..laws import fit_law
    from ..laws.design import shared_designs

    forms = law_formulas(formula, effect, effect_factor)
    if isinstance(forms, str):
        return FloorCheck(formulas=None, skipped=forms)
    data, let = _with_constants(frame)
    law_fit = functools.partial(fit_law, data, weights=weights, level=level, let=let)
    with warnings.catch_warnings(record=True) as caught, shared_designs():  # three laws, one table: a and b repeat
        warnings.simplefilter("always", IdentificationWarning)
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            line = law_fit("loglinear", {"a": forms.a, "b": forms.b}, profile=[forms.term] if forms.term else False,
                           compare=False)
            params = {"E": forms.floor, "a": forms.a, "b": forms.b}
            sat = law_fit("saturating", params, profile=_profiled(forms.term))
            moved = _moved_floor_fit(law_fit, forms) if forms.floor_with_effect and forms.term else None
        except PowerlawStatsError as exc:
            return FloorCheck(formulas=forms, skipped=f"the saturating law could not be fitted to these rows: {exc}")
    notes = tuple(dict.fromkeys(str(w.message) for w in caught
                                if issubclass(w.category, (IdentificationWarning, ConvergenceWarning))))
    readings: tuple[Reading, ...] = ()
    if forms.term:
        labelled = [("log-linear (the report's model)", "without a floor", line),
                    (f"saturating, E ~ {_short(forms.floor)}", "with a floor per group", sat)]
        if moved is not None:
            labelled.append((f"saturating, E ~ {_short(forms.floor_with_effect or '')} (the effect may move the floor)",
                             "with the effect free to move the floor too", moved))
        readings = tuple(_reading(label, res, forms.term, when) for label, when, res in labelled)
    depends = None if len(readings) < 2 else not all(r.agrees_with(readings[0]) for r in readings[1:])
    return FloorCheck(formulas=forms, fits={"log-linear": line, "saturating": sat}, saturating=sat, readings=readings,
                      warnings=notes, depends=depends, level=level)


def _profiled(term: str | None) -> list[str]:
    """The effect and every floor cell: what the section and the identification check read (other terms cost time)."""
    return [*([term] if term else []), "E[*]"]


def _moved_floor_fit(law_fit, forms: LawFormulas):
    """The saturating law with the effect factor in the floor too, profiling the effect and its own floor term."""
    params = {"E": forms.floor_with_effect or "1", "a": forms.a, "b": forms.b}
    terms = [t for t in (forms.term, _floor_term(forms.term)) if t]
    try:
        return law_fit("saturating", params, profile=terms, compare=False)
    except PowerlawStatsError:  # the floor has no column of that name (an interaction effect): the slope term alone
        return law_fit("saturating", params, profile=terms[:1], compare=False)


def _floor_term(term: str | None) -> str | None:
    """``b.mix1`` → ``E.mix1``: the effect's column in the floor's formula."""
    return None if term is None else "E." + term.split(".", 1)[1]


def _with_constants(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The rows with the law input's constants (IXMin) as ``--let`` scalars, so sizes in TS can be given."""
    consts = [c for c in CONSTANTS if c in frame.columns and frame[c].nunique() == 1]
    let = tuple(f"{c}={float(frame[c].iloc[0])!r}" for c in consts)
    return frame.drop(columns=consts), let


def _reading(label: str, res, term: str, when: str = "") -> Reading:
    ci = res.conf_int()
    prof = res.profile.loc[term] if res.profile is not None and term in res.profile.index else None
    shift = _floor_term(term)
    floor_shift: dict[str, float | str] | None = None
    if shift and res.law == "saturating" and res.profile is not None and shift in res.profile.index:
        p = res.profile.loc[shift]
        value = float(res.params[shift])
        floor_shift = {"term": shift, "estimate": 0.0 if abs(value) < 1e-12 else value,  # pinned by cells at zero
                       "profile_low": float(p["lower"]), "profile_high": float(p["upper"])}
    return Reading(floor_shift=floor_shift, when=when, label=label, law=res.law, formulas=dict(res.formulas),
                   estimate=float(res.params[term]), std_error=float(res.bse[term]),
                   ci_low=float(ci.loc[term].iloc[0]), ci_high=float(ci.loc[term].iloc[1]),
                   profile_low=math.nan if prof is None else float(prof["lower"]),
                   profile_high=math.nan if prof is None else float(prof["upper"]), p_value=float(res.pvalues[term]))


def _short(rhs: str) -> str:
    """``1 + TrainSet + EvalSet + TrainSet:EvalSet`` → ``TrainSet*EvalSet`` where the terms are a full product."""
    terms = [t.strip() for t in rhs.split("+")]
    if "1" not in terms:
        return rhs
    rest = [t for t in terms if t != "1"]
    if not rest:
        return "1"
    tops = [t for t in rest if not any(set(t.split(":")) < set(u.split(":")) for u in rest)]
    expanded = {":".join(sorted(s)) for top in tops for s in _subsets(top.split(":"))}
    if expanded == {":".join(sorted(t.split(":"))) for t in rest}:
        return " + ".join("*".join(top.split(":")) for top in tops)
    return rhs


def _subsets(parts: list[str]) -> list[tuple[str, ...]]:
    from itertools import combinations

    return [c for k in range(1, len(parts) + 1) for c in combinations(parts, k)]


# ----------------------------------------------------------------------------- the words


def headline(check: FloorCheck) -> str:
    """One sentence for the report's headline: does the answer about the effect depend on the floor?"""
    if check.depends is None or not check.readings or check.formulas is None:
        return ""
    term, base = check.formulas.term, check.readings[0]
    if not check.depends:
        sat = check.readings[1]
        same = "changes" if base.excludes_zero() else "does not clearly change"
        also = ", whether the effect's levels share it or the effect may move it," if len(check.readings) > 2 else ""
        return (f"With an error floor allowed (saturating law){also} the answer is the same: the effect {same} the slope "
                f"(`{term}` {num(sat.estimate)}, {_profile(sat, check.level)} with a floor per group), so it does not "
                "depend on the floor.")
    other = next(r for r in check.readings[1:] if not r.agrees_with(base))
    text = (f"But the answer depends on the floor: {other.when}, `{term}` is {num(other.estimate)} "
            f"({_profile(other, check.level)})")
    if base.excludes_zero() and not other.excludes_zero():
        text += " and no longer clearly different from zero — what looks like a change of slope may be a change of floor"
    elif other.excludes_zero() and not base.excludes_zero():
        text += ", clearly different from zero where the straight line saw no change"
    else:
        text += f", the opposite sign of the straight line's {num(base.estimate)}"
    return text + _shift_words(other, check.level) + "."


def _profile(r: Reading, level: float) -> str:
    return f"profile {level:.0%} CI {num(r.profile_low)} to {num(r.profile_high)}"


def _shift_words(r: Reading, level: float) -> str:
    s = r.floor_shift
    if not s:
        return ""
    return (f" (the effect's own shift of the floor, `{s['term']}`, is {num(float(s['estimate']))}, profile {level:.0%} "
            f"CI {num(float(s['profile_low']))} to {num(float(s['profile_high']))})")


def floor_section(check: FloorCheck, figure=None, number: int = 6) -> Section:
    """The section: the question, the figure, the floor test, the floors, the effect under each law, the verdict."""
    title = f"{number}. Is there a floor?"
    intro = Para("The power law above is a straight line on log-log axes, falling forever. Real learning curves often "
                 "flatten towards an error they cannot go below — an irreducible floor E, as every scaling-law study "
                 "since Hestness et al. (2017) fits: `log2 err = log2(E + 2^(a + b·x))`. With E = 0 this is exactly "
                 "the model above. A floor bends the line, and a factor that only lowers the floor shows up in a "
                 "straight-line fit as a change of slope; so the question of the slope is only answered honestly by a "
                 "model that can tell a slope from a floor.")
    if check.skipped or check.saturating is None or check.formulas is None:
        return Section("floor", title, (intro, Note(f"Skipped: {check.skipped}.", "warn")))
    sat = check.saturating
    forms = check.formulas
    blocks: list = [intro, Para(
        f"The saturating law is fitted with the model's own intercept and slope terms (a ~ {_short(forms.a)}, "
        f"b ~ {_short(forms.b)}) and one floor per group, E ~ {_short(forms.floor)}, each floor at least 0 "
        "(by weighted nonlinear least squares with the same prior weights; docs/laws.md).")]
    if figure is not None:
        blocks.append(figure)
    blocks += [_test_table(sat), Para(_test_words(sat)), _floors_table(sat)]
    blocks += [Note(_identification_words(w), "warn") for w in check.warnings]
    if check.readings:
        blocks += [_readings_table(check), Note(_verdict_words(check), "verdict" if not check.depends else "warn")]
    return Section("floor", title, tuple(blocks))


def _test_table(sat) -> Table:
    ft = sat.floor_test
    rows = []
    for law in (sat.law, ft.nested_law):
        held = ft.heldout.loc[law] if ft.heldout is not None and law in ft.heldout.index else None
        rows.append((law, num(ft.aic.get(law), 6), num(held["rms_error"]) if held is not None else "NA",
                     num(held["mean_error"]) if held is not None else "NA"))
    x = float(ft.heldout["heldout_input"].iloc[0]) if ft.heldout is not None else math.nan
    caption = (f"AIC of both laws, and the error (log2 units, weighted) of the largest size (x = {x:g}) predicted by each "
               "law fitted without it")
    return Table(("law", "AIC", "held-out RMS error", "held-out mean error"), tuple(rows), caption, code_labels=False)


def _test_words(sat) -> str:
    ft = sat.floor_test
    mix = "/".join(f"{w:.2f}" for w in ft.mixture)
    need = ("The data call for a floor" if ft.p_value is not None and ft.p_value < 0.05 else
            "The data do not call for a floor")
    aic = min(ft.aic, key=ft.aic.get) if ft.aic else None
    held = ft.heldout["rms_error"].idxmin() if ft.heldout is not None else None
    words = (f"Floor or no floor: the likelihood-ratio test of E = 0 gives LR = {num(ft.statistic)}, {p_is(ft.p_value)} "
             f"(E = 0 sits on the boundary, so its null distribution is a chi-bar-square mixture, weights {mix}). "
             f"{need}; AIC prefers the {aic} law")
    if held:
        words += (f", and the {held} law predicts the largest size better from the smaller ones"
                  + (" — a floor that fits the sizes seen need not extrapolate." if held != aic else "."))
    return words


def _floors_table(sat) -> Table:
    lo, hi = (f"profile {p}" for p in ("lower", "upper"))
    rows = tuple((cell, "0 (at the bound)" if r["at_bound"] else num(r["estimate"]), num(r["std_error"]),
                  num(r.get("profile_lower")), num(r.get("profile_upper"))) for cell, r in sat.floors.iterrows())
    return Table(("floor cell", "E", "SE", lo, hi), rows,
                 "each group's floor on the error scale; a floor at its bound (0) has no SE, its profile interval says "
                 "how large it could be")


def _identification_words(message: str) -> str:
    return ("Identification: " + message[0].upper() + message[1:]
            + (". " if not message.endswith(".") else " ")
            + "Slope terms whose SE a floor inflates this much are not told apart from the floor by these sizes; "
              "`powerlaw-stats plan` finds the sizes that would.")


def _readings_table(check: FloorCheck) -> Table:
    term = check.formulas.term if check.formulas else ""
    rows = tuple((r.label, num(r.estimate), num(r.std_error), f"{num(r.ci_low)} to {num(r.ci_high)}",
                  f"{num(r.profile_low)} to {num(r.profile_high)}", pval(r.p_value)) for r in check.readings)
    lv = f"{check.level:.0%}"
    return Table(("model", "estimate", "SE", f"Wald {lv} CI", f"profile {lv} CI", "p"), rows,
                 f"`{term}` (the effect on the slope) under each law; the profile interval lets the floor move and is "
                 "the one to read when a floor sits on its bound", code_labels=False, strong_rows=(1,))


def _verdict_words(check: FloorCheck) -> str:
    term = check.formulas.term if check.formulas else ""
    base = check.readings[0]
    lead = "The answer depends on the floor." if check.depends else "The answer does not depend on the floor."
    parts = [f"{base.when} `{term}` is {num(base.estimate)} ({check.level:.0%} CI {num(base.ci_low)} to {num(base.ci_high)})"]
    parts += [f"{r.when} {num(r.estimate)} ({_profile(r, check.level)}){_shift_words(r, check.level)}"
              for r in check.readings[1:]]
    text = f"**{lead}** " + "; ".join(parts)[0].upper() + "; ".join(parts)[1:] + ". "
    if not check.depends:
        return text + ("In every reading the slope change is " + ("clearly different from zero." if base.excludes_zero()
                                                                   else "not clearly different from zero."))
    other = next(r for r in check.readings[1:] if not r.agrees_with(base))
    if base.excludes_zero() and not other.excludes_zero():
        return text + (f"The straight line's change of slope is not there {other.when}: what looks like a change of "
                       "slope may be a change of floor.")
    return text + f"The readings disagree; {other.when} the straight line's answer does not hold."


# ----------------------------------------------------------------------------- the report's pages


def add_floor(sections: Sequence[Section], check: FloorCheck, size: str, panels: Sequence[str],
              colour: str | None, answer: str) -> tuple[Section, ...]:
    """The report's sections with "Is there a floor?" before the conclusion, and its sentence after the ``answer``."""
    from .sections import figure_block  # the report's one way of turning a figure into a page block

    return place_floor(sections, check, law_figure(check, size, panels, colour, figure_block), answer)


def place_floor(sections: Sequence[Section], check: FloorCheck, figure, answer: str) -> tuple[Section, ...]:
    """:func:`add_floor` with the figure drawn already (the report draws it while the simulation runs)."""
    out = with_floor(sections, floor_section(check, figure))
    sentence = headline(check)
    return tuple(conclusion_with_floor(s, answer, sentence) if s.id == "conclusion" else s for s in out)


def add_floor_results(results: dict, check: FloorCheck) -> str:
    """results.json with the floor's numbers, the headline's sentence right after the conclusion's answer."""
    results["floor"] = check.to_dict()
    sentence = headline(check)
    conclusion = results.get("conclusion")
    if not conclusion:
        return ""
    if sentence:
        old = conclusion["answer"]
        conclusion["answer"] = f"{old} {sentence}"
        conclusion["text"] = [conclusion["text"][0].replace(old, conclusion["answer"], 1), *conclusion["text"][1:]]
    return conclusion["answer"]


def law_figure(check: FloorCheck, size: str, panels: Sequence[str], colour: str | None, figure_block):
    """Both laws on each group's runs, through the report's figure path (``figure_block``); None when skipped."""
    if check.skipped or not check.fits:
        return None
    from ..plots.laws import law_curves

    fig = law_curves(check.fits, size=size, panels=panels, colour=colour)  # type: ignore[arg-type]
    caption = ("Each panel is one group; points are runs, solid lines the straight line (log-linear law), dashed the "
               "saturating law with its floor (dotted where above zero)" + (f", colours the levels of `{colour}`" if colour
                                                                            else "") + ". Both axes are logarithmic.")
    return figure_block("floor-curves", fig, caption, "learning curves under the log-linear and the saturating law")


def with_floor(sections: Sequence[Section], floor: Section) -> tuple[Section, ...]:
    """Insert the floor section before the conclusion and number the sections in order."""
    out = list(sections)
    at = next((i for i, s in enumerate(out) if s.id == "conclusion"), len(out))
    out.insert(at, floor)
    return tuple(dataclasses.replace(s, title=re.sub(r"^\d+\.", f"{i + 1}.", s.title)) for i, s in enumerate(out))


def conclusion_with_floor(section: Section, answer: str, sentence: str) -> Section:
    """The conclusion with the floor's sentence right after the answer, as results.json's text has it."""
    if not sentence or not answer:
        return section
    blocks = tuple(Para(b.text.replace(answer, f"{answer} {sentence}", 1)) if isinstance(b, Para) else b
                   for b in section.blocks)
    return dataclasses.replace(section, blocks=blocks)
