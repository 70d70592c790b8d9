"""The demo's shared botocore loader: one parsed copy of the service models for every session, then undone."""

from __future__ import annotations

import pytest

from include.modelcare.dev.boto_cache import shared_botocore_loader

pytestmark = pytest.mark.unit


def _loader(session: object) -> object:
    return session._session.get_component("data_loader")  # type: ignore[attr-defined]


def test_sessions_share_one_loader_only_while_open() -> None:
    import boto3
    import botocore.session

    original = botocore.session.get_session
    with shared_botocore_loader():
        first, second = boto3.session.Session(region_name="us-east-1"), boto3.session.Session(region_name="eu-west-1")
        assert _loader(first) is _loader(second)
        client = second.client("s3", aws_access_key_id="x", aws_secret_access_key="x")
        assert client.meta.region_name == "eu-west-1"  # each session keeps its own settings
    assert botocore.session.get_session is original
    assert _loader(boto3.session.Session()) is not _loader(first)
