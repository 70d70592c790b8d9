"""The deployment DAG's task bodies: resolve, deploy, smoke-test, bake, promote or roll back.

The plan made by ``resolve_version`` (a ``DeploymentPlan``) is stored in the run's folder
(``deploy_runs/<run>/plan.json``) and re-used by a re-run, so "the previous version" stays the one live
before the first attempt, and every later step reads its settings from the plan, never the live config.
The target of the plan (``deploy.targets``: SageMaker endpoint, Lambda alias, or any registered kind)
is reached only through the ``DeployTarget`` protocol. Any step that fails after traffic may have moved
writes ``failure.json`` beside the plan and fails; ``roll_back`` then restores the previous version,
leaves the ``production`` alias alone, records the attempt and alerts.

This module resolves and routes; the target's steps, smoke test and bake are in ``deploy_steps``,
promotion, rollback and the alert in ``deploy_finish`` (all re-exported here for the DAG).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlparse

from include.modelcare.deploy.plan import DeploymentPlan, Live, deploy_settings
from include.modelcare.deploy.targets.base import Step, TargetKind, configured_kinds, target_for
from include.modelcare.deploy.targets.lambda_alias import SHIFT_LAMBDA
from include.modelcare.deploy.targets.sagemaker import DEPLOY_ENDPOINT, PREPARE_ENDPOINT, WAIT_ENDPOINT
from include.modelcare.errors import ModelcareError
from include.modelcare.ml.calibration import stored_calibrator
from include.modelcare.ml.threshold import stored_threshold
from include.modelcare.tasks.context import RunInfo, task_setup
from include.modelcare.tasks.deploy_common import (
    ALERT,
    BAKE,
    PACKAGE,
    PRODUCTION,
    PROMOTE,
    RESOLVE,
    ROLL_BACK,
    ROUTE,
    SHOW_PLAN,
    SMOKE,
    describe,
    kind_of,
    now,
    read_plan,
    refuse,
    run_folder,
)
from include.modelcare.tasks.deploy_finish import alert_deployed, promote, roll_back
from include.modelcare.tasks.deploy_steps import bake_check, smoke_test, target_ready, target_step

__all__ = [
    "ALERT",
    "BAKE",
    "DEPLOY_ENDPOINT",
    "EMULATED_CALLS",
    "PREPARE_ENDPOINT",
    "PRODUCTION",
    "PROMOTE",
    "RESOLVE",
    "ROLL_BACK",
    "ROUTE",
    "SHIFT_LAMBDA",
    "SHOW_PLAN",
    "SMOKE",
    "WAIT_ENDPOINT",
    "Step",
    "TargetKind",
    "alert_deployed",
    "bake_check",
    "configured_kinds",
    "embedded_endpoint",
    "planned_calls",
    "promote",
    "resolve_version",
    "roll_back",
    "route_deployment",
    "show_plan",
    "smoke_test",
    "target_ready",
    "target_step",
]

log = logging.getLogger(__name__)

# The calls modelcare's emulator extension answers on the embedded stack (see include/modelcare/dev/emulator.py).
EMULATED_CALLS: Final = ("sagemaker:UpdateEndpoint", "sagemaker-runtime:InvokeEndpoint", "lambda:Invoke")


def embedded_endpoint(aws_conn_id: str) -> str | None:
    """The connection's endpoint URL when it points at a local emulator (None for real AWS)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    url = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3").conn_config.endpoint_url
    host = urlparse(url or "").hostname or ""
    return url if host in {"127.0.0.1", "localhost", "::1"} or host.endswith(".localhost") else None


def _requested_by(run: RunInfo, context: Mapping[str, Any]) -> str:
    dag_run = context.get("dag_run")
    return str(
        run.params.get("requested_by")
        or getattr(dag_run, "triggering_user_name", None)
        or f"airflow:{getattr(dag_run, 'run_type', 'run')}"
    )


