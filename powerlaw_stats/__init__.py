"""powerlaw-stats: R-exact statistics for power-law learning curves.

Does an intervention (mixup, width, data source) change the intercept or the slope of
``log error ~ log training size``? ``fit`` gives R's ``lm`` and ``MASS::rlm`` answers with prior
weights; ``breusch_pagan`` tests the residual variance.

Everything beyond ``fit`` (simulation, effect, region, plan, plots, report) loads on first use, so
``import powerlaw_stats`` pulls in neither matplotlib nor statsmodels, and a fit none of the rest.
"""

from __future__ import annotations

import importlib
import sys
import types

from .diagnostics import TestResult
from .errors import PowerlawStatsError
from .fitting import breusch_pagan, fit
from .results import FitResult

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access, so `fit` loads none of them
_LAZY: dict[str, str] = {
    "effect": ".effect", "EffectResult": ".effect",
    "plan": ".plan", "PlanResult": ".plan",
    "region": ".region", "RegionResult": ".region",
    "simulate": ".simulate", "SimulationResult": ".simulate",
    "load_example": ".datasets",
    "load_lcdb": ".datasets",
    "build_report": ".report", "Report": ".report",
    "wild_bootstrap": ".bootstrap", "BootstrapResult": ".bootstrap",
}
# functions named like the submodule that defines them
_SAME_NAME = frozenset(name for name, module in _LAZY.items() if module == f".{name}")


class _Package(types.ModuleType):
    """Keeps ``powerlaw_stats.plan`` the function after ``powerlaw_stats.plan`` the module is imported.

    Importing a submodule sets it as an attribute of its package, which would hide the lazily loaded
    function of the same name; this swaps in the function instead (the module stays in sys.modules).
    """

    def __setattr__(self, name: str, value) -> None:
        if name in _SAME_NAME and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

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


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
