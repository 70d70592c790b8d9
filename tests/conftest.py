"""Shared fixtures: the embedded dev stack (AWS emulator + SMTP sink) and S3 helpers.

No Airflow import here: unit tests stay Airflow-free and fast.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.storage.objects import ObjectStore


@pytest.fixture(scope="session")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """One DevStack per test session (per xdist worker), with its environment set for the session.

    The AWS variables and the Airflow connections (``AIRFLOW_CONN_AWS_DEFAULT``/``SMTP_DEFAULT``)
    point at it until the session ends; the previous values are restored afterwards.
    Note: moto's state is process-global, so never use ``moto.mock_aws`` in the same process
    (entering it wipes the emulator's buckets and topics).
    """
    from include.modelcare.dev.devstack import DevStack

    stack = DevStack(mail_dir=tmp_path_factory.mktemp("mail"))
    stack.start()
    env = stack.env()
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield stack
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stack.stop()


@pytest.fixture
def s3_client(devstack: DevStack) -> Any:
    """A boto3 S3 client on the emulator."""
    return devstack.client("s3")


@pytest.fixture
def s3_store(devstack: DevStack) -> ObjectStore:
    """``ObjectStore`` over a boto3 S3 client on the emulator."""
    import boto3

    from include.modelcare.storage.objects import ObjectStore

    return ObjectStore(boto3.client("s3", endpoint_url=devstack.endpoint_url, region_name="us-east-1"))


def unique_bucket_name(prefix: str = "test") -> str:
    """A bucket name no other test uses (valid DNS name)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def bucket_name() -> str:
    """A unique bucket name, not created."""
    return unique_bucket_name()


@pytest.fixture
def fresh_bucket(devstack: DevStack, bucket_name: str) -> str:
    """A unique, empty bucket created in the emulator for this test."""
    devstack.client("s3").create_bucket(Bucket=bucket_name)
    return bucket_name


@pytest.fixture
def mail_dir(devstack: DevStack) -> Path:
    """The SMTP sink's directory (shared by the session: filter by a unique subject)."""
    return devstack.mail_dir
