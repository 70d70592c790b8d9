"""Task bodies of monitoring and retraining around the error boundary and the pure decisions.

Without Airflow running: ``task_setup`` is replaced by a fixed config, run and an in-memory store,
and the task instance by a dict of XComs. What is checked: domain errors fail without retries
(``TaskFailed``, an ``AirflowFailException``) with the domain error as cause, which is where the
failure alert finds a ``ValidationFailed`` and its figures; and ``decide`` feeds the incident decision
the earlier requests it read (the minimum gap between two requests).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataNotFound, InvalidHyperparameters, TrainingError, ValidationFailed
from include.modelcare.operators.alerts import _find_cause
from include.modelcare.tasks import monitoring, monitoring_decide, retraining, training_set
from include.modelcare.tasks.boundary import TaskFailed
from include.modelcare.tasks.context import RunInfo
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)


class MemoryStore:
    """The few ObjectStore calls the bodies under test make."""

    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects = dict(objects or {})

    def read_json(self, uri: str) -> Any:
        if uri not in self.objects:
            raise DataNotFound(f"{uri} does not exist")
        return self.objects[uri]

    def read_bytes(self, uri: str) -> bytes:
        if uri not in self.objects:
            raise DataNotFound(f"{uri} does not exist")
        return bytes(self.objects[uri])

    def list(self, prefix: str) -> list[str]:
        return sorted(u for u in self.objects if u.startswith(prefix))

    def read_with_etag(self, uri: str) -> tuple[bytes, str]:
        data = self.read_bytes(uri)
        return data, str(hash(data))

    def create_exclusive(self, uri: str, data: bytes, *, content_type: str | None = None) -> bool:
        if uri in self.objects:
            return False
        self.objects[uri] = data
        return True

    def replace_if_match(self, uri: str, data: bytes, etag: str, *, content_type: str | None = None) -> bool:
        if uri not in self.objects or str(hash(self.read_bytes(uri))) != etag:
            return False
        self.objects[uri] = data
        return True


class FakeTI:
    def __init__(self, xcoms: dict[tuple[str, str | None], Any]) -> None:
        self.xcoms = xcoms
        self.pushed: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str, key: str | None = None) -> Any:
        return self.xcoms.get((task_ids, key))

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def config() -> ModelConfig:
    return make_config()


def _setup(
    monkeypatch: pytest.MonkeyPatch, module: Any, config: ModelConfig, store: MemoryStore, **params: Any
) -> None:
    run = RunInfo(dag_id="modelcare_test", run_id="manual__1", day=DAY, params=params)
    monkeypatch.setattr(module, "task_setup", lambda model, context: (config, run, store))


def test_quarantined_batch_fails_without_retry_and_keeps_the_figures_for_the_alert(
    monkeypatch: pytest.MonkeyPatch, config: ModelConfig
) -> None:
    reason = {"message": "failed validation: 2 of 11 checks", "rows": 1500, "failed_checks": 2, "quarantine": "q/"}
    store = MemoryStore({config.paths.quarantine(DAY) + "_REASON.json": reason})
    _setup(monkeypatch, monitoring, config, store)
    ti = FakeTI({(monitoring.RESOLVE_BATCH, "batch"): {"status": "quarantined"}})

    with pytest.raises(TaskFailed) as failed:
        monitoring.validate_batch(config.name, {"ti": ti})

    assert isinstance(failed.value, AirflowFailException)  # no retries
    assert str(failed.value) == f"validate_batch: {reason['message']}"
    validation = _find_cause(failed.value, ValidationFailed)
    assert validation is not None and validation.summary == reason and str(validation) == reason["message"]


def _drift(detected: bool) -> dict[str, Any]:
    return {"drift_detected": detected, "reason": "drift: 4/10 features drifted" if detected else "no drift: 0/10"}


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        (None, [monitoring.ALERT_DRIFT, monitoring.REQUEST_RETRAINING]),
        (DAY - dt.timedelta(days=3), [monitoring.ALERT_DRIFT, monitoring.NO_RETRAINING]),
        (DAY - dt.timedelta(days=7), [monitoring.ALERT_DRIFT, monitoring.REQUEST_RETRAINING]),
    ],
)
def test_decide_reads_the_previous_request_and_follows_the_policy(
    monkeypatch: pytest.MonkeyPatch, config: ModelConfig, previous: dt.date | None, expected: list[str]
) -> None:
    objects: dict[str, Any] = {}
    if previous is not None:
        objects[config.paths.retrain_request(previous)] = {}
    objects[config.paths.retrain_request(DAY + dt.timedelta(days=1))] = {}  # later requests do not count
    _setup(monkeypatch, monitoring_decide, config, MemoryStore(objects))
    ti = FakeTI({(monitoring.MEASURE_DRIFT, None): _drift(True), (monitoring.CHECK_PERFORMANCE, None): None})

    assert monitoring_decide.decide(config.name, {"ti": ti}) == expected
    assert ti.pushed["decision"]["retrain"] is (expected[-1] == monitoring.REQUEST_RETRAINING)


def test_decide_on_measured_decay_alone(monkeypatch: pytest.MonkeyPatch, config: ModelConfig) -> None:
    _setup(monkeypatch, monitoring_decide, config, MemoryStore())
    performance = {
        "status": "measured",
        "decayed": True,
        "reason": "production v1 roc_auc 0.6000 below floor 0.65",
        "version": 1,
    }
    ti = FakeTI({(monitoring.MEASURE_DRIFT, None): _drift(False), (monitoring.CHECK_PERFORMANCE, None): performance})
    assert monitoring_decide.decide(config.name, {"ti": ti}) == [monitoring.ALERT_DRIFT, monitoring.REQUEST_RETRAINING]
    assert ti.pushed["decision"]["cause"] == "performance decay: production v1 roc_auc 0.6000 below floor 0.65"
    assert ti.pushed["decision"]["why"].startswith("opened incident inc-2026-03-09: performance decay")


def test_bad_hyperparameters_fail_assembly_without_retry(monkeypatch: pytest.MonkeyPatch, config: ModelConfig) -> None:
    _setup(monkeypatch, training_set, config, MemoryStore(), hyperparameters={"not_a_param": 1})
    with pytest.raises(TaskFailed, match=r"^assemble_training_set: .*not_a_param") as failed:
        training_set.assemble_training_set(config.name, {"ti": FakeTI({})})
    assert isinstance(failed.value.__cause__, InvalidHyperparameters)


def test_too_few_batches_is_a_training_error_without_retry(
    monkeypatch: pytest.MonkeyPatch, config: ModelConfig
) -> None:
    _setup(monkeypatch, training_set, config, MemoryStore())
    with pytest.raises(TaskFailed, match="need at least 2") as failed:
        training_set.assemble_training_set(config.name, {"ti": FakeTI({})})
    assert isinstance(failed.value.__cause__, TrainingError)


def test_missing_sagemaker_artifact_is_a_training_error(monkeypatch: pytest.MonkeyPatch, config: ModelConfig) -> None:
    _setup(monkeypatch, retraining, config, MemoryStore())
    request = {"TrainingJobName": "job-1", "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"}}
    ti = FakeTI({(retraining.PREPARE_SAGEMAKER, None): request})
    with pytest.raises(TaskFailed, match="training job job-1 reported Completed but wrote no model") as failed:
        retraining.collect_sagemaker_model(config.name, {"ti": ti})
    assert isinstance(failed.value.__cause__, TrainingError)
    assert "s3://bucket/out/job-1/output/model.tar.gz" in str(failed.value)


def test_infrastructure_errors_pass_through_for_retries(monkeypatch: pytest.MonkeyPatch, config: ModelConfig) -> None:
    class Flaky(MemoryStore):
        def list(self, prefix: str) -> list[str]:
            raise ConnectionError("S3 unreachable")

    _setup(monkeypatch, monitoring_decide, config, Flaky())
    ti = FakeTI({(monitoring.MEASURE_DRIFT, None): _drift(True), (monitoring.CHECK_PERFORMANCE, None): None})
    with pytest.raises(ConnectionError):
        monitoring_decide.decide(config.name, {"ti": ti})
