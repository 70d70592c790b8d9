"""The CloudWatch datapoints of a monitoring run and of a deployment, and the PutMetricData requests that carry
them. Pure: figures in, request parameters out; publishing them once is ``metrics.publish``.

Namespace ``metrics.namespace`` (default ``modelcare``), dimension ``Model=<name>`` on every datapoint:

=====================  =======  ================  ===================================================
metric                 unit     extra dimension   value
=====================  =======  ================  ===================================================
DriftShare             None                       share of drifted features (0..1)
DriftedFeatures        Count                      number of drifted features
FeatureDriftScore      None     Feature=<name>    effect of the ``drift.top_features`` most drifted
Rows                   Count                      rows of the batch
ValidationPassed       None                       1 passed, 0 failed
RealisedPerformance    None     Metric=<metric>   the monitored metric on a batch's labels
EstimatedPerformance   None     Metric=<metric>   its estimate before labels (only with a number)
ServingVersion         None                       the version a deployment put in production
=====================  =======  ================  ===================================================

Why the timestamps are the processing time, not the batch date: CloudWatch refuses datapoints older than two
weeks, and a late label scores a batch weeks old. Why ``None`` rather than ``Percent`` for shares and scores:
``Percent`` means 0..100 in CloudWatch's consoles, and these are fractions and effect sizes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

DRIFT_SHARE: Final = "DriftShare"
DRIFTED_FEATURES: Final = "DriftedFeatures"
FEATURE_DRIFT_SCORE: Final = "FeatureDriftScore"
ROWS: Final = "Rows"
VALIDATION_PASSED: Final = "ValidationPassed"
REALISED: Final = "RealisedPerformance"
ESTIMATED: Final = "EstimatedPerformance"
SERVING_VERSION: Final = "ServingVersion"

MAX_DATUMS: Final = 1000
"""PutMetricData takes at most 1,000 datapoints a call."""
MAX_PAYLOAD_BYTES: Final = 900_000
"""Budget per call, under PutMetricData's 1 MB request limit (estimated from the JSON form of each datum)."""
MAX_AGE: Final = dt.timedelta(days=14) - dt.timedelta(hours=1)
"""CloudWatch refuses datapoints older than two weeks (an hour of margin for the time the call takes)."""


@dataclass(frozen=True)
class Datum:
    """One datapoint without its timestamp (the publisher stamps it once, at claim time)."""

    name: str
    value: float
    unit: str
    dimensions: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "dimensions": [list(d) for d in self.dimensions],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Datum:
        dims = tuple((str(k), str(v)) for k, v in raw["dimensions"])
        return cls(str(raw["name"]), float(raw["value"]), str(raw["unit"]), dims)

    def entry(self, timestamp: dt.datetime) -> dict[str, Any]:
        """The ``MetricData`` entry of this datapoint at ``timestamp``."""
        return {
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Timestamp": timestamp,
            "Value": self.value,
            "Unit": self.unit,
        }


@dataclass(frozen=True)
class Measure:
    """The datapoints one write-once marker covers: one metric of one batch (``day``) or deployment, at one
    ``revision`` (1, or the realised record's revision: a corrected label is a new datapoint)."""

    metric: str
    revision: int
    data: tuple[Datum, ...]
    day: dt.date | None = None
    qualifier: str | None = None
    """Part of the marker's name besides the metric (the performance metric, e.g. ``roc_auc``)."""

    @property
    def marker_name(self) -> str:
        return f"{self.metric}.{self.qualifier}" if self.qualifier else self.metric


