"""Is every size in the power-law region? A lack-of-fit test and a one-break fit per group.

A learning curve is a straight line in log-log coordinates only over a range of sizes: the smallest
sizes often sit above the line (too little data to learn the task's structure), the largest may
flatten towards an irreducible error. Per experiment group this module

* tests the straight line against the replicate runs: the classical lack-of-fit F test splits the
  residual sum of squares of the line into *pure error* (runs around their own size's mean, n − k
  degrees of freedom for k sizes) and *lack of fit* (size means around the line, k − 2 df);
* fits a continuous one-break line ``y = a + b·x + c·(x − ψ)₊`` (x = log2 size) by profiling the
  residual sum of squares over ψ, with a profile-likelihood confidence interval for ψ: the ψ whose
  RSS is within ``F(1, n − 4; level)`` of the best (Hinkley's interval for a change point);
* flags the sizes on the far side of the break when the line is rejected, and recommends the
  smallest (``side="small"``) or largest (``side="large"``) size of the region, re-testing the
  line on the sizes kept.

Numbers happen in :func:`lack_of_fit` and :func:`segmented_fit`, pure functions on arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data.frame import Inputs, NaPolicy, WeightsLike, load, model_frame
from ..errors import DataError, OptionError
from ..formats import html_table, jsonable, short_repr
from ..inference.distributions import f_sf, t_ppf
from ..options import Adjust, Side, check_level, check_option

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..laws.arrays import CurveFloorTest

DEFAULT_GROUPS: tuple[str, ...] = ("train_set", "eval_set", "width", "mixup")
GRID = 512  # break locations profiled before refining; the RSS is smooth between the distinct sizes
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True)
class LackOfFit:
    """Lack-of-fit F test of a straight line against the size means (pure error from replicates)."""

    statistic: float
    df_lack: int
    df_pure: int
    pvalue: float
    ss_lack: float
    ss_pure: float
    n_sizes: int
    method: str = "lack-of-fit F test (pure error from replicate runs)"

    def to_dict(self) -> dict:
        """The test as ``region --format json`` lists it."""
        return {k: jsonable(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True, kw_only=True)
class Breakpoint:
    """The best continuous one-break line ``a + b·x + c·(x − ψ)₊`` on x = log2 size.

    ``log2_location`` is ψ; ``location`` the size 2^ψ; ``ci_low``/``ci_high`` the profile interval
    in sizes, ``ci_open`` says which ends reached the search range (the interval may be wider).
    ``slope_below``/``slope_above`` are b and b + c; ``rss``/``rss_line`` the residual sums of squares
    of the break and of the straight line.
    """

    location: float
    log2_location: float
    ci_low: float
    ci_high: float
    ci_open: tuple[bool, bool]
    level: float
    intercept: float
    slope_below: float
    slope_above: float
    rss: float
    rss_line: float
    df_resid: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The broken line at log2 sizes ``x``."""
        x = np.asarray(x, dtype=float)
        bend = self.slope_above - self.slope_below
        return self.intercept + self.slope_below * x + bend * np.maximum(x - self.log2_location, 0)

    def to_dict(self) -> dict:
        """The break as ``region --format json`` lists it."""
        return {k: (list(v) if isinstance(v, tuple) else jsonable(v)) for k, v in self.__dict__.items()}


