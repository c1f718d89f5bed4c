"""What a simulation draws: residual models learned from a real fit.

A residual model is learned once from the *whitened* residuals ``r = sqrt(w0) * (y - X b)`` of the
fit that gave the true coefficients, and draws whitened errors for any rows of the same formula.
The simulation divides them by ``sqrt(w0)`` of the row's *template* (the observed row it copies),
so every configuration keeps the noise variance it has in the data whatever the number of trials
the simulated design gives it; the estimators, in turn, see the weights of the simulated design.
That is how a design with one run at the full pool (weight 1) is still as noisy as the data's
(weight 1/4 from four runs): exactly the mismatch the seed's "n trials" design probes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError
from ..estimation.least_squares import least_squares
from ..options import ResidualName, check_option, choices

RESIDUAL_MODELS: tuple[str, ...] = choices(ResidualName)


# ----------------------------------------------------------------------------- residual models


@dataclass(frozen=True)
class ResidualSource:
    """What the residual models learn from: the real fit on the observed rows with positive weight.

    ``x`` is the observed design, ``resid`` the whitened residuals of the truth fit, ``sigma`` their
    standard error (RSS / (n - p)), ``leverage`` the hat values of the whitened design and
    ``groups`` the rows' group labels when resampling within groups.
    """

    x: np.ndarray
    resid: np.ndarray
    sigma: float
    leverage: np.ndarray
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Hold arrays, not Series (a fit's ``resid`` is a Series on the data's index)."""
        object.__setattr__(self, "resid", np.asarray(self.resid, dtype=float))
        object.__setattr__(self, "leverage", np.asarray(self.leverage, dtype=float))

    @property
    def standardized(self) -> np.ndarray:
        """Residuals over sigma * sqrt(1 - h): R's ``rstandard`` on the whitened problem."""
        return self.resid / (self.sigma * np.sqrt(np.clip(1.0 - self.leverage, 1e-12, None)))


def unit_pool(values: np.ndarray) -> np.ndarray:
    """Centre and scale to mean 0, variance 1 (population), keeping shape: the resampling pool.

    Examples
    --------
    >>> p = unit_pool(np.array([1.0, 2.0, 6.0]))
    >>> float(p.mean()).__round__(12), float(p.std()).__round__(12)
    (0.0, 1.0)
    """
    values = np.asarray(values, dtype=float)  # a fit's resid is a Series on the data's index
    centred = values - values.mean()
    sd = centred.std()
    if not sd > 0:
        raise DataError("the fit's residuals are all equal; there is no residual distribution to resample")
    return centred / sd


