"""Integration fixtures: a throw-away Airflow DB, the sample model in its own catalog, dag.test() runs."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_env import REPO, configure_airflow

# The catalog of these tests: the sample model plus one broken config, so every run also proves
# that a broken file does not take the good model down.
MODELS_DIR = Path(tempfile.mkdtemp(prefix="modelcare-it-models-"))
_sample = (REPO / "include" / "models" / "customer_churn.yaml").read_text()
(MODELS_DIR / "customer_churn.yaml").write_text(_sample.replace("bucket: modelcare-demo", "bucket: modelcare-it"))
(MODELS_DIR / "churn_manual.yaml").write_text(
    _sample.replace("bucket: modelcare-demo", "bucket: modelcare-it")
    .replace("name: customer_churn", "name: churn_manual")
    .replace("  approval: auto ", "  approval: manual ")
)
(MODELS_DIR / "churn_sagemaker.yaml").write_text(
    _sample.replace("bucket: modelcare-demo", "bucket: modelcare-it")
    .replace("name: customer_churn", "name: churn_sagemaker")
    .replace(
        "  backend: local ",
        "  sagemaker:\n"
        "    image_uri: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3\n"
        "    role_arn: arn:aws:iam::123456789012:role/modelcare-training\n"
        "    poll_seconds: 1\n"
        "  backend: sagemaker ",
    )
)
(MODELS_DIR / "broken_model.yaml").write_text("name: broken_model\ntask: classification\ndata: {target: y}\n")
configure_airflow()

DAG_ID = "modelcare_monitor_customer_churn"


@pytest.fixture(autouse=True)
def integration_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integration tests see the catalog above (sample model + a broken file)."""
    monkeypatch.setenv("MODELCARE_MODELS_DIR", str(MODELS_DIR))


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the metadata DB of this test session (fresh, so no stale 'running' rows)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=300)


@dataclass
class Harness:
    """The sample model on the embedded stack, and helpers to run and inspect the monitoring DAG."""

    config: Any
    store: Any
    queue_url: str
    mail_dir: Path

    def seed(self, day: dt.date, scenario: Any) -> None:
        from include.modelcare.dev.simulate import seed_model

        seed_model(self.store, self.config, [day], {day: scenario}, rows_per_batch=1500, reference_rows=3000)

    def run(self, day: dt.date, conf: dict[str, Any] | None = None) -> dict[str, str]:
        """Run the monitoring DAG for ``day`` with dag.test(); return {task_id: state}."""
        return self.run_dag("monitor", dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC), conf)

    def run_dag(self, kind: str, when: dt.datetime, conf: dict[str, Any] | None = None) -> dict[str, str]:
        """Run ``modelcare_<kind>_<model>`` with dag.test() at ``when``; return {task_id: state}."""
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(REPO / "dags")).dags[f"modelcare_{kind}_{self.config.name}"]
        dr = dag.test(logical_date=when, run_after=when, run_conf=conf)
        return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}

    @property
    def registry(self) -> Any:
        from include.modelcare.registry.store import ModelRegistry

        return ModelRegistry(self.config, self.store)

    def seed_weeks(self, weeks: list[dt.date], scenarios: dict[dt.date, Any] | None = None) -> None:
        from include.modelcare.dev.simulate import seed_model

        seed_model(self.store, self.config, weeks, scenarios or {}, rows_per_batch=1500, reference_rows=3000)

    def mails(self) -> list[Any]:
        from include.modelcare.dev.mail import read_mails

        return read_mails(self.mail_dir)

    def sns(self) -> list[dict[str, Any]]:
        from include.modelcare.dev.bootstrap import read_sns_messages

        return read_sns_messages(self.queue_url)

    def reset(self) -> None:
        """Empty the bucket, the SNS inbox and the mail sink between tests."""
        for uri in self.store.list(f"s3://{self.config.data.bucket}/"):
            self.store.delete(uri)
        self.sns()
        shutil.rmtree(self.mail_dir, ignore_errors=True)
        self.mail_dir.mkdir(parents=True, exist_ok=True)


def _harness(devstack: Any, name: str) -> Harness:
    import boto3

    from include.modelcare.config.catalog import get_model_config
    from include.modelcare.storage.objects import ObjectStore

    config = get_model_config(name, MODELS_DIR)
    boot = devstack.bootstrap(config)
    store = ObjectStore(boto3.client("s3", endpoint_url=devstack.endpoint_url, region_name="us-east-1"))
    assert boot.queue_url, "bootstrap made no SNS inbox queue"
    return Harness(config=config, store=store, queue_url=boot.queue_url, mail_dir=Path(devstack.mail_dir))


@pytest.fixture(scope="session")
def harness_session(devstack: Any, airflow_db: None) -> Harness:
    return _harness(devstack, "customer_churn")


@pytest.fixture
def harness(harness_session: Harness) -> Iterator[Harness]:
    harness_session.reset()
    yield harness_session


@pytest.fixture
def manual_harness(devstack: Any, airflow_db: None) -> Iterator[Harness]:
    h = _harness(devstack, "churn_manual")
    h.reset()
    yield h


@pytest.fixture
def sagemaker_harness(devstack: Any, airflow_db: None) -> Iterator[Harness]:
    h = _harness(devstack, "churn_sagemaker")
    h.reset()
    yield h


def reset_deploy_targets(h: Harness, devstack: Any) -> None:
    """No endpoint, no alias, a fresh function and all alarms OK (the emulator keeps them across tests)."""
    import contextlib

    from include.modelcare.deploy.requests import endpoint_name
    from include.modelcare.dev.bootstrap import bootstrap_deploy_targets

    sm, lam, cw = devstack.client("sagemaker"), devstack.client("lambda"), devstack.client("cloudwatch")
    config = h.config
    assert config.deploy is not None and config.deploy.lambda_ is not None
    with contextlib.suppress(sm.exceptions.ClientError):
        sm.delete_endpoint(EndpointName=endpoint_name(config))
    with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
        lam.delete_function(FunctionName=config.deploy.lambda_.function_name)
    bootstrap_deploy_targets(config, devstack.client)
    for alarm in config.deploy.alarms:
        cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test reset")