@dataclass(frozen=True, kw_only=True)
class GroupRegion:
    """One group's verdict: the tests, the break, the flagged sizes and the region's end."""

    group: dict
    sizes: tuple[float, ...]
    n: int
    lack_of_fit: LackOfFit | None
    breakpoint: Breakpoint | None
    line: tuple[float, float]  # intercept and slope of the straight line on log2 size
    pvalue_adjusted: float  # the lack-of-fit p-value adjusted for the number of groups (NaN without a test)
    in_region: bool
    flagged_sizes: tuple[float, ...]
    min_size: float
    max_size: float
    lack_of_fit_kept: LackOfFit | None
    x: np.ndarray = field(repr=False, compare=False)  # the rows' sizes, for plots
    y: np.ndarray = field(repr=False, compare=False)  # and their responses
    floor_test: CurveFloorTest | None = None  # the saturating law against the line (region(floor=True))

    @property
    def label(self) -> str:
        """The group in words, e.g. ``train_set=cifar10, eval_set=cinic10``."""
        return ", ".join(f"{k}={v}" for k, v in self.group.items()) or "all rows"

    def to_dict(self) -> dict:
        """The group as ``region --format json`` lists it."""
        return {
            "group": {k: jsonable(v) for k, v in self.group.items()}, "sizes": [jsonable(s) for s in self.sizes], "n": self.n,
            "lack_of_fit": None if self.lack_of_fit is None else self.lack_of_fit.to_dict(),
            "breakpoint": None if self.breakpoint is None else self.breakpoint.to_dict(),
            "line": {"intercept": jsonable(self.line[0]), "slope": jsonable(self.line[1])},
            "pvalue_adjusted": jsonable(self.pvalue_adjusted), "in_region": self.in_region,
            "flagged_sizes": [jsonable(s) for s in self.flagged_sizes], "min_size": jsonable(self.min_size),
            "max_size": jsonable(self.max_size),
            "lack_of_fit_kept": None if self.lack_of_fit_kept is None else self.lack_of_fit_kept.to_dict(),
            "floor_test": None if self.floor_test is None else self.floor_test.to_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class RegionResult:
    """Every group's check and the recommendation for the whole study.

    ``recommended_min_size`` is the largest of the groups' smallest in-region sizes (one minimum that
    keeps every group in its region); ``recommended_max_size`` likewise the smallest of their largest.
    """

    groups: tuple[GroupRegion, ...]
    group_columns: tuple[str, ...]
    size: str
    response: str
    alpha: float
    level: float
    side: str
    adjust: str
    weights: str | None
    recommended_min_size: float
    recommended_max_size: float
    dropped: dict

    @property
    def flagged(self) -> tuple[GroupRegion, ...]:
        """The groups with sizes outside the power-law region."""
        return tuple(g for g in self.groups if g.flagged_sizes)

    def __repr__(self) -> str:
        """One line: groups, how many are flagged, the recommended sizes; never the rows."""
        return short_repr("RegionResult", groups=len(self.groups), flagged=len(self.flagged), size=self.size,
                          response=self.response, recommended_min_size=self.recommended_min_size,
                          recommended_max_size=self.recommended_max_size)

    def table(self) -> pd.DataFrame:
        """One row per group: rows, the adjusted lack-of-fit p-value, the verdict and the region's ends."""
        return pd.DataFrame([{"group": g.label, "n": g.n, "p (adjusted)": g.pvalue_adjusted, "in region": g.in_region,
                              "flagged sizes": ", ".join(f"{s:g}" for s in g.flagged_sizes), "min size": g.min_size,
                              "max size": g.max_size} for g in self.groups]).set_index("group")

    def _repr_html_(self) -> str:
        """The groups as a table, with the recommendation."""
        return html_table(self.table(), f"Power-law region of {self.response} over {self.size}",
                          [f"recommended sizes: {self.recommended_min_size:g} to {self.recommended_max_size:g}"])

    def to_dict(self) -> dict:
        """The JSON of ``powerlaw-stats region --format json``."""
        return {"size": self.size, "response": self.response, "group_columns": list(self.group_columns), "alpha": self.alpha,
                "adjust": self.adjust, "level": self.level, "side": self.side, "weights": self.weights,
                "recommended_min_size": jsonable(self.recommended_min_size),
                "recommended_max_size": jsonable(self.recommended_max_size), "dropped_rows": dict(self.dropped),
                "groups": [g.to_dict() for g in self.groups]}


# ----------------------------------------------------------------------------- the tests, on arrays


def _weights(w: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n) if w is None else np.asarray(w, dtype=float)


def line_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float, float]:
    """Weighted least-squares line: intercept, slope, residual sum of squares.

    Examples
    --------
    >>> [round(v, 6) for v in line_fit(np.array([0.0, 1, 2]), np.array([1.0, 3, 5]))]
    [1.0, 2.0, 0.0]
    """
    w = _weights(w, len(x))
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * (y - ym)) / sxx
    a = ym - slope * xm
    return float(a), float(slope), float(np.sum(w * (y - a - slope * x) ** 2))


