"""CloudWatch's PutMetricData under lost replies, through the fault proxy: no datapoint twice at two times.

PutMetricData has no idempotency key. When CloudWatch (here the emulator) applied a call whose reply was
lost, the retry sends the same datapoints again, and the marker protocol makes sure every later attempt
(botocore's retry, the task's retry, a re-run of the date) repeats the claim's exact timestamp and values:
CloudWatch holds one datapoint per metric, ``SampleCount`` at most 2 and ``Average``/``Minimum``/``Maximum``
unchanged, and a re-run after "published" sends nothing at all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from include.modelcare.metrics import cloudwatch as cw
from include.modelcare.metrics.publish import publish_once
from tests.faults.conftest import proxied_client
from tests.faults.proxy import Fault, FaultProxy, Request, Rule

if TYPE_CHECKING:
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.storage.objects import ObjectStore

pytestmark = pytest.mark.faults

DAY = dt.date(2026, 3, 9)
FIGURES = {"ValidationPassed": 1.0, "Rows": 1500.0, "DriftShare": 0.25, "DriftedFeatures": 1.0}


def _put_metric_data(request: Request) -> bool:
    return request.path.endswith("/PutMetricData") or request.target.endswith(".PutMetricData")


@pytest.fixture
def bucket(devstack: DevStack) -> str:
    name = f"faults-{uuid.uuid4().hex[:12]}"
    devstack.client("s3").create_bucket(Bucket=name)
    return name


def _marked(bucket: str, model: str) -> list[tuple[str, cw.Measure]]:
    measures = cw.batch_measures(
        model,
        DAY,
        validation={"success": True, "rows": 1500},
        drift={"share_drifted": 0.25, "n_drifted": 1, "columns": {}},
        performance=None,
        top_features=5,
    )
    return [(f"s3://{bucket}/metrics/{m.marker_name}.r{m.revision}.json", m) for m in measures]


def _stored(devstack: DevStack, model: str) -> dict[str, list[dict[str, Any]]]:
    """Every datapoint of the model's metrics in the last hour, per metric (read past the proxy)."""
    client = devstack.client("cloudwatch")
    now = dt.datetime.now(dt.UTC)
    out = {}
    for name in FIGURES:
        points = client.get_metric_statistics(
            Namespace="modelcare",
            MetricName=name,
            Dimensions=[{"Name": "Model", "Value": model}],
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(minutes=5),
            Period=60,
            Statistics=["SampleCount", "Average", "Minimum", "Maximum"],
        )["Datapoints"]
        out[name] = sorted(points, key=lambda p: p["Timestamp"])
    return out


def _one_value_each(stored: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Per metric: one datapoint (one timestamp) whose Average, Minimum and Maximum are the figure; its count."""
    counts = {}
    for name, points in stored.items():
        assert len(points) == 1, f"{name}: {len(points)} datapoints at different times: {points}"
        (point,) = points
        assert point["Average"] == point["Minimum"] == point["Maximum"] == FIGURES[name], point
        counts[name] = point["SampleCount"]
    return counts


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_a_lost_reply_retried_by_botocore_then_a_rerun_adds_nothing(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack, bucket: str, fault: Fault
) -> None:
    model = f"lost_{uuid.uuid4().hex[:8]}"
    marked = _marked(bucket, model)
    client = proxied_client(proxy, "cloudwatch")
    rule = proxy.add(Rule(_put_metric_data, when="after", fault=fault))

    outcome = publish_once(client, proxied_store, "modelcare", marked)
    assert len(rule.fired) == 1, "the fault did not fire"
    puts = [r for r in proxy.records if _put_metric_data(r.request)]
    assert [r.fault for r in puts] == [f"{fault} after", None], "botocore should have retried the applied call"
    assert outcome.published == [f"{name}.r1" for name in FIGURES]
    counts = _one_value_each(_stored(devstack, model))
    assert set(counts.values()) == {2.0}, "the applied call and its retry: one datapoint counted twice"

    again = publish_once(client, proxied_store, "modelcare", marked)  # a re-run of the date
    assert again.already == outcome.published and again.calls == 0
    assert len([r for r in proxy.records if _put_metric_data(r.request)]) == 2, "the re-run called CloudWatch"
    assert _one_value_each(_stored(devstack, model)) == counts


def test_replies_lost_until_the_task_fails_then_the_retry_repeats_the_claim(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack, bucket: str
) -> None:
    """Every attempt applied, every reply lost: the task fails with the markers claimed; its retry (another
    process, minutes later) sends the claim's datapoints at the claim's timestamp, so still one datapoint each."""
    model = f"lost_{uuid.uuid4().hex[:8]}"
    marked = _marked(bucket, model)
    client = proxied_client(proxy, "cloudwatch")
    proxy.add(Rule(_put_metric_data, when="after", fault="503", times=100))
    with pytest.raises(Exception, match=r"503|SlowDown|reduce your request rate"):
        publish_once(client, proxied_store, "modelcare", marked)
    attempts = len([r for r in proxy.records if _put_metric_data(r.request)])
    assert attempts >= 2
    assert {proxied_store.read_json(uri)["state"] for uri, _ in marked} == {"claimed"}

    proxy.reset()
    retry = publish_once(
        client, proxied_store, "modelcare", marked, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)
    )
    assert retry.republished == [f"{name}.r1" for name in FIGURES] and retry.calls == 1
    counts = _one_value_each(_stored(devstack, model))
    assert set(counts.values()) == {float(attempts + 1)}
    assert publish_once(client, proxied_store, "modelcare", marked).calls == 0
    assert _one_value_each(_stored(devstack, model)) == counts
