"""The report's "How far can these curves be trusted?" section: the backtest of the user's own curves.

Each of the report's curves (a group of the model's factors, the effect factor's levels apart) is
refitted without its largest size by the log-linear and the saturating law, one curve at a time
and unweighted, as the backtest does (:mod:`powerlaw_stats.extrapolation.backtest`); each law then
forecasts the error at that size with a prediction interval for one new run. The section gives,
per law, how far the forecasts missed the runs held out and how many of those runs the intervals
held — the data's own answer to "can I extrapolate this curve one step, and trust the interval?".

Numbers here, words in :func:`trust_section`; ``results.json`` gets :meth:`TrustCheck.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..formats import json_float, num
from ..formula import parse
from .blocks import Note, Para, Section, Table

LAWS = ("loglinear", "saturating")
NAMES = {"loglinear": "log-linear", "saturating": "saturating"}
SIZE, RESPONSE = "TS", "log_err"  # the seed's size column and log2 error


@dataclass(frozen=True, kw_only=True)
class LawTrust:
    """One law's forecasts of the held-out sizes: misses and interval coverage."""

    law: str
    curves: int  # curves whose fit gave a forecast
    runs: int  # held-out runs with an interval
    interval_curves: int  # curves whose fit gave an interval (a fit that did not converge gives none)
    median_miss: float  # median over curves of |forecast / observed mean − 1|
    rmse_log2: float  # root mean square of log2(forecast / observed mean) over curves
    coverage: float  # share of the held-out runs inside their prediction interval

    def to_dict(self) -> dict:
        """The law's numbers as results.json holds them."""
        return {"law": self.law, "curves": self.curves, "runs": self.runs, "median_miss": json_float(self.median_miss),
                "rmse_log2": json_float(self.rmse_log2), "coverage": json_float(self.coverage),
                "interval_curves": self.interval_curves}


@dataclass(frozen=True, kw_only=True)
class TrustCheck:
    """The backtest of the report's curves at their largest size, or why it was skipped."""

    level: float
    skipped: str | None = None
    n_curves: int = 0  # curves with three sizes or more, each backtested
    held_out: tuple[float, ...] = ()  # the sizes held out (each curve's largest)
    distance: float = math.nan  # median distance of the held-out size beyond the sizes seen, in log-size ranges
    laws: tuple[LawTrust, ...] = ()
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def to_dict(self) -> dict:
        """Every number the section shows, and each curve's forecast."""
        return {"level": self.level, "skipped": self.skipped, "n_curves": self.n_curves, "laws": list(LAWS),
                "held_out_sizes": list(self.held_out),
                "distance": json_float(self.distance), "by_law": [t.to_dict() for t in self.laws],
                "predictions": [{k: json_float(v) if isinstance(v, float) else v for k, v in row.items()}
                                for row in self.predictions.to_dict("records")]}


def trust_check(formula: str, frame: pd.DataFrame, curve_columns: tuple[str, ...], level: float) -> TrustCheck:
    """Refit each curve without its largest size under both laws and score their forecasts there.

    ``frame`` holds the model's rows (with ``TS`` and ``log_err``), ``curve_columns`` the columns
    whose combinations are the report's curves.

    Examples
    --------
    >>> t = pd.DataFrame({"TS": [100, 200, 400, 800] * 2, "log_err": np.log2([.4, .3, .22, .17, .41, .29, .23, .16]),
    ...                   "g": list("aaaabbbb")})
    >>> check = trust_check("log_err ~ I(log2(TS)-IXMin)*g", t, ("g",), 0.95)
    >>> check.n_curves, check.held_out, [(x.law, x.curves) for x in check.laws]
    (2, (800.0,), [('loglinear', 2), ('saturating', 2)])
    """
    from ..extrapolation.backtest import run_task, table_curves

    reason = _reason(formula, frame)
    if reason:
        return TrustCheck(level=level, skipped=reason)
    error = frame.assign(_error=np.exp2(pd.to_numeric(frame[RESPONSE], errors="coerce")))
    curves = [c for c in table_curves(error, list(curve_columns), SIZE, "_error") if len(np.unique(c.sizes)) >= 3]
    if not curves:
        return TrustCheck(level=level, skipped="no curve has three sizes or more, so none can be fitted without its largest")
    rows = [r for c in curves for law in LAWS for r in run_task(c, law, _last_only(c), level)]
    pred = pd.DataFrame(rows)
    return TrustCheck(level=level, n_curves=len(curves), held_out=tuple(sorted(set(pred["size"]))), distance=_distance(curves),
                      laws=tuple(_law_trust(pred[pred.law == law], law) for law in LAWS),
                      predictions=pred.drop(columns=["cutoff"]))


def _reason(formula: str, frame: pd.DataFrame) -> str | None:
    parsed = parse(formula)
    if "".join(parsed.response.split()) != RESPONSE:
        return f"the response is {parsed.response}, not {RESPONSE} (log2 error), which both laws model"
    if SIZE not in parsed.variables or SIZE not in frame.columns:
        return f"the formula does not use the training size {SIZE}, so there is no curve to extrapolate"
    return None