def lack_of_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> LackOfFit | None:
    """Lack-of-fit F test of ``y ~ x`` with replicates at equal ``x`` (None without 3 sizes and replicates).

    Examples
    --------
    >>> x = np.repeat([0.0, 1, 2], 2)
    >>> lack_of_fit(x, np.array([0.0, 0.2, 1.0, 1.2, 2.0, 2.2])).statistic
    0.0
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = _weights(w, len(x))
    keep = w > 0
    x, y, w = x[keep], y[keep], w[keep]
    levels, inv = np.unique(x, return_inverse=True)
    k, n = len(levels), len(x)
    if k < 3 or n - k < 1:
        return None
    sw = np.bincount(inv, weights=w)
    means = np.bincount(inv, weights=w * y) / sw
    ss_pure = float(np.sum(w * (y - means[inv]) ** 2))
    ss_lack = max(line_fit(x, y, w)[2] - ss_pure, 0.0)
    df_lack, df_pure = k - 2, n - k
    if ss_pure <= 0:
        return LackOfFit(statistic=np.inf if ss_lack > 0 else np.nan, df_lack=df_lack, df_pure=df_pure,
                         pvalue=0.0 if ss_lack > 0 else np.nan, ss_lack=ss_lack, ss_pure=ss_pure, n_sizes=k)
    f = (ss_lack / df_lack) / (ss_pure / df_pure)
    return LackOfFit(statistic=float(f), df_lack=df_lack, df_pure=df_pure, pvalue=f_sf(f, df_lack, df_pure),
                     ss_lack=ss_lack, ss_pure=ss_pure, n_sizes=k)


def hinge_rss(x: np.ndarray, y: np.ndarray, w: np.ndarray, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RSS and coefficients (a, b, c) of ``a + b·x + c·(x − ψ)₊`` for every ψ in ``psi`` at once."""
    psi = np.atleast_1d(np.asarray(psi, dtype=float))
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    xc, yc = x - xm, y - ym  # centred: the 3x3 systems stay well conditioned and the RSS keeps its digits
    h = np.maximum(x[None, :] - psi[:, None], 0.0)
    cols = np.stack(np.broadcast_arrays(np.ones_like(h), xc[None, :], h), axis=1)  # G x 3 x n
    gram = np.einsum("gin,gjn,n->gij", cols, cols, w)
    rhs = np.einsum("gin,n->gi", cols, w * yc)
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
    rss = float(np.sum(w * yc * yc)) - np.einsum("gi,gi->g", coef, rhs)
    a = ym + coef[:, 0] - coef[:, 1] * xm  # back to the uncentred intercept
    return np.maximum(rss, 0.0), np.column_stack([a, coef[:, 1], coef[:, 2]])


