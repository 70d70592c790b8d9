"""Bootstrapping a model on the dev stack: bucket, SNS topic with an SQS inbox, idempotent; alerts read back."""

from __future__ import annotations

import uuid

import pytest

from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.dev.bootstrap import bootstrap, inbox_queue_name, read_sns_messages
from include.modelcare.dev.devstack import DevStack

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
