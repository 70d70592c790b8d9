"""The performance series (include.modelcare.performance.series): revisions, re-runs, the decay check."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.performance import series
from include.modelcare.storage.objects import ObjectStore

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 10, 26)


def _record(day: dt.date, value: float, fingerprint: str, version: int = 1, rows: int = 500) -> dict[str, Any]:
    return {"day": day.isoformat(), "value": value, "rows": rows, "version": version, "fingerprint": fingerprint}


def test_same_labels_write_nothing_corrected_labels_replace_with_a_revision(
    config: ModelConfig, s3_store: ObjectStore
) -> None:
    assert series.record_realised(config, s3_store, _record(DAY, 0.8, "a")).action == "new"
    uri = config.paths.realised(DAY)
    _, etag = s3_store.read_with_etag(uri)
    again = series.record_realised(config, s3_store, _record(DAY, 0.8, "a"))
    assert again.action == "unchanged" and s3_store.read_with_etag(uri)[1] == etag
    corrected = series.record_realised(config, s3_store, _record(DAY, 0.7, "b"))
    assert corrected.action == "replaced" and corrected.revision == 2 and corrected.previous_value == 0.8
    doc = s3_store.read_json(uri)
    assert doc["value"] == 0.7 and doc["revision"] == 2
    assert [p["value"] for p in doc["previous"]] == [0.8]


def test_read_records_skips_what_it_cannot_read(config: ModelConfig, s3_store: ObjectStore) -> None:
    series.record_realised(config, s3_store, _record(DAY, 0.8, "a"))
    series.record_realised(config, s3_store, _record(DAY - dt.timedelta(weeks=1), 0.9, "a"))
    s3_store.write_bytes(config.paths.realised(DAY - dt.timedelta(weeks=2)), b"{not json")
    s3_store.write_bytes(config.paths.performance() + "realised/notes.txt", b"x")
    records = series.read_records(config, s3_store, series.REALISED)
    assert [r["value"] for r in records] == [0.9, 0.8]
    assert series.latest(records) == records[-1]


def test_decay_check_reads_the_window_of_the_production_version(config: ModelConfig) -> None:
    records = [
        _record(DAY, 0.60, "a"),
        _record(DAY - dt.timedelta(weeks=1), 0.66, "a"),
        _record(DAY - dt.timedelta(weeks=2), 0.95, "a", version=2),  # another version: not counted
    ]
    check = series.decay_check(config, series.score_points(records), DAY, 1)
    assert check["status"] == "measured" and check["decayed"] is True
    assert check["value"] == pytest.approx(0.63) and check["rows"] == 1000
    assert check["reason"].startswith("production v1 roc_auc 0.6300 below floor 0.7 over 4 weeks")
    assert check["window"]["batches"] == [(DAY - dt.timedelta(weeks=1)).isoformat(), DAY.isoformat()]
    # labels four weeks late: the window ends at the newest labelled batch, not at the run's day
    later = series.decay_check(config, series.score_points(records), DAY + dt.timedelta(weeks=4), 1)
    assert later["status"] == "measured" and later["window"]["end"] == DAY.isoformat()
    assert later["value"] == pytest.approx(0.63)
    none_yet = series.decay_check(config, series.score_points(records), DAY, 3)
    assert none_yet["status"].startswith("no labelled batch of v3") and none_yet["decayed"] is False
    assert series.decay_check(config, [], DAY, None)["status"] == "no production model yet"


def test_an_estimate_is_stored_once_per_version(config: ModelConfig, s3_store: ObjectStore) -> None:
    record = {"day": DAY.isoformat(), "value": 0.7, "version": 1}
    assert series.record_estimate(config, s3_store, record) is True
    assert series.record_estimate(config, s3_store, {**record, "value": 0.1}) is False
    assert s3_store.read_json(config.paths.estimated(DAY))["value"] == 0.7
    assert series.record_estimate(config, s3_store, {**record, "version": 2}) is True
