"""When rows depend: the report's standard error on schema data, chosen as ``effect``'s default chooses it.

A schema table's rows are not independent: a run is scored on every evaluation set, and runs at
1/n of the pool train on the same images. The report's fits and its simulation check treat rows
as independent (the simulation draws each row's residual on its own), so on such a table with no
``--cluster``/``--vcov``/``--bootstrap`` the conclusion believes the test that
:func:`powerlaw_stats.scaling.effect.choose_dependence` picks (the rule behind ``effect``'s
``dependence="auto"``): the linear mixed model with ``(1|run_id) + (1|split_id)`` when a REML
likelihood-ratio test finds a split variance, else least squares with CR1 by ``run_id``. This
module computes that choice for the report's own formula and rows and writes its section.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..data.frame import load
from ..errors import OptionError
from ..formats import json_float, num, p_is, pval
from ..mixed import MixedResult
from ..scaling.effect import DependenceChoice, choose_dependence, has_runs
from .analysis import MIXED_LABEL, estimator_name
from .blocks import Note, Para, Section, Table

# measured on 400 null studies per scenario (docs/inference.md#when-rows-depend)
MEASURED = ("On null studies shaped like the seed's grid (docs/inference.md, \"When rows depend\"), this rule held "
            "the 5 % test at 2.8-5.8 % with run effects, split effects, both, neither and heavy tails, where the classic "
            "SE rejected up to 11 % (run effects) or almost never (0.5 %, split effects).")


@dataclass(frozen=True)
class DependenceCheck:
    """The dependence-aware test of the report's effect: the choice, its label and the effect under it."""

    choice: DependenceChoice
    term: str
    effect: dict  # the effect's row (estimate, std_error, ..., ci_high) under the chosen test
    df: float  # the test's degrees of freedom (Satterthwaite's, or the residual df with CR1)
    n_runs: int
    n_splits: int | None  # None when the mixed model could not be fitted

    @property
    def label(self) -> str:
        """The conclusion's label of the chosen test: ``"lmm"`` or ``"ols+CR1"``."""
        return MIXED_LABEL if self.choice.model == "mixed" else "ols+CR1"

    def to_dict(self) -> dict:
        """The choice and its numbers as results.json holds them (``dependence``)."""
        test = "Satterthwaite t" if self.choice.model == "mixed" else "t with CR1 by run_id, residual df"
        return {**self.choice.to_dict(), "label": self.label, "estimator": estimator_name(self.label), "test": test,
                "df": json_float(self.df), "n_runs": self.n_runs, "n_splits": self.n_splits, "term": self.term,
                "effect": {k: json_float(v) if isinstance(v, float) else v for k, v in self.effect.items()}}


def dependence_check(data, formula: str, term: str | None, *, weights: str | None, level: float, where: str | None,
                     let: Sequence[str], cluster: Sequence[str] = (), vcov: str | None = None,
                     bootstrap: int = 0, mode: str | None = None) -> DependenceCheck | None:
    """The dependence-aware test of ``term`` in the report's model, on the report's rows; None where it does not apply.

    With ``mode`` None it applies where it can: an effect term, no SE options (``cluster``,
    ``vcov``, ``bootstrap``: the user chose) and the schema's runs and splits; ``"none"`` turns
    it off and ``"auto"`` insists (one error line where it cannot apply). The mixed models take
    the report's prior weights as lme4's ``weights=``, as ``effect`` passes its own.
    """
    if mode == "none" or term is None:
        return None
    if cluster or vcov is not None or bootstrap:
        if mode == "auto":
            raise OptionError("--dependence auto chooses the standard errors itself; drop --cluster/--vcov/--bootstrap, "
                              "or use --dependence none")
        return None
    raw = load(data)
    if not has_runs(raw):
        if mode == "auto":
            raise OptionError("--dependence auto needs the schema's run_id and train_set, n_splits, split "
                              "(or split_id) columns")
        return None
    choice = choose_dependence(formula, raw, weights=weights, level=level, where=where, let=tuple(let))
    res = choice.fit
    coef = res.coefficient(term).to_dict()
    if isinstance(res, MixedResult):
        df = float(res.df_satterthwaite[term])
        n_runs, n_splits = int(res.ngroups["run_id"]), int(res.ngroups["split_id"])
    else:
        df, n_splits = float(res.df_resid), None
        n_runs = int(res.data["run_id"].nunique()) if "run_id" in res.data.columns else 0
    return DependenceCheck(choice=choice, term=term, effect=coef, df=df, n_runs=n_runs, n_splits=n_splits)


