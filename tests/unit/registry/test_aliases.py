"""AliasBook on its own, over a local directory: moves with history, preconditions, the Approved-only rule.

The compare-and-swap races against S3 are tested through ``ModelRegistry`` in ``test_store.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from include.modelcare.errors import RegistryConflict, RegistryStateError
from include.modelcare.registry.aliases import AliasBook
from include.modelcare.registry.records import APPROVED, REJECTED, VersionRecord, version_id
from include.modelcare.storage.objects import ObjectStore

pytestmark = pytest.mark.unit


def _version(number: int, status: str = APPROVED) -> VersionRecord:
    meta = {"version": number, "version_id": version_id(number), "status": status, "created_at": "2026-01-01"}
    return VersionRecord.from_metadata(meta, f"/registry/versions/{version_id(number)}/")


@pytest.fixture
def book(tmp_path: Path) -> AliasBook:
    store = ObjectStore()

    def read_doc(uri: str) -> dict[str, Any]:  # DataNotFound when missing, as the registry's reader
        doc: dict[str, Any] = store.read_json(uri)
        return doc

    return AliasBook(store, f"{tmp_path}/aliases/", "customer_churn", read_doc)


def test_moves_are_recorded_and_read_back(book: AliasBook) -> None:
    assert book.get("production") is None and book.all() == {} and book.history("production") == []
    book.move("production", _version(1), by="alice", why="first", expected=None)
    moved = book.move("production", _version(2), by="bob", why="better", expected=1)
    assert moved.version == 2 and moved.updated_by == "bob"
    assert book.move("production", _version(2), by="carol", why="again") == moved  # no-op, no history entry
    assert [(m["version"], m["previous"]) for m in book.history("production")] == [(1, None), (2, 1)]
    assert list(book.all()) == ["production"]
    assert json.loads(Path(book.uri("production")).read_text())["version_id"] == "v0002"


def test_preconditions_and_approved_only(book: AliasBook) -> None:
    book.move("staging", _version(1), by="alice", why="first")
    with pytest.raises(RegistryConflict, match="points at v0001, expected v0003"):
        book.move("staging", _version(2), by="bob", why="x", expected="v0003")
    with pytest.raises(RegistryConflict, match="expected nothing"):
        book.move("staging", _version(2), by="bob", why="x", expected=None)
    with pytest.raises(RegistryStateError, match="only point at an Approved version"):
        book.move("staging", _version(4, REJECTED), by="bob", why="x")
    forced = book.move("staging", _version(4, REJECTED), by="bob", why="incident", force=True)
    assert forced.history[-1]["forced"] is True and forced.history[-1]["status"] == REJECTED
    with pytest.raises(RegistryStateError, match="invalid alias name"):
        book.get("latest")
