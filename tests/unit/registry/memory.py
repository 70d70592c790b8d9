"""An in-memory stand-in for ``ObjectStore``'s reads, and registry documents to put in it (unit tests)."""

from __future__ import annotations

import json
from typing import Any

from include.modelcare.errors import DataNotFound
from include.modelcare.registry.reader import RegistryReader


class MemoryStore:
    """The few ``ObjectStore`` reads the registry reader and the registry page use, over a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, uri: str, value: Any) -> None:
        self.objects[uri] = value if isinstance(value, bytes) else json.dumps(value).encode()

    def list(self, prefix_uri: str) -> list[str]:
        return sorted(u for u in self.objects if u.startswith(prefix_uri))

    def read_bytes(self, uri: str) -> bytes:
        try:
            return self.objects[uri]
        except KeyError:
            raise DataNotFound(f"{uri}: no such object") from None

    def read_json(self, uri: str) -> Any:
        return json.loads(self.read_bytes(uri))


def metadata(number: int, status: str = "Approved", **extra: Any) -> dict[str, Any]:
    """A minimal committed version's metadata."""
    return {
        "version": number,
        "version_id": f"v{number:04d}",
        "status": status,
        "created_at": f"2026-03-{number:02d}T00:00:00+00:00",
        **extra,
    }


def put_version(store: MemoryStore, reader: RegistryReader, number: int, doc: Any) -> str:
    """A committed version folder (claim + metadata); returns the metadata's URI."""
    store.put(reader.object_uri(number, "_claim.json"), {"run_key": f"run-{number}"})
    uri = reader.object_uri(number, "metadata.json")
    store.put(uri, doc)
    return uri
