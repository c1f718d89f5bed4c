"""What a simulation draws: residual models learned from a real fit, and trial designs.

A residual model is learned once from the *whitened* residuals ``r = sqrt(w0) * (y - X b)`` of the
fit that gave the true coefficients, and draws whitened errors for any rows of the same formula.
The simulation divides them by ``sqrt(w0)`` of the row's *template* (the observed row it copies),
so every configuration keeps the noise variance it has in the data whatever the number of trials
the simulated design gives it; the estimators, in turn, see the weights of the simulated design.
That is how a design with one run at the full pool (weight 1) is still as noisy as the data's
(weight 1/4 from four runs): exactly the mismatch the seed's "n trials" design probes.

Designs rebuild the table from the schema's trial scheme (docs/simulate.md): a *configuration*
is a set of rows sharing the schema's configuration columns (train set, eval set, size, splits,
width, params, mixup, …); it gets ``n_splits`` runs ("n") or ``max(n_splits, K)`` runs ("minK").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError

RESIDUAL_MODELS: tuple[str, ...] = ("normal", "empirical", "skewed-hetero")
DESIGNS: tuple[str, ...] = ("observed", "n", "min4")
TRIAL_COLUMNS: tuple[str, ...] = ("train_size", "n_splits", "trials")
# the schema's columns that say which experiment a row belongs to (not which run of it)
CONFIG_COLUMNS: tuple[str, ...] = (
    "train_set", "eval_set", "train_size", "n_splits", "width", "params", "mixup", "mixup_alpha", "epochs", "loss_name",
)
PER_RUN_COLUMNS: frozenset[str] = frozenset({"run_id", "split", "trial", "trials", "seed", "error", "loss"})
TEMPLATE = "__template_row__"  # carries each simulated row's source row through model_frame
RUN_POSITION = "__run_position__"  # a rebuilt row's run within its configuration, while run ids are renumbered
_MIN_DESIGN = re.compile(r"^min(\d+)$")


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
    centred = values - values.mean()
    sd = centred.std()
    if not sd > 0:
        raise DataError("the fit's residuals are all equal; there is no residual distribution to resample")
    return centred / sd


def sample_skewness(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Moment skewness g1 = m3 / m2^1.5 (the sign says which tail is heavier)."""
    c = values - values.mean(axis=axis, keepdims=True)
    return (c**3).mean(axis=axis) / (c**2).mean(axis=axis) ** 1.5


