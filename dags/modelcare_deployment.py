"""Deployment DAGs, one per model with a ``deploy`` section: resolve, deploy, smoke-test, bake, promote or roll back.

Wiring only: every task body is one call into ``include.modelcare.tasks.deployment``. Separate from
training on purpose: any registered version can be deployed (or an older one re-deployed) without
retraining, and "evaluated" never becomes "deployed" without passing through here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, chain, dag, task

from include.modelcare.config.catalog import load_catalog
from include.modelcare.config.deploy import DeployConfig
from include.modelcare.config.schema import ModelConfig
from include.modelcare.operators.bake import BakeOperator
from include.modelcare.operators.defaults import dag_kwargs
from include.modelcare.operators.params import param_from_field
from include.modelcare.tasks import deployment as d

DOC = """
### Deployment of `{name}`

Deploys a registered version to **{targets}** (default `{target}`, strategy `{strategy}`), then:

1. **resolve**: the form's `version` (default: latest Approved); anything not Approved is refused
   unless `force` is set (recorded); every artifact's sha256 is checked.
2. **deploy**: SageMaker: `model.tar.gz` → model → endpoint config → CreateEndpoint or a blue/green
   UpdateEndpoint (auto-rollback on {alarms}). Lambda: model variables → publish version → alias with
   the canary weight.
3. **verify**: {smoke_rows} rows of the version's reference sample must come back as predictions from
   that version; no alarm may fire during the {bake} min bake.
4. **promote**: all traffic to the version, registry alias `production` moved, deployment recorded.
5. On a failure after traffic moved: **roll_back** to the previous version, `production` stays, alert,
   and the run fails saying why.

`dry_run` logs every call the deployment would make and changes nothing.
"""


def _target_step(name: str, config: ModelConfig, kind: d.TargetKind, step: d.Step) -> Any:
    """The task of one step of a target kind; a ``ready`` step is a sensor in reschedule mode."""
    if step.action == "ready":
        poke, timeout = kind.poll(config)

        # Reschedule mode: between pokes the wait holds no worker slot.
        @task.sensor(task_id=step.task_id, mode="reschedule", poke_interval=poke, timeout=timeout)
        def wait(**context: Any) -> bool:
            return d.target_ready(name, step.task_id, context)

        return wait()

    @task(task_id=step.task_id)
    def run(**context: Any) -> dict[str, Any]:
        return d.target_step(name, step.task_id, context)

    return run()


def deployment_dag(config: ModelConfig) -> DAG:
    """Wire the deployment DAG of one model."""
    assert config.deploy is not None
    name = config.name
    deploy = config.deploy

    @dag(
        **dag_kwargs(
            config,
            "deploy",
            schedule=None,
            description=f"Deploy a registered version of {name} (blue/green or canary, with rollback)",
            doc_md=DOC.format(
                name=name,
                targets=" and ".join(deploy.targets()),
                target=deploy.target,
                strategy=deploy.strategy,
                alarms=", ".join(deploy.alarms) or "no alarms configured",
                smoke_rows=deploy.smoke_rows,
                bake=deploy.bake_minutes,
            ),
        ),
        params={
            "version": Param(
                None,
                type=["null", "string"],
                pattern=r"^(v?\d+|latest|latest-approved)$",
                title="Version",
                description="e.g. v3 (empty: the latest Approved version).",
            ),
            "target": param_from_field(
                DeployConfig, "target", default=deploy.target, enum=deploy.targets(), title="Target"
            ),
            "strategy": param_from_field(DeployConfig, "strategy", default=deploy.strategy, title="Traffic shift"),
            "canary_percent": param_from_field(
                DeployConfig, "canary_percent", default=deploy.canary_percent, title="Canary %"
            ),
            "bake_minutes": param_from_field(
                DeployConfig, "bake_minutes", default=deploy.bake_minutes, title="Bake (minutes)"
            ),
            "force": Param(
                False, type="boolean", title="Force", description="Deploy a version that is not Approved (recorded)."
            ),
            "dry_run": Param(False, type="boolean", title="Dry run", description="Log the calls, change nothing."),
            "reason": Param("manual", type="string", minLength=1, title="Reason"),
            "requested_by": Param(None, type=["null", "string"], title="Requested by (set by retraining)"),
        },
    )
    def deployment() -> None:
        @task(task_id=d.RESOLVE)
        def resolve_version(**context: Any) -> dict[str, Any]:
            return d.resolve_version(name, context)

        @task.branch(task_id=d.ROUTE)
        def route_deployment(**context: Any) -> str:
            return d.route_deployment(name, context)

        @task(task_id=d.SHOW_PLAN)
        def show_plan(**context: Any) -> list[dict[str, Any]]:
            return d.show_plan(name, context)

        @task(task_id=d.SMOKE, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def smoke_test(**context: Any) -> dict[str, Any]:
            return d.smoke_test(name, context)

        bake = BakeOperator(task_id=d.BAKE, model_name=name)

        @task(task_id=d.PROMOTE)
        def promote(**context: Any) -> dict[str, Any]:
            return d.promote(name, context)

        @task(
            task_id=d.ROLL_BACK,
            trigger_rule=TriggerRule.ONE_FAILED,
            retries=2,
            retry_delay=dt.timedelta(seconds=30),  # a rollback should not wait the usual retry delay
        )
        def roll_back(**context: Any) -> None:
            d.roll_back(name, context)

        @task(task_id=d.ALERT)
        def alert_deployed(**context: Any) -> dict[str, str]:
            return d.alert_deployed(name, context)

        route = resolve_version() >> route_deployment()
        route >> show_plan()
        smoke = smoke_test()
        moved: list[Any] = []
        for kind in d.configured_kinds(config):  # one chain of steps per configured target
            steps = [_target_step(name, config, kind, step) for step in kind.steps]
            chain(route, *steps, smoke)
            moved += steps
        promoted = smoke >> bake >> promote()
        promoted >> alert_deployed()
        [*moved, smoke, bake, promoted] >> roll_back()

    return deployment()


for _config in load_catalog().models.values():
    if _config.deploy is not None:
        globals()[f"modelcare_deploy_{_config.name}"] = deployment_dag(_config)