def segmented_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, level: float = 0.95) -> Breakpoint | None:
    """The least-squares continuous one-break line and the profile interval of its break.

    The break is searched between the second smallest and second largest distinct x, so each
    segment has at least two sizes; None when there are fewer than four distinct x or no
    residual degrees of freedom.

    Examples
    --------
    >>> x = np.repeat(np.arange(8.0), 3)
    >>> y = -0.7 * x + 0.6 * np.maximum(3.0 - x, 0) + np.tile([-0.01, 0.0, 0.01], 8)
    >>> round(segmented_fit(x, y).log2_location, 3)
    3.0
    """
    check_level(level)
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = _weights(w, len(x))
    keep = w > 0
    x, y, w = x[keep], y[keep], w[keep]
    levels = np.unique(x)
    df = len(x) - 4
    if len(levels) < 4 or df < 1:
        return None
    lo, hi = float(levels[1]), float(levels[-2])
    grid = np.union1d(np.linspace(lo, hi, GRID), levels[1:-1])
    rss = hinge_rss(x, y, w, grid)[0]
    best = _refine(x, y, w, grid, rss)
    rss_best, coef = (v[0] for v in hinge_rss(x, y, w, best))
    threshold = rss_best * (1.0 + t_ppf(0.5 + level / 2, df) ** 2 / df)
    ci, is_open = _profile_interval(x, y, w, grid, rss, best, threshold)
    a, b, c = coef
    return Breakpoint(location=float(2.0**best), log2_location=float(best), ci_low=float(2.0 ** ci[0]),
                      ci_high=float(2.0 ** ci[1]), ci_open=is_open, level=float(level), intercept=float(a),
                      slope_below=float(b), slope_above=float(b + c), rss=float(rss_best), rss_line=line_fit(x, y, w)[2],
                      df_resid=int(df))


def _refine(x, y, w, grid: np.ndarray, rss: np.ndarray) -> float:
    """Golden-section search around the best grid point (RSS is smooth between grid neighbours)."""
    i = int(np.argmin(rss))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    f = lambda p: float(hinge_rss(x, y, w, p)[0][0])  # noqa: E731
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    while b - a > 1e-9 * max(1.0, abs(a)):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = f(d)
    cand = np.array([grid[i], (a + b) / 2])
    return float(cand[np.argmin(hinge_rss(x, y, w, cand)[0])])


def _profile_interval(x, y, w, grid, rss, best, threshold) -> tuple[tuple[float, float], tuple[bool, bool]]:
    inside = np.flatnonzero(rss <= threshold)
    if inside.size == 0:  # the grid missed the narrow dip around the refined optimum
        return (best, best), (False, False)
    f = lambda p: float(hinge_rss(x, y, w, p)[0][0]) - threshold  # noqa: E731
    lo_i, hi_i = int(inside[0]), int(inside[-1])
    lo = grid[0] if lo_i == 0 else _bisect(f, grid[lo_i - 1], grid[lo_i])
    hi = grid[-1] if hi_i == len(grid) - 1 else _bisect(f, grid[hi_i + 1], grid[hi_i])
    return (float(min(lo, best)), float(max(hi, best))), (lo_i == 0, hi_i == len(grid) - 1)


def _bisect(f, outside: float, inside: float) -> float:
    """The point between ``outside`` (f > 0) and ``inside`` (f <= 0) where f crosses 0."""
    for _ in range(45):  # the grid step over 2^45: far below any size's meaning
        mid = (outside + inside) / 2
        if f(mid) > 0:
            outside = mid
        else:
            inside = mid
    return inside


# ----------------------------------------------------------------------------- per group


def check_group(sizes: np.ndarray, y: np.ndarray, w: np.ndarray | None, *, alpha: float = 0.05, level: float = 0.95,
                side: Side = "small", group: dict | None = None, pvalue_adjusted: float | None = None) -> GroupRegion:
    """The region check of one group: test, break, flagged sizes and the region's ends (in ``sizes``' units).

    The line is rejected when ``pvalue_adjusted`` (the test's own p-value when None) is below ``alpha``.

    Examples
    --------
    >>> s = np.repeat(1000.0 * 2.0 ** np.arange(6), 4)
    >>> y = -0.7 * np.log2(s) + np.tile([-0.02, -0.01, 0.01, 0.02], 6)
    >>> g = check_group(s, y, None)
    >>> g.in_region, g.flagged_sizes, g.min_size
    (True, (), 1000.0)
    """
    sizes, y = np.asarray(sizes, float), np.asarray(y, float)
    w = _weights(w, len(sizes))
    x = np.log2(sizes)
    lof = lack_of_fit(x, y, w)
    brk = segmented_fit(x, y, w, level)
    distinct = np.unique(sizes[w > 0])
    p = (np.nan if lof is None else lof.pvalue) if pvalue_adjusted is None else pvalue_adjusted
    in_region = lof is None or not p < alpha
    flagged = np.array([]) if in_region or brk is None else _flag(distinct, brk.location, side)
    kept = np.setdiff1d(distinct, flagged)
    rows = np.isin(sizes, kept)
    kept_test = lack_of_fit(x[rows], y[rows], w[rows]) if flagged.size else None
    pos = w > 0
    a, b, _ = line_fit(x[pos], y[pos], w[pos])
    return GroupRegion(group=dict(group or {}), sizes=tuple(distinct.tolist()), n=int(pos.sum()), lack_of_fit=lof,
                       breakpoint=brk, line=(a, b), pvalue_adjusted=float(p), in_region=in_region,
                       flagged_sizes=tuple(flagged.tolist()), min_size=float(kept.min()), max_size=float(kept.max()),
                       lack_of_fit_kept=kept_test, x=_frozen(sizes), y=_frozen(y))


