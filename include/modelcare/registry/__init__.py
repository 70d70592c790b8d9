"""The S3 model registry (protocol and layout: ``include.modelcare.registry.core``)."""

from __future__ import annotations

from include.modelcare.registry.core import (
    ANY,
    APPROVED,
    PENDING,
    REJECTED,
    STATUSES,
    AliasRecord,
    ModelRegistry,
    VersionRecord,
    parse_version,
    version_id,
)

__all__ = [
    "ANY",
    "APPROVED",
    "PENDING",
    "REJECTED",
    "STATUSES",
    "AliasRecord",
    "ModelRegistry",
    "VersionRecord",
    "parse_version",
    "version_id",
]
