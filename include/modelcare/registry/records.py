"""Registry records and naming: statuses and their transitions, version ids, the canonical JSON of a
registry document, and the typed views of a version (``VersionRecord``) and an alias (``AliasRecord``).
Pure: no I/O (the protocol that reads and writes them is ``registry.store``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.errors import (
    RegistryStateError,
)

if TYPE_CHECKING:
    pass


APPROVED: Final = "Approved"
PENDING: Final = "PendingManualApproval"
REJECTED: Final = "Rejected"
STATUSES: Final = (APPROVED, PENDING, REJECTED)
# Transitions allowed without force=True.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({APPROVED, REJECTED}),
    APPROVED: frozenset({REJECTED}),
    REJECTED: frozenset(),
}

CLAIM: Final = "_claim.json"
MODEL_ARTIFACT: Final = "model.skops"
REFERENCE_ARTIFACT: Final = "reference.parquet"
METADATA: Final = "metadata.json"
RUN_MARKER_PREFIX: Final = "_run-"
RESERVED_NAMES: Final = frozenset({CLAIM, MODEL_ARTIFACT, REFERENCE_ARTIFACT, METADATA})
SPECIAL_REFS: Final = frozenset({"latest", "latest-approved"})
# Keys of metadata.json the registry owns (a caller's values for them are replaced).
REGISTRY_KEYS: Final = frozenset(
    {"version", "version_id", "created_at", "status", "status_history", "artifacts", "run_key", "registered_by"}
)


ALIAS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_VERSION_REF = re.compile(r"^v?(\d+)$")


class _AnyVersion:
    """Sentinel: ``set_alias(expected=ANY)`` moves the alias wherever it points now."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _AnyVersion()


def version_id(number: int) -> str:
    """``3`` -> ``"v0003"``."""
    return f"v{number:04d}"


def parse_version(ref: int | str) -> int | None:
    """``3``, ``"3"``, ``"v0003"`` -> 3; anything else (``"latest"``, an alias) -> None."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return ref
    match = _VERSION_REF.match(str(ref).strip())
    return int(match.group(1)) if match else None


def run_marker(run_key: str) -> str:
    """Name of the empty-ish object that marks a version folder as this run's (found by LIST, no GET)."""
    return RUN_MARKER_PREFIX + hashlib.sha256(run_key.encode()).hexdigest()[:40]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def clean_json(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, dates to ISO strings, NaN/inf to None, keys to str."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((clean_json(v) for v in value), key=str)
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    for attr in ("tolist", "item"):  # numpy arrays and scalars, pandas scalars
        convert = getattr(value, attr, None)
        if callable(convert):
            try:
                return clean_json(convert())
            except (TypeError, ValueError):
                break
    return str(value)


def dumps(payload: Any) -> bytes:
    """Canonical JSON bytes of a registry document (sorted keys, strict JSON)."""
    return json.dumps(clean_json(payload), indent=2, sort_keys=True, allow_nan=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class VersionRecord:
    """One visible (committed) version: its number, status and metadata.json."""

    version: int
    version_id: str
    status: str
    created_at: str
    metadata: dict[str, Any] = field(repr=False)
    uri: str

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], uri: str) -> VersionRecord:
        return cls(
            version=int(metadata["version"]),
            version_id=str(metadata["version_id"]),
            status=str(metadata["status"]),
            created_at=str(metadata["created_at"]),
            metadata=metadata,
            uri=uri,
        )

    @property
    def metrics(self) -> dict[str, Any]:
        """The candidate's metrics (``metadata["metrics"]["candidate"]``), {} when absent."""
        return self._metrics("candidate")

    @property
    def champion_metrics(self) -> dict[str, Any]:
        """The champion's metrics at registration (``metadata["metrics"]["champion"]``), {} when absent."""
        return self._metrics("champion")

    def _metrics(self, key: str) -> dict[str, Any]:
        metrics = self.metadata.get("metrics")
        found = metrics.get(key) if isinstance(metrics, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    @property
    def run_key(self) -> str | None:
        return self.metadata.get("run_key")

    @property
    def artifacts(self) -> dict[str, dict[str, Any]]:
        """``{name: {"uri", "sha256", "bytes"}}``."""
        return dict(self.metadata.get("artifacts") or {})

    @property
    def model_package_arn(self) -> str | None:
        """ARN of the SageMaker model package mirroring this version, if any."""
        mirror = self.metadata.get("sagemaker")
        return mirror.get("model_package_arn") if isinstance(mirror, dict) else None


@dataclass(frozen=True)
class AliasRecord:
    """A named pointer (e.g. ``production``) at a version, with every move it made."""

    name: str
    version: int
    updated_at: str
    updated_by: str
    reason: str
    history: list[dict[str, Any]] = field(repr=False)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AliasRecord:
        return cls(
            name=str(doc["alias"]),
            version=int(doc["version"]),
            updated_at=str(doc["updated_at"]),
            updated_by=str(doc["updated_by"]),
            reason=str(doc.get("reason", "")),
            history=list(doc.get("history") or []),
        )


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise RegistryStateError(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")


def check_alias_name(name: str) -> None:
    """Alias names: lowercase ``[a-z][a-z0-9_-]*``, not ``latest``/``latest-approved``, not a version."""
    if not ALIAS_NAME.match(name) or name in SPECIAL_REFS or _VERSION_REF.match(name):
        raise RegistryStateError(
            f"invalid alias name {name!r}: use lowercase letters, digits, '_' or '-' (start with a letter), "
            f"not {', '.join(sorted(SPECIAL_REFS))} nor a version like v0003"
        )


def describe_version(version: int | None) -> str:
    return "nothing" if version is None else version_id(version)
