"""The embedded dev stack: its environment, S3 through ObjectStore, conditional writes, a busy port, ``serve``.

The mail sink is tested in ``test_mail.py``, bootstrapping and SNS read back via SQS in ``test_bootstrap.py``."""

from __future__ import annotations

import json
import shlex
import socket
import threading
import uuid
from pathlib import Path

import pytest

from include.modelcare.config.catalog import get_model_config
from include.modelcare.dev.devstack import DevStack, serve
from include.modelcare.errors import DataNotFound
from include.modelcare.storage.objects import ObjectStore

pytestmark = pytest.mark.unit


def test_env_points_boto3_and_airflow_at_the_stack(devstack: DevStack) -> None:
    env = devstack.env()
    assert env["AWS_ENDPOINT_URL"] == devstack.endpoint_url
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws" and aws["extra"]["endpoint_url"] == devstack.endpoint_url
    smtp = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert smtp["conn_type"] == "smtp" and smtp["port"] == devstack.smtp_port
    # JSON booleans: the smtp provider applies bool() to these, so "false" would mean True.
    assert smtp["extra"]["disable_ssl"] is True and smtp["extra"]["disable_tls"] is True
    assert "login" not in smtp and "password" not in smtp


def test_s3_round_trip_through_object_store(s3_store: ObjectStore, fresh_bucket: str) -> None:
    uri = f"s3://{fresh_bucket}/a/b.json"
    s3_store.write_json(uri, {"x": 1})
    assert s3_store.read_json(uri) == {"x": 1}
    assert s3_store.exists(uri)
    assert s3_store.list(f"s3://{fresh_bucket}/a/") == [uri]
    with pytest.raises(DataNotFound):
        s3_store.read_bytes(f"s3://{fresh_bucket}/missing")


def test_create_exclusive_wins_once(s3_store: ObjectStore, fresh_bucket: str) -> None:
    uri = f"s3://{fresh_bucket}/markers/once.json"
    assert s3_store.create_exclusive(uri, b"first") is True
    assert s3_store.create_exclusive(uri, b"second") is False
    assert s3_store.read_bytes(uri) == b"first"


def test_stack_reports_a_busy_port_instead_of_hanging(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = DevStack(aws_port=port, mail_dir=tmp_path / "mail")
        with pytest.raises(OSError, match="cannot listen"):
            stack.start()
        assert not stack.running
        unused = DevStack(aws_port=port)  # its own temp mail dir is removed again
        with pytest.raises(OSError, match="cannot listen"):
            unused.start()
        with pytest.raises(RuntimeError, match="no mail directory"):
            _ = unused.mail_dir


def test_serve_bootstraps_the_catalog_and_writes_the_env_file(tmp_path: Path, devstack: DevStack) -> None:
    models = tmp_path / "models"
    models.mkdir()
    sample = get_model_config("customer_churn")
    bucket = f"serve-{uuid.uuid4().hex[:12]}"
    (models / "customer_churn.yaml").write_text(
        (Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml")
        .read_text()
        .replace(f"bucket: {sample.data.bucket}", f"bucket: {bucket}")
    )
    import boto3

    stop = threading.Event()
    result: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: result.update(
            code=serve(aws_port=0, smtp_port=0, state_dir=tmp_path / "state", models_dir=models, stop_event=stop)
        )
    )
    thread.start()
    env_file = tmp_path / "state" / "env.sh"
    try:
        for _ in range(100):
            if env_file.exists():
                break
            threading.Event().wait(0.05)
        exports = dict(
            shlex.split(line)[1].split("=", 1)
            for line in env_file.read_text().splitlines()
            if line.startswith("export ")
        )
        assert set(exports) == set(devstack.env())
        assert json.loads(exports["AIRFLOW_CONN_SMTP_DEFAULT"])["extra"]["disable_tls"] is True
        s3 = boto3.client("s3", endpoint_url=exports["AWS_ENDPOINT_URL"], region_name="us-east-1")
        s3.head_bucket(Bucket=bucket)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == {"code": 0}
