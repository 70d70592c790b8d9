"""The model's deployment history: one JSON object per deployment attempt, next to the registry.

``<registry_root>/deployments/<started_at>--<run>.json`` (started_at as ``YYYYmmddTHHMMSSZ``), so a
LIST returns attempts in time order and a re-run of the same attempt rewrites its own record instead
of adding one. Records are append-only in effect: nothing else writes an attempt's key.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.errors import DataNotFound

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

OUTCOMES: Final = ("deployed", "rolled_back", "failed")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")


def _stamp(iso: str) -> str:
    return re.sub(r"[^0-9T]", "", iso.split("+", maxsplit=1)[0].split(".", maxsplit=1)[0]) + "Z"


class DeploymentHistory:
    """Read and append deployment records of one model."""

    def __init__(self, config: ModelConfig, store: ObjectStore) -> None:
        self.config = config
        self.store = store
        self.prefix = f"{config.paths.registry_root}/deployments/"

    def record_uri(self, started_at: str, run_id: str) -> str:
        """Where the record of the attempt that started at ``started_at`` in run ``run_id`` lives."""
        return f"{self.prefix}{_stamp(started_at)}--{_UNSAFE.sub('_', run_id)}.json"

    def record(self, entry: dict[str, Any]) -> str:
        """Write (or rewrite, on a re-run) the attempt's record; returns its URI."""
        if entry.get("outcome") not in OUTCOMES:
            raise ValueError(f"deployment outcome must be one of {', '.join(OUTCOMES)}, got {entry.get('outcome')!r}")
        uri = self.record_uri(str(entry["started_at"]), str(entry["run_id"]))
        self.store.write_bytes(uri, json.dumps(entry, indent=2, default=str).encode(), content_type="application/json")
        log.info(
            "%s: deployment of %s to %s: %s (%s)",
            self.config.name,
            entry.get("version_id"),
            entry.get("target"),
            entry["outcome"],
            uri,
        )
        return uri

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Records, newest first (at most ``limit``)."""
        try:
            uris = sorted((u for u in self.store.list(self.prefix) if u.endswith(".json")), reverse=True)
        except DataNotFound:
            return []
        if limit is not None:
            uris = uris[:limit]
        return [self.store.read_json(u) for u in uris]
