"""A model's performance series: one record per batch, realised (labels scored) or estimated (CBPE).

Layout (``config.paths``): ``performance/realised/dt=D.json`` is the production model's metric on the labels
of batch D, scored with the version that served D; ``performance/estimated/dt=D.json`` the estimate of the
same metric made when batch D was monitored (before its labels); ``performance/served/dt=D.json`` which
version served D (written once, when D is monitored).

A realised record carries a ``fingerprint`` of the label files it scored (their URIs and ETags) and a
``revision``: labels that land again, corrected, are scored again; the new record replaces the old one with
``revision + 1`` and keeps the earlier values under ``previous`` (what the log, the CLI and the page say).
Scoring the same labels again (a re-run) writes nothing.

The decay decision (``decay_check``) reads the rolling window of the series (``policy.rolling_window``), not
one batch; it is a pure function over records so that the policy suite replays it exactly.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from include.modelcare.errors import DataError
from include.modelcare.policy import ScorePoint, lower_is_better, rolling_window, window_decay

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

Kind = Literal["realised", "estimated"]
REALISED: Kind = "realised"
ESTIMATED: Kind = "estimated"


def monitored_metric(config: ModelConfig) -> str:
    """The metric the performance series follows (``performance.metric``, else the gate's primary metric)."""
    return config.performance.metric or config.primary_metric


def _day_of(uri: str) -> dt.date | None:
    name = uri.rsplit("/", 1)[-1]
    if not (name.startswith("dt=") and name.endswith(".json")):
        return None
    try:
        return dt.date.fromisoformat(name[3:-5])
    except ValueError:
        return None


def read_records(config: ModelConfig, store: ObjectStore, kind: Kind) -> list[dict[str, Any]]:
    """Every record of one kind, oldest batch first. An unreadable record is skipped with a warning (the
    series shows what it can; the next scoring of that batch rewrites it)."""
    prefix = f"{config.paths.performance()}{kind}/"
    records = []
    for uri in store.list(prefix):
        day = _day_of(uri)
        if day is None:
            continue
        try:
            doc = store.read_json(uri)
        except (ValueError, DataError) as exc:
            log.warning("skipping unreadable performance record %s: %s", uri, exc)
            continue
        if isinstance(doc, dict) and doc.get("day") == day.isoformat():
            records.append(doc)
    return sorted(records, key=lambda r: str(r["day"]))


def score_points(records: Iterable[Mapping[str, Any]]) -> list[ScorePoint]:
    """The series as the decisions read it (records without a number are left out)."""
    points = []
    for r in records:
        value = r.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            version = r.get("version")
            points.append(
                ScorePoint(
                    day=dt.date.fromisoformat(str(r["day"])),
                    value=float(value),
                    rows=int(r.get("rows") or 0),
                    version=None if version is None else int(version),
                )
            )
    return points


def decay_check(config: ModelConfig, points: Sequence[ScorePoint], day: dt.date, version: int | None) -> dict[str, Any]:
    """The decay check of the production ``version`` at ``day`` over the rolling window of realised batches:
    the ``window_weeks`` weeks up to the newest batch of that version whose labels have landed.

    The record ``check_performance`` returns and ``incidents.policy.batch_verdict`` reads: ``status``
    ``"measured"`` when the window holds a labelled batch of that version, with ``value`` (the window's),
    ``decayed``, ``reason`` naming the weeks, and ``window``.
    """
    metric = monitored_metric(config)
    weeks = config.performance.window_weeks
    out: dict[str, Any] = {"metric": metric, "floor": config.performance.floor, "decayed": False, "version": version}
    if version is None:
        return {**out, "status": "no production model yet"}
    # The window ends at the newest labelled batch of this version, not at today: with labels 4 weeks late a
    # window ending today holds no labelled batch at all, and decay could never be measured.
    labelled = [p.day for p in points if p.version == version and p.day <= day and p.rows > 0]
    end = max(labelled, default=day)
    window = rolling_window(points, end, weeks, version=version)
    if window is None:
        return {**out, "status": f"no labelled batch of v{version} up to {day.isoformat()} yet"}
    verdict = window_decay(metric, window, config.performance.floor, lower_better=lower_is_better(metric))
    return {
        **out,
        "status": "measured",
        "value": window.value,
        "rows": window.rows,
        "window": window.to_dict(),
        "decayed": verdict.decayed,
        "reason": f"production v{version} {verdict.reason}",
    }


@dataclass(frozen=True)
class Written:
    """What ``record_realised`` did: ``"new"``, ``"replaced"`` (corrected labels) or ``"unchanged"``."""

    action: Literal["new", "replaced", "unchanged"]
    revision: int
    previous_value: float | None = None


def record_realised(config: ModelConfig, store: ObjectStore, record: dict[str, Any]) -> Written:
    """Store the realised score of a batch (``record["day"]``, its label ``fingerprint``).

    Same fingerprint as the stored record: nothing is written (a re-run). Another fingerprint (labels landed
    again, corrected): the record is replaced with the next revision and the old value kept under
    ``previous``. A plain PUT: one monitoring run of a model at a time writes it, and writing the same
    document twice (a lost reply, retried) is harmless.
    """
    day = dt.date.fromisoformat(str(record["day"]))
    uri = config.paths.realised(day)
    current = _read_optional(store, uri)
    if current is not None and current.get("fingerprint") == record["fingerprint"]:
        return Written("unchanged", int(current.get("revision") or 1), current.get("value"))
    if current is None:
        store.write_json(uri, {**record, "revision": 1, "previous": []})
        return Written("new", 1)
    revision = int(current.get("revision") or 1) + 1
    earlier = [*current.get("previous", []), _summary(current)]
    store.write_json(uri, {**record, "revision": revision, "previous": earlier})
    return Written("replaced", revision, current.get("value"))


def _summary(record: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("revision", "value", "rows", "version", "fingerprint", "scored_at")
    return {k: record.get(k) for k in keys}


def record_estimate(config: ModelConfig, store: ObjectStore, record: dict[str, Any]) -> bool:
    """Store the estimate of a batch; False (nothing written) when the same version's estimate is there."""
    uri = config.paths.estimated(dt.date.fromisoformat(str(record["day"])))
    current = _read_optional(store, uri)
    if current is not None and current.get("version") == record.get("version"):
        return False
    store.write_json(uri, record)
    return True


def _read_optional(store: ObjectStore, uri: str) -> dict[str, Any] | None:
    if not store.exists(uri):
        return None
    try:
        doc = store.read_json(uri)
    except ValueError:
        log.warning("%s is not JSON: it will be rewritten", uri)
        return None
    return doc if isinstance(doc, dict) else None


def latest(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recent batch's record with a number, or None."""
    for r in reversed(records):
        if isinstance(r.get("value"), int | float):
            return r
    return None
