"""The deployment's end: promote (all traffic, ``production`` alias, record), roll back, or alert.

``roll_back`` runs when any step failed: it puts the plan's previous version back on the target, leaves
``production`` where it was before the run, records the attempt, alerts, and fails the run saying why
(with a ``DeploymentError`` cause, so the task-failure alert does not alert a second time).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from include.modelcare.deploy.plan import DeploymentPlan
from include.modelcare.deploy.targets.base import target_for
from include.modelcare.errors import DeploymentError, RegistryConflict
from include.modelcare.operators.alerts import Alert, send_alert
from include.modelcare.tasks.boundary import TaskFailed
from include.modelcare.tasks.context import task_setup
from include.modelcare.tasks.deploy_common import (
    PRODUCTION,
    PROMOTE,
    RESOLVE,
    deploy_step,
    describe,
    kind_of,
    now,
    prepared_of,
    read_plan,
    run_folder,
    slug,
)
from include.modelcare.tasks.metrics import publish_serving_version

log = logging.getLogger(__name__)


def history_entry(plan: DeploymentPlan, outcome: str, **extra: Any) -> dict[str, Any]:
    """The deployment record of the plan's attempt (``registry.deployments``)."""
    return {
        "model": plan.model,
        "version": plan.version,
        "version_id": plan.version_id,
        "target": plan.target,
        "strategy": plan.strategy,
        "previous_version": plan.previous.version,
        "outcome": outcome,
        "by": plan.requested_by,
        "reason": plan.reason,
        "forced": plan.force,
        "started_at": plan.started_at,
        "finished_at": now(),
        "dag_id": plan.dag_id,
        "run_id": plan.run_id,
        "run_url": plan.run_url,
        "emulated": bool(plan.emulated),
        **extra,
    }


