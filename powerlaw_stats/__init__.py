"""powerlaw-stats: R-exact statistics for power-law learning curves.

Does an intervention (mixup, width, data source) change the intercept or the slope of
``log error ~ log training size``? ``fit`` gives R's ``lm``, ``MASS::rlm`` and ``robustbase::lmrob``
answers with prior weights, and with lme4's random-effect terms (``(1|run_id)``) ``lme4::lmer``'s
with lmerTest's Satterthwaite tests; ``breusch_pagan`` tests the residual variance.

Everything beyond ``fit`` (simulation, effect, region, plan, bootstrap, report, the bundled data)
is imported on first use, so ``import powerlaw_stats`` pulls in neither matplotlib nor
statsmodels, and a fit none of the rest. No public name is also the name of a module directly
under the package, so importing a submodule never hides a function.
"""

from __future__ import annotations

from typing import Any

from .errors import PowerlawStatsError
from .fitting import breusch_pagan, fit
from .results import BootstrapResult, FitResult, TestResult

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first access (start-up time of `fit`)
_LAZY: dict[str, str] = {
    "effect": ".scaling.effect", "EffectResult": ".scaling.effect",
    "plan": ".scaling.plan", "PlanResult": ".scaling.plan",
    "region": ".scaling.region", "RegionResult": ".scaling.region",
    "simulate": ".simulation.simulate", "SimulationResult": ".simulation.simulate",
    "wild_bootstrap": ".inference.bootstrap",
    "load_example": ".data.datasets",
    "load_lcdb": ".data.datasets",
    "build_report": ".report", "Report": ".report",
    "fit_mixed": ".mixed", "MixedResult": ".mixed", "anova": ".mixed",
    "fit_law": ".laws", "LawFit": ".laws", "law_bootstrap": ".laws", "LAWS": ".laws",
    "backtest": ".extrapolation", "BacktestResult": ".extrapolation", "predict_sizes": ".extrapolation",
}

__all__ = [  # noqa: PLE0604 - the lazy names are listed too, so `from powerlaw_stats import *` sees them
    "BootstrapResult",
    "FitResult",
    "PowerlawStatsError",
    "TestResult",
    "__version__",
    "breusch_pagan",
    "fit",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    """Import a lazily loaded public name on first access and keep it."""
    if name not in _LAZY:
        raise AttributeError(f"module 'powerlaw_stats' has no attribute {name!r}")
    from importlib import import_module  # here, so that the namespace holds no importlib

    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Names of the package, the lazily loaded ones included."""
    return sorted(set(globals()) | set(_LAZY))