_FLAGGERS = {"small": lambda sizes, psi: sizes[sizes < psi], "large": lambda sizes, psi: sizes[sizes > psi]}


def _flag(sizes: np.ndarray, psi: float, side: str) -> np.ndarray:
    return _FLAGGERS[side](sizes, psi)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


# ----------------------------------------------------------------------------- region


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (R's ``p.adjust(p, "holm")``); NaN entries are left out.

    Examples
    --------
    >>> holm(np.array([0.01, 0.04, 0.03, np.nan])).round(3).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    out[order] = np.minimum(np.maximum.accumulate(p[order] * (m - np.arange(m))), 1.0)
    return out


def bonferroni(p: np.ndarray) -> np.ndarray:
    """Bonferroni-adjusted p-values, m·p capped at 1, m the number of tests (NaN left out)."""
    return np.minimum(p * np.count_nonzero(np.isfinite(p)), 1.0)


ADJUSTERS = {"holm": holm, "bonferroni": bonferroni, "none": lambda p: p}


def region(
    data: str | Path | pd.DataFrame | None = None,
    *,
    groups: Sequence[str] | str | None = None,
    size: str = "TS",
    response: str = "log_err",
    weights: WeightsLike = None,
    alpha: float = 0.05,
    level: float = 0.95,
    side: Side = "small",
    adjust: Adjust = "holm",
    where: str | None = None,
    let: Sequence[str] = (),
    na: NaPolicy = "drop",
    floor: bool = False,
) -> RegionResult:
    """Check, per group, that log ``response`` is a straight line in log2 ``size``; flag sizes off it.

    Parameters
    ----------
    data : a learning-curve table or frame; ``None`` uses the bundled example.
    groups : columns whose combinations are separate curves (default: those of train_set, eval_set,
        width, mixup present in the data); ``()`` for one curve.
    size, response : the size column and the response, already on a log scale (log2 error).
    weights : optional inverse-variance weights (a column or expression); the tests are then weighted.
    alpha : level of the lack-of-fit test; a group whose line is rejected gets its sizes flagged.
    level : confidence level of the break's interval.
    side : "small" flags the sizes below the break (the seed's smallest sizes), "large" those above
        it (a curve flattening towards its irreducible error).
    adjust : how the groups' lack-of-fit p-values are adjusted for their number before comparing
        with ``alpha``: "holm" (family-wise error at most ``alpha``), "bonferroni" or "none".
    where, let, na : as for :func:`powerlaw_stats.fit`.
    floor : also test each group's straight line against the saturating law, a curve flattening
        towards a floor ``log2 err = log2(E + 2^(a + b·x))`` (:func:`powerlaw_stats.laws.curve_floor_test`:
        the boundary LR test of E = 0, AIC of both, the floor's profile interval); ``response``
        must be log2 error. It informs; the flagged sizes still follow the lack-of-fit test.

    Examples
    --------
    >>> import powerlaw_stats as ps
    >>> res = ps.region(groups=["train_set", "eval_set"])
    >>> res.side, len(res.groups) >= 1, res.adjust
    ('small', True, 'holm')
    """
    check_option(side, Side, "side")
    check_option(adjust, Adjust, "adjust")
    if not 0 < alpha < 1:
        raise OptionError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    check_level(level)
    if floor and "".join(response.split()) != "log_err":
        raise OptionError(f"the floor test models log2 error; the response is {response!r}: use log_err or drop floor")
    raw = load(data)
    group_cols = _group_columns(groups, raw)
    mf = model_frame(Inputs(data=raw, weights=weights, where=where, let=tuple(let), na=na), [size, response],
                     extra_columns=group_cols)
    frame, w, dropped = _usable(mf.frame, mf.weights, size, response, dict(mf.dropped))
    keys = (frame.groupby(group_cols, sort=True, observed=True, dropna=False).indices if group_cols
            else {(): np.arange(len(frame))})
    x_all = frame[size].to_numpy(float)
    y_all = frame[response].to_numpy(float)
    parts = [(dict(zip(group_cols, key if isinstance(key, tuple) else (key,))), rows) for key, rows in keys.items()]
    raw_p = [lack_of_fit(np.log2(x_all[r]), y_all[r], None if w is None else w[r]) for _, r in parts]
    adjusted = ADJUSTERS[adjust](np.array([np.nan if t is None else t.pvalue for t in raw_p]))
    out = [check_group(x_all[r], y_all[r], None if w is None else w[r], alpha=alpha, level=level, side=side, group=label,
                       pvalue_adjusted=float(p)) for (label, r), p in zip(parts, adjusted)]
    if floor:
        out = [dataclasses.replace(g, floor_test=_floor_test(x_all[r], y_all[r], None if w is None else w[r], level))
               for g, (_, r) in zip(out, parts)]
    return RegionResult(groups=tuple(out), group_columns=tuple(group_cols), size=size, response=response,
                        alpha=float(alpha), level=float(level), side=side, adjust=adjust,
                        weights=weights if isinstance(weights, str) else None,
                        recommended_min_size=max(g.min_size for g in out),
                        recommended_max_size=min(g.max_size for g in out), dropped=dropped)


def _floor_test(sizes: np.ndarray, y: np.ndarray, w: np.ndarray | None, level: float) -> CurveFloorTest | None:
    """The saturating law against the line on one group; None where it cannot be fitted (too few rows or sizes)."""
    from ..errors import PowerlawStatsError
    from ..laws.arrays import curve_floor_test  # on use: the laws load only when asked for

    x = np.log2(sizes)
    keep = np.ones(len(x), bool) if w is None else w > 0
    if np.unique(x[keep]).size < 3:  # a floor, a level and a slope need three sizes
        return None
    try:
        return curve_floor_test(x - x[keep].min(), y, w, level=level)
    except PowerlawStatsError:
        return None


def _group_columns(groups, raw: pd.DataFrame) -> list[str]:
    if groups is None:
        return [c for c in DEFAULT_GROUPS if c in raw.columns and raw[c].nunique() > 1]
    names = [groups] if isinstance(groups, str) else list(groups)
    return [n.strip() for part in names for n in str(part).split(",") if n.strip()]


def _usable(frame: pd.DataFrame, w, size: str, response: str, dropped: dict):
    for col in (size, response):
        if not pd.api.types.is_numeric_dtype(frame[col]):
            raise DataError(f"column {col!r} is not numeric; the region check needs numeric sizes and responses")
    s, y = frame[size].to_numpy(float), frame[response].to_numpy(float)
    bad = ~(np.isfinite(y) & np.isfinite(s) & (s > 0))
    if bad.any():
        dropped[f"non-finite {response} or size <= 0"] = int(bad.sum())
    frame = frame.loc[~bad]
    if frame.empty:
        raise DataError(f"no rows with a finite {response} and a positive {size}")
    return frame, (None if w is None else w[~bad]), dropped
