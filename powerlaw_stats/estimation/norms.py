"""Psi functions of M-estimation, written as R's MASS writes them.

Each norm gives the IRWLS weight ``w(u) = psi(u) / u``, ``psi(u)`` itself and its derivative
``psi'(u)``; all are vectorised over arrays of any shape, so one call serves a single fit and a
batch of simulated trials alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import OptionError

NormName = Literal["huber", "bisquare"]

DEFAULT_TUNING: dict[str, float] = {"huber": 1.345, "bisquare": 4.685}


@dataclass(frozen=True)
class Huber:
    """Huber's psi: quadratic near zero, linear beyond ``k``.

    Examples
    --------
    >>> Huber(1.345).weight(np.array([0.5, 2.69]))
    array([1. , 0.5])
    """

    k: float = 1.345

    def weight(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The IRWLS weight ``psi(u) / u`` (into ``out``, which may be ``u`` itself, when given)."""
        out = np.abs(u, out=out)  # in place on one scratch array: this runs on T x n every iteration
        with np.errstate(divide="ignore"):
            np.divide(self.k, out, out=out)
        return np.minimum(out, 1.0, out=out)

    def psi(self, u: np.ndarray) -> np.ndarray:
        """Huber's psi: ``u`` clipped at ``±k``."""
        return np.clip(u, -self.k, self.k)

    def dpsi(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The derivative of psi: 1 inside ``±k``, 0 outside (into ``out``, which may be ``u``, when given)."""
        out = np.abs(u, out=out)
        return np.less_equal(out, self.k, out=out)  # the comparison written straight as 1.0 / 0.0

    def dpsi_from_weight(self, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``psi'(u)`` from the weight ``w(u)``: 1 where the weight is 1 (``|u| <= k``, to rounding at the corner)."""
        return np.greater_equal(w, 1.0, out=np.empty_like(w) if out is None else out)


@dataclass(frozen=True)
class Bisquare:
    """Tukey's biweight: redescending, zero weight beyond ``c``.

    Examples
    --------
    >>> Bisquare(4.685).weight(np.array([0.0, 5.0]))
    array([1., 0.])
    """

    c: float = 4.685

    def weight(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The IRWLS weight ``(1 - (u/c)^2)^2`` inside ``±c``, 0 outside (into ``out``, which may be ``u``, when given)."""
        # (1 - (u/c)^2)^2 inside |u| < c, else 0; max(., 0) is that mask, bit for bit, since
        # |u| >= c gives (u/c)^2 >= 1 in floating point and |u| < c never gives more than 1
        t = np.divide(u, self.c, out=out)
        np.multiply(t, t, out=t)
        np.subtract(1.0, t, out=t)
        np.fmax(t, 0.0, out=t)  # fmax, not maximum: NaN gets weight 0 as np.where gave it
        return np.multiply(t, t, out=t)

    def psi(self, u: np.ndarray) -> np.ndarray:
        """Tukey's psi: ``u`` times its weight."""
        return u * self.weight(u)

    def dpsi(self, u: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The derivative of psi: ``(1 - z)(1 - 5z)`` with ``z = (u/c)²`` inside ``±c``, 0 outside (into ``out``, not ``u``)."""
        # in place, with one temporary: Newton steps of IRWLS evaluate this on T x n every iteration
        z = np.divide(u, self.c, out=out)
        np.multiply(z, z, out=z)
        second = np.multiply(z, 5.0)
        np.subtract(1.0, second, out=second)
        np.subtract(1.0, z, out=z)
        np.multiply(z, second, out=z)
        outside = np.logical_not(np.less(np.abs(u, out=second), self.c))  # NaN is not inside either
        np.copyto(z, 0.0, where=outside)
        return z

    def dpsi_from_weight(self, w: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``psi'(u)`` from the weight ``w(u)``: ``t (5t - 4)`` with ``t = sqrt(w) = 1 - (u/c)^2`` inside, 0 outside.

        :meth:`dpsi` to rounding, in half the passes (Newton steps of IRWLS have the weights already).

        Examples
        --------
        >>> b = Bisquare()
        >>> u = np.array([0.0, 1.0, 3.0, 6.0])
        >>> bool(np.allclose(b.dpsi_from_weight(b.weight(u)), b.dpsi(u), rtol=0, atol=1e-15))
        True
        """
        t = np.sqrt(w, out=out)
        five_w = np.multiply(w, 5.0)
        np.multiply(t, -4.0, out=t)
        return np.add(t, five_w, out=t)  # 5t² - 4t


Norm = Huber | Bisquare

_NORMS: dict[str, type] = {"huber": Huber, "bisquare": Bisquare}


def make_norm(name: str, tuning: float | None = None) -> Norm:
    """The norm called ``name`` with its tuning constant (MASS's default when ``None``).

    Examples
    --------
    >>> make_norm("bisquare")
    Bisquare(c=4.685)
    """
    if name not in _NORMS:
        raise OptionError(f"unknown psi function {name!r}; choose one of {', '.join(_NORMS)}")
    value = DEFAULT_TUNING[name] if tuning is None else float(tuning)
    if not np.isfinite(value) or value <= 0:
        raise OptionError(f"tuning constant must be a positive number, got {tuning!r}")
    return _NORMS[name](value)
