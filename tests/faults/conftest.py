"""Fault-injection fixtures: a ``FaultProxy`` in front of the session's emulator, and clients through it."""

from __future__ import annotations

import os
from collections.abc import Iterator
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
