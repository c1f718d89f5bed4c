"""The frozen result of ``fit_law``: FitResult's names, plus what is particular to a law."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import pandas as pd

from ..errors import OptionError
from ..formats import ci_labels
from ..inference.tests import t_quantile
from ..options import PredictInterval, check_level, check_option
from .design import ParamDesign


@dataclass(frozen=True, kw_only=True)
class ProfileInterval:
    """A profile-likelihood interval of one coefficient or one cell's floor.

    ``lower_at_bound``: the profile reaches the bound (E ≥ 0) before the cutoff, so the lower limit
    is the bound itself; ``open_lower``/``open_upper``: no crossing found within the search range
    (the limit printed is the last value searched, the interval extends at least that far).
    """

    term: str
    estimate: float
    lower: float
    upper: float
    lower_at_bound: bool = False
    open_lower: bool = False
    open_upper: bool = False
    evaluations: int = 0


@dataclass(frozen=True, kw_only=True)
class Identification:
    """Can the data tell the floor from the slope? Every number behind the verdict.

    ``se_inflation``: each slope term's SE under this law (with every floor free, even one on its
    bound) over its SE under the nested law (E = 0);
    ``flat_floors``: cells whose floor profile reaches from the bound to at least half the cell's
    smallest observed error; ``separating``: per floor cell, the floor used (the estimate, or the
    profile's upper limit when the estimate is at the bound), the input value (x) at which the
    reducible error falls to that floor in the slowest group, and that size in TS when ``x`` is the
    default ``log2(TS) - IXMin``.
    """

    confounded: bool
    inflation_limit: float
    se_inflation: pd.Series
    bound_active: tuple[str, ...]
    flat_floors: tuple[str, ...]
    separating: pd.DataFrame
    largest_input: float
    warning: str | None

    def to_dict(self) -> dict:
        """JSON-ready: non-finite numbers become None."""
        return {
            "confounded": self.confounded, "inflation_limit": self.inflation_limit,
            "se_inflation": {k: _num(v) for k, v in self.se_inflation.items()},
            "bound_active": list(self.bound_active), "flat_floors": list(self.flat_floors),
            "separating": [{k: (_num(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}
                           for row in self.separating.to_dict("records")],
            "largest_input": _num(self.largest_input), "warning": self.warning,
        }


@dataclass(frozen=True, kw_only=True)
class FloorTest:
    """Floor or no floor: the likelihood-ratio test of E = 0, AIC, held-out error at the largest size.

    ``mixture`` holds the chi-bar-square weights ``w_j`` of χ²_j, j = 0..K (K floor cells): the
    p-value is ``Σ_j w_j P(χ²_j ≥ LR)``; with one cell they are exactly (½, ½). ``p_value_conservative``
    is the χ²_K tail, an upper bound. ``heldout`` gives, per law, the weighted RMS and mean error of
    the largest size's rows predicted by a fit without them.
    """

    statistic: float
    p_value: float | None
    p_value_conservative: float | None
    mixture: tuple[float, ...]
    mixture_method: str
    loglik: dict[str, float]
    aic: dict[str, float]
    heldout: pd.DataFrame | None
    heldout_note: str | None
    nested_law: str
    note: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready: non-finite numbers become None."""
        return {
            "statistic": _num(self.statistic), "p_value": _opt(self.p_value),
            "p_value_conservative": _opt(self.p_value_conservative), "mixture": list(self.mixture),
            "mixture_method": self.mixture_method, "loglik": {k: _num(v) for k, v in self.loglik.items()},
            "aic": {k: _num(v) for k, v in self.aic.items()}, "nested_law": self.nested_law, "note": self.note,
            "heldout": None if self.heldout is None else [
                {k: (_num(v) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()}
                for r in self.heldout.reset_index().to_dict("records")],
            "heldout_note": self.heldout_note,
        }


@dataclass(frozen=True, kw_only=True)
class LawFit:
    """A fitted law: FitResult's names, and the law's own.

    FitResult's names are ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``,
    ``cov_params``, ``scale``, ``df_resid``, ``nobs``, ``resid``, ``fittedvalues``, ``converged``,
    ``n_iter``, ``weights``. The law's own:

    - ``formulas``: each parameter's right-hand side; ``designs``: the per-parameter designs;
    - ``bound_active``: the cells whose bound (E ≥ 0) holds with equality; ``floors``: one row per
      floor cell (estimate, SE, at bound, profile interval);
    - ``profile``: profile-likelihood intervals (every slope and floor term, every floor cell);
    - ``identification``: can the data tell the floor from the slope (:class:`Identification`);
    - ``floor_test``: floor or no floor (:class:`FloorTest`);
    - ``loglik``, ``aic``, ``bic``, ``rss``: R's ``logLik.nls`` and its criteria (least squares).
    """

    law: str
    formulas: dict[str, str]
    response: str
    inputs: dict[str, str]
    method: str
    params: pd.Series
    bse: pd.Series
    tvalues: pd.Series
    pvalues: pd.Series
    cov_params: pd.DataFrame
    resid: np.ndarray
    fittedvalues: np.ndarray
    nobs: int
    df_resid: float
    scale: float
    rss: float
    weights: np.ndarray
    prior_weights: np.ndarray | None
    vcov: str
    vcov_kind: str
    cluster: tuple[str, ...]
    level: float
    converged: bool
    n_iter: int
    message: str
    tuning: float | None
    bounds: bool
    bound_active: tuple[str, ...]
    floors: pd.DataFrame | None
    loglik: float
    aic: float
    bic: float
    profile: pd.DataFrame | None
    identification: Identification | None
    floor_test: FloorTest | None
    dropped_rows: int
    dropped_reasons: dict[str, int]
    seed: int
    control: dict = field(default_factory=dict)
    designs: dict[str, ParamDesign] = field(default_factory=dict, repr=False, compare=False)
    namespace: dict = field(default_factory=dict, repr=False, compare=False)  # the table's constants (IXMin)
    problem: object = field(default=None, repr=False, compare=False)
    data: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Make the arrays read-only, as the result is frozen."""
        for arr in (self.resid, self.fittedvalues, self.weights, self.prior_weights):
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False

    def conf_int(self, alpha: float | None = None, *, level: float | None = None) -> pd.DataFrame:
        """Wald intervals from Student t with ``df_resid`` df.

        ``alpha=0.05`` or ``level=0.95`` (the fit's level by default), as ``confint.default`` on
        nls/gnls with t quantiles.
        """
        if alpha is not None and level is not None:
            raise OptionError("conf_int takes alpha or level, not both (alpha=0.05 is level=0.95)")
        chosen = self.level if level is None else level
        chosen = 1 - alpha if alpha is not None else chosen
        check_level(chosen)
        q = t_quantile(chosen, self.df_resid)
        lo, hi = ci_labels(chosen)
        return pd.DataFrame({lo: self.params - q * self.bse, hi: self.params + q * self.bse})

    def parameter_values(self) -> pd.DataFrame:
        """Each parameter's value on every data row (E, a, b per row for the saturating law)."""
        from .registry import get_law

        law = get_law(self.law)
        theta = self.params.to_numpy()
        values = {}
        start = 0
        for name in law.params:
            design = self.designs[name]
            k = design.matrix.shape[1]
            values[name] = design.matrix @ theta[start:start + k] if k else np.zeros(len(design.matrix))
            start += k
        return pd.DataFrame(values, index=None if self.data is None else self.data.index)

    @overload
    def predict(self, rows: Sequence[int] | np.ndarray, *, interval: None = None,
                level: float | None = None, weights: float | np.ndarray | None = None,
                **inputs: np.ndarray) -> np.ndarray: ...

    @overload
    def predict(self, rows: Sequence[int] | np.ndarray, *, interval: PredictInterval,
                level: float | None = None, weights: float | np.ndarray | None = None,
                **inputs: np.ndarray) -> pd.DataFrame: ...

    def predict(self, rows: Sequence[int] | np.ndarray, *, interval: PredictInterval | None = None,
                level: float | None = None, weights: float | np.ndarray | None = None,
                **inputs: np.ndarray) -> np.ndarray | pd.DataFrame:
        """The law at the parameter values of data rows ``rows`` (positions) and the given inputs.

        On the response scale: ``res.predict(np.repeat(i, 50), x=np.linspace(0, 6, 50))`` draws
        row i's curve, extrapolated, over x from 0 to 6.

        With ``interval`` a DataFrame ``fit, se_fit, lower, upper`` instead, as R's
        ``predict(..., interval=)``: ``"confidence"`` bounds the mean curve
        (``fit ± t·se_fit``, ``se_fit² = g'Vg`` by the delta method, g the gradient in the
        coefficients, V ``cov_params``); ``"prediction"`` bounds one new observation of prior
        weight ``weights`` (``fit ± t·√(scale²/weights + se_fit²)``; by default the average prior
        weight of the rows fitted: a run like an average one; R's ``predict.lm`` assumes 1); t has
        ``df_resid`` df and ``level`` is the fit's level by default. For the log-linear law both
        are R's ``predict.lm``.

        Examples
        --------
        >>> import warnings
        >>> from powerlaw_stats.laws import fit_law
        >>> res = fit_law(params={"b": "mix"}, weights="w", profile=False, compare=False)
        >>> bool(np.allclose(res.predict([0, 1], x=np.array([0.0, 0.0])), res.predict([0, 1], x=np.zeros(2))))
        True
        """
        from .registry import get_law

        law = get_law(self.law)
        rows = np.asarray(rows, dtype=int)
        missing = set(law.inputs) - set(inputs)
        if missing:
            raise OptionError(f"predict needs the inputs {', '.join(sorted(missing))}")
        values = {k: v.to_numpy()[rows] for k, v in self.parameter_values().items()}
        given = {k: np.broadcast_to(np.asarray(v, dtype=float), rows.shape) for k, v in inputs.items()}
        fit = np.asarray(law.mean(values, given), dtype=float)
        if interval is None:
            return fit
        check_option(interval, PredictInterval, "interval")
        level = self.level if level is None else level
        check_level(level)
        grad = law.gradient(values, given)
        jac = np.hstack([np.broadcast_to(np.asarray(grad[p], dtype=float), rows.shape)[:, None]
                         * self.designs[p].matrix[rows] for p in law.params if not self.designs[p].fixed_at_zero])
        cov = self.cov_params.to_numpy()
        se_fit = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac, cov, jac), 0.0))
        if weights is None:
            weights = 1.0 if self.prior_weights is None else float(np.mean(self.prior_weights[self.prior_weights > 0]))
        noise = self.scale**2 / np.asarray(weights, dtype=float) if interval == "prediction" else 0.0
        half = t_quantile(level, self.df_resid) * np.sqrt(noise + se_fit**2)
        return pd.DataFrame({"fit": fit, "se_fit": se_fit, "lower": fit - half, "upper": fit + half})

    def table(self) -> pd.DataFrame:
        """One row per coefficient: estimate, Wald interval, SE, t, p, and the profile interval."""
        ci = self.conf_int()
        out = pd.DataFrame({"Estimate": self.params, ci.columns[0]: ci.iloc[:, 0], ci.columns[1]: ci.iloc[:, 1],
                            "Std. Error": self.bse, "t value": self.tvalues, "Pr(>|t|)": self.pvalues})
        if self.profile is not None:
            prof = self.profile.reindex(self.params.index)
            out["profile lower"], out["profile upper"] = prof["lower"], prof["upper"]
        return out

    def to_dict(self) -> dict:
        """JSON-ready: settings, coefficients, floors, profile, identification and the floor test."""
        ci = self.conf_int()
        prof = None if self.profile is None else self.profile
        coefs = []
        for term in self.params.index:
            row = {"term": term, "estimate": _num(self.params[term]), "std_error": _num(self.bse[term]),
                   "t_value": _num(self.tvalues[term]), "p_value": _num(self.pvalues[term]),
                   "ci_low": _num(ci.loc[term].iloc[0]), "ci_high": _num(ci.loc[term].iloc[1])}
            if prof is not None and term in prof.index:
                row["profile_low"], row["profile_high"] = _num(prof.loc[term, "lower"]), _num(prof.loc[term, "upper"])
            coefs.append(row)
        return {
            "law": self.law, "formulas": dict(self.formulas), "response": self.response, "inputs": dict(self.inputs),
            "method": self.method, "nobs": self.nobs, "df_resid": _num(self.df_resid), "scale": _num(self.scale),
            "rss": _num(self.rss), "loglik": _num(self.loglik), "aic": _num(self.aic), "bic": _num(self.bic),
            "vcov": self.vcov, "level": self.level, "converged": bool(self.converged), "n_iter": int(self.n_iter),
            "bounds": self.bounds, "bound_active": list(self.bound_active), "coefficients": coefs,
            "floors": None if self.floors is None else [
                {k: (_num(v) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()}
                for r in self.floors.reset_index().to_dict("records")],
            "profile": None if prof is None else [
                {k: (_num(v) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()}
                for r in prof.reset_index().to_dict("records")],
            "identification": None if self.identification is None else self.identification.to_dict(),
            "floor_test": None if self.floor_test is None else self.floor_test.to_dict(),
            "dropped_rows": self.dropped_rows, "dropped_reasons": dict(self.dropped_reasons),
            "cluster": list(self.cluster),
        }


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _opt(x) -> float | None:
    return None if x is None else _num(x)
