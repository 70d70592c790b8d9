"""The monitoring DAG's figures in CloudWatch (the emulator's), read back; a re-run of the date adds nothing.

What is read back is what the run's write-once markers (``metrics/dt=D/*.json``) say was published: every
datapoint once, at its marker's timestamp, with its value, and nothing else in the namespace for the model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

WEEKS = [dt.date(2026, 9, 7), dt.date(2026, 9, 14)]
FAULTY_DAY = dt.date(2026, 9, 21)
MISSING_DAY = dt.date(2026, 9, 28)
NAMESPACE = "modelcare"


def _next_second() -> dt.datetime:
    """The next whole second, after waiting for it: datapoints of earlier tests (same model, same emulator)
    were all published before it, so a read from it sees this test's datapoints only."""
    import time

    now = dt.datetime.now(dt.UTC)
    since = now.replace(microsecond=0) + dt.timedelta(seconds=1)
    time.sleep((since - now).total_seconds() + 0.01)
    return since


def _cloudwatch() -> Any:
    import boto3

    return boto3.client("cloudwatch")  # AWS_ENDPOINT_URL: the session's emulator


def _markers(h: Harness) -> dict[str, dict[str, Any]]:
    root = h.config.paths.metric_marker(WEEKS[0], "x", 1).rsplit("/", 2)[0] + "/"
    return {uri[len(root) :]: h.store.read_json(uri) for uri in h.store.list(root)}


def _points(since: dt.datetime, name: str, dims: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return _cloudwatch().get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims],
        StartTime=since,
        EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        Period=60,
        Statistics=["SampleCount", "Average", "Minimum", "Maximum"],
    )["Datapoints"]


def _read_back(since: dt.datetime, markers: dict[str, dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each marker's datapoints as CloudWatch holds them: exactly one per datum, at the marker's timestamp."""
    found = {}
    for key, marker in markers.items():
        assert marker["state"] == "published", key
        stamp = dt.datetime.fromisoformat(marker["timestamp"])
        for datum in marker["data"]:
            dims = [tuple(d) for d in datum["dimensions"]]
            points = _points(since, datum["name"], dims)
            assert len(points) == 1, f"{datum['name']} {dims}: {points}"
            (point,) = points
            assert point["SampleCount"] == 1, f"{datum['name']} {dims} published twice: {point}"
            assert point["Average"] == pytest.approx(datum["value"])
            # the claim's timestamp (moto starts the period there; CloudWatch at the minute)
            assert stamp.replace(second=0) <= point["Timestamp"].astimezone(dt.UTC) <= stamp
            found[(datum["name"], *(v for _, v in dims[1:]))] = point
    return found


def test_a_monitored_batch_reaches_cloudwatch_once(harness: Harness) -> None:
    from include.modelcare.dev.simulate import register_simulated_version

    h = harness
    since = _next_second()
    h.seed_weeks(WEEKS)
    v1 = register_simulated_version(h.registry, h.config, seed=3)
    h.registry.set_alias("production", v1.version, by="test", why="first model")

    states = h.run(WEEKS[0])
    assert states["publish_metrics"] == "success", states
    markers = _markers(h)
    found = _read_back(since, markers)
    model = h.config.name
    names = {key[0] for key in found}
    assert {"ValidationPassed", "Rows", "DriftShare", "DriftedFeatures", "FeatureDriftScore"} <= names
    assert found[("ValidationPassed",)]["Average"] == 1.0 and found[("Rows",)]["Average"] == 1500.0
    features = [key[1] for key in found if key[0] == "FeatureDriftScore"]
    assert len(features) == h.config.drift.top_features and set(features) <= set(h.config.data.features.all)

    performance = h.store.read_json(h.config.paths.reports(WEEKS[0]) + "performance.json")
    metric = performance["metric"]
    realised = [s for s in performance.get("scored", []) if s.get("value") is not None]
    assert [found[("RealisedPerformance", metric)]["Average"]] == pytest.approx([s["value"] for s in realised])
    estimate = (performance.get("estimate") or {}).get("value")
    if estimate is None:
        assert ("EstimatedPerformance", metric) not in found
    else:
        assert found[("EstimatedPerformance", metric)]["Average"] == pytest.approx(estimate)

    # Everything CloudWatch lists for the model is what the markers say (nothing published beside them).
    listed = _cloudwatch().list_metrics(Namespace=NAMESPACE, Dimensions=[{"Name": "Model", "Value": model}])
    assert {m["MetricName"] for m in listed["Metrics"]} >= names

    # A re-run of the same date publishes nothing: same markers, one datapoint each still.
    assert h.run(WEEKS[0])["publish_metrics"] == "success"
    assert _markers(h) == markers
    assert _read_back(since, markers) == found


def test_a_failed_validation_publishes_zero_and_a_missing_batch_nothing(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    h = harness
    since = _next_second()
    h.seed(FAULTY_DAY, Scenario.faulty())
    states = h.run(FAULTY_DAY)
    assert states["validate_batch"] == "failed" and states["publish_metrics"] == "success", states
    root = h.config.paths.metric_marker(FAULTY_DAY, "x", 1).rsplit("/", 1)[0] + "/"
    assert sorted(u.rsplit("/", 1)[-1] for u in h.store.list(root)) == ["Rows.r1.json", "ValidationPassed.r1.json"]
    (point,) = _points(since, "ValidationPassed", [("Model", h.config.name)])
    assert point["Average"] == 0.0 and point["SampleCount"] == 1

    states = h.run(MISSING_DAY)
    assert states["report_missing_batch"] == "success" and states["publish_metrics"] == "skipped", states
    assert h.store.list(h.config.paths.metric_marker(MISSING_DAY, "x", 1).rsplit("/", 1)[0] + "/") == []
