"""The package's vocabulary: every option's allowed values, one way to check them, and SE labels.

Options are ``Literal`` aliases, checked once where they enter (a public function or a command)
by :func:`check_option`, which also returns the value typed as its alias. The estimators are not
listed here: their names, words and abilities are the method registry's
(:data:`powerlaw_stats.estimation.methods.METHODS`), the only list of them.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from .errors import OptionError, PowerlawStatsError

WeightType = Literal["inv.var", "case"]  # MASS's wt.method: inverse variances whiten, case weights count rows
VcovKind = Literal["classic", "HC0", "HC1", "HC3", "CR1", "CR3"]  # classic: the estimator's own (R's)
ClusterKind = Literal["CR1", "CR3"]
NaPolicy = Literal["drop", "fail"]
ColumnsRead = Literal["all", "used"]  # a table file: read every column, or only those the analysis uses
BootWeights = Literal["rademacher", "webb"]
ScaleEst = Literal["MAD", "proposal2"]
ResidualName = Literal["normal", "empirical", "skewed-hetero"]
Side = Literal["small", "large"]
Adjust = Literal["holm", "bonferroni", "none"]
SortBy = Literal["t", "none"]
PlotKind = Literal["curves", "qq", "hist", "resid", "weights"]
FigureFormat = Literal["png", "svg"]
OutputFormat = Literal["table", "markdown", "csv", "json"]
PredictInterval = Literal["confidence", "prediction"]  # the mean curve's band, or one new observation's
DependenceMode = Literal["auto", "none"]  # effect: let the variance components choose the test, or rows as given

CLUSTER_KINDS: tuple[ClusterKind, ...] = get_args(ClusterKind)
SANDWICH_KINDS: tuple[VcovKind, ...] = ("HC0", "HC1", "HC3", *CLUSTER_KINDS)

T = TypeVar("T")


def choices(alias: Any) -> tuple[str, ...]:
    """The values a ``Literal`` alias allows, in its order.

    Examples
    --------
    >>> choices(WeightType)
    ('inv.var', 'case')
    """
    return get_args(alias)


def check_option(value: object, allowed: Any, what: str, error: type[PowerlawStatsError] = OptionError,
                 message: str = "unknown {what} {value!r}; {what} must be one of {values}") -> Any:
    """Return ``value`` if ``allowed`` (a ``Literal`` alias or a sequence) holds it; else raise one clear line.

    Parameters
    ----------
    value : object
        What the caller gave.
    allowed : Literal alias or sequence of str
        The values allowed.
    what : str
        The option's name in the message, e.g. ``"weight type"`` or ``"--format"``.
    error : type, optional
        The exception to raise, a :class:`~powerlaw_stats.errors.PowerlawStatsError`.
    message : str, optional
        The message's wording, with ``{what}``, ``{value!r}`` and ``{values}`` filled in.

    Returns
    -------
    object
        ``value`` itself, typed as the alias by the caller's annotation.

    Examples
    --------
    >>> check_option("case", WeightType, "weight type")
    'case'
    >>> check_option("freq", WeightType, "weight type")
    Traceback (most recent call last):
    ...
    powerlaw_stats.errors.OptionError: unknown weight type 'freq'; weight type must be one of inv.var, case
    """
    values = tuple(allowed) if isinstance(allowed, (tuple, list)) else choices(allowed)
    if value not in values:
        raise error(unknown(what, value, values, message))
    return value


def unknown(what: str, value: object, values: Sequence[str],
            message: str = "unknown {what} {value!r}; {what} must be one of {values}") -> str:
    """The message for a value outside the allowed ones: what was given, and what to give instead."""
    return message.format(what=what, value=value, values=", ".join(values))


def check_level(level: object) -> float:
    """A confidence level strictly between 0 and 1.

    Examples
    --------
    >>> check_level(0.9)
    0.9
    """
    if not (isinstance(level, (int, float)) and not isinstance(level, bool) and 0 < level < 1):
        raise OptionError(f"confidence level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def check_count(value: object, what: str, minimum: int) -> int:
    """An integer count of at least ``minimum`` (``bool`` is not a count).

    Examples
    --------
    >>> check_count(1000, "n_trials", 2)
    1000
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise OptionError(f"{what} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def check_seed(seed: object) -> int:
    """A seed: a non-negative integer.

    Examples
    --------
    >>> check_seed(0)
    0
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def split_names(names: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    """Column names from a name, a comma-separated list or a sequence of either; no repeats.

    Examples
    --------
    >>> split_names(["run_id", "eval_set, width"], "cluster columns")
    ('run_id', 'eval_set', 'width')
    """
    if names is None:
        return ()
    given = [names] if isinstance(names, str) else list(names)
    out = tuple(n.strip() for part in given for n in str(part).split(",") if n.strip())
    if len(set(out)) != len(out):
        raise OptionError(f"{what} repeat: {', '.join(out)}")
    return out


@dataclass(frozen=True, slots=True)
class SeLabel:
    """An estimator with the kind of standard error it is shown with.

    Written ``"huber"`` for the estimator's own (classic) SE and ``"huber+CR1"`` for another: the
    form simulate's summary, results.json and the report's tables use.

    Examples
    --------
    >>> str(SeLabel("huber", "CR1")), SeLabel.parse("ols")
    ('huber+CR1', SeLabel(method='ols', kind='classic'))
    """

    method: str
    kind: str = "classic"

    def __str__(self) -> str:
        """The label as written: the method alone for its classic SE."""
        return self.method if self.kind == "classic" else f"{self.method}+{self.kind}"

    @classmethod
    def parse(cls, text: str | SeLabel) -> SeLabel:
        """Read a written label (a label passes through unchanged)."""
        if isinstance(text, SeLabel):
            return text
        method, _, kind = str(text).partition("+")
        return cls(method, kind or "classic")