def excess_kurtosis(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Moment excess kurtosis m4 / m2^2 - 3 (0 for the normal)."""
    c = values - values.mean(axis=axis, keepdims=True)
    return (c**4).mean(axis=axis) / (c**2).mean(axis=axis) ** 2 - 3.0


@dataclass(frozen=True)
class NormalResiduals:
    """Whitened errors N(0, sigma^2): raw errors N(0, sigma^2 / w0), the least-squares model."""

    sigma: float

    @property
    def description(self) -> str:
        return (f"Normal residuals: each row's error is drawn from N(0, σ²/w0) with σ = {self.sigma:.4g}, the residual "
                "standard error of the fit on the data, and w0 the prior weight of the row it copies, so least "
                "squares' assumptions hold exactly.")

    def draw(self, rng: np.random.Generator, n_trials: int, x: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
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
        within = " within groups" if self.pool_groups is not None else ""
        return (f"Empirical residuals: each row's error is σ·z/√w0 with σ = {self.sigma:.4g} and z drawn with replacement"
                f"{within} from the fit's {len(self.pool)} standardized residuals (r/(σ√(1−h)), centred and scaled to "
                f"variance 1; skewness {float(sample_skewness(self.pool)):.2f}, excess kurtosis "
                f"{float(excess_kurtosis(self.pool)):.2f}); the variance is constant in the whitened scale.")

    def draw(self, rng: np.random.Generator, n_trials: int, x: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
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
        scale = self.k * np.exp(x @ self.gamma)
        return _resample(rng, self.pool, (n_trials, x.shape[0]), self.pool_groups, groups) * scale


ResidualModel = NormalResiduals | EmpiricalResiduals | SkewedHeteroResiduals


def _normal(src: ResidualSource) -> NormalResiduals:
    return NormalResiduals(src.sigma)


def _empirical(src: ResidualSource) -> EmpiricalResiduals:
    return EmpiricalResiduals(src.sigma, unit_pool(src.standardized), src.groups)


def log_scale_fit(x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """gamma of the least-squares regression of log|r| on ``x``; |r| floored at 1% of its median.

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
    if name not in RESIDUAL_BUILDERS:
        raise OptionError(f"unknown residual model {name!r}; choose one of {', '.join(RESIDUAL_MODELS)}")
    return RESIDUAL_BUILDERS[name](source)


# ----------------------------------------------------------------------------- designs


@dataclass(frozen=True)
class DesignSpec:
    """A validated design: its name and the minimum trials per size (None: as observed; 1: "n")."""

    name: str
    min_trials: int | None

    @property
    def description(self) -> str:
        if self.min_trials is None:
            return "Observed design: the data's own rows and prior weights."
        if self.min_trials == 1:
            return ("Design 'n': every configuration trained on 1/n of the pool gets n runs (one per part), so the full "
                    "pool has a single run; the weights are recomputed from these trial counts.")
        return (f"Design 'min{self.min_trials}': every configuration trained on 1/n of the pool gets max(n, "
                f"{self.min_trials}) runs (parts reused with new initialisations where n < {self.min_trials}); the "
                "weights are recomputed from these trial counts.")


def design_spec(design: str, min_trials: int | None) -> DesignSpec:
    """Validate ``design`` ("observed", "n", "min4" or any "minK") and ``min_trials``.

    Examples
    --------
    >>> design_spec("min4", None), design_spec("min4", 6).name
    (DesignSpec(name='min4', min_trials=4), 'min6')
    """
    match = _MIN_DESIGN.match(design) if isinstance(design, str) else None
    if design not in ("observed", "n") and match is None:
        raise OptionError(f"unknown design {design!r}; choose observed, n or min4 (minK for another minimum)")
    if min_trials is not None:
        if match is None:
            raise OptionError(f"min_trials applies to a 'min' design, not {design!r}; use design='min4' with min_trials")
        design = f"min{int(min_trials)}"
        match = _MIN_DESIGN.match(design)
    if match is not None:
        k = int(match.group(1))
        if k < 1:
            raise OptionError(f"the minimum number of trials must be at least 1, got {k}")
        return DesignSpec(design, k)
    return DesignSpec(design, None if design == "observed" else 1)


def noise_factor(w_template: np.ndarray | None, n: int) -> np.ndarray:
    """Each simulated row's noise scale 1/sqrt(w0) from the prior weight of the real row it copies.

    The noise stays with the configuration even when a rebuilt design gives the row another weight;
    a row of weight 0 gets no noise (it does not enter the fit).

    Examples
    --------
    >>> noise_factor(np.array([0.25, 1.0, 0.0]), 3).tolist(), noise_factor(None, 2).tolist()
    ([2.0, 1.0, 0.0], [1.0, 1.0])
    """
    if w_template is None:
        return np.ones(n)
    with np.errstate(divide="ignore"):
        return np.where(w_template > 0, 1.0 / np.sqrt(w_template), 0.0)


def configuration_columns(frame: pd.DataFrame, variables: Sequence[str]) -> list[str]:
    """Columns that identify an experiment configuration: the schema's plus raw columns among ``variables``.

    Pass the formula's regressors, never its response: a response column varies from run to run, so
    keying on it would make every run a configuration of its own.
    """
    cols = [c for c in CONFIG_COLUMNS if c in frame.columns]
    cols += [v for v in variables if v in frame.columns and v not in cols and v not in PER_RUN_COLUMNS]
    return cols


def rebuild_trials(raw: pd.DataFrame, spec: DesignSpec, variables: Sequence[str],
                   usable: np.ndarray | None = None) -> pd.DataFrame:
    """The table under ``spec``'s trial scheme, each row tagged with the raw row it copies.

    Configurations keep their sizes and values; row j of a configuration with n splits copies the
    configuration's observed row j (cycling), with ``trial = j``, ``split = j mod n``, ``trials = K``.
    ``usable`` (a mask over ``raw``) restricts the rows copied to those the real fit used, so a
    missing response in one run does not remove a simulated row; a configuration without any
    usable row is copied as it is (and filtered later exactly as the data were).

    Examples
    --------
    >>> raw = pd.DataFrame({"train_size": [10, 10, 20, 20], "n_splits": [2, 2, 1, 1], "trials": [2, 2, 2, 2],
    ...                     "error": [0.5, 0.4, 0.3, 0.2]})
    >>> rebuild_trials(raw, DesignSpec("n", 1), ["TS"])[["train_size", "trials", "__template_row__"]].values.tolist()
    [[10, 2, 0], [10, 2, 1], [20, 1, 2]]
    """
    missing = [c for c in TRIAL_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"design {spec.name!r} rebuilds the trials from the schema's columns, but the table lacks "
                        f"{', '.join(missing)}; use design='observed'")
    keys = configuration_columns(raw, variables)
    usable = np.ones(len(raw), dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    tagged = raw.assign(**{TEMPLATE: np.arange(len(raw))})
    parts = [_cell_rows(cell, spec.min_trials, usable[cell[TEMPLATE].to_numpy()])
             for _, cell in tagged.groupby(keys, sort=False, dropna=False)]
    out = _renumber_runs(pd.concat(parts, ignore_index=True), keys)
    return _refresh_weights_column(raw, out)


def _renumber_runs(out: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    # A rebuilt run is a new run: the same configuration and position on every evaluation set.
    # Copied run ids would merge runs that reuse one template (cycling) into one cluster.
    position = out.pop(RUN_POSITION)
    if "run_id" not in out.columns:
        return out
    run = out.assign(**{RUN_POSITION: position}).groupby([k for k in keys if k != "eval_set"] + [RUN_POSITION],
                                                         sort=False, dropna=False).ngroup()
    return out.assign(run_id=[f"rebuilt-{r}" for r in run])


def _cell_rows(cell: pd.DataFrame, minimum: int, usable: np.ndarray) -> pd.DataFrame:
    n = int(cell["n_splits"].iloc[0])
    if n < 1:
        raise DataError(f"n_splits must be at least 1, got {n} (train_size {cell['train_size'].iloc[0]})")
    k = max(n, minimum)
    source = cell[usable] if usable.any() else cell
    out = source.iloc[np.arange(k) % len(source)].copy()
    out["trials"] = k
    out[RUN_POSITION] = np.arange(k)
    for col, values in (("trial", np.arange(k)), ("split", np.arange(k) % n)):
        if col in out.columns:
            out[col] = values
    return out


def _refresh_weights_column(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    # A stored w column that is the schema's 1/trials must follow the new trial counts.
    if "w" in raw.columns and np.allclose(raw["w"].to_numpy(float), 1.0 / raw["trials"].to_numpy(float)):
        out["w"] = 1.0 / out["trials"]
    return out