def dependence_section(check: DependenceCheck, classic: dict, level: float) -> Section:
    """The section "When rows depend": the variance components, the test that chose, and the effect under each SE."""
    c = check.choice
    blocks: list = [Para(
        "Rows of this table are not independent: a run (`run_id`) is scored on every evaluation set, and runs at 1/n "
        "of the pool train on the same images (their split, `split_id`). The classic standard errors above and the "
        "simulation check, which draws every row's residual on its own, cannot see this. So the conclusion uses the "
        "test `effect` uses by default on such tables: the model refitted with random intercepts for runs and splits, "
        f"`{c.formula if c.model == 'mixed' else c.formula + ' + (1|run_id) + (1|split_id)'}` (REML), and a "
        "likelihood-ratio test of the split variance against the model with runs only.")]
    if c.error:
        blocks.append(Note(f"No mixed model could be fitted ({c.error}); the conclusion uses least squares with CR1 "
                           f"standard errors clustered by `run_id` ({check.n_runs} runs).", "warn"))
    else:
        blocks += [_components_table(c), Para(_test_words(check))]
    blocks += [_effect_table(check, classic, level), Para(_effect_words(check, classic)), Para(MEASURED)]
    return Section("dependence", "6. When rows depend", tuple(blocks))


def _components_table(c: DependenceChoice) -> Table:
    total = sum(c.variance_components.values())
    rows = tuple((name, num(v), num(v**0.5), f"{v / total:.0%}" if total > 0 else "NA")
                 for name, v in c.variance_components.items())
    return Table(("component", "variance", "SD", "share"), rows,
                 "Variance components of the mixed model with (1|run_id) + (1|split_id) (REML; log2 error squared)")


def _test_words(check: DependenceCheck) -> str:
    c = check.choice
    vc = c.variance_components
    test = (f"The REML likelihood-ratio test of the split variance gives chi2 = {c.lr_stat:.3g} on 1 df, "
            f"{p_is(c.p_value)} (halved, as the variance sits on its boundary at zero)")
    if c.model == "mixed":
        return (f"{test}: below {c.alpha:g}, so runs on the same images move together (split variance "
                f"{num(vc.get('split_id', float('nan')))}, run variance {num(vc.get('run_id', float('nan')))}). The "
                f"conclusion believes {estimator_name(check.label)}: its t test with Satterthwaite's "
                f"{check.df:.1f} df, over {check.n_runs} runs on {check.n_splits} splits.")
    return (f"{test}: not below {c.alpha:g}, so there is no split variance to model; a run's rows move together "
            f"(run variance {num(vc.get('run_id', float('nan')))}). The conclusion believes "
            f"{estimator_name(check.label)} clustered by `run_id` ({check.n_runs} runs), on {check.df:g} residual df.")


def _effect_table(check: DependenceCheck, classic: dict, level: float) -> Table:
    rows = (("least squares, classic (rows independent)", classic),
            (f"{estimator_name(check.label)} (chosen)", check.effect))
    return Table(("test", "estimate", "std. error", "t", "p", f"{level:.0%} CI"),
                 tuple((name, num(r["estimate"]), num(r["std_error"]), f"{r['t_value']:.2f}", pval(r["p_value"]),
                        f"{num(r['ci_low'])} to {num(r['ci_high'])}") for name, r in rows),
                 f"`{check.term}` with rows taken as independent and with the dependence-aware test",
                 code_labels=False, strong_rows=(1,))


def _effect_words(check: DependenceCheck, classic: dict) -> str:
    ratio = check.effect["std_error"] / classic["std_error"] if classic["std_error"] > 0 else float("nan")
    way = "smaller" if ratio < 1 else "larger"
    why = ("the effect is compared within splits, where the split noise the classic SE counts cancels"
           if check.choice.model == "mixed" and ratio < 1 else
           "rows that move together carry less information than independent ones")
    return (f"Its standard error is {ratio:.2f} times the classic one ({way}): {why}. "
            f"With rows taken as independent {p_is(classic['p_value'])}; with the dependence-aware test, which the "
            f"conclusion reports, {p_is(check.effect['p_value'])}.")


def with_dependence(sections: Sequence[Section], section: Section) -> tuple[Section, ...]:
    """Insert the section before the conclusion (and any floor section) and number the sections in order."""
    out = list(sections)
    at = next((i for i, s in enumerate(out) if s.id in ("floor", "conclusion")), len(out))
    out.insert(at, section)
    return tuple(dataclasses.replace(s, title=re.sub(r"^\d+\.", f"{i + 1}.", s.title)) for i, s in enumerate(out))
