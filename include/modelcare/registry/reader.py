"""The read side of a model's S3 registry: listing versions, resolving references, verified loads.

``RegistryReader`` is what ``ModelRegistry`` (``store``) builds on; the layout it reads and the
protocol that writes it are in ``store``'s docstring. Every read verifies what it can: a version is
visible only once its ``metadata.json`` exists, and every artifact's sha256 is checked against it.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from include.modelcare.errors import ArtifactIntegrityError, DataError, DataNotFound, VersionNotFound
from include.modelcare.registry.aliases import AliasBook
from include.modelcare.registry.records import (
    ALIAS_NAME,
    APPROVED,
    METADATA,
    MODEL_ARTIFACT,
    REFERENCE_ARTIFACT,
    AliasRecord,
    VersionRecord,
    parse_version,
    sha256,
    version_id,
)

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

READ_WORKERS: Final = 8  # below botocore's default pool of 10 connections
_FOLDER = re.compile(r"^(v\d+)/(.+)$")
_T = TypeVar("_T")


class Problem(NamedTuple):
    """An object a tolerant read skipped: its key (URI) and why it could not be used."""

    key: str
    reason: str


def json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``; ``ValueError`` with the reason (no key) when it is anything else."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:  # includes bytes that are not UTF-8
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _record_of(doc: dict[str, Any], folder_uri: str) -> VersionRecord:
    try:
        return VersionRecord.from_metadata(doc, folder_uri)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a registry metadata document (bad or missing field {exc})") from None


class RegistryReader:
    """Reading one model's registry (see ``store`` for the layout); ``ModelRegistry`` adds the writes."""

    def __init__(self, config: ModelConfig, store: ObjectStore) -> None:
        self.config = config
        self.store = store
        self.root = config.paths.registry_root.rstrip("/")
        self._aliases = AliasBook(store, self.aliases_prefix, config.name, self._read_doc)

    # -- locations ------------------------------------------------------------------------------------
    @property
    def versions_prefix(self) -> str:
        return f"{self.root}/versions/"

    @property
    def aliases_prefix(self) -> str:
        return f"{self.root}/aliases/"

    def version_uri(self, number: int) -> str:
        """The version's folder (ends with '/')."""
        return f"{self.versions_prefix}{version_id(number)}/"

    def object_uri(self, number: int, name: str) -> str:
        return f"{self.version_uri(number)}{name}"

    def alias_uri(self, name: str) -> str:
        return self._aliases.uri(name)

    # -- reading --------------------------------------------------------------------------------------
    def _listing(self) -> dict[int, set[str]]:
        """``{number: names of the objects in its folder}`` from one listing of ``versions/``."""
        folders: dict[int, set[str]] = {}
        try:
            uris = self.store.list(self.versions_prefix)
        except DataNotFound:
            return folders
        for uri in uris:
            match = _FOLDER.match(uri[len(self.versions_prefix) :])
            if not match:
                continue
            number = parse_version(match.group(1))
            if number is None or version_id(number) != match.group(1):
                continue
            folders.setdefault(number, set()).add(match.group(2))
        return folders

    def _scan(self) -> tuple[set[int], set[int]]:
        """(claimed numbers, committed numbers)."""
        folders = self._listing()
        return set(folders), {n for n, names in folders.items() if METADATA in names}

    def _read_doc(self, uri: str) -> dict[str, Any]:
        raw = self.store.read_bytes(uri)
        try:
            return json_object(raw)
        except ValueError as exc:
            raise DataError(f"{uri}: {exc}") from None

    def _read_record(self, number: int) -> VersionRecord:
        uri = self.object_uri(number, METADATA)
        try:
            raw = self.store.read_bytes(uri)
        except DataNotFound:
            raise self._not_found(version_id(number)) from None
        try:
            return _record_of(json_object(raw), self.version_uri(number))
        except ValueError as exc:
            raise DataError(f"{uri}: {exc}") from None

    def _try_record(self, number: int) -> VersionRecord | Problem | None:
        """The record, the problem with its metadata, or None when it vanished since the listing."""
        try:
            return self._read_record(number)
        except VersionNotFound:
            return None
        except DataError as exc:
            uri = self.object_uri(number, METADATA)
            return Problem(uri, str(exc).removeprefix(f"{uri}: "))

    def _read_records(self, numbers: Iterable[int]) -> list[VersionRecord]:
        return _read_all(self._read_record, numbers)

    def _not_found(self, ref: object) -> VersionNotFound:
        _, committed = self._scan()
        shown = ", ".join(version_id(n) for n in sorted(committed)[-10:]) or "none"
        return VersionNotFound(
            f"{self.config.name}: no visible registry version {ref!r} under {self.versions_prefix} "
            f"({len(committed)} visible; latest: {shown})"
        )

    def versions(self) -> list[VersionRecord]:
        """Every visible version, ascending by number; ``DataError`` when one's metadata is unreadable.

        Strict on purpose: code that decides from the whole registry must not act on part of it.
        Views that only show it use ``scan``.
        """
        _, committed = self._scan()
        return self._read_records(committed)

    def scan(self) -> tuple[list[VersionRecord], list[Problem]]:
        """Every visible version that reads (ascending), and a ``Problem`` per unreadable ``metadata.json``.

        For the registry page and ``modelcare registry list``: one corrupt document (not JSON, not an
        object, missing fields) of an old version must not hide every other version. Infrastructure
        errors still raise. The caller reports the problems (a warning row, a line on stderr).
        """
        _, committed = self._scan()
        records: list[VersionRecord] = []
        problems: list[Problem] = []
        for found in _read_all(self._try_record, committed):
            if isinstance(found, Problem):
                problems.append(found)
            elif found is not None:
                records.append(found)
        return records, problems

    def get(self, ref: int | str) -> VersionRecord:
        """A visible version by number (3, "3", "v0003"), "latest", "latest-approved" or an alias name."""
        number = parse_version(ref)
        if number is not None:
            return self._read_record(number)
        name = str(ref).strip()
        if name == "latest":
            _, committed = self._scan()
            if not committed:
                raise self._not_found(name)
            return self._read_record(max(committed))
        if name == "latest-approved":
            _, committed = self._scan()
            for n in sorted(committed, reverse=True):
                record = self._read_record(n)
                if record.status == APPROVED:
                    return record
            raise self._not_found(name)
        alias = self.alias(name) if ALIAS_NAME.match(name) else None
        if alias is None:
            known = ", ".join(sorted(self.aliases())) or "none"
            raise VersionNotFound(
                f"{self.config.name}: {name!r} is neither a version (3, v0003), latest, latest-approved "
                f"nor an alias under {self.aliases_prefix} (aliases: {known})"
            )
        return self._read_record(alias.version)

    def load_artifact(self, ref: int | str | VersionRecord, name: str) -> bytes:
        """One artifact's bytes, verified against the sha256 recorded at registration."""
        record = ref if isinstance(ref, VersionRecord) else self.get(ref)
        entry = record.artifacts.get(name)
        if entry is None:
            raise DataNotFound(
                f"{self.config.name} {record.version_id}: no artifact {name!r} "
                f"(has: {', '.join(sorted(record.artifacts)) or 'none'}) in {record.uri}{METADATA}"
            )
        data = self.store.read_bytes(entry["uri"])
        actual = sha256(data)
        if actual != entry["sha256"]:
            raise ArtifactIntegrityError(
                f"{self.config.name} {record.version_id}: artifact {name} at {entry['uri']} has sha256 {actual} "
                f"({len(data)} bytes) but the registry recorded {entry['sha256']} ({entry.get('bytes')} bytes) "
                f"in {record.uri}{METADATA}; it was changed after registration, refusing to use it"
            )
        return data

    def load_model_bytes(self, ref: int | str | VersionRecord) -> bytes:
        """The serialized model, sha256-verified."""
        return self.load_artifact(ref, MODEL_ARTIFACT)

    def load_model(self, ref: int | str | VersionRecord) -> Any:
        """The model object (skops with the serialization module's allowlist; never pickle)."""
        from include.modelcare.ml.serialization import load_model

        record = ref if isinstance(ref, VersionRecord) else self.get(ref)
        return load_model(self.load_model_bytes(record), sha256=record.artifacts[MODEL_ARTIFACT]["sha256"])

    def load_reference(self, ref: int | str | VersionRecord) -> pd.DataFrame:
        """The version's reference sample of its training data, sha256-verified."""
        import pandas as pd

        record = ref if isinstance(ref, VersionRecord) else self.get(ref)
        raw = self.load_artifact(record, REFERENCE_ARTIFACT)
        return pd.read_parquet(io.BytesIO(raw))

    # -- aliases (moved by ``ModelRegistry.set_alias``) -------------------------------------------------
    def alias(self, name: str) -> AliasRecord | None:
        """The alias, or None when it was never set."""
        return self._aliases.get(name)

    def aliases(self) -> dict[str, AliasRecord]:
        """Every alias by name."""
        return self._aliases.all()

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        """Every move of the alias, oldest first ([] when it was never set)."""
        return self._aliases.history(name)


def _read_all(read: Callable[[int], _T], numbers: Iterable[int]) -> list[_T]:
    """``read`` of every number, ascending, in parallel (a GET each)."""
    ordered = sorted(numbers)
    if len(ordered) <= 1:
        return [read(n) for n in ordered]
    with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(ordered))) as pool:
        return list(pool.map(read, ordered))
