"""Every error the library raises on purpose, in one hierarchy.

The CLI catches :class:`PowerlawStatsError` at its boundary and prints the message as one line, so
each message says what went wrong, where, and what to do about it.

    PowerlawStatsError
    ├── DataError            the table: missing file, empty file, missing column, NA policy
    │   └── MissingColumnError   a name in an expression that is no column (also an ExpressionError)
    ├── FormulaError         the formula: syntax, unknown names, non-finite values, one-level factors
    │   └── ExpressionError  a formula, --weights, --let or --where expression outside the allow-list
    ├── WeightsError         prior weights: missing, negative, NaN, non-numeric, all zero
    ├── OptionError          an option outside its allowed values
    └── SingularDesignError  a design the chosen estimator cannot fit
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "DataError",
    "DroppedRowsWarning",
    "ExpressionError",
    "FormulaError",
    "IdentificationWarning",
    "MissingColumnError",
    "OptionError",
    "PowerlawStatsError",
    "SingularDesignError",
    "WeightsError",
    "shown",
]

NAME_LIMIT = 60  # characters of a user's name or expression a message repeats


def shown(text: object, limit: int = NAME_LIMIT) -> str:
    """``repr(text)`` cut to ``limit`` characters: a message never echoes a 100,000-character name whole.

    Examples
    --------
    >>> shown("Solar.R"), shown("Q" * 100, 12)
    ("'Solar.R'", "'QQQQQQQQ...' (100 characters)")
    """
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:max(limit - 4, 1)]!r}"[:-1] + "...' (" + f"{len(text):,} characters)"


class PowerlawStatsError(Exception):
    """Base class: a problem with the user's input that the user can fix."""


class DataError(PowerlawStatsError):
    """The data table cannot be read or lacks what the analysis needs."""


class FormulaError(PowerlawStatsError):
    """The formula cannot be parsed or evaluated on the data."""


class ExpressionError(FormulaError):
    """A user expression uses a construct it may not, or cannot be parsed.

    Attribute access, a call of an unlisted function, ...: found on its syntax tree before
    anything is evaluated.
    """


class MissingColumnError(DataError, ExpressionError):
    """An expression names a column the data does not have (a data problem found on the expression's tree)."""


class WeightsError(PowerlawStatsError):
    """The prior weights are unusable."""


class OptionError(PowerlawStatsError):
    """An option has a value outside the ones allowed."""


class SingularDesignError(PowerlawStatsError):
    """The model matrix is rank deficient where the estimator needs full rank."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at its iteration limit before meeting its tolerance."""


class IdentificationWarning(UserWarning):
    """A law's floor and slope cannot be told apart by the data (the numbers are in the message)."""


class DroppedRowsWarning(UserWarning):
    """Rows were left out because the formula made a value NaN there (R's ``na.omit`` after ``log(-1)``)."""
