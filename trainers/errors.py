"""Errors raised by ``trainers``: one base class so the CLI can turn any of them into one line.

Hierarchy::

    TrainersError
    ├── DataError       a data folder is missing, incomplete or not in the official layout
    ├── SpecError       a grid spec (TOML) is malformed or names something unknown
    ├── SchemaError     a row does not satisfy the learning-curve table's schema
    ├── ResultsError    the results file cannot be used (other header, locked by another run)
    └── TrainerError    a trainer failed or could not be imported
"""

from __future__ import annotations


class TrainersError(Exception):
    """Base class of every error ``trainers`` raises on purpose."""


class DataError(TrainersError):
    """A dataset folder is missing or not in its official layout."""


class SpecError(TrainersError):
    """A grid specification is malformed or names an unknown dataset or option."""


class SchemaError(TrainersError):
    """A row violates the learning-curve table's schema."""


class ResultsError(TrainersError):
    """The results file cannot be appended to."""


class TrainerError(TrainersError):
    """A trainer could not be imported or failed during a run."""
