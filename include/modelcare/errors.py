"""Typed domain errors: each message says what failed, the figures, and where the details are."""

from __future__ import annotations


class ModelcareError(Exception):
    """Base class of every error modelcare raises on purpose."""


class ConfigError(ModelcareError):
    """A model config file is missing, unreadable or invalid (message names file and field)."""


class DataNotFound(ModelcareError):
    """An expected object (batch, reference, report) does not exist."""


class DataError(ModelcareError):
    """Data exists but cannot be used: unreadable, empty, or missing required columns."""


class ValidationFailed(ModelcareError):
    """A batch failed its data-quality checks; carries the summary and the result location."""

    def __init__(self, message: str, *, summary: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class DriftError(ModelcareError):
    """Drift could not be computed (e.g. no overlapping columns)."""
