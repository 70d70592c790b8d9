"""Exactly once per datapoint: the write-once marker protocol of ``metrics.publish``.

The markers live in a local directory (``ObjectStore`` writes local paths with the same create-only
semantics), CloudWatch is botocore's ``Stubber``: a call the protocol must not make fails the test.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.modelcare.metrics import cloudwatch as cw
from include.modelcare.metrics.publish import publish_once
from include.modelcare.storage.objects import ObjectStore

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)
FIRST = dt.datetime(2026, 3, 9, 6, 0, 12, tzinfo=dt.UTC)
LATER = FIRST + dt.timedelta(hours=3)


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Any]]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _measures() -> list[cw.Measure]:
    return cw.batch_measures(
        "churn",
        DAY,
        validation={"success": True, "rows": 1500},
        drift={"share_drifted": 0.25, "n_drifted": 1, "columns": {}},
        performance=None,
        top_features=5,
    )


def _marked(root: Path, measures: list[cw.Measure]) -> list[tuple[str, cw.Measure]]:
    return [(str(root / f"{m.marker_name}.r{m.revision}.json"), m) for m in measures]


def _request(measures: list[cw.Measure], at: dt.datetime) -> dict[str, Any]:
    (request,) = cw.put_requests("modelcare", [e for m in measures for e in cw.entries_of(m.data, at)])
    return request


def _state(path: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(path).read_text())
    return doc


def test_published_once_and_a_rerun_publishes_nothing(tmp_path: Path, stubbed: tuple[Any, Any]) -> None:
    client, stub = stubbed
    measures = _measures()
    marked = _marked(tmp_path, measures)
    stub.add_response("put_metric_data", {}, _request(measures, FIRST))  # one batched call, all four
    outcome = publish_once(client, ObjectStore(), "modelcare", marked, now=FIRST, by={"run_id": "r1"})
    assert outcome.published == ["ValidationPassed.r1", "Rows.r1", "DriftShare.r1", "DriftedFeatures.r1"]
    assert (outcome.calls, outcome.datapoints) == (1, 4)
    marker = _state(marked[0][0])
    assert marker["state"] == "published" and marker["timestamp"] == FIRST.isoformat()
    assert marker["by"] == {"run_id": "r1"} and marker["data"][0]["value"] == 1.0

    again = publish_once(client, ObjectStore(), "modelcare", marked, now=LATER)  # no stubbed call: none allowed
    assert again.already == outcome.published and (again.calls, again.published) == (0, [])


def test_a_claim_left_by_a_crash_is_published_again_with_its_own_timestamp(
    tmp_path: Path, stubbed: tuple[Any, Any]
) -> None:
    """The first run claims, the call fails (or its reply is lost), the task dies; the re-run sends the very
    same datapoints at the very same time, so CloudWatch at worst counts one datapoint twice (SampleCount 2,
    same Average/Minimum/Maximum), never a second value at another time."""
    client, stub = stubbed
    measures = _measures()
    marked = _marked(tmp_path, measures)
    stub.add_client_error("put_metric_data", "InternalServiceError", http_status_code=500)
    with pytest.raises(Exception, match="InternalServiceError"):
        publish_once(client, ObjectStore(), "modelcare", marked, now=FIRST)
    assert {_state(uri)["state"] for uri, _ in marked} == {"claimed"}

    # The re-run sees other figures (say the drift was recomputed): the claim's figures are what is sent.
    changed = cw.batch_measures(
        "churn", DAY, validation={"success": True, "rows": 1499}, drift=None, performance=None, top_features=5
    )
    stub.add_response("put_metric_data", {}, _request(measures[:2], FIRST))  # 1500 rows, as claimed
    outcome = publish_once(client, ObjectStore(), "modelcare", _marked(tmp_path, changed), now=LATER)
    assert outcome.republished == ["ValidationPassed.r1", "Rows.r1"] and outcome.published == []
    assert {_state(uri)["state"] for uri, _ in marked} == {"claimed", "published"}
    stub.add_response("put_metric_data", {}, _request(measures[2:], FIRST))
    publish_once(client, ObjectStore(), "modelcare", marked, now=LATER)
    assert {_state(uri)["state"] for uri, _ in marked} == {"published"}


def test_a_claim_older_than_two_weeks_expires_instead_of_being_refused(
    tmp_path: Path, stubbed: tuple[Any, Any]
) -> None:
    client, stub = stubbed
    measures = _measures()[:1]
    marked = _marked(tmp_path, measures)
    stub.add_client_error("put_metric_data", "InternalServiceError", http_status_code=500)
    with pytest.raises(Exception, match="InternalServiceError"):
        publish_once(client, ObjectStore(), "modelcare", marked, now=FIRST)
    outcome = publish_once(client, ObjectStore(), "modelcare", marked, now=FIRST + dt.timedelta(days=15))
    assert outcome.expired == ["ValidationPassed.r1"] and outcome.calls == 0
    assert _state(marked[0][0])["state"] == "expired"
    assert publish_once(client, ObjectStore(), "modelcare", marked, now=LATER).already == ["ValidationPassed.r1"]


def test_a_corrected_label_is_a_new_datapoint(tmp_path: Path, stubbed: tuple[Any, Any]) -> None:
    client, stub = stubbed

    def realised(value: float, revision: int) -> list[cw.Measure]:
        scored = [{"day": "2026-02-16", "value": value, "revision": revision}]
        return cw.performance_measures("churn", {"metric": "roc_auc", "scored": scored})

    first, corrected = realised(0.81, 1), realised(0.77, 2)
    stub.add_response("put_metric_data", {}, _request(first, FIRST))
    stub.add_response("put_metric_data", {}, _request(corrected, LATER))
    publish_once(client, ObjectStore(), "modelcare", _marked(tmp_path, first), now=FIRST)
    outcome = publish_once(client, ObjectStore(), "modelcare", _marked(tmp_path, corrected), now=LATER)
    assert outcome.published == ["RealisedPerformance.roc_auc.r2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "RealisedPerformance.roc_auc.r1.json",
        "RealisedPerformance.roc_auc.r2.json",
    ]


def test_many_markers_are_batched_and_each_marked_after_its_call(tmp_path: Path, stubbed: tuple[Any, Any]) -> None:
    """1,200 features' scores in one marker and a second marker: two calls; the markers are marked published
    only once the call holding their last datapoint returned."""
    client, stub = stubbed
    columns = {f"f{i:04d}": {"score": 0.2, "threshold": 0.1, "drifted": True} for i in range(1200)}
    measures = cw.drift_measures("churn", DAY, {"share_drifted": 1.0, "n_drifted": 1200, "columns": columns}, 1200)
    entries = [e for m in measures for e in cw.entries_of(m.data, FIRST)]
    first, _ = cw.put_requests("modelcare", entries)
    stub.add_response("put_metric_data", {}, first)
    stub.add_client_error("put_metric_data", "InternalServiceError", http_status_code=500)
    marked = _marked(tmp_path, measures)
    with pytest.raises(Exception, match="InternalServiceError"):
        publish_once(client, ObjectStore(), "modelcare", marked, now=FIRST)
    states = {Path(uri).name: _state(uri)["state"] for uri, _ in marked}
    assert states == {
        "DriftShare.r1.json": "published",
        "DriftedFeatures.r1.json": "published",
        "FeatureDriftScore.r1.json": "claimed",  # its last datapoints were in the failed call
    }
    for request in cw.put_requests("modelcare", entries[2:]):  # the 1,200 scores again: 1,000 + 200
        stub.add_response("put_metric_data", {}, request)
    assert publish_once(client, ObjectStore(), "modelcare", marked, now=LATER).republished == ["FeatureDriftScore.r1"]