# -- 1. resolve --------------------------------------------------------------------------------------------
def resolve_version(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Pick the version, refuse one that is not Approved (unless forced), verify its artifacts, make the plan."""
    from pydantic import ValidationError

    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    if config.deploy is None:
        raise refuse(f"{config.name}: no deploy section in the config; nothing to deploy to")
    params = run.params
    dry_run = bool(params.get("dry_run"))
    plan_uri = f"{run_folder(config, run)}plan.json"
    if not dry_run and store.exists(plan_uri):
        log.info("re-run: using the plan of the first attempt (%s)", plan_uri)
        try:
            return DeploymentPlan.model_validate(store.read_json(plan_uri)).as_json()
        except ValidationError as exc:
            raise refuse(f"{config.name}: {plan_uri} is not a deployment plan of this release: {exc}") from None

    registry = open_registry(config, store)
    ref = str(params.get("version") or "latest-approved")
    try:
        record = registry.get(ref)
    except ModelcareError as exc:
        raise refuse(f"{config.name}: cannot deploy {ref!r}: {exc}") from None
    force = bool(params.get("force"))
    if record.status != "Approved" and not force:
        # Not a DeploymentError: nothing moved, so the task-failure alert (with this text) is the alert.
        raise refuse(
            f"{config.name} {record.version_id} is {record.status}, not Approved: refused "
            f"(approve it with `modelcare registry approve`, or trigger with force=true, which is recorded)"
        )
    target = str(params.get("target") or config.deploy.target)
    kinds = {kind.name: kind for kind in configured_kinds(config)}
    if target not in kinds:
        raise refuse(
            f"{config.name}: target {target!r} is not configured (deploy.{target}); "
            f"configured: {', '.join(kinds) or 'none'}"
        )
    kind = kinds[target]
    try:
        for name in record.artifacts:
            registry.load_artifact(record, name)  # raises ArtifactIntegrityError on a sha256 mismatch
    except ModelcareError as exc:
        raise refuse(f"{config.name} {record.version_id}: artifact check failed: {exc}") from None

    try:  # served with the version: its calibrator (None for versions registered before calibration)
        calibrator = stored_calibrator(record.metadata)
    except ValueError as exc:
        raise refuse(f"{config.name} {record.version_id}: its stored calibration is unusable: {exc}") from None

    emulated = embedded_endpoint(config.airflow.aws_conn_id)
    production = registry.alias(PRODUCTION)
    settings = kind.settings(config) or {}
    draft = DeploymentPlan.model_validate(
        {
            "model": config.name,
            "version": record.version,
            "version_id": record.version_id,
            "status": record.status,
            "force": force,
            "dry_run": dry_run,
            "target": target,
            **deploy_settings(config.deploy, params),
            "classifier": config.task == "classification",
            "model_uri": registry.object_uri(record.version, "model.skops"),
            "model_sha256": record.artifacts["model.skops"]["sha256"],
            "features": record.metadata.get("features")
            or {"numerical": config.data.features.numerical, "categorical": config.data.features.categorical},
            "threshold": stored_threshold(record.metadata),
            "calibration": calibrator.knots() if calibrator is not None else None,
            "previous": Live(version=None, ref=None, exists=False),  # filled in below, from the target
            "production": production.version if production is not None else None,
            "reason": str(params.get("reason") or "manual"),
            "requested_by": _requested_by(run, context),
            "started_at": now(),
            "run_id": run.run_id,
            "dag_id": run.dag_id,
            "run_url": run.run_url,
            "emulated": emulated,
            "aws_conn_id": config.airflow.aws_conn_id,
            "target_settings": settings,
            "package_uri": f"{config.paths.registry_root}/packages/{record.version_id}/{PACKAGE}"
            if kind.packaged
            else None,
        }
    )
    try:
        live = target_for(draft).live()
    except ModelcareError as exc:
        raise refuse(f"{config.name}: {target}: {exc}") from None
    plan = draft.model_copy(update={"previous": live})
    if force and record.status != "Approved":
        log.warning(
            "%s %s is %s: deploying anyway because force=true (recorded)", model, record.version_id, record.status
        )
    if emulated:
        log.warning(
            "embedded AWS emulator at %s: %s are answered by modelcare's emulator extension "
            "(include/modelcare/dev/emulator.py), which runs the packaged model locally; nothing reaches AWS",
            emulated,
            ", ".join(EMULATED_CALLS),
        )
    log.info(
        "plan: %s %s -> %s (%s), live now: %s, production alias: %s",
        config.name,
        record.version_id,
        target,
        plan.strategy,
        describe(live.version),
        describe(plan.production),
    )
    if not dry_run:
        store.write_json(plan_uri, plan.as_json())
    return plan.as_json()


def route_deployment(model: str, context: Mapping[str, Any]) -> str:
    """Branch: the dry-run printout, or the first step of the plan's target."""
    plan = read_plan(context)
    return SHOW_PLAN if plan.dry_run else kind_of(plan).entry_task


# -- dry run -----------------------------------------------------------------------------------------------
def planned_calls(plan: DeploymentPlan) -> list[dict[str, Any]]:
    """The AWS calls a deployment of the plan makes, with their requests (what ``dry_run`` shows)."""
    calls = target_for(plan).planned_calls(plan)
    if plan.alarms:
        calls.append({"call": "cloudwatch:DescribeAlarms", "request": {"AlarmNames": plan.alarms}})
    return calls


def show_plan(model: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``dry_run``: log every call the deployment would make; change nothing."""
    plan = read_plan(context)
    calls = planned_calls(plan)
    log.info(
        "DRY RUN: deploying %s %s to %s would make these %d calls (nothing was changed):\n%s",
        plan.model,
        plan.version_id,
        plan.target,
        len(calls),
        "\n".join(f"  {c['call']}: {json.dumps(c['request'], default=str)}" for c in calls),
    )
    return calls
