"""The AWS resources a model needs on the dev stack, made the way infrastructure code makes them in an account.

``bootstrap(config)`` creates the model's bucket, its SNS topic with an SQS inbox subscribed to it
(so tests and the demo can read alerts back with ``read_sns_messages``), the deploy alarms and the
Lambda function. Idempotent, so ``modelcare devstack`` and every test session can run it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
MOTO_ACCOUNT_ID = "123456789012"
LAMBDA_ROLE: Final = "modelcare-lambda-execution"

ClientFactory = Callable[[str, str], Any]
"""``(service_name, region_name) -> boto3 client``."""


@dataclass(frozen=True)
class Bootstrapped:
    """What ``bootstrap`` made sure exists for one model."""

    model: str
    bucket: str
    topic_arn: str | None = None
    queue_url: str | None = None
    subscription_arn: str | None = None


def env_client_factory(service_name: str, region_name: str) -> Any:
    """boto3 client from the standard AWS environment (``AWS_ENDPOINT_URL`` etc.)."""
    import boto3

    return boto3.client(service_name, region_name=region_name)


def parse_sns_arn(arn: str) -> tuple[str, str, str]:
    """``arn:aws:sns:<region>:<account>:<name>`` -> ``(region, account, name)``."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not all(parts[3:]):
        raise ValueError(f"not an SNS topic ARN: {arn}")
    return parts[3], parts[4], parts[5]


def inbox_queue_name(topic_name: str) -> str:
    """Name of the SQS queue subscribed to a topic by ``bootstrap`` (SQS names: at most 80 chars)."""
    return f"{topic_name[:70]}-inbox"


def create_bucket(s3: Any, bucket: str) -> None:
    """Create a bucket in us-east-1 unless it exists."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)


def bootstrap(config: ModelConfig, client_factory: ClientFactory | None = None) -> Bootstrapped:
    """Create the model's bucket and, with ``alerts.sns_topic_arn``, the topic plus an SQS inbox subscribed to it.

    Idempotent: running it twice leaves the same resources (one bucket, one topic, one queue, one
    subscription). ``client_factory(service, region)`` defaults to the AWS environment.
    """
    factory = client_factory or env_client_factory
    bucket = config.data.bucket
    create_bucket(factory("s3", DEFAULT_REGION), bucket)
    log.info("%s: bucket s3://%s ready", config.name, bucket)
    bootstrap_deploy_targets(config, factory)

    arn = config.alerts.sns_topic_arn
    if not arn:
        return Bootstrapped(model=config.name, bucket=bucket)
    region, account, topic_name = parse_sns_arn(arn)
    if topic_name.endswith(".fifo"):
        raise ValueError(f"{config.name}: FIFO topics are not supported by the dev stack ({arn})")
    sns = factory("sns", region)
    sqs = factory("sqs", region)
    topic_arn = sns.create_topic(Name=topic_name)["TopicArn"]
    if topic_arn != arn:
        log.warning(
            "%s: the emulator created %s, not %s (it always uses account %s); alerts to the configured ARN will fail",
            config.name,
            topic_arn,
            arn,
            MOTO_ACCOUNT_ID,
        )
    queue_url = sqs.create_queue(QueueName=inbox_queue_name(topic_name))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    existing = [
        s["SubscriptionArn"]
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for s in page.get("Subscriptions", [])
        if s.get("Protocol") == "sqs" and s.get("Endpoint") == queue_arn
    ]
    subscription_arn = (
        existing[0]
        if existing
        else sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    )
    log.info("%s: topic %s delivers to %s (account %s)", config.name, topic_arn, queue_url, account)
    return Bootstrapped(
        model=config.name, bucket=bucket, topic_arn=topic_arn, queue_url=queue_url, subscription_arn=subscription_arn
    )


def bootstrap_deploy_targets(config: ModelConfig, factory: ClientFactory) -> None:
    """What infrastructure code makes in a real account: the deploy alarms (state OK) and the Lambda function.

    The function gets the zip of ``modelcare make-lambda-zip`` and no model yet (the deployment DAG sets
    the model variables); existing resources are left alone.
    """
    deploy = config.deploy
    if deploy is None:
        return
    cloudwatch = factory("cloudwatch", DEFAULT_REGION)
    for alarm in deploy.alarms:
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/SageMaker" if deploy.target == "sagemaker" else "AWS/Lambda",
            MetricName="Invocation5XXErrors" if deploy.target == "sagemaker" else "Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    if deploy.lambda_ is None:
        return
    from include.modelcare.serving.package import LAMBDA_HANDLER, build_lambda_zip

    lam = factory("lambda", DEFAULT_REGION)
    with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=deploy.lambda_.function_name)
        return
    iam = factory("iam", DEFAULT_REGION)
    try:
        role = iam.get_role(RoleName=LAMBDA_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName=LAMBDA_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam.create_function(
        FunctionName=deploy.lambda_.function_name,
        Runtime="python3.11",
        Role=role,
        Handler=LAMBDA_HANDLER,
        Code={"ZipFile": build_lambda_zip()},
        Timeout=60,
        MemorySize=1024,
        Description=f"modelcare serving function of {config.name}",
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=deploy.lambda_.function_name)
    log.info("%s: Lambda function %s created (no model yet)", config.name, deploy.lambda_.function_name)


def read_sns_messages(
    queue_url: str, sqs_client: Any = None, *, region_name: str | None = None
) -> list[dict[str, Any]]:
    """Drain an SQS inbox and return the SNS notifications it held, oldest first.

    Each item is the SNS envelope (``Subject``, ``Message``, ``TopicArn``, ``Timestamp``, ...);
    ``Subject`` is None when the publisher gave none. A raw (non-envelope) body comes back as
    ``{"Subject": None, "Message": body}``.
    """
    if sqs_client is None:
        sqs_client = env_client_factory("sqs", region_name or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            break
        for item in batch:
            messages.append(_sns_envelope(item["Body"]))
        sqs_client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    messages.sort(key=lambda m: m.get("Timestamp") or "")  # stable: ties keep the order received
    return messages


def _sns_envelope(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("Type") == "Notification":
        parsed.setdefault("Subject", None)
        return parsed
    return {"Subject": None, "Message": body}
