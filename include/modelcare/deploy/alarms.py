"""The CloudWatch alarms a bake watches: which of the named alarms are firing now.

Why separate from the targets: the alarms are the plan's (``deploy.alarms``), the same whatever serves
the version, and the bake checks them between deferrals with a client from the provider's hook.
"""

from __future__ import annotations

from typing import Any

from include.modelcare.errors import DeploymentError


def firing_alarms(cloudwatch: Any, names: list[str]) -> list[str]:
    """The named alarms now in ALARM (a name that does not exist is an error: a typo must not pass silently)."""
    if not names:
        return []
    found: dict[str, str] = {}
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmNames=names):
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            found[alarm["AlarmName"]] = alarm["StateValue"]
    missing = sorted(set(names) - set(found))
    if missing:
        raise DeploymentError(f"alarm(s) not found in CloudWatch: {', '.join(missing)} (deploy.alarms)")
    return sorted(name for name, state in found.items() if state == "ALARM")


def cloudwatch_client(aws_conn_id: str) -> Any:
    """A CloudWatch client from the amazon provider's base hook."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=aws_conn_id, client_type="cloudwatch").conn