def _last_only(curve) -> float:
    """The backtest's cutoff that leaves out only the largest of the curve's n sizes: (n − 1)/n."""
    n = len(np.unique(curve.sizes))
    return (n - 1) / n


def _distance(curves) -> float:
    """How far each held-out size lies beyond the sizes seen, in units of their log range (the median)."""
    out = []
    for c in curves:
        s = np.log(np.unique(c.sizes))
        out.append((s[-1] - s[-2]) / (s[-2] - s[0]))
    return float(np.median(out))


def _law_trust(pred: pd.DataFrame, law: str) -> LawTrust:
    ok = pred[pred.predicted.notna() & (pred.predicted > 0)]
    ratio = ok.predicted.to_numpy(float) / ok.observed.to_numpy(float)
    with_pi = pred[pred.covered.notna()]
    runs = int(with_pi.runs.sum())
    inside = float((with_pi.covered * with_pi.runs).sum())
    return LawTrust(law=law, curves=len(ok), runs=runs, interval_curves=len(with_pi),
                    median_miss=float(np.median(np.abs(ratio - 1))) if len(ok) else math.nan,
                    rmse_log2=float(np.sqrt(np.mean(np.log2(ratio) ** 2))) if len(ok) else math.nan,
                    coverage=inside / runs if runs else math.nan)


# ----------------------------------------------------------------------------- the words


def trust_section(check: TrustCheck, number: int = 7) -> Section:
    """The section: what was done, the table per law, and one sentence on how far to trust the intervals."""
    title = f"{number}. How far can these curves be trusted?"
    if check.skipped:
        return Section("trust", title, (Note(f"Skipped: {check.skipped}.", "warn"),))
    sizes = ", ".join(f"{s:g}" for s in check.held_out)
    intro = Para(f"How well does a curve forecast a size it has not seen? Each of the {check.n_curves} "
                 f"curves (the groups of section 1) was refitted without its largest size ({sizes}), one curve at a time "
                 "and without prior weights, by the straight line (log-linear law) and by the saturating law, and each "
                 f"fit forecast the error there with a {check.level:.0%} prediction interval for one new run "
                 "(`powerlaw-stats backtest` with the largest size held out; docs/backtest.md). That size lies "
                 f"{num(check.distance, 2)} of the observed log-size range beyond the sizes fitted (median over curves); "
                 "forecasts further out lean more on the law's form and less on the data.")
    rows = tuple((NAMES[t.law], str(t.curves), f"{t.median_miss:.1%}", num(t.rmse_log2, 3), str(t.runs),
                  f"{t.coverage:.1%}") for t in check.laws)
    table = Table(("law", "curves", "median miss", "RMS log2 miss", "runs held out", f"{check.level:.0%} PI coverage"),
                  rows, "Forecast of each curve's largest size from the smaller ones: the miss is forecast against the "
                  "runs' mean error there (relative, and in log2 units); coverage is the share of those runs inside "
                  "the prediction interval", code_labels=False)
    return Section("trust", title, (intro, table, Note(trust_words(check), "verdict" if _holds(check) else "warn")))


def trust_words(check: TrustCheck) -> str:
    """One sentence: how far the forecasts missed, how many runs the intervals held, and what that means."""
    laws = [t for t in check.laws if t.runs]
    if not laws:
        return "No law gave a forecast with an interval at the size held out, so the data cannot say how far to trust one."
    misses = " and ".join(f"{t.median_miss:.0%} ({NAMES[t.law]})" for t in laws)
    runs = {t.runs for t in laws}
    cover = " and ".join(f"{t.coverage:.0%}" + ("" if len(runs) == 1 else f" of {t.runs}") for t in laws)
    verdict = ("about the share they claim, so forecasts one such step out can be taken with their intervals"
               if _holds(check) else "fewer than they claim, so forecasts beyond the data are less certain than "
               "their intervals say, and more so the further out")
    return (f"Fitted without their largest size, the curves' forecasts there missed by a median of {misses}, and the "
            f"{check.level:.0%} prediction intervals held {cover}{f' of the {laws[0].runs}' if len(runs) == 1 else ''} "
            f"runs held out: {verdict}.")


def _holds(check: TrustCheck) -> bool:
    """Every law's coverage within two binomial SEs of the level, counted over curves, not runs.

    The runs of one curve share one forecast, so they are not independent draws; counting curves
    makes the allowance wider (8 curves at 95 %: 15 points), which is the honest side.
    """
    laws = [t for t in check.laws if t.runs]
    return bool(laws) and all(t.coverage >= check.level - 2 * math.sqrt(check.level * (1 - check.level) / t.interval_curves)
                              for t in laws)


def curve_columns(groups: tuple[str, ...], effect_factor: str | None) -> tuple[str, ...]:
    """The report's curves: its groups, the effect factor's levels apart (section 1's rows)."""
    return (*groups, effect_factor) if effect_factor and effect_factor not in groups else tuple(groups)


def add_trust(sections: tuple[Section, ...], check: TrustCheck) -> tuple[Section, ...]:
    """The report's sections with "How far can these curves be trusted?" before the conclusion, renumbered."""
    from .floor import with_floor  # inserts before the conclusion and renumbers: the same for any section

    return with_floor(sections, trust_section(check))
