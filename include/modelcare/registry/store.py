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
   size go into the metadata. Before each PUT, a check that the folder is not committed yet: a twin
   attempt of this run that committed first never has its artifacts overwritten by this one.
4. Commit: ``metadata.json`` with ``If-None-Match: *``. Losing that write means a twin attempt of the
   same run committed first: its version is returned if its artifact hashes equal ours, otherwise
   ``RegistryConflict`` (this attempt's model is not registered; the twin's version keeps its artifacts,
   unless one of this attempt's PUTs was in flight as the twin committed: loads verify every sha256).

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

Aliases move by compare-and-swap too (see ``aliases``). Reading (``versions``, ``get``, verified
loads) is ``RegistryReader`` in ``reader``.

Optional mirror: with ``registry.sagemaker_model_package_group`` and a SageMaker client, each committed
version becomes one model package in that group (see ``sagemaker_mirror``); S3 stays the source of truth.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.errors import DataNotFound, RegistryConflict, RegistryStateError
from include.modelcare.registry.aliases import MAX_CAS_ATTEMPTS
from include.modelcare.registry.reader import RegistryReader
from include.modelcare.registry.records import (
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
    dumps,
    now_iso,
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
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ModelRegistry(RegistryReader):
    """The S3 registry of one model (see the module docstring for the layout and protocol)."""

    def __init__(self, config: ModelConfig, store: ObjectStore, sagemaker_client: Any | None = None) -> None:
        super().__init__(config, store)
        self._mirror: SageMakerMirror | None = None
        group = config.registry.sagemaker_model_package_group
        if group and sagemaker_client is not None:
            from include.modelcare.registry.sagemaker_mirror import SageMakerMirror

            self._mirror = SageMakerMirror(sagemaker_client, group, model_name=config.name, registry_root=self.root)
        elif group:
            log.info("%s: no SageMaker client given, model package group %s is not mirrored", config.name, group)

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
        """Write the artifacts (plain PUTs) and return their entries; stop once the version is committed.

        Why the check before each PUT: a twin attempt of this run may have resumed into this claim and
        committed meanwhile (a zombie beside its retry, or an attempt parked before its writes). If this
        attempt's bytes differ (it retrained), overwriting would leave a committed version whose artifacts
        fail their sha256. Once committed, nothing more is written; the commit then meets the twin's
        metadata (same hashes: that version; otherwise ``RegistryConflict``). The window left is one PUT
        in flight while the twin commits; loads still verify every sha256.
        """
        entries: dict[str, dict[str, Any]] = {
            name: {"uri": self.object_uri(number, name), "sha256": sha256(data), "bytes": len(data)}
            for name, data in artifacts.items()
        }
        metadata_uri = self.object_uri(number, METADATA)
        written: list[str] = []
        for name, data in artifacts.items():
            if self.store.exists(metadata_uri):
                log.warning(
                    "%s: %s was committed by a twin attempt meanwhile; not writing %s",
                    self.config.name,
                    version_id(number),
                    ", ".join(n for n in artifacts if n not in written),
                )
                break
            content_type = "application/json" if name.endswith(".json") else "application/octet-stream"
            self.store.write_bytes(self.object_uri(number, name), data, content_type=content_type)
            written.append(name)
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
                    f"different {', '.join(differing)}; this attempt's model is not registered. It stopped writing "
                    f"once it saw the commit, but a write in flight may have replaced one of them: if loads of "
                    f"{version_id(number)} fail the sha256 check, reject it and register again"
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
        unless ``force=True``. Pointing at the current target again is a no-op; so is repeating a move that
        already applied (the alias's last move has this target, ``by``, ``why`` and ``expected``: an
        earlier attempt whose reply was lost), although the alias no longer points at ``expected``.
        """
        check_alias_name(name)
        return self._aliases.move(name, self.get(ref), by=by, why=why, expected=expected, force=force)

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
