"""Publish measures to CloudWatch exactly once per datapoint, through a write-once S3 marker each.

CloudWatch has no idempotency key for PutMetricData and adds up datapoints of the same timestamp, so a re-run
that published again would double every ``Sum``. The protocol, per marker (batch, metric, revision):

1. **claim**: create the marker (``create_exclusive``) holding ``{"state": "claimed", "timestamp": T, "data"}``,
   T the processing time;
2. **publish**: PutMetricData of exactly those datapoints at exactly T;
3. **mark**: replace the marker with ``"state": "published"``.

A re-run that finds ``published`` publishes nothing. One that finds ``claimed`` (a crash, or a reply lost
after CloudWatch applied the call) publishes the marker's datapoints again at the same T: at worst CloudWatch
holds one datapoint with ``SampleCount`` 2 and unchanged ``Average``/``Minimum``/``Maximum``, which is why
alarms on these metrics use those statistics, never ``Sum``. A claim older than two weeks is marked
``expired`` instead (CloudWatch would refuse it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.metrics.cloudwatch import Datum, Measure, entries_of, put_requests, stamp, too_old

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

CLAIMED: Final = "claimed"
PUBLISHED: Final = "published"
EXPIRED: Final = "expired"


def cloudwatch_client(aws_conn_id: str | None) -> Any:
    """A CloudWatch client from the amazon provider's base hook (the provider has no CloudWatch-metrics hook;
    ``AwsLogsHook`` is CloudWatch Logs)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=aws_conn_id, client_type="cloudwatch").conn


def batch_marker(config: ModelConfig, measure: Measure) -> str:
    """The marker of a batch's measure: ``metrics/dt=D/<metric>[.<qualifier>].r<revision>.json``."""
    assert measure.day is not None, f"{measure.metric} has no batch date"
    return config.paths.metric_marker(measure.day, measure.marker_name, measure.revision)


@dataclass
class Outcome:
    """What one publication did, by marker name (the task's XCom)."""

    published: list[str] = field(default_factory=list)
    republished: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    calls: int = 0
    datapoints: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "republished": self.republished,
            "already_published": self.already,
            "expired": self.expired,
            "calls": self.calls,
            "datapoints": self.datapoints,
        }


@dataclass(frozen=True)
class _Pending:
    """A claimed marker whose datapoints are to be sent (at the marker's timestamp, with the marker's values)."""

    uri: str
    doc: dict[str, Any]

    @property
    def timestamp(self) -> dt.datetime:
        return dt.datetime.fromisoformat(str(self.doc["timestamp"]))

    def entries(self) -> list[dict[str, Any]]:
        return entries_of([Datum.from_dict(d) for d in self.doc["data"]], self.timestamp)


def _encode(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def _claim(
    store: ObjectStore, uri: str, measure: Measure, *, now: dt.datetime, by: Mapping[str, Any], outcome: Outcome
) -> _Pending | None:
    """Claim the marker, or read what an earlier run left there; the datapoints to send now (None: nothing)."""
    name = uri.rsplit("/", 1)[-1].removesuffix(".json")
    doc = {
        "state": CLAIMED,
        "timestamp": now.isoformat(),
        "metric": measure.metric,
        "revision": measure.revision,
        "day": measure.day.isoformat() if measure.day else None,
        "data": [d.to_dict() for d in measure.data],
        "by": dict(by),
    }
    if store.create_exclusive(uri, _encode(doc), content_type="application/json"):
        outcome.published.append(name)
        return _Pending(uri, doc)
    earlier = store.read_json(uri)
    state = earlier.get("state") if isinstance(earlier, dict) else None
    if state == CLAIMED:
        pending = _Pending(uri, earlier)
        if too_old(pending.timestamp, now):
            log.warning("%s: claimed at %s, too old for CloudWatch now: marked expired", uri, earlier["timestamp"])
            store.write_bytes(uri, _encode({**earlier, "state": EXPIRED, "expired_at": now.isoformat()}))
            outcome.expired.append(name)
            return None
        log.info(
            "%s: claimed at %s but not marked published: publishing it again at that time", uri, earlier["timestamp"]
        )
        outcome.republished.append(name)
        return pending
    if state not in {PUBLISHED, EXPIRED}:
        log.warning("%s: unknown marker state %r: treated as published (never publish twice)", uri, state)
    outcome.already.append(name)
    return None


def publish_once(
    cloudwatch: Any,
    store: ObjectStore,
    namespace: str,
    marked: Sequence[tuple[str, Measure]],
    *,
    now: dt.datetime | None = None,
    by: Mapping[str, Any] | None = None,
) -> Outcome:
    """Publish each ``(marker uri, measure)`` unless its marker says it was; batched PutMetricData calls.

    Infrastructure errors (S3, CloudWatch) propagate: the task is retried, and the retry finds the claims.
    """
    when = stamp(now)
    outcome = Outcome()
    claims = [_claim(store, uri, m, now=when, by=by or {}, outcome=outcome) for uri, m in marked if m.data]
    pending = [p for p in claims if p is not None]
    entries: list[dict[str, Any]] = []
    last: list[int] = []  # index of each pending marker's last entry
    for p in pending:
        entries.extend(p.entries())
        last.append(len(entries) - 1)
    sent = 0
    done = 0
    for request in put_requests(namespace, entries):
        cloudwatch.put_metric_data(**request)
        outcome.calls += 1
        sent += len(request["MetricData"])
        while done < len(pending) and last[done] < sent:
            p = pending[done]
            marked_doc = {**p.doc, "state": PUBLISHED, "published_at": stamp().isoformat(), "namespace": namespace}
            store.write_bytes(p.uri, _encode(marked_doc), content_type="application/json")
            done += 1
    outcome.datapoints = sent
    log.info(
        "CloudWatch %s: %d datapoint(s) in %d call(s); new %s, again %s, already %s, expired %s",
        namespace,
        sent,
        outcome.calls,
        outcome.published or "-",
        outcome.republished or "-",
        outcome.already or "-",
        outcome.expired or "-",
    )
    return outcome
