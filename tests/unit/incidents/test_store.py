"""Incidents in a store by compare-and-swap: replay per batch date, lost replies, races with people."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import replace

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataNotFound
from include.modelcare.incidents.policy import OPEN, UPDATE, BatchVerdict, Facts
from include.modelcare.incidents.store import (
    IncidentNotFound,
    change_incident,
    load_incident,
    load_incidents,
    record_batch,
)
from include.modelcare.tasks.incidents import apply_action
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)
WEEK = dt.timedelta(weeks=1)
DRIFT = BatchVerdict(drifted=True, n_drifted=3, n_features=10, drift_reason="drift: 3/10 features drifted")


class CasStore:
    """In-memory objects with S3's conditional writes; ``before_write`` runs just before each conditional write."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.before_write: Callable[[str], None] | None = None
        self.lose_reply = False  # apply the write, then answer False (a store without write tokens)
        self.writes = 0

    def list(self, prefix: str) -> list[str]:
        return sorted(u for u in self.objects if u.startswith(prefix))

    def read_bytes(self, uri: str) -> bytes:
        if uri not in self.objects:
            raise DataNotFound(uri)
        return self.objects[uri]

    def read_json(self, uri: str) -> object:
        import json

        return json.loads(self.read_bytes(uri))

    def read_with_etag(self, uri: str) -> tuple[bytes, str]:
        data = self.read_bytes(uri)
        return data, hashlib.md5(data).hexdigest()

    def _write(self, uri: str, data: bytes, allowed: bool) -> bool:
        if not allowed:
            return False
        self.objects[uri] = data
        self.writes += 1
        if self.lose_reply:
            self.lose_reply = False
            return False
        return True

    def create_exclusive(self, uri: str, data: bytes, *, content_type: str | None = None) -> bool:
        if self.before_write:
            self.before_write(uri)
        return self._write(uri, data, uri not in self.objects)

    def replace_if_match(self, uri: str, data: bytes, etag: str, *, content_type: str | None = None) -> bool:
        if self.before_write:
            self.before_write(uri)
        current = self.objects.get(uri)
        return self._write(uri, data, current is not None and hashlib.md5(current).hexdigest() == etag)


@pytest.fixture
def config() -> ModelConfig:
    return make_config()


def facts(day: dt.date, production: int | None = 1, requests: tuple[dt.date, ...] = ()) -> Facts:
    return Facts(day=day, production=production, requests=requests)


def test_open_then_update_then_replay(config: ModelConfig) -> None:
    store = CasStore()
    incident, decision = record_batch(config, store, DRIFT, facts(DAY))  # type: ignore[arg-type]
    assert decision.action == OPEN and incident is not None
    assert list(store.objects) == [config.paths.incident("inc-2026-03-09")]
    incident, decision = record_batch(config, store, DRIFT, facts(DAY + WEEK, requests=(DAY,)))  # type: ignore[arg-type]
    assert decision.action == UPDATE
    writes = store.writes
    # A re-run of either date replays its decision and writes nothing.
    _, again = record_batch(config, store, replace(DRIFT, n_drifted=9), facts(DAY + WEEK))  # type: ignore[arg-type]
    assert again == decision and store.writes == writes
    _, first = record_batch(config, store, DRIFT, facts(DAY))  # type: ignore[arg-type]
    assert first.action == OPEN and first.request and store.writes == writes
    (stored,) = load_incidents(config, store)  # type: ignore[arg-type]
    assert [e["day"] for e in stored.timeline] == ["2026-03-09", "2026-03-16"]


@pytest.mark.parametrize("at", ["open", "update"])
def test_applied_but_reply_lost_adds_no_second_entry(config: ModelConfig, at: str) -> None:
    store = CasStore()
    if at == "update":
        record_batch(config, store, DRIFT, facts(DAY))  # type: ignore[arg-type]
    day = DAY if at == "open" else DAY + WEEK
    store.lose_reply = True
    _, decision = record_batch(config, store, DRIFT, facts(day, requests=() if at == "open" else (DAY,)))  # type: ignore[arg-type]
    assert decision.action == (OPEN if at == "open" else UPDATE)
    (stored,) = load_incidents(config, store)  # type: ignore[arg-type]
    assert [e["day"] for e in stored.timeline].count(day.isoformat()) == 1


def test_a_person_acknowledging_meanwhile_is_kept(config: ModelConfig) -> None:
    store = CasStore()
    record_batch(config, store, DRIFT, facts(DAY))  # type: ignore[arg-type]
    raced: list[str] = []

    def ack_first(uri: str) -> None:
        if not raced:
            raced.append(uri)
            store.before_write = None
            apply_action(config, store, action="acknowledge", incident=None, by="ana")  # type: ignore[arg-type]
            store.before_write = ack_first

    store.before_write = ack_first
    _, decision = record_batch(config, store, DRIFT, facts(DAY + WEEK, requests=(DAY,)))  # type: ignore[arg-type]
    assert raced and decision.action == UPDATE and "(acknowledged)" in decision.reason
    stored = load_incident(config, store)  # type: ignore[arg-type]
    assert stored.acknowledged is not None and stored.acknowledged["by"] == "ana"
    assert len([e for e in stored.timeline if "decision" in e]) == 2


def test_snooze_and_missing_incidents(config: ModelConfig) -> None:
    store = CasStore()
    with pytest.raises(IncidentNotFound, match="no open incident"):
        apply_action(config, store, action="acknowledge", incident=None, by="ana")  # type: ignore[arg-type]
    record_batch(config, store, DRIFT, facts(DAY))  # type: ignore[arg-type]
    until = DAY + 2 * WEEK
    changed = apply_action(config, store, action="snooze", incident="inc-2026-03-09", by="bo", until=until)  # type: ignore[arg-type]
    assert changed.snoozed_until == "2026-03-23"
    with pytest.raises(IncidentNotFound, match="no incident 'inc-1999-01-01'"):
        change_incident(config, store, "inc-1999-01-01", lambda i: i)  # type: ignore[arg-type]
