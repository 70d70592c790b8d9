"""Typed domain errors: each message says what failed, the figures, and where the details are."""

from __future__ import annotations


class ModelcareError(Exception):
    """Base class of every error modelcare raises on purpose."""


class ConfigError(ModelcareError):
    """A model config file is missing, unreadable or invalid (message names file and field)."""


class ConfigProblems(ConfigError):
    """Valid config files whose deeper checks failed (timetables, hyperparameters); lines by model name."""

    def __init__(self, message: str, *, problems: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.problems = problems


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


class RegistryConflict(ModelcareError):
    """A registry write lost a race or its precondition no longer holds (version claim, alias move, status change)."""


class RegistryStateError(ModelcareError):
    """The registry refuses an operation in the current state (illegal status transition, unapproved alias target)."""


class VersionNotFound(DataNotFound):
    """No visible registry version (or alias) matches the reference asked for."""


class ArtifactIntegrityError(DataError):
    """A stored artifact's sha256 differs from the hash recorded in the version's metadata."""


class RegistryMirrorError(ModelcareError):
    """Mirroring a committed version into the SageMaker Model Registry failed (S3 stays the source of truth)."""


class TrainingError(ModelcareError):
    """A model could not be trained or evaluated: too few rows, empty split, a failed fit."""


class InvalidHyperparameters(TrainingError):
    """Hyperparameters the estimator does not accept (unknown names or bad values)."""


class ModelFileError(ModelcareError):
    """A model file cannot be written or read (not a skops file, corrupt, unsupported object)."""


class UntrustedModelError(ModelFileError):
    """A model file holds types outside the allowlist (or fails its checksum): refused unloaded."""


class DeploymentError(ModelcareError):
    """A deployment step failed: target call, smoke test, alarm during the bake, or promotion."""


class SmokeTestFailed(DeploymentError):
    """The new version did not answer the smoke request with predictions of the right shape."""


class AlarmFired(DeploymentError):
    """A configured CloudWatch alarm was in ALARM during the bake period."""