# -- 4. promote ------------------------------------------------------------------------------------------------
def promote(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """All traffic to the new version, ``production`` alias moved (compare-and-swap), record written."""
    from include.modelcare.registry.deployments import DeploymentHistory
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    plan = read_plan(context)
    kind = kind_of(plan)
    with deploy_step(config, store, run, PROMOTE):
        target = target_for(plan)
        prepared = prepared_of(context, kind)
        if not prepared:
            raise DeploymentError(f"{kind.entry_task} left nothing to promote")
        detail = target.promote(plan, prepared)
        registry = open_registry(config, store)
        current = registry.alias(PRODUCTION)
        if current is None or current.version != plan.version:
            try:
                registry.set_alias(
                    PRODUCTION,
                    plan.version,
                    by=plan.requested_by,
                    why=f"deployed to {plan.target} ({plan.dag_id}/{plan.run_id}): {plan.reason}",
                    expected=plan.production,
                    force=plan.force,
                )
            except RegistryConflict as exc:
                raise DeploymentError(f"production alias moved by someone else during the deployment: {exc}") from None
    uri = DeploymentHistory(config, store).record(history_entry(plan, "deployed", **detail))
    target.clean_up(plan, str(prepared[kind.ref_key]))
    return {"version_id": plan.version_id, "target": plan.target, "record": uri, **detail}


# -- 5. roll back ------------------------------------------------------------------------------------------
def roll_back(model: str, context: Mapping[str, Any]) -> None:
    """After a failed step: put the previous version back, keep ``production`` where it was, record, alert, fail."""
    from include.modelcare.registry.deployments import DeploymentHistory
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    if not context["ti"].xcom_pull(task_ids=RESOLVE):
        raise AirflowSkipException("nothing to roll back: no deployment was planned (resolve_version failed)")
    plan = read_plan(context)
    kind = kind_of(plan)
    folder = run_folder(config, run)
    failure = store.read_json(f"{folder}failure.json") if store.exists(f"{folder}failure.json") else None
    reason = failure["reason"] if failure else "a deployment task failed (see its log)"
    previous = plan.previous
    new_ref = (prepared_of(context, kind) or {}).get(kind.ref_key)
    registry = open_registry(config, store)
    current = registry.alias(PRODUCTION)
    moved_here = current is not None and current.version == plan.version and plan.production != plan.version
    if new_ref is None:
        action = f"nothing to roll back: {kind.nothing_prepared}"
    elif previous.ref == new_ref:
        action = "nothing to roll back: this version was already live before the run"
    elif moved_here and plan.production is None:
        # promote moved `production` before the failure, and there is no earlier version to point it back
        # at: removing what serves it would leave `production` naming a version nothing serves.
        action = (
            f"nothing to roll back: production already points at {plan.version_id} (moved before the failure) "
            f"and no earlier version exists, so {plan.target} keeps serving it"
        )
    else:
        action = target_for(plan).roll_back(plan, str(new_ref))
    if moved_here and plan.production is not None:
        registry.set_alias(
            PRODUCTION, plan.production, by="modelcare:rollback", why=f"rollback: {reason}", expected=plan.version
        )
        action += f"; production alias back on {describe(plan.production)}"
    outcome = "failed" if action.startswith("nothing to roll back") else "rolled_back"
    kind_name = "deploy_failed" if outcome == "rolled_back" else "deploy_error"
    DeploymentHistory(config, store).record(history_entry(plan, outcome, failure=reason, rollback=action))
    alert = Alert(
        model=config.name,
        day=run.day,
        kind=f"{kind_name}.{plan.version_id} to {plan.target}",
        marker=f"deploy_failed.{plan.version_id}.{plan.target}.{slug(run)}",
        summary=f"{config.name} {plan.version_id} to {plan.target} failed"
        + (" and was rolled back" if outcome == "rolled_back" else " before traffic moved")
        + f": {reason}",
        figures={
            "version": plan.version_id,
            "target": plan.target,
            "previous (live again)": describe(previous.version),
            "production alias": describe(plan.production),
            "rollback": action,
        },
        report_uri=folder,
        run_url=run.run_url,
    )
    send_alert(alert, config, store, context)
    message = (
        f"deployment of {config.name} {plan.version_id} to {plan.target} failed: {reason}; "
        f"{'rolled back' if outcome == 'rolled_back' else 'no rollback needed'} ({action}); "
        f"production stays {describe(plan.production)}"
    )
    log.error(message)
    raise TaskFailed(message) from DeploymentError(message)  # alerted above: no second task-failure alert


# -- 6. alert ---------------------------------------------------------------------------------------------------
def alert_deployed(model: str, context: Mapping[str, Any]) -> dict[str, str]:
    """Email + SNS: deployed vN (previous vM) with a link to the run; then ``ServingVersion`` to CloudWatch
    (here, not in promote: a CloudWatch failure must not roll back a deployment that succeeded)."""
    config, run, store = task_setup(model, context)
    plan = read_plan(context)
    promoted = context["ti"].xcom_pull(task_ids=PROMOTE)
    where = kind_of(plan).where.format(target=plan.target, ref=promoted.get(kind_of(plan).ref_key))
    alert = Alert(
        model=config.name,
        day=run.day,
        kind=f"deployed.{plan.version_id} to {plan.target}",
        marker=f"deployed.{plan.version_id}.{plan.target}.{slug(run)}",
        summary=f"{config.name} {plan.version_id} deployed to {plan.target} "
        f"(previous {describe(plan.previous.version)}), strategy {plan.strategy}"
        + (" on the embedded emulator" if plan.emulated else ""),
        figures={
            "version": plan.version_id,
            "previous": describe(plan.previous.version),
            "target": where,
            "by": plan.requested_by,
            "forced": plan.force,
        },
        report_uri=promoted.get("record"),
        run_url=run.run_url,
    )
    sent = send_alert(alert, config, store, context)
    publish_serving_version(config, store, run, plan.version, plan.aws_conn_id)  # after the alert: no rollback
    return sent
