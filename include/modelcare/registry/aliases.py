"""Aliases of a model's registry (``production``, ``staging``...): named pointers at versions.

``aliases/<alias>.json`` holds ``{"alias", "version", "version_id", "uri", "updated_at", "updated_by",
"reason", "history"}``. Aliases move by compare-and-swap, like version status (created with
``If-None-Match``, replaced with ``If-Match``; on a lost race re-read, re-check and retry up to
``MAX_CAS_ATTEMPTS`` times); every move is appended to the alias's ``history``; ``expected`` makes a
move conditional on where the alias points now. Aliases point only at ``Approved`` versions unless
``force=True``. A move whose write applied although the call failed (retries exhausted after a lost
reply) is recognised when asked again: the alias's last history entry is the same move (``is_this_move``).

``AliasBook`` is the collaborator ``ModelRegistry`` delegates its ``alias``/``aliases``/``alias_history``/
``set_alias`` to: it resolves nothing itself, the registry hands it the target ``VersionRecord``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.errors import DataNotFound, RegistryConflict, RegistryStateError
from include.modelcare.registry.records import (
    ANY,
    APPROVED,
    AliasRecord,
    VersionRecord,
    check_alias_name,
    describe_version,
    dumps,
    now_iso,
    parse_version,
)

if TYPE_CHECKING:
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS: Final = 5
"""Attempts of every compare-and-swap in the registry (alias moves, status changes, the commit)."""


class AliasBook:
    """The aliases under ``prefix`` (``<registry root>/aliases/``) of one model's registry."""

    def __init__(
        self, store: ObjectStore, prefix: str, model_name: str, read_doc: Callable[[str], dict[str, Any]]
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.model_name = model_name
        self._read_doc = read_doc  # the registry's JSON-object reader (DataError on anything else)

    def uri(self, name: str) -> str:
        return f"{self.prefix}{name}.json"

    def get(self, name: str) -> AliasRecord | None:
        """The alias, or None when it was never set."""
        check_alias_name(name)
        try:
            return AliasRecord.from_doc(self._read_doc(self.uri(name)))
        except DataNotFound:
            return None

    def all(self) -> dict[str, AliasRecord]:
        """Every alias by name."""
        try:
            uris = [u for u in self.store.list(self.prefix) if u.endswith(".json")]
        except DataNotFound:
            return {}
        records = [AliasRecord.from_doc(self._read_doc(u)) for u in uris]
        return {r.name: r for r in sorted(records, key=lambda r: r.name)}

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every move of the alias, oldest first ([] when it was never set)."""
        record = self.get(name)
        return list(record.history) if record is not None else []

    def move(
        self,
        name: str,
        target: VersionRecord,
        *,
        by: str,
        why: str,
        expected: int | str | object | None = ANY,
        force: bool = False,
    ) -> AliasRecord:
        """Point ``name`` at ``target`` by compare-and-swap (see ``ModelRegistry.set_alias``)."""
        check_alias_name(name)
        if target.status != APPROVED and not force:
            raise RegistryStateError(
                f"{self.model_name}: alias {name!r} may only point at an Approved version; "
                f"{target.version_id} is {target.status} (use force=True / --force to override)"
            )
        want: int | object | None = expected
        if isinstance(expected, str | int) and not isinstance(expected, bool):
            want = parse_version(expected)
            if want is None:
                raise RegistryStateError(f"expected: {expected!r} is not a version number")
        uri = self.uri(name)
        for attempt in range(1, MAX_CAS_ATTEMPTS + 1):
            try:
                raw, etag = self.store.read_with_etag(uri)
                doc: dict[str, Any] | None = json.loads(raw)
            except DataNotFound:
                doc, etag = None, ""
            current = int(doc["version"]) if doc is not None else None
            if doc is not None and current == target.version:
                if want is ANY or current == want:
                    return AliasRecord.from_doc(doc)  # already there: a no-op
                if is_this_move(doc, target.version, by=by, why=why, previous=want):
                    log.info(
                        "%s: alias %s already moved to %s by %s (%s): an earlier attempt of this move applied",
                        self.model_name,
                        name,
                        target.version_id,
                        by,
                        why,
                    )
                    return AliasRecord.from_doc(doc)
            if want is not ANY and current != want:
                raise RegistryConflict(
                    f"{self.model_name}: alias {name!r} points at {describe_version(current)}, expected "
                    f"{describe_version(want if isinstance(want, int) else None)}; not moved to {target.version_id} "
                    f"({uri})"
                )
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
                    self.model_name,
                    name,
                    target.version_id,
                    describe_version(current),
                    by,
                    why,
                )
                return AliasRecord.from_doc(new)
            log.info("%s: alias %s changed while moving it (attempt %d), retrying", self.model_name, name, attempt)
        raise RegistryConflict(
            f"{self.model_name}: alias {name!r} ({uri}) changed {MAX_CAS_ATTEMPTS} times in a row while moving "
            f"it to {target.version_id}; not moved"
        )


def is_this_move(doc: dict[str, Any], version: int, *, by: str, why: str, previous: object) -> bool:
    """Whether the alias's last move is this one (same target, actor, reason and starting point).

    Why: when botocore's retries run out after S3 applied the alias write, the call raises and the
    caller (an Airflow retry) asks for the same move again, now seeing the alias already on the target,
    not on ``expected``. The same target, ``by``, ``why`` and ``previous`` as the last history entry
    means that write was this move, so it is done; anyone else's move there still conflicts.
    """
    history = doc.get("history") or []
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    return (
        last.get("version") == version
        and last.get("by") == by
        and last.get("why") == why
        and last.get("previous") == previous
    )
