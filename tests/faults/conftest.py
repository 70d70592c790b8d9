"""Fault-injection fixtures: a ``FaultProxy`` in front of the session's emulator, and clients through it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.faults.proxy import FaultProxy

if TYPE_CHECKING:
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.storage.objects import ObjectStore


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_proxy(devstack: DevStack) -> Iterator[FaultProxy]:
    """One proxy per session in front of the emulator; rules and records are reset for every test."""
    with FaultProxy(devstack.endpoint_url) as proxy:
        yield proxy


@pytest.fixture
def proxy(fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The proxy, with the Airflow AWS connection and ``AWS_ENDPOINT_URL`` pointing through it for this test."""
    import json

    fault_proxy.reset()
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn.setdefault("extra", {})["endpoint_url"] = fault_proxy.url
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
    yield fault_proxy
    fault_proxy.reset()


def proxied_client(proxy: FaultProxy, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=proxy.url, region_name="us-east-1")


@pytest.fixture
def proxied_store(proxy: FaultProxy) -> ObjectStore:
    """``ObjectStore`` whose S3 calls go through the proxy."""
    from include.modelcare.storage.objects import ObjectStore

    return ObjectStore(proxied_client(proxy, "s3"))


# -- the integration harness, shared (the deployment/monitoring fault tests run DAGs with dag.test()) --------
from tests.integration.conftest import (  # noqa: E402, F401
    MODELS_DIR,
    Harness,
    airflow_db,
    harness,
    harness_session,
    integration_catalog,
    reset_deploy_targets,
)

_DAGS: dict[str, Any] = {}  # parsed once per session: dag.test() serialises the DAG again on every call


def run_dag(h: Harness, kind: str, when: Any, conf: dict[str, Any] | None = None, retry_seconds: float = 1) -> Any:
    """Run ``modelcare_<kind>_<model>`` with dag.test(); returns the DagRun.

    Every task's ``retry_delay`` is cut to ``retry_seconds`` (retries themselves unchanged): under
    dag.test() a task in ``up_for_retry`` is waited for, and the configured 5 minutes would make an
    infrastructure-fault scenario take minutes.
    """
    import datetime as dt

    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow_env import REPO

    dag_id = f"modelcare_{kind}_{h.config.name}"
    if dag_id not in _DAGS:
        _DAGS[dag_id] = DagBag(dag_folder=str(REPO / "dags")).dags[dag_id]
    dag = _DAGS[dag_id]
    for task in dag.tasks:
        task.retry_delay = dt.timedelta(seconds=retry_seconds)
    return dag.test(logical_date=when, run_after=when, run_conf=conf)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id: state}`` of a DagRun."""
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff cut to 1% (same retries, same order): a 503 SlowDown otherwise waits up to 1-2 s.

    Why: the registry sweeps inject ~100 faults; the backoff is botocore's business, not what they test.
    """
    from botocore.retries.standard import ExponentialBackoff

    delay = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: delay(self, context) / 100)


@pytest.fixture
def store_factory(proxy: FaultProxy) -> Callable[[], ObjectStore]:
    """Independent ``ObjectStore``s through the proxy, one per concurrent writer (each its own client)."""
    from include.modelcare.storage.objects import ObjectStore

    return lambda: ObjectStore(proxied_client(proxy, "s3"))
