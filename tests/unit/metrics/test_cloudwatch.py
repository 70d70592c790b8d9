"""The CloudWatch datapoints of a monitoring run and a deployment, and the PutMetricData requests.

The builders are pure; botocore's ``Stubber`` checks the requests against CloudWatch's real API model (units,
dimension shape, at most 1,000 datapoints a call), which the emulator does not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from include.modelcare.metrics import cloudwatch as cw

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)
NOW = dt.datetime(2026, 4, 1, 6, 30, 5, tzinfo=dt.UTC)

DRIFT_SUMMARY: dict[str, Any] = {
    "share_drifted": 0.4,
    "n_drifted": 2,
    "columns": {
        "tenure": {"score": 0.05, "threshold": 0.1, "drifted": False, "method": "ks_wasserstein"},
        "monthly_charges": {"score": 0.35, "threshold": 0.1, "drifted": True, "method": "ks_wasserstein"},
        "contract": {"score": 0.12, "threshold": 0.1, "drifted": True, "method": "chi2_jensenshannon"},
        "support_calls": {"score": 0.09, "threshold": 0.1, "drifted": False, "method": "ks_wasserstein"},
        "broken": {"score": float("nan"), "threshold": 0.1, "drifted": False, "method": "ks_wasserstein"},
    },
}
PERFORMANCE: dict[str, Any] = {
    "status": "measured",
    "metric": "roc_auc",
    "scored": [
        {"day": "2026-02-16", "value": 0.81, "rows": 900, "action": "new", "revision": 1},
        {"day": "2026-02-23", "value": 0.78, "rows": 950, "action": "replaced", "revision": 2},
    ],
    "estimate": {"day": "2026-03-09", "metric": "roc_auc", "value": 0.74, "method": "cbpe", "rows": 1500},
}


def _client() -> Any:
    import boto3

    return boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Any]]:
    from botocore.stub import Stubber

    client = _client()
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _dims(**extra: str) -> list[dict[str, str]]:
    return [{"Name": "Model", "Value": "churn"}, *({"Name": k, "Value": v} for k, v in extra.items())]


def test_a_monitored_batch_gives_every_figure_with_its_unit_and_dimensions() -> None:
    measures = cw.batch_measures(
        "churn",
        DAY,
        validation={"success": True, "rows": 1500},
        drift=DRIFT_SUMMARY,
        performance=PERFORMANCE,
        top_features=3,
    )
    by_marker = {(m.marker_name, m.day, m.revision): m for m in measures}
    assert list(by_marker) == [
        ("ValidationPassed", DAY, 1),
        ("Rows", DAY, 1),
        ("DriftShare", DAY, 1),
        ("DriftedFeatures", DAY, 1),
        ("FeatureDriftScore", DAY, 1),
        ("RealisedPerformance.roc_auc", dt.date(2026, 2, 16), 1),
        ("RealisedPerformance.roc_auc", dt.date(2026, 2, 23), 2),  # a corrected label: a new datapoint
        ("EstimatedPerformance.roc_auc", DAY, 1),
    ]
    entries = [e for m in measures for e in cw.entries_of(m.data, NOW)]
    assert entries[:4] == [
        {"MetricName": "ValidationPassed", "Dimensions": _dims(), "Timestamp": NOW, "Value": 1.0, "Unit": "None"},
        {"MetricName": "Rows", "Dimensions": _dims(), "Timestamp": NOW, "Value": 1500.0, "Unit": "Count"},
        {"MetricName": "DriftShare", "Dimensions": _dims(), "Timestamp": NOW, "Value": 0.4, "Unit": "None"},
        {"MetricName": "DriftedFeatures", "Dimensions": _dims(), "Timestamp": NOW, "Value": 2.0, "Unit": "Count"},
    ]
    # The top 3 in the order of DriftResult.top_features: drifted first, then by effect against the floor.
    scores = [(e["Dimensions"][1]["Value"], e["Value"]) for e in entries if e["MetricName"] == "FeatureDriftScore"]
    assert scores == [("monthly_charges", 0.35), ("contract", 0.12), ("support_calls", 0.09)]
    perf = [(e["MetricName"], e["Dimensions"], e["Value"]) for e in entries if "Performance" in e["MetricName"]]
    assert perf == [
        ("RealisedPerformance", _dims(Metric="roc_auc"), 0.81),
        ("RealisedPerformance", _dims(Metric="roc_auc"), 0.78),
        ("EstimatedPerformance", _dims(Metric="roc_auc"), 0.74),
    ]


def test_a_failed_validation_publishes_zero_and_what_it_has() -> None:
    reason = {"success": False, "rows": 0, "headline": "unreadable batch", "quarantine": "s3://b/q/"}
    measures = cw.batch_measures("churn", DAY, validation=reason, drift=None, performance=None, top_features=5)
    assert [(m.metric, m.data[0].value) for m in measures] == [("ValidationPassed", 0.0), ("Rows", 0.0)]


def test_no_number_no_datapoint() -> None:
    """An estimate without a value (no calibrator, regression), NaN scores, no XCom: nothing invented."""
    performance = {
        "metric": "rmse",
        "scored": [{"day": "2026-02-16", "value": None, "revision": 1}],
        "estimate": {"day": "2026-03-09", "metric": "rmse", "value": None, "method": "none", "note": "regression"},
    }
    assert cw.performance_measures("churn", performance) == []
    assert cw.performance_measures("churn", None) == []
    assert cw.drift_measures("churn", DAY, None, 5) == []
    assert cw.validation_measures("churn", DAY, None) == []
    only_nan = {"share_drifted": float("nan"), "n_drifted": 0, "columns": {"x": DRIFT_SUMMARY["columns"]["broken"]}}
    assert [m.metric for m in cw.drift_measures("churn", DAY, only_nan, 5)] == ["DriftedFeatures"]


def test_serving_version_of_a_deployment() -> None:
    measure = cw.serving_measure("churn", 7)
    assert (measure.metric, measure.day, measure.revision) == ("ServingVersion", None, 1)
    assert cw.entries_of(measure.data, NOW) == [
        {"MetricName": "ServingVersion", "Dimensions": _dims(), "Timestamp": NOW, "Value": 7.0, "Unit": "None"}
    ]


def test_requests_pass_botocores_model(stubbed: tuple[Any, Any]) -> None:
    client, stub = stubbed
    measures = cw.batch_measures(
        "churn",
        DAY,
        validation={"success": True, "rows": 1500},
        drift=DRIFT_SUMMARY,
        performance=PERFORMANCE,
        top_features=5,
    )
    entries = [e for m in [*measures, cw.serving_measure("churn", 3)] for e in cw.entries_of(m.data, NOW)]
    (request,) = cw.put_requests("modelcare", entries)
    stub.add_response("put_metric_data", {}, request)
    client.put_metric_data(**request)


def test_requests_hold_at_most_1000_datapoints_and_stay_under_the_payload_budget(stubbed: tuple[Any, Any]) -> None:
    client, stub = stubbed
    datum = cw.Datum("FeatureDriftScore", 0.5, "None", (("Model", "churn"), ("Feature", "f")))
    requests = cw.put_requests("modelcare", [datum.entry(NOW)] * 2500)
    assert [len(r["MetricData"]) for r in requests] == [1000, 1000, 500]
    for request in requests:
        stub.add_response("put_metric_data", {}, request)
        client.put_metric_data(**request)
    wide = cw.Datum("FeatureDriftScore", 0.5, "None", (("Model", "churn"), ("Feature", "f" * 1000)))
    big = cw.put_requests("modelcare", [wide.entry(NOW)] * 1000)
    assert len(big) > 1 and all(sum(cw._size(e) for e in r["MetricData"]) <= cw.MAX_PAYLOAD_BYTES for r in big)
    assert sum(len(r["MetricData"]) for r in big) == 1000


def test_timestamps_are_processing_time_to_the_second() -> None:
    assert cw.stamp(
        dt.datetime(2026, 4, 1, 8, 30, 5, 999999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ) == NOW.replace(hour=6)
    assert not cw.too_old(NOW - dt.timedelta(days=13), NOW)
    assert cw.too_old(NOW - dt.timedelta(days=14), NOW)


def test_datum_round_trips_through_a_marker() -> None:
    datum = cw.Datum("RealisedPerformance", 0.8, "None", (("Model", "churn"), ("Metric", "roc_auc")))
    assert cw.Datum.from_dict(datum.to_dict()) == datum