def sample_skewness(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Moment skewness g1 = m3 / m2^1.5 (the sign says which tail is heavier)."""
    values = np.asarray(values, dtype=float)
    c = values - values.mean(axis=axis, keepdims=True)
    return (c**3).mean(axis=axis) / (c**2).mean(axis=axis) ** 1.5


def excess_kurtosis(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Moment excess kurtosis m4 / m2^2 - 3 (0 for the normal)."""
    values = np.asarray(values, dtype=float)
    c = values - values.mean(axis=axis, keepdims=True)
    return (c**4).mean(axis=axis) / (c**2).mean(axis=axis) ** 2 - 3.0


@dataclass(frozen=True)
class NormalResiduals:
    """Whitened errors N(0, sigma^2): raw errors N(0, sigma^2 / w0), the least-squares model."""

    sigma: float

    @property
    def description(self) -> str:
        """The model in words."""
        return (f"Normal residuals: each row's error is drawn from N(0, σ²/w0) with σ = {self.sigma:.4g}, the residual "
                "standard error of the fit on the data, and w0 the prior weight of the row it copies, so least "
                "squares' assumptions hold exactly.")

    def draw(self, rng: np.random.Generator, n_trials: int, x: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """Whitened errors for ``n_trials`` trials of the rows of ``x``."""
        return self.sigma * rng.standard_normal((n_trials, x.shape[0]))


def _resample(rng: np.random.Generator, pool: np.ndarray, shape: tuple[int, int], pool_groups, groups) -> np.ndarray:
    """Draw ``pool`` values with replacement; within each group from that group's values."""
    if pool_groups is None:
        return pool[rng.integers(len(pool), size=shape)]
    out = np.empty(shape)
    for g in pd.unique(groups):
        rows = np.flatnonzero(groups == g)
        members = pool[pool_groups == g]
        if members.size == 0:
            raise DataError(f"group {g!r} has no observed residuals to resample")
        out[:, rows] = members[rng.integers(members.size, size=(shape[0], rows.size))]
    return out


@dataclass(frozen=True)
class EmpiricalResiduals:
    """Whitened errors sigma * z*, z* resampled from the fit's standardized residuals (unit variance)."""

    sigma: float
    pool: np.ndarray
    pool_groups: np.ndarray | None = None

    @property
    def description(self) -> str:
        """The model in words."""
        within = " within groups" if self.pool_groups is not None else ""
        return (f"Empirical residuals: each row's error is σ·z/√w0 with σ = {self.sigma:.4g} and z drawn with replacement"
                f"{within} from the fit's {len(self.pool)} standardized residuals (r/(σ√(1−h)), centred and scaled to "
                f"variance 1; skewness {float(sample_skewness(self.pool)):.2f}, excess kurtosis "
                f"{float(excess_kurtosis(self.pool)):.2f}); the variance is constant in the whitened scale.")

    def draw(self, rng: np.random.Generator, n_trials: int, x: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """Whitened errors for ``n_trials`` trials of the rows of ``x``."""
        return self.sigma * _resample(rng, self.pool, (n_trials, x.shape[0]), self.pool_groups, groups)


@dataclass(frozen=True)
class SkewedHeteroResiduals:
    """Whitened errors k * exp(x'gamma) * u*: a scale from the regressors times a resampled shape.

    ``gamma`` regresses log|z| on the design (z the standardized residuals); ``pool`` holds
    z / exp(x'gamma) standardized (the shape: skew and tails kept); ``k`` makes the mean variance
    over the observed rows sigma^2.
    """

    gamma: np.ndarray
    k: float
    pool: np.ndarray
    sigma: float
    scale_range: tuple[float, float]
    pool_groups: np.ndarray | None = None

    @property
    def description(self) -> str:
        """The model in words."""
        lo, hi = self.scale_range
        within = " within groups" if self.pool_groups is not None else ""
        return ("Skewed heteroscedastic residuals: the scale of each row's error varies with the regressors as "
                "exp(x'γ), γ the least-squares fit of log|z| on the model's design (z the fit's standardized residuals); "
                f"on the data it runs from {lo:.2f} to {hi:.2f} times its root mean square. The shape is resampled{within} "
                f"from z/exp(x'γ), centred and scaled to variance 1, which keeps the observed skew and tails (skewness "
                f"{float(sample_skewness(self.pool)):.2f}, excess kurtosis {float(excess_kurtosis(self.pool)):.2f}); the "
                f"error is k·exp(x'γ)·u/√w0 with k chosen so that the mean variance over the data's rows is σ² "
                f"(σ = {self.sigma:.4g}).")

    def draw(self, rng: np.random.Generator, n_trials: int, x: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """Whitened errors for ``n_trials`` trials of the rows of ``x``."""
        scale = self.k * np.exp(x @ self.gamma)
        return _resample(rng, self.pool, (n_trials, x.shape[0]), self.pool_groups, groups) * scale


ResidualModel = NormalResiduals | EmpiricalResiduals | SkewedHeteroResiduals


def _normal(src: ResidualSource) -> NormalResiduals:
    return NormalResiduals(src.sigma)


def _empirical(src: ResidualSource) -> EmpiricalResiduals:
    return EmpiricalResiduals(src.sigma, unit_pool(src.standardized), src.groups)


def log_scale_fit(x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """Gamma of the least-squares regression of log|r| on ``x``; |r| floored at 1% of its median.

    The floor keeps a residual that happens to be ~0 from dragging the fit (log 0 = -inf).
    """
    a = np.abs(resid)
    floor = 0.01 * np.median(a)
    gamma, *_ = np.linalg.lstsq(x, np.log(np.maximum(a, floor if floor > 0 else 1e-300)), rcond=None)
    return gamma


def _skewed_hetero(src: ResidualSource) -> SkewedHeteroResiduals:
    gamma = log_scale_fit(src.x, src.standardized)
    scale = np.exp(src.x @ gamma)
    pool = unit_pool(src.standardized / scale)
    rms = float(np.sqrt(np.mean(scale**2)))
    return SkewedHeteroResiduals(gamma=gamma, k=src.sigma / rms, pool=pool, sigma=src.sigma,
                                 scale_range=(float(scale.min() / rms), float(scale.max() / rms)), pool_groups=src.groups)


RESIDUAL_BUILDERS: dict[str, Callable[[ResidualSource], ResidualModel]] = {
    "normal": _normal, "empirical": _empirical, "skewed-hetero": _skewed_hetero,
}


def residual_model(name: str, source: ResidualSource) -> ResidualModel:
    """The residual model called ``name``, learned from ``source``.

    Examples
    --------
    >>> src = ResidualSource(np.ones((4, 1)), np.array([-1.0, 0.0, 1.0, 2.0]), 1.5, np.full(4, 0.25))
    >>> residual_model("normal", src).sigma
    1.5
    """
    return RESIDUAL_BUILDERS[check_option(name, RESIDUAL_MODELS, "residual model")](source)


def residual_source(x: np.ndarray, y: np.ndarray, root: np.ndarray, beta: np.ndarray,
                    groups: np.ndarray | None = None) -> ResidualSource:
    """What the residual models learn: the whitened residuals of the truth ``beta`` on the rows with positive weight.

    ``root`` is ``sqrt(w0)`` (ones without weights); ``groups`` the rows' labels when resampling within groups.
    """
    pos = root > 0
    xw = x[pos] * root[pos, None]
    resid = root[pos] * (y[pos] - x[pos] @ beta)
    df = int(pos.sum()) - x.shape[1]
    leverage = np.einsum("ij,jk,ik->i", xw, least_squares(xw, np.zeros(len(xw))).xtx_inv, xw)
    return ResidualSource(x[pos], resid, float(np.sqrt(resid @ resid / df)), leverage,
                          None if groups is None else groups[pos])
