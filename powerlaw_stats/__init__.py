"""powerlaw-stats: R-exact statistics for power-law learning curves.

Does an intervention (mixup, width, data source) change the intercept or the slope of
``log error ~ log training size``? ``fit`` gives R's ``lm`` and ``MASS::rlm`` answers with prior
weights; ``breusch_pagan`` tests the residual variance.

Heavier parts (simulation, plots, report) load on first use, so ``import powerlaw_stats`` pulls in
neither matplotlib nor statsmodels.
"""

from __future__ import annotations

import importlib

from .diagnostics import TestResult
from .effect import EffectResult, effect  # eager (light): a lazy name would be shadowed by its submodule
from .errors import PowerlawStatsError
from .fitting import breusch_pagan, fit
from .plan import PlanResult, plan  # eager (light): a lazy name would be shadowed by its submodule
from .region import RegionResult, region  # eager (light, scipy-free): a lazy name would be shadowed by its submodule
from .results import FitResult
from .simulate import SimulationResult, simulate  # eager: a lazy name would be shadowed by its submodule

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access
_LAZY: dict[str, str] = {
    "load_example": ".datasets",
    "load_lcdb": ".datasets",
    "build_report": ".report", "Report": ".report",
    "wild_bootstrap": ".bootstrap", "BootstrapResult": ".bootstrap",
}

__all__ = [  # noqa: PLE0604 - the lazy names are listed too, so `from powerlaw_stats import *` sees them
    "EffectResult",
    "FitResult",
    "PlanResult",
    "PowerlawStatsError",
    "RegionResult",
    "SimulationResult",
    "TestResult",
    "__version__",
    "breusch_pagan",
    "effect",
    "fit",
    "plan",
    "region",
    "simulate",
    *sorted(_LAZY),
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'powerlaw_stats' has no attribute {name!r}")
