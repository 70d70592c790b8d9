"""An S3 model registry that any tool can read: immutable versions, compare-and-swap status and aliases.

Layout under ``config.paths.registry_root`` (e.g. ``s3://bucket/modelcare/customer_churn/registry``)::

    versions/v0001/_claim.json        first object of a version: claims the number, holds the run key
    versions/v0001/_run-<hash>        run marker: sha256(run_key)[:40] in the name, so a LIST finds a run's folder
    versions/v0001/model.skops        the model (include.modelcare.ml.serialization.dump_model)
    versions/v0001/reference.parquet  reference sample of the training data (for drift)
    versions/v0001/<extra artifacts>  e.g. metrics.json, given by the caller
    versions/v0001/metadata.json      written LAST (the commit point); a version without it is invisible
    aliases/<alias>.json              {"alias", "version", "updated_at", "updated_by", "reason", "history"}

Protocol of ``register`` (only S3 conditional writes, no lock service):

0. One LIST of ``versions/`` gives every folder, whether it is committed, and its run marker.
1. Idempotency: if a visible version's folder holds this run's marker and its metadata has the same
   ``run_key`` (e.g. ``"dag_id/run_id"``), return it; no second version is made. (The marker makes this
   one GET instead of reading every version's metadata.)
2. Claim: if an uncommitted folder holds our marker, or has no marker and its ``_claim.json`` holds our
   ``run_key`` (a crashed attempt of this run), resume in it. Otherwise N = highest claimed number + 1
   and create ``vN/_claim.json`` with ``If-None-Match: *``. On 412 read that claim: our ``run_key`` ->
   a twin attempt of this run, resume there; another run's -> try N+1 (at most ``MAX_CLAIM_ATTEMPTS``,
   then ``RegistryConflict``). Then write the run marker.
3. Artifacts: plain PUTs inside the claimed folder (no other run writes there); each one's sha256 and
   size go into the metadata.
4. Commit: ``metadata.json`` with ``If-None-Match: *``. Losing that write means a twin attempt of the
   same run committed first: its version is returned if its artifact hashes equal ours, otherwise
   ``RegistryConflict`` (the twin's artifacts may have been overwritten; loads would fail the sha256 check).

A crash before (4) leaves no visible version, only a claimed folder; re-running the same run resumes
into the same number (even when other runs committed higher numbers meanwhile). So numbers follow
claim order, not commit order, and may have gaps (a claim never re-run stays invisible). ``latest`` is
the highest visible number. Readers verify every artifact's sha256 against the metadata.

After the commit, only ``metadata.json``'s ``status``/``status_history`` (and the SageMaker mirror's
``sagemaker`` entry) change, by compare-and-swap (``If-Match`` on the ETag; on a lost race re-read,
re-check and retry up to ``MAX_CAS_ATTEMPTS`` times). Artifacts and the rest of the metadata stay
immutable. Status transitions:

- ``PendingManualApproval`` -> ``Approved`` | ``Rejected``
- ``Approved`` -> ``Rejected`` (revoke; aliases pointing at it stay, with a warning)
- ``Rejected`` -> ``Approved``, and anything else, only with ``force=True``
- setting the current status again is a no-op (no history entry), so retries are safe.

Aliases move by compare-and-swap too (created with ``If-None-Match``, replaced with ``If-Match``);
every move is appended to the alias's ``history``; ``expected`` makes a move conditional on where the
alias points now. Aliases point only at ``Approved`` versions unless ``force=True``.

Optional mirror: with ``registry.sagemaker_model_package_group`` and a SageMaker client, each committed
version becomes one model package in that group (see ``sagemaker_mirror``); S3 stays the source of truth.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.errors import (
    ArtifactIntegrityError,
    DataError,
    DataNotFound,
    RegistryConflict,
    RegistryStateError,
    VersionNotFound,
)
from include.modelcare.registry.records import (
    ALIAS_NAME,
    ANY,
    APPROVED,
    CLAIM,
    METADATA,
    MODEL_ARTIFACT,
    REFERENCE_ARTIFACT,
    REGISTRY_KEYS,
    REJECTED,
    RESERVED_NAMES,
    RUN_MARKER_PREFIX,
    TRANSITIONS,
    AliasRecord,
    VersionRecord,
    check_alias_name,
    check_status,
    clean_json,
    describe_version,
    dumps,
    now_iso,
    parse_version,
    run_marker,
    sha256,
    version_id,
)

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.registry.sagemaker_mirror import SageMakerMirror
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

MAX_CLAIM_ATTEMPTS: Final = 20
MAX_CAS_ATTEMPTS: Final = 5
READ_WORKERS: Final = 8  # below botocore's default pool of 10 connections
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FOLDER = re.compile(r"^(v\d+)/(.+)$")


class ModelRegistry:
    """The S3 registry of one model (see the module docstring for the layout and protocol)."""

    def __init__(self, config: ModelConfig, store: ObjectStore, sagemaker_client: Any | None = None) -> None:
        self.config = config
        self.store = store
        self.root = config.paths.registry_root.rstrip("/")
        self._mirror: SageMakerMirror | None = None
        group = config.registry.sagemaker_model_package_group
        if group and sagemaker_client is not None:
            from include.modelcare.registry.sagemaker_mirror import SageMakerMirror

            self._mirror = SageMakerMirror(sagemaker_client, group, model_name=config.name, registry_root=self.root)
        elif group:
            log.info("%s: no SageMaker client given, model package group %s is not mirrored", config.name, group)

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
        return f"{self.aliases_prefix}{name}.json"

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
            doc = json.loads(raw)
        except ValueError as exc:
            raise DataError(f"{uri}: not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise DataError(f"{uri}: expected a JSON object, got {type(doc).__name__}")
        return doc

    def _read_record(self, number: int) -> VersionRecord:
        uri = self.object_uri(number, METADATA)
        try:
            doc = self._read_doc(uri)
        except DataNotFound:
            raise self._not_found(version_id(number)) from None
        try:
            return VersionRecord.from_metadata(doc, self.version_uri(number))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{uri}: not a registry metadata document (bad or missing field {exc})") from None

    def _read_records(self, numbers: Iterable[int]) -> list[VersionRecord]:
        ordered = sorted(numbers)
        if len(ordered) <= 1:
            return [self._read_record(n) for n in ordered]
        with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(ordered))) as pool:
            return list(pool.map(self._read_record, ordered))

    def _not_found(self, ref: object) -> VersionNotFound:
        _, committed = self._scan()
        shown = ", ".join(version_id(n) for n in sorted(committed)[-10:]) or "none"
        return VersionNotFound(
            f"{self.config.name}: no visible registry version {ref!r} under {self.versions_prefix} "
            f"({len(committed)} visible; latest: {shown})"
        )

    def versions(self) -> list[VersionRecord]:
        """Every visible version, ascending by number."""
        _, committed = self._scan()
        return self._read_records(committed)

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

    # -- registering ----------------------------------------------------------------------------------
    def register(
        self,
        *,
        model_bytes: bytes,
        reference: pd.DataFrame,
        metadata: dict[str, Any],
        status: str,
        reasons: list[str],
        run_key: str,
        actor: str,
        extra_artifacts: dict[str, bytes] | None = None,
    ) -> VersionRecord:
        """Register a new version (idempotent per ``run_key``; see the module docstring for the protocol).

        ``metadata`` is stored as given (conventionally: ``metrics: {"candidate": {...}, "champion": {...}}``,
        ``dag_id``, ``run_id``, gate decision, training window, inputs, code version, parent version...);
        the registry adds ``version``, ``version_id``, ``created_at``, ``status``, ``status_history``,
        ``artifacts``, ``run_key`` and ``registered_by``.
        """
        from include.modelcare.storage.tables import to_bytes

        check_status(status)
        if not run_key or not run_key.strip():
            raise RegistryStateError(f"{self.config.name}: register needs a non-empty run_key")
        extra = dict(extra_artifacts or {})
        bad = sorted(n for n in extra if n in RESERVED_NAMES or not _ARTIFACT_NAME.match(n))
        if bad:
            raise RegistryStateError(
                f"{self.config.name}: invalid extra artifact name(s) {', '.join(map(repr, bad))} "
                f"(plain file names; reserved: {', '.join(sorted(RESERVED_NAMES))})"
            )
        clashing = sorted(REGISTRY_KEYS & set(metadata))
        if clashing:
            log.warning(
                "%s: metadata keys %s are set by the registry; given values ignored", self.config.name, clashing
            )

        folders = self._listing()
        existing = self._find_run(run_key, folders)
        if existing is not None:
            log.info("%s: run %s is already registered as %s", self.config.name, run_key, existing.version_id)
            return self._ensure_mirrored(existing)

        number = self._claim(run_key, actor, folders)
        marker = run_marker(run_key)
        self.store.write_bytes(self.object_uri(number, marker), run_key.encode(), content_type="text/plain")
        artifacts = {MODEL_ARTIFACT: model_bytes, REFERENCE_ARTIFACT: to_bytes(reference, "parquet"), **extra}
        entries = self._write_artifacts(number, artifacts)
        now = now_iso()
        doc = {k: v for k, v in clean_json(metadata).items() if k not in REGISTRY_KEYS}
        doc.setdefault("model_name", self.config.name)
        doc.update(
            version=number,
            version_id=version_id(number),
            created_at=now,
            status=status,
            status_history=[{"status": status, "at": now, "by": actor, "why": "; ".join(reasons) or "registered"}],
            artifacts=entries,
            run_key=run_key,
            registered_by=actor,
        )
        record = self._commit(number, doc)
        log.info("%s: registered %s (%s) at %s", self.config.name, record.version_id, status, record.uri)
        return self._ensure_mirrored(record)

    def _find_run(self, run_key: str, folders: dict[int, set[str]]) -> VersionRecord | None:
        """The visible version of this run: its folder holds the run's marker (seen in the listing)."""
        marker = run_marker(run_key)
        for number in sorted(
            (n for n, names in folders.items() if marker in names and METADATA in names), reverse=True
        ):
            record = self._read_record(number)
            if record.run_key == run_key:
                return record
        return None

    def _read_claim(self, number: int) -> dict[str, Any] | None:
        try:
            return self._read_doc(self.object_uri(number, CLAIM))
        except DataNotFound:
            return None

    def _claim(self, run_key: str, actor: str, folders: dict[int, set[str]]) -> int:
        """Claim a version number for this run (or resume this run's uncommitted claim)."""
        marker = run_marker(run_key)
        uncommitted = sorted((n for n, names in folders.items() if METADATA not in names), reverse=True)
        for number in uncommitted:
            names = folders[number]
            if marker in names:
                log.info(
                    "%s: resuming %s claimed by an earlier attempt of %s", self.config.name, version_id(number), run_key
                )
                return number
            if any(name.startswith(RUN_MARKER_PREFIX) for name in names):
                continue  # another run's folder
            claim = self._read_claim(number)  # crashed between claim and marker, or in flight
            if claim is not None and claim.get("run_key") == run_key:
                log.info(
                    "%s: resuming %s claimed by an earlier attempt of %s", self.config.name, version_id(number), run_key
                )
                return number
        number = max(folders, default=0) + 1
        tried: list[int] = []
        for _ in range(MAX_CLAIM_ATTEMPTS):
            body = dumps({"version": number, "run_key": run_key, "claimed_by": actor, "claimed_at": now_iso()})
            if self.store.create_exclusive(self.object_uri(number, CLAIM), body, content_type="application/json"):
                log.info("%s: claimed %s for %s", self.config.name, version_id(number), run_key)
                return number
            tried.append(number)
            claim = self._read_claim(number)
            if claim is None:  # 409: a concurrent write of this claim is in flight; try the number again
                continue
            if claim.get("run_key") == run_key:
                log.info(
                    "%s: %s is claimed by a twin attempt of %s, resuming", self.config.name, version_id(number), run_key
                )
                return number
            number += 1
        raise RegistryConflict(
            f"{self.config.name}: could not claim a version number under {self.versions_prefix} after "
            f"{MAX_CLAIM_ATTEMPTS} attempts (tried {', '.join(version_id(n) for n in tried)}): "
            "too many concurrent writers"
        )

    def _write_artifacts(self, number: int, artifacts: dict[str, bytes]) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        for name, data in artifacts.items():
            uri = self.object_uri(number, name)
            content_type = "application/json" if name.endswith(".json") else "application/octet-stream"
            self.store.write_bytes(uri, data, content_type=content_type)
            entries[name] = {"uri": uri, "sha256": sha256(data), "bytes": len(data)}
        return entries

    def _commit(self, number: int, doc: dict[str, Any]) -> VersionRecord:
        uri = self.object_uri(number, METADATA)
        data = dumps(doc)
        for _ in range(MAX_CAS_ATTEMPTS):
            if self.store.create_exclusive(uri, data, content_type="application/json"):
                return VersionRecord.from_metadata(json.loads(data), self.version_uri(number))
            try:
                existing = self._read_doc(uri)
            except DataNotFound:  # 409: a concurrent commit is in flight
                continue
            if existing.get("run_key") != doc["run_key"]:
                raise RegistryConflict(
                    f"{uri}: committed by run {existing.get('run_key')!r}, not {doc['run_key']!r}, although "
                    f"{version_id(number)} was claimed for the latter; the version folder was written by two runs"
                )
            ours = {n: e["sha256"] for n, e in doc["artifacts"].items()}
            theirs = {n: e.get("sha256") for n, e in (existing.get("artifacts") or {}).items()}
            if ours != theirs:
                differing = sorted(n for n in set(ours) | set(theirs) if ours.get(n) != theirs.get(n))
                raise RegistryConflict(
                    f"{uri}: a concurrent attempt of run {doc['run_key']!r} committed {version_id(number)} with "
                    f"different {', '.join(differing)}; this attempt may have overwritten them, so loads of "
                    f"{version_id(number)} can fail the sha256 check: reject it and register again"
                )
            log.info("%s: %s was committed by a twin attempt of the same run", self.config.name, version_id(number))
            return VersionRecord.from_metadata(existing, self.version_uri(number))
        raise RegistryConflict(f"{uri}: commit kept conflicting ({MAX_CAS_ATTEMPTS} attempts)")

    # -- status -----------------------------------------------------------------------------------------
    def _update_metadata(
        self, number: int, mutate: Callable[[dict[str, Any]], dict[str, Any] | None], what: str
    ) -> tuple[VersionRecord, bool]:
        """Compare-and-swap ``metadata.json``: ``mutate`` a copy (None: nothing to do), write with If-Match."""
        uri = self.object_uri(number, METADATA)
        for attempt in range(1, MAX_CAS_ATTEMPTS + 1):
            try:
                raw, etag = self.store.read_with_etag(uri)
            except DataNotFound:
                raise self._not_found(version_id(number)) from None
            doc = json.loads(raw)
            new = mutate(copy.deepcopy(doc))
            if new is None:
                return VersionRecord.from_metadata(doc, self.version_uri(number)), False
            frozen = REGISTRY_KEYS - {"status", "status_history"}
            changed = sorted(k for k in frozen if new.get(k) != doc.get(k))
            if changed:  # a programming error, never a user's
                raise RegistryStateError(f"{uri}: immutable field(s) {', '.join(changed)} may not change")
            data = dumps(new)
            if self.store.replace_if_match(uri, data, etag, content_type="application/json"):
                return VersionRecord.from_metadata(json.loads(data), self.version_uri(number)), True
            log.info("%s: %s changed while %s (attempt %d), retrying", self.config.name, uri, what, attempt)
        raise RegistryConflict(
            f"{uri}: changed by other writers {MAX_CAS_ATTEMPTS} times in a row while {what}; nothing was written"
        )

    def set_status(self, ref: int | str, status: str, *, by: str, why: str, force: bool = False) -> VersionRecord:
        """Move a version to ``status`` by compare-and-swap, appending to ``status_history``."""
        check_status(status)
        number = self.get(ref).version

        def mutate(doc: dict[str, Any]) -> dict[str, Any] | None:
            current = doc["status"]
            if current == status:
                return None
            if status not in TRANSITIONS[current] and not force:
                allowed = ", ".join(sorted(TRANSITIONS[current])) or "none"
                raise RegistryStateError(
                    f"{self.config.name} {version_id(number)}: {current} -> {status} is not allowed "
                    f"(from {current}: {allowed}; use force=True / --force to override)"
                )
            entry = {"status": status, "at": now_iso(), "by": by, "why": why, "from": current}
            if status not in TRANSITIONS[current]:
                entry["forced"] = True
            doc["status"] = status
            doc["status_history"] = [*doc.get("status_history", []), entry]
            return doc

        record, changed = self._update_metadata(number, mutate, f"setting status {status}")
        if changed:
            log.info("%s: %s is now %s (by %s: %s)", self.config.name, record.version_id, status, by, why)
            if status != APPROVED:
                pointing = [n for n, a in self.aliases().items() if a.version == number]
                if pointing:
                    log.warning(
                        "%s: %s is %s but alias(es) %s still point at it",
                        self.config.name,
                        record.version_id,
                        status,
                        ", ".join(pointing),
                    )
        return self._sync_mirror_status(record)

    def approve(self, ref: int | str, *, by: str, why: str, force: bool = False) -> VersionRecord:
        return self.set_status(ref, APPROVED, by=by, why=why, force=force)

    def reject(self, ref: int | str, *, by: str, why: str, force: bool = False) -> VersionRecord:
        return self.set_status(ref, REJECTED, by=by, why=why, force=force)

    # -- aliases ----------------------------------------------------------------------------------------
    def alias(self, name: str) -> AliasRecord | None:
        """The alias, or None when it was never set."""
        check_alias_name(name)
        try:
            return AliasRecord.from_doc(self._read_doc(self.alias_uri(name)))
        except DataNotFound:
            return None

    def aliases(self) -> dict[str, AliasRecord]:
        """Every alias by name."""
        try:
            uris = [u for u in self.store.list(self.aliases_prefix) if u.endswith(".json")]
        except DataNotFound:
            return {}
        records = [AliasRecord.from_doc(self._read_doc(u)) for u in uris]
        return {r.name: r for r in sorted(records, key=lambda r: r.name)}

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        """Every move of the alias, oldest first ([] when it was never set)."""
        record = self.alias(name)
        return list(record.history) if record is not None else []

    def set_alias(
        self,
        name: str,
        ref: int | str,
        *,
        by: str,
        why: str,
        expected: int | str | object | None = ANY,
        force: bool = False,
    ) -> AliasRecord:
        """Point ``name`` at a version by compare-and-swap.

        ``expected``: only move if the alias now points at this version (None: only if it does not exist
        yet; ``ANY``: wherever it points) -> ``RegistryConflict`` otherwise. The target must be Approved
        unless ``force=True``. Pointing at the current target again is a no-op.
        """
        check_alias_name(name)
        target = self.get(ref)
        if target.status != APPROVED and not force:
            raise RegistryStateError(
                f"{self.config.name}: alias {name!r} may only point at an Approved version; "
                f"{target.version_id} is {target.status} (use force=True / --force to override)"
            )
        want: int | object | None = expected
        if isinstance(expected, str | int) and not isinstance(expected, bool):
            want = parse_version(expected)
            if want is None:
                raise RegistryStateError(f"expected: {expected!r} is not a version number")
        uri = self.alias_uri(name)
        for attempt in range(1, MAX_CAS_ATTEMPTS + 1):
            try:
                raw, etag = self.store.read_with_etag(uri)
                doc: dict[str, Any] | None = json.loads(raw)
            except DataNotFound:
                doc, etag = None, ""
            current = int(doc["version"]) if doc is not None else None
            if want is not ANY and current != want:
                raise RegistryConflict(
                    f"{self.config.name}: alias {name!r} points at {describe_version(current)}, expected "
                    f"{describe_version(want if isinstance(want, int) else None)}; not moved to {target.version_id} "
                    f"({uri})"
                )
            if doc is not None and current == target.version:
                return AliasRecord.from_doc(doc)
            now = now_iso()
            move = {"version": target.version, "previous": current, "at": now, "by": by, "why": why}
            if target.status != APPROVED:
                move["forced"] = True
                move["status"] = target.status
            new = {
                "alias": name,
                "version": target.version,
                "version_id": target.version_id,
                "uri": target.uri,
                "updated_at": now,
                "updated_by": by,
                "reason": why,
                "history": [*(doc.get("history", []) if doc is not None else []), move],
            }
            data = dumps(new)
            written = (
                self.store.replace_if_match(uri, data, etag, content_type="application/json")
                if doc is not None
                else self.store.create_exclusive(uri, data, content_type="application/json")
            )
            if written:
                log.info(
                    "%s: alias %s -> %s (was %s; by %s: %s)",
                    self.config.name,
                    name,
                    target.version_id,
                    describe_version(current),
                    by,
                    why,
                )
                return AliasRecord.from_doc(new)
            log.info("%s: alias %s changed while moving it (attempt %d), retrying", self.config.name, name, attempt)
        raise RegistryConflict(
            f"{self.config.name}: alias {name!r} ({uri}) changed {MAX_CAS_ATTEMPTS} times in a row while moving "
            f"it to {target.version_id}; not moved"
        )

    # -- SageMaker mirror -------------------------------------------------------------------------------
    def sync_mirror(self, ref: int | str) -> VersionRecord:
        """Make sure the version has its SageMaker model package with the current status (no-op without mirror)."""
        return self._sync_mirror_status(self.get(ref))

    def _ensure_mirrored(self, record: VersionRecord) -> VersionRecord:
        """Create (or find) the version's model package and record its ARN in the metadata."""
        if self._mirror is None or record.model_package_arn is not None:
            return record
        arn = self._mirror.ensure_package(record)
        entry = {"model_package_group": self._mirror.group, "model_package_arn": arn}

        def mutate(doc: dict[str, Any]) -> dict[str, Any] | None:
            if doc.get("sagemaker") == entry:
                return None
            doc["sagemaker"] = entry
            return doc

        updated, _ = self._update_metadata(record.version, mutate, "recording the SageMaker model package")
        return updated

    def _sync_mirror_status(self, record: VersionRecord) -> VersionRecord:
        if self._mirror is None:
            return record
        record = self._ensure_mirrored(record)
        self._mirror.sync_status(record)
        return record
