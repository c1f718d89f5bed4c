"""Do the forecast intervals hold their level beyond the data? Simulated curves with a known truth.

Each trial draws a curve of ``runs`` noisy runs at each of ``n_sizes`` doubling sizes from a
law's mean with normal noise on its response scale, fits the law to the smallest ``n_seen``
sizes, and asks whether the prediction interval covers a new run at each larger size, and
whether the confidence band covers the true mean there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..laws.registry import get_law
from .intervals import forecast_curve, law_inputs, response_scale


@dataclass(frozen=True, kw_only=True)
class CoverageStudy:
    """Coverage per held-out size: ``table`` has one row per size with its distance and both rates."""

    law: str
    level: float
    n_trials: int
    failed: int
    table: pd.DataFrame


def forecast_coverage(law: str, truth: dict[str, float], *, sigma: float = 0.1, n_sizes: int = 9, n_seen: int = 5,
                      runs: int = 3, smallest: float = 100.0, level: float = 0.95, n_trials: int = 200,
                      seed: int = 0) -> CoverageStudy:
    """Coverage of the prediction interval (a new run) and the confidence band (the mean) beyond the data.

    Examples
    --------
    >>> s = forecast_coverage("loglinear", {"a": -1.0, "b": -0.5}, n_trials=20)
    >>> s.table.columns.tolist()
    ['TS', 'distance', 'prediction', 'confidence']
    """
    spec = get_law(law)
    _, to_error = response_scale(spec)
    rng = np.random.default_rng(seed)
    sizes = smallest * 2.0 ** np.arange(n_sizes)
    seen, held = sizes[:n_seen], sizes[n_seen:]
    values = {p: np.full(n_sizes, float(truth[p])) for p in spec.params}
    mean = np.asarray(spec.mean(values, law_inputs(spec, sizes, smallest)), dtype=float)
    x_seen = np.repeat(seen, runs)
    hits_pi = np.zeros(len(held))
    hits_ci = np.zeros(len(held))
    failed = 0
    for _ in range(n_trials):
        y = np.repeat(mean[:n_seen], runs) + sigma * rng.standard_normal(len(x_seen))
        new = mean[n_seen:] + sigma * rng.standard_normal(len(held))
        f = forecast_curve(spec, x_seen, to_error(y), held, level=level)
        if not np.all(np.isfinite(f.pi_low)):
            failed += 1
            continue
        new_err, true_err = to_error(new), to_error(mean[n_seen:])
        hits_pi += (f.pi_low <= new_err) & (new_err <= f.pi_high)
        hits_ci += (f.ci_low <= true_err) & (true_err <= f.ci_high)
    used = max(n_trials - failed, 1)
    span = np.log2(seen[-1] / seen[0])
    table = pd.DataFrame({"TS": held, "distance": np.log2(held / seen[-1]) / span, "prediction": hits_pi / used,
                          "confidence": hits_ci / used})
    return CoverageStudy(law=spec.name, level=level, n_trials=n_trials, failed=failed, table=table)
