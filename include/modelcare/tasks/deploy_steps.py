"""The deployment's middle: the target's own steps, the smoke test and the bake's checks.

Each body reads the plan (``read_plan``) and talks to the plan's target through ``DeployTarget`` only;
the target kind says which steps it has (``TargetKind.steps``) and the DAG makes one task per step.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from include.modelcare.deploy.targets.base import TargetKind, target_for
from include.modelcare.errors import AlarmFired, DeploymentError
from include.modelcare.tasks.context import task_setup
from include.modelcare.tasks.deploy_common import (
    BAKE,
    SMOKE,
    deploy_step,
    kind_of,
    prepared_of,
    read_plan,
    run_folder,
)

log = logging.getLogger(__name__)


def target_step(model: str, task_id: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """One step of the plan's target (``prepare``, ``shift`` or both, as the kind's step ``task_id`` says)."""
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    plan = read_plan(context)
    kind = kind_of(plan)
    action = kind.step(task_id).action
    with deploy_step(config, store, run, task_id):
        target = target_for(plan)
        if action in {"prepare", "deploy"}:
            prepared = target.prepare(plan, open_registry(config, store), store)
            return prepared if action == "prepare" else {**prepared, **target.shift(plan, prepared)}
        prepared = _prepared(context, kind, task_id)
        if action == "shift":
            return target.shift(plan, prepared)
    raise DeploymentError(f"{task_id}: a {action!r} step is a sensor (target_ready), not a task")


def target_ready(model: str, task_id: str, context: Mapping[str, Any]) -> bool:
    """Sensor poke of the kind's ``ready`` step: True once the new version serves; a failed target fails it."""
    config, run, store = task_setup(model, context)
    plan = read_plan(context)
    kind = kind_of(plan)
    with deploy_step(config, store, run, task_id):
        return target_for(plan).ready(plan, _prepared(context, kind, task_id))


def _prepared(context: Mapping[str, Any], kind: TargetKind, task_id: str) -> dict[str, Any]:
    prepared = prepared_of(context, kind)
    if not prepared:
        raise DeploymentError(f"{task_id}: {kind.entry_task} left nothing to work on")
    return prepared


def smoke_test(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Send rows of the version's reference sample to the new version and check the predictions."""
    from include.modelcare.deploy import requests as rq
    from include.modelcare.deploy.smoke import check_answer, smoke_records
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    plan = read_plan(context)
    with deploy_step(config, store, run, SMOKE):
        reference = open_registry(config, store).load_reference(plan.version)
        records = smoke_records(reference, plan.features, plan.smoke_rows)
        answer = target_for(plan).invoke(_prepared(context, kind_of(plan), SMOKE), rq.smoke_payload(records))
        checked = check_answer(answer, rows=len(records), version_id=plan.version_id, classifier=plan.classifier)
    how = f" (answered by the emulator extension at {plan.emulated})" if plan.emulated else ""
    log.info("smoke test passed: %d predictions from %s%s", checked["rows"], plan.version_id, how)
    return checked


def bake_check(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """One look during the bake: fail on a firing alarm, let the target step traffic, say when to look next.

    The bake's start is kept in the run folder (``bake.json``, per try), because a deferred task resumes
    in a fresh process and the trigger's event carries only the wake-up time.
    """
    from include.modelcare.deploy.alarms import cloudwatch_client, firing_alarms

    config, run, store = task_setup(model, context)
    plan = read_plan(context)
    now = dt.datetime.now(dt.UTC)
    marker = f"{run_folder(config, run)}bake.json"
    attempt = int(getattr(context.get("ti"), "try_number", 1) or 1)
    state = store.read_json(marker) if store.exists(marker) else None
    if state is None or state.get("try") != attempt:
        state = {"started": now.isoformat(), "try": attempt}
        store.write_json(marker, state)
    begun = dt.datetime.fromisoformat(state["started"])
    elapsed = (now - begun).total_seconds()
    bake = plan.bake_seconds
    with deploy_step(config, store, run, BAKE):
        firing = firing_alarms(cloudwatch_client(plan.aws_conn_id), plan.alarms)
        if firing:
            raise AlarmFired(f"alarm(s) in ALARM {elapsed:.0f} s into the {bake:.0f} s bake: {', '.join(firing)}")
        prepared = _prepared(context, kind_of(plan), BAKE)
        target_for(plan).advance(plan, prepared, elapsed / bake if bake else 1.0)
    if elapsed >= bake:
        log.info("bake done: %.0f s, no alarm fired (%s)", elapsed, ", ".join(plan.alarms) or "no alarms configured")
        return {"done": True, "started": begun.isoformat(), "seconds": round(elapsed, 1)}
    wake = min(begun + dt.timedelta(seconds=bake), now + dt.timedelta(seconds=plan.alarm_poll_seconds))
    log.info("baking: %.0f of %.0f s, no alarm firing; next check at %s", elapsed, bake, wake.isoformat())
    return {"done": False, "started": begun.isoformat(), "next_check": wake.isoformat()}