def stamp(now: dt.datetime | None = None) -> dt.datetime:
    """Processing time in UTC, to the second (what a marker stores and a re-publication repeats exactly)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)


def _number(value: Any) -> float | None:
    """A finite float, or None (CloudWatch refuses NaN and infinities; booleans are not figures here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _measure(model: str, metric: str, value: Any, unit: str, day: dt.date) -> list[Measure]:
    number = _number(value)
    if number is None:
        return []
    datum = Datum(metric, number, unit, (("Model", model),))
    return [Measure(metric, 1, (datum,), day)]


# -- per batch ---------------------------------------------------------------------------------------------
def validation_measures(model: str, day: dt.date, validation: Mapping[str, Any] | None) -> list[Measure]:
    """``ValidationPassed`` and ``Rows`` from validate_batch's summary or the quarantine's ``_REASON.json``."""
    if not validation or "success" not in validation:
        return []
    passed = 1.0 if validation["success"] else 0.0
    return [
        *_measure(model, VALIDATION_PASSED, passed, "None", day),
        *_measure(model, ROWS, validation.get("rows"), "Count", day),
    ]


def top_feature_scores(summary: Mapping[str, Any], n: int) -> list[tuple[str, float]]:
    """The ``n`` most drifted features of a drift summary and their scores, in the order of
    ``DriftResult.top_features`` (drifted first, then by effect against the floor)."""
    from include.modelcare.quality.drift import ColumnDrift, DriftResult

    columns = {
        name: ColumnDrift(
            name=name,
            kind="numerical",  # not used by the ranking
            method=str(c.get("method", "")),
            score=float(c["score"]),
            threshold=float(c["threshold"]),
            drifted=bool(c["drifted"]),
            critical=False,
        )
        for name, c in (summary.get("columns") or {}).items()
    }
    ranking = DriftResult(False, 0.0, 0, 0, columns, [], "", 0, 0)  # only ``columns`` matters to the ranking
    return [(c.name, c.score) for c in ranking.top_features(n)]


def drift_measures(model: str, day: dt.date, summary: Mapping[str, Any] | None, top: int) -> list[Measure]:
    """``DriftShare``, ``DriftedFeatures`` and ``FeatureDriftScore`` (one datum per top feature) of a drift
    summary (``reports/dt=D/drift.json``, which keeps every column's score)."""
    if not summary:
        return []
    from include.modelcare.quality.drift import share_drifted_of

    measures = [
        *_measure(model, DRIFT_SHARE, share_drifted_of(summary), "None", day),
        *_measure(model, DRIFTED_FEATURES, summary.get("n_drifted"), "Count", day),
    ]
    scores = tuple(
        Datum(FEATURE_DRIFT_SCORE, number, "None", (("Model", model), ("Feature", name)))
        for name, score in top_feature_scores(summary, top)
        if (number := _number(score)) is not None
    )
    if scores:
        measures.append(Measure(FEATURE_DRIFT_SCORE, 1, scores, day))
    return measures


def performance_measures(model: str, performance: Mapping[str, Any] | None) -> list[Measure]:
    """``RealisedPerformance`` of every batch check_performance scored (revision = the record's) and
    ``EstimatedPerformance`` of this batch, each only with a number; dimension ``Metric``."""
    if not performance:
        return []
    measures: list[Measure] = []
    metric = str(performance.get("metric") or "")
    for scored in performance.get("scored") or []:
        value = _number(scored.get("value"))
        if value is None or not metric:
            continue
        datum = Datum(REALISED, value, "None", (("Model", model), ("Metric", metric)))
        day = dt.date.fromisoformat(str(scored["day"]))
        measures.append(Measure(REALISED, int(scored.get("revision") or 1), (datum,), day, metric))
    estimate = performance.get("estimate") or {}
    value = _number(estimate.get("value"))
    if value is not None and estimate.get("metric") and estimate.get("day"):
        name = str(estimate["metric"])
        datum = Datum(ESTIMATED, value, "None", (("Model", model), ("Metric", name)))
        measures.append(Measure(ESTIMATED, 1, (datum,), dt.date.fromisoformat(str(estimate["day"])), name))
    return measures


def batch_measures(
    model: str,
    day: dt.date,
    *,
    validation: Mapping[str, Any] | None,
    drift: Mapping[str, Any] | None,
    performance: Mapping[str, Any] | None,
    top_features: int,
) -> list[Measure]:
    """Everything a monitoring run of batch ``day`` publishes (what it has: a failed validation has no drift)."""
    return [
        *validation_measures(model, day, validation),
        *drift_measures(model, day, drift, top_features),
        *performance_measures(model, performance),
    ]


# -- per deployment ----------------------------------------------------------------------------------------
def serving_measure(model: str, version: int) -> Measure:
    """``ServingVersion``: the version a finished deployment put in production."""
    return Measure(SERVING_VERSION, 1, (Datum(SERVING_VERSION, float(version), "None", (("Model", model),)),))


# -- the requests --------------------------------------------------------------------------------------------
def _size(entry: Mapping[str, Any]) -> int:
    return len(json.dumps(entry, default=str)) + 16


def put_requests(namespace: str, entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """PutMetricData parameters for ``entries`` in order: at most ``MAX_DATUMS`` a call, under the payload budget."""
    requests: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        cost = _size(entry)
        if batch and (len(batch) >= MAX_DATUMS or size + cost > MAX_PAYLOAD_BYTES):
            requests.append({"Namespace": namespace, "MetricData": batch})
            batch, size = [], 0
        batch.append(dict(entry))
        size += cost
    if batch:
        requests.append({"Namespace": namespace, "MetricData": batch})
    return requests


def too_old(timestamp: dt.datetime, now: dt.datetime) -> bool:
    """Whether CloudWatch would refuse a datapoint of ``timestamp`` published at ``now``."""
    return now - timestamp > MAX_AGE


def entries_of(data: Sequence[Datum], timestamp: dt.datetime) -> list[dict[str, Any]]:
    return [d.entry(timestamp) for d in data]
