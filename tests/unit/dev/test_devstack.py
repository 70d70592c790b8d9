"""The embedded dev stack: S3 through ObjectStore, conditional writes, the mail sink, SNS read back via SQS."""

from __future__ import annotations

import json
import shlex
import smtplib
import socket
import threading
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.dev.devstack import (
    DevStack,
    bootstrap,
    inbox_queue_name,
    read_mails,
    read_sns_messages,
    save_message,
    serve,
)
from include.modelcare.errors import DataNotFound
from include.modelcare.storage.objects import ObjectStore

pytestmark = pytest.mark.unit


def _config(bucket: str, topic: str | None = None) -> ModelConfig:
    """The sample model on its own bucket (and its own topic, so tests never share an inbox)."""
    base = get_model_config("customer_churn")
    arn = f"arn:aws:sns:us-east-1:123456789012:{topic}" if topic else None
    return base.model_copy(
        update={
            "data": base.data.model_copy(update={"bucket": bucket}),
            "alerts": base.alerts.model_copy(update={"sns_topic_arn": arn}),
        }
    )


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


def test_mail_sent_with_smtplib_lands_as_a_file(devstack: DevStack) -> None:
    subject = f"sink test {uuid.uuid4().hex}"
    msg = EmailMessage()
    msg["From"] = "modelcare@example.com"
    msg["To"] = "ml-team@example.com"
    msg["Subject"] = subject
    msg.set_content("drift détectée")
    with smtplib.SMTP("127.0.0.1", devstack.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=["ml-team@example.com", "hidden@example.com"])

    mine = [m for m in read_mails(devstack.mail_dir) if m["Subject"] == subject]
    assert len(mine) == 1
    mail = mine[0]
    assert mail["To"] == "ml-team@example.com"
    assert mail["X-Envelope-To"] == "ml-team@example.com, hidden@example.com"
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "drift détectée"
    assert not [p for p in devstack.mail_dir.iterdir() if p.name.endswith(".tmp")]


def test_mails_are_read_in_arrival_order(tmp_path: Path) -> None:
    for i in range(3):
        save_message(tmp_path, f"Subject: n{i}\r\n\r\nbody\r\n".encode())
    (tmp_path / ".half-written.eml.tmp").write_bytes(b"Subject: partial\r\n")
    assert [m["Subject"] for m in read_mails(tmp_path)] == ["n0", "n1", "n2"]
    assert read_mails(tmp_path / "nowhere") == []


def test_sns_publish_is_read_back_through_the_sqs_inbox(devstack: DevStack, bucket_name: str) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    boot = devstack.bootstrap(_config(bucket_name, topic))
    assert boot.topic_arn == f"arn:aws:sns:us-east-1:123456789012:{topic}"
    assert boot.queue_url and boot.queue_url.endswith(inbox_queue_name(topic))

    sns = devstack.client("sns")
    sns.publish(TopicArn=boot.topic_arn, Subject="drift on customer_churn", Message="monthly_charges drifted")
    sns.publish(TopicArn=boot.topic_arn, Message="no subject")
    messages = read_sns_messages(boot.queue_url)  # default client: from the environment the fixture set
    assert [(m["Subject"], m["Message"]) for m in messages] == [
        ("drift on customer_churn", "monthly_charges drifted"),
        (None, "no subject"),
    ]
    assert read_sns_messages(boot.queue_url, devstack.client("sqs")) == []  # drained


def test_bootstrap_is_idempotent(devstack: DevStack, bucket_name: str) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    config = _config(bucket_name, topic)
    first = bootstrap(config, devstack.client)
    second = bootstrap(config, devstack.client)
    assert first == second

    buckets = [b["Name"] for b in devstack.client("s3").list_buckets()["Buckets"]]
    assert buckets.count(bucket_name) == 1
    sns, sqs = devstack.client("sns"), devstack.client("sqs")
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]].count(first.topic_arn) == 1
    assert len(sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]) == 1
    assert len(sqs.list_queues(QueueNamePrefix=inbox_queue_name(topic)).get("QueueUrls", [])) == 1

    sns.publish(TopicArn=first.topic_arn, Subject="once", Message="delivered once")
    assert [m["Subject"] for m in read_sns_messages(first.queue_url or "", sqs)] == ["once"]


def test_bootstrap_without_topic_only_makes_the_bucket(devstack: DevStack, bucket_name: str) -> None:
    boot = devstack.bootstrap(_config(bucket_name))
    assert boot.topic_arn is None and boot.queue_url is None
    devstack.client("s3").head_bucket(Bucket=bucket_name)


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
