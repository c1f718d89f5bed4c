"""Laws: curve families with factor effects on their parameters (the saturating power law, …).

``fit_law`` fits a law from :data:`LAWS` with each parameter linear in its own formula; see
``docs/laws.md``.
"""

from __future__ import annotations

from ..errors import IdentificationWarning
from .arrays import CurveFloorTest, curve_floor_test
from .bootstrap import law_bootstrap
from .fit import LAW_METHODS, fit_law
from .registry import LAWS, Law, get_law
from .result import FloorTest, Identification, LawFit

__all__ = ["LAWS", "LAW_METHODS", "CurveFloorTest", "FloorTest", "Identification", "IdentificationWarning", "Law", "LawFit",
           "curve_floor_test", "fit_law", "get_law", "law_bootstrap"]
