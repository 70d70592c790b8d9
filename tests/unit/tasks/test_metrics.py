"""The CloudWatch task bodies: which figures a monitoring run publishes, read from where the earlier tasks left
them (their XComs, the drift summary, the quarantine's reason), and the deployment's serving version.

Without Airflow running: ``task_setup`` returns a fixed config, run and an in-memory store; CloudWatch is
botocore's ``Stubber`` (a call the task must not make fails the test).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataNotFound
from include.modelcare.metrics import publish
from include.modelcare.tasks import metrics, monitoring
from include.modelcare.tasks.context import RunInfo
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)
RUN = RunInfo(dag_id="modelcare_monitor_customer_churn", run_id="scheduled__2026-03-09", day=DAY)


class Store:
    """The ObjectStore calls the publishing makes, in memory."""

    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects = {k: json.dumps(v).encode() for k, v in (objects or {}).items()}

    def exists(self, uri: str) -> bool:
        return uri in self.objects

    def read_json(self, uri: str) -> Any:
        if uri not in self.objects:
            raise DataNotFound(uri)
        return json.loads(self.objects[uri])

    def create_exclusive(self, uri: str, data: bytes, *, content_type: str | None = None) -> bool:
        if uri in self.objects:
            return False
        self.objects[uri] = data
        return True

    def write_bytes(self, uri: str, data: bytes, *, content_type: str | None = None) -> None:
        self.objects[uri] = data


class FakeTI:
    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str, key: str | None = None) -> Any:
        return self.xcoms.get(task_ids)


@pytest.fixture
def config() -> ModelConfig:
    return make_config()


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(publish, "cloudwatch_client", lambda conn_id: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _setup(monkeypatch: pytest.MonkeyPatch, config: ModelConfig, store: Store) -> None:
    monkeypatch.setattr(metrics, "task_setup", lambda model, context: (config, RUN, store))


def _datum(name: str, value: float, unit: str = "None", **extra: str) -> dict[str, Any]:
    from botocore.stub import ANY

    dims = [{"Name": "Model", "Value": "customer_churn"}, *({"Name": k, "Value": v} for k, v in extra.items())]
    return {"MetricName": name, "Dimensions": dims, "Timestamp": ANY, "Value": value, "Unit": unit}


def test_a_monitored_batch_publishes_its_figures_once(
    monkeypatch: pytest.MonkeyPatch, config: ModelConfig, stub: Any
) -> None:
    report = "s3://b/reports/dt=2026-03-09/drift.json"
    summary = {
        "share_drifted": 0.1,
        "n_drifted": 1,
        "columns": {"tenure": {"score": 0.3, "threshold": 0.1, "drifted": True, "method": "ks_wasserstein"}},
    }
    store = Store({report: summary})
    _setup(monkeypatch, config, store)
    ti = FakeTI(
        {
            monitoring.VALIDATE_BATCH: {"success": True, "rows": 1500},
            monitoring.MEASURE_DRIFT: {"share_drifted": 0.1, "report_json": report},
            monitoring.CHECK_PERFORMANCE: {
                "metric": "roc_auc",
                "scored": [{"day": "2026-02-16", "value": 0.8, "revision": 1, "action": "new"}],
                "estimate": {"day": "2026-03-09", "metric": "roc_auc", "value": None, "note": "no calibrator"},
            },
        }
    )
    stub.add_response(
        "put_metric_data",
        {},
        {
            "Namespace": "modelcare",
            "MetricData": [
                _datum("ValidationPassed", 1.0),
                _datum("Rows", 1500.0, "Count"),
                _datum("DriftShare", 0.1),
                _datum("DriftedFeatures", 1.0, "Count"),
                _datum("FeatureDriftScore", 0.3, Feature="tenure"),
                _datum("RealisedPerformance", 0.8, Metric="roc_auc"),
            ],
        },
    )
    out = metrics.publish_metrics(config.name, {"ti": ti})
    assert out["status"] == "published" and out["datapoints"] == 6 and out["calls"] == 1
    root = config.paths.metric_marker(DAY, "X", 1).rsplit("/", 2)[0]
    assert sorted(u for u in store.objects if u.startswith(root)) == [
        f"{root}/dt=2026-02-16/RealisedPerformance.roc_auc.r1.json",  # the batch the labels belong to
        *(
            f"{root}/dt=2026-03-09/{name}.r1.json"
            for name in ("DriftShare", "DriftedFeatures", "FeatureDriftScore", "Rows", "ValidationPassed")
        ),
    ]
    again = metrics.publish_metrics(config.name, {"ti": ti})  # a re-run of the date: no call stubbed
    assert again["datapoints"] == 0 and len(again["already_published"]) == 6


def test_a_failed_validation_publishes_validation_passed_zero_from_the_quarantine(
    monkeypatch: pytest.MonkeyPatch, config: ModelConfig, stub: Any
) -> None:
    reason = {"success": False, "rows": 1500, "failed_checks": 2, "message": "failed validation"}
    _setup(monkeypatch, config, Store({config.paths.quarantine(DAY) + "_REASON.json": reason}))
    ti = FakeTI({})  # validate_batch failed; measure_drift and check_performance never ran
    expected = [_datum("ValidationPassed", 0.0), _datum("Rows", 1500.0, "Count")]
    stub.add_response("put_metric_data", {}, {"Namespace": "modelcare", "MetricData": expected})
    assert metrics.publish_metrics(config.name, {"ti": ti})["published"] == ["ValidationPassed.r1", "Rows.r1"]


def test_nothing_to_publish_makes_no_call(monkeypatch: pytest.MonkeyPatch, config: ModelConfig, stub: Any) -> None:
    _setup(monkeypatch, config, Store())
    assert metrics.publish_metrics(config.name, {"ti": FakeTI({})})["calls"] == 0


def test_switched_off_publishes_nothing(monkeypatch: pytest.MonkeyPatch, config: ModelConfig, stub: Any) -> None:
    off = config.model_copy(update={"metrics": config.metrics.model_copy(update={"cloudwatch": False})})
    _setup(monkeypatch, off, Store())
    ti = FakeTI({monitoring.VALIDATE_BATCH: {"success": True, "rows": 1500}})
    assert metrics.publish_metrics(config.name, {"ti": ti}) == {"status": "disabled"}
    nowhere: Any = Store()
    metrics.publish_serving_version(off, nowhere, RUN, 3, "aws_default")


def test_serving_version_once_per_deployment_run(config: ModelConfig, stub: Any) -> None:
    custom = config.model_copy(update={"metrics": config.metrics.model_copy(update={"namespace": "ml/churn"})})
    store: Any = Store()
    run = RunInfo(dag_id="modelcare_deploy_customer_churn", run_id="manual__2026-03-10T10:00:00+00:00", day=DAY)
    stub.add_response("put_metric_data", {}, {"Namespace": "ml/churn", "MetricData": [_datum("ServingVersion", 4.0)]})
    metrics.publish_serving_version(custom, store, run, 4, "aws_default")
    metrics.publish_serving_version(custom, store, run, 4, "aws_default")  # the task retried: nothing again
    (marker,) = store.objects
    assert marker == config.paths.deploy_run("manual__2026-03-10T10_00_00_00_00") + "metrics/ServingVersion.r1.json"
    assert json.loads(store.objects[marker])["state"] == "published"
