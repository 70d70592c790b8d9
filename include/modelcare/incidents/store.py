"""Incidents in S3: one JSON document per incident, every change a compare-and-swap.

Why compare-and-swap: monitoring (open, update, close) and people (acknowledge, snooze, from the CLI or
the incidents DAG) change the same document. Each change reads the document with its ETag and writes it
back with ``replace_if_match`` (a new incident with ``create_exclusive``); a lost race re-reads and
re-decides. Both writes recognise their own write when S3 applied it but the reply was lost (write token,
``storage.objects``), and a batch date already on the timeline is replayed, not decided again: a re-run of
the same date adds no second entry, alert or request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from include.modelcare.errors import DataNotFound, ModelcareError
from include.modelcare.incidents.policy import (
    NONE,
    BatchVerdict,
    Facts,
    Incident,
    IncidentDecision,
    apply_decision,
    current_incident,
    decide_incident,
    recorded_decision,
)

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

ATTEMPTS = 8


class IncidentNotFound(ModelcareError):
    """No incident with that id (or no open incident) for the model."""


class IncidentConflict(RuntimeError):
    """Compare-and-swap lost ``ATTEMPTS`` times in a row: not a domain error, so Airflow retries the task."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _encode(incident: Incident) -> bytes:
    return json.dumps(incident.to_dict(), indent=2, sort_keys=True, default=str).encode()


def load_incidents(config: ModelConfig, store: ObjectStore) -> list[Incident]:
    """Every incident of the model, oldest first."""
    found = []
    for uri in store.list(config.paths.incidents()):
        if uri.endswith(".json"):
            try:
                found.append(Incident.from_dict(store.read_json(uri)))
            except DataNotFound:  # deleted between list and read
                continue
    return sorted(found, key=lambda i: (i.opened, i.id))


def load_incident(config: ModelConfig, store: ObjectStore, ref: str | None = None) -> Incident:
    """One incident by id; ``None``/``"open"``/``""``: the open one (``IncidentNotFound`` otherwise)."""
    incidents = load_incidents(config, store)
    if not ref or ref == "open":
        opened = [i for i in incidents if i.is_open]
        if not opened:
            raise IncidentNotFound(f"{config.name}: no open incident")
        return opened[-1]
    for incident in incidents:
        if incident.id == ref:
            return incident
    known = ", ".join(i.id for i in incidents) or "none"
    raise IncidentNotFound(f"{config.name}: no incident {ref!r} (incidents: {known})")


def record_batch(
    config: ModelConfig, store: ObjectStore, verdict: BatchVerdict, facts: Facts
) -> tuple[Incident | None, IncidentDecision]:
    """Decide the batch of ``facts.day`` against the model's incident and save the result; returns both.

    A batch date already recorded returns its recorded decision unchanged. A ``none`` decision writes nothing.
    """
    for _ in range(ATTEMPTS):
        incidents = load_incidents(config, store)
        current = current_incident(incidents, facts.day)
        replay = recorded_decision(current, facts.day)
        if replay is not None:
            log.info("%s %s: already recorded in %s: %s", config.name, facts.day, replay.incident, replay.reason)
            return current, replay
        decision = decide_incident(current, verdict, facts)
        if decision.action == NONE:
            return current, decision
        updated = apply_decision(current, decision, verdict, facts, model=config.name, at=_now())
        if _save(config, store, current if current is not None and current.id == updated.id else None, updated):
            return updated, decision
        log.info("%s %s: incident changed while deciding: re-reading", config.name, facts.day)
    raise IncidentConflict(f"{config.name} {facts.day}: incident kept changing ({ATTEMPTS} attempts)")


def change_incident(
    config: ModelConfig, store: ObjectStore, ref: str | None, change: Callable[[Incident], Incident]
) -> Incident:
    """Apply a person's change (acknowledge, snooze) to one incident by compare-and-swap; returns it changed."""
    for _ in range(ATTEMPTS):
        incident = load_incident(config, store, ref)
        uri = config.paths.incident(incident.id)
        raw, etag = store.read_with_etag(uri)
        current = Incident.from_dict(json.loads(raw))
        updated = change(current)
        if store.replace_if_match(uri, _encode(updated), etag, content_type="application/json"):
            return updated
    raise IncidentConflict(f"{config.name}: incident {ref} kept changing ({ATTEMPTS} attempts)")


def _save(config: ModelConfig, store: ObjectStore, before: Incident | None, after: Incident) -> bool:
    """Create ``after`` (no ``before``) or replace ``before`` if unchanged since it was read."""
    uri = config.paths.incident(after.id)
    if before is None:
        return store.create_exclusive(uri, _encode(after), content_type="application/json")
    raw, etag = store.read_with_etag(uri)
    if Incident.from_dict(json.loads(raw)) != before:
        return False
    return store.replace_if_match(uri, _encode(after), etag, content_type="application/json")


def batch_decision(config: ModelConfig, store: ObjectStore, day: dt.date) -> IncidentDecision | None:
    """The incident decision recorded for the batch of ``day`` (None: the batch touched no incident)."""
    return recorded_decision(current_incident(load_incidents(config, store), day), day)
