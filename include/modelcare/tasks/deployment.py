"""The deployment DAG's task bodies: resolve, deploy, smoke-test, bake, promote or roll back.

The plan made by ``resolve_version`` is stored in the run's folder (``deploy_runs/<run>/plan.json``)
and re-used by a re-run, so "the previous version" stays the one live before the first attempt.
Any step that fails after traffic may have moved writes ``failure.json`` beside the plan and fails;
``roll_back`` then restores the previous version, leaves the ``production`` alias alone, records the
attempt and alerts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlparse

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.modelcare.deploy import requests as rq
from include.modelcare.deploy.targets.base import LambdaAlias, Live, SageMakerEndpoint, SmokeAnswer
from include.modelcare.errors import (
    AlarmFired,
    DeploymentError,
    ModelcareError,
    RegistryConflict,
    SmokeTestFailed,
)
from include.modelcare.operators.alerts import Alert, send_alert
from include.modelcare.tasks.context import RunInfo, task_setup

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

RESOLVE: Final = "resolve_version"
ROUTE: Final = "route_deployment"
SHOW_PLAN: Final = "show_plan"
PREPARE_ENDPOINT: Final = "prepare_endpoint"
DEPLOY_ENDPOINT: Final = "deploy_endpoint"
WAIT_ENDPOINT: Final = "wait_for_endpoint"
SHIFT_LAMBDA: Final = "shift_lambda_traffic"
SMOKE: Final = "smoke_test"
BAKE: Final = "bake"
PROMOTE: Final = "promote"
ROLL_BACK: Final = "roll_back"
ALERT: Final = "alert_deployed"
PRODUCTION: Final = "production"
PACKAGE: Final = "model.tar.gz"

# The calls modelcare's emulator extension answers on the embedded stack (see include/modelcare/dev/emulator.py).
EMULATED_CALLS: Final = ("sagemaker:UpdateEndpoint", "sagemaker-runtime:InvokeEndpoint", "lambda:Invoke")


# -- shared helpers ---------------------------------------------------------------------------------------
def _fail(message: str) -> AirflowFailException:
    log.error(message)
    return AirflowFailException(message)


def embedded_endpoint(aws_conn_id: str) -> str | None:
    """The connection's endpoint URL when it points at a local emulator (None for real AWS)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    url = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="s3").conn_config.endpoint_url
    host = urlparse(url or "").hostname or ""
    return url if host in {"127.0.0.1", "localhost", "::1"} or host.endswith(".localhost") else None


def _client(config: ModelConfig, service: str) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=config.airflow.aws_conn_id, client_type=service).conn


def sagemaker_target(config: ModelConfig) -> SageMakerEndpoint:
    """The endpoint, with clients from the amazon provider's hooks."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerEndpoint(
        config, SageMakerHook(aws_conn_id=config.airflow.aws_conn_id).conn, _client(config, "sagemaker-runtime")
    )


def lambda_target(config: ModelConfig) -> LambdaAlias:
    """The function and alias, with the client of the provider's ``LambdaHook``."""
    from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook

    return LambdaAlias(config, LambdaHook(aws_conn_id=config.airflow.aws_conn_id).conn)


def _plan(context: Mapping[str, Any]) -> dict[str, Any]:
    plan: dict[str, Any] = context["ti"].xcom_pull(task_ids=RESOLVE)
    return plan


def _slug(run: RunInfo) -> str:
    from include.modelcare.tasks.retraining import run_slug

    return run_slug(run)


def _run_folder(config: ModelConfig, run: RunInfo) -> str:
    return config.paths.deploy_run(_slug(run))


def _requested_by(run: RunInfo, context: Mapping[str, Any]) -> str:
    dag_run = context.get("dag_run")
    return str(
        run.params.get("requested_by")
        or getattr(dag_run, "triggering_user_name", None)
        or f"airflow:{getattr(dag_run, 'run_type', 'run')}"
    )


@contextlib.contextmanager
def step(config: ModelConfig, store: ObjectStore, run: RunInfo, name: str) -> Iterator[None]:
    """Run a deployment step: on a failure, write ``failure.json`` for ``roll_back`` and fail without retries."""
    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, ModelcareError | ClientError | BotoCoreError):
            raise  # a bug or an infrastructure hiccup: let Airflow retry it
        reason = f"{name}: {exc}"
        store.write_json(f"{_run_folder(config, run)}failure.json", {"step": name, "reason": reason, "at": _now()})
        raise _fail(reason) from (exc if isinstance(exc, DeploymentError) else DeploymentError(reason))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# -- 1. resolve --------------------------------------------------------------------------------------------
def resolve_version(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Pick the version, refuse one that is not Approved (unless forced), verify its artifacts, make the plan."""
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    if config.deploy is None:
        raise _fail(f"{config.name}: no deploy section in the config; nothing to deploy to")
    params = run.params
    dry_run = bool(params.get("dry_run"))
    plan_uri = f"{_run_folder(config, run)}plan.json"
    if not dry_run and store.exists(plan_uri):
        plan: dict[str, Any] = store.read_json(plan_uri)
        log.info("re-run: using the plan of the first attempt (%s)", plan_uri)
        return plan

    registry = open_registry(config, store)
    ref = str(params.get("version") or "latest-approved")
    try:
        record = registry.get(ref)
    except ModelcareError as exc:
        raise _fail(f"{config.name}: cannot deploy {ref!r}: {exc}") from None
    force = bool(params.get("force"))
    if record.status != "Approved" and not force:
        # Not a DeploymentError: nothing moved, so the task-failure alert (with this text) is the alert.
        raise _fail(
            f"{config.name} {record.version_id} is {record.status}, not Approved: refused "
            f"(approve it with `modelcare registry approve`, or trigger with force=true, which is recorded)"
        )
    target = str(params.get("target") or config.deploy.target)
    if target not in config.deploy.targets():
        raise _fail(
            f"{config.name}: target {target!r} is not configured (deploy.{target}); "
            f"configured: {', '.join(config.deploy.targets()) or 'none'}"
        )
    try:
        for name in record.artifacts:
            registry.load_artifact(record, name)  # raises ArtifactIntegrityError on a sha256 mismatch
    except ModelcareError as exc:
        raise _fail(f"{config.name} {record.version_id}: artifact check failed: {exc}") from None

    emulated = embedded_endpoint(config.airflow.aws_conn_id)
    live = _live(config, target)
    production = registry.alias(PRODUCTION)
    model_artifact = record.artifacts["model.skops"]
    strategy = str(params.get("strategy") or config.deploy.strategy)
    plan = {
        "model": config.name,
        "version": record.version,
        "version_id": record.version_id,
        "status": record.status,
        "force": force,
        "dry_run": dry_run,
        "target": target,
        "strategy": strategy,
        "canary_percent": int(params.get("canary_percent") or config.deploy.canary_percent),
        "linear_step_percent": config.deploy.linear_step_percent,
        "bake_seconds": float(
            params["bake_minutes"] if params.get("bake_minutes") is not None else config.deploy.bake_minutes
        )
        * 60,
        "alarm_poll_seconds": config.deploy.alarm_poll_seconds,
        "alarms": list(config.deploy.alarms),
        "model_uri": registry.object_uri(record.version, "model.skops"),
        "model_sha256": model_artifact["sha256"],
        "features": record.metadata.get("features")
        or {"numerical": config.data.features.numerical, "categorical": config.data.features.categorical},
        "previous": live.as_dict(),
        "production": production.version if production is not None else None,
        "reason": str(params.get("reason") or "manual"),
        "requested_by": _requested_by(run, context),
        "started_at": _now(),
        "run_id": run.run_id,
        "dag_id": run.dag_id,
        "run_url": run.run_url,
        "emulated": emulated,
    }
    if target == "sagemaker":
        plan["package_uri"] = f"{config.paths.registry_root}/packages/{record.version_id}/{PACKAGE}"
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
        strategy,
        _describe(live.version),
        _describe(plan["production"]),
    )
    if not dry_run:
        store.write_json(plan_uri, plan)
    return plan


def _describe(version: int | None) -> str:
    return f"v{version:04d}" if version is not None else "nothing"


def _live(config: ModelConfig, target: str) -> Live:
    try:
        return sagemaker_target(config).live() if target == "sagemaker" else lambda_target(config).live()
    except ModelcareError as exc:
        raise _fail(f"{config.name}: {target}: {exc}") from None


def route_deployment(model: str, context: Mapping[str, Any]) -> str:
    """Branch: the dry-run printout, or the target's first step."""
    plan = _plan(context)
    if plan["dry_run"]:
        return SHOW_PLAN
    return PREPARE_ENDPOINT if plan["target"] == "sagemaker" else SHIFT_LAMBDA


# -- dry run -----------------------------------------------------------------------------------------------
def planned_calls(config: ModelConfig, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The AWS calls a deployment of the plan makes, with their requests (what ``dry_run`` shows)."""
    version = int(plan["version"])
    calls: list[dict[str, Any]] = []
    if plan["target"] == "sagemaker":
        calls.append({"call": "s3:PutObject", "request": {"uri": plan["package_uri"], "what": "model.tar.gz"}})
        model_req = rq.sagemaker_model_request(config, version, plan["package_uri"])
        config_req = rq.endpoint_config_request(config, version, model_req["ModelName"])
        calls += [
            {"call": "sagemaker:CreateModel", "request": model_req},
            {"call": "sagemaker:CreateEndpointConfig", "request": config_req},
        ]
        calls.append(_endpoint_call(config, plan, config_req["EndpointConfigName"]))
        calls.append({"call": "sagemaker-runtime:InvokeEndpoint", "request": {"rows": _smoke_rows(config)}})
    else:
        assert config.deploy is not None and config.deploy.lambda_ is not None
        settings = config.deploy.lambda_
        env = _lambda_model_env(config, plan)
        previous = plan["previous"]["ref"]
        first_weight = _lambda_weights(plan)[0]
        calls += [
            {
                "call": "lambda:UpdateFunctionConfiguration",
                "request": {"FunctionName": settings.function_name, "Environment": {"Variables": env}},
            },
            {"call": "lambda:PublishVersion", "request": {"FunctionName": settings.function_name}},
            {
                "call": "lambda:UpdateAlias" if plan["previous"]["exists"] else "lambda:CreateAlias",
                "request": rq.alias_request(
                    settings.function_name,
                    settings.alias,
                    stable=previous if previous and first_weight < 1 else "<new version>",
                    canary="<new version>",
                    weight=first_weight,
                    description=f"{config.name} {plan['version_id']}",
                ),
            },
            {"call": "lambda:Invoke", "request": {"Qualifier": "<new version>", "rows": _smoke_rows(config)}},
        ]
    if plan["alarms"]:
        calls.append({"call": "cloudwatch:DescribeAlarms", "request": {"AlarmNames": plan["alarms"]}})
    return calls


def show_plan(model: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``dry_run``: log every call the deployment would make; change nothing."""
    config, _, _ = task_setup(model, context)
    plan = _plan(context)
    calls = planned_calls(config, plan)
    log.info(
        "DRY RUN: deploying %s %s to %s would make these %d calls (nothing was changed):\n%s",
        config.name,
        plan["version_id"],
        plan["target"],
        len(calls),
        "\n".join(f"  {c['call']}: {json.dumps(c['request'], default=str)}" for c in calls),
    )
    return calls


# -- 2a. SageMaker -----------------------------------------------------------------------------------------
def _endpoint_call(config: ModelConfig, plan: dict[str, Any], config_name: str) -> dict[str, Any]:
    name = rq.endpoint_name(config)
    previous = plan["previous"]
    if not previous["exists"]:
        return {
            "call": "sagemaker:CreateEndpoint",
            "request": rq.create_endpoint_request(name, config_name, config.name),
        }
    deployment = rq.deployment_config(
        config,
        plan["strategy"],
        canary_percent=plan["canary_percent"],
        linear_step_percent=plan["linear_step_percent"],
        alarms=plan["alarms"],
    )
    return {"call": "sagemaker:UpdateEndpoint", "request": rq.update_endpoint_request(name, config_name, deployment)}


def prepare_endpoint(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Write the version's ``model.tar.gz``, create its SageMaker model and endpoint config (idempotently)."""
    from include.modelcare.ml.serialization import sha256_hex
    from include.modelcare.registry.factory import open_registry
    from include.modelcare.serving.package import build_model_tarball

    config, run, store = task_setup(model, context)
    plan = _plan(context)
    assert config.deploy is not None and config.deploy.sagemaker is not None
    with step(config, store, run, PREPARE_ENDPOINT):
        registry = open_registry(config, store)
        model_bytes = registry.load_model_bytes(plan["version"])
        meta = {
            "model": config.name,
            "version": plan["version_id"],
            "sha256": plan["model_sha256"],
            "features": plan["features"],
        }
        tarball = build_model_tarball(model_bytes, meta)  # byte-reproducible: a re-run writes the same bytes
        uri = plan["package_uri"]
        if not store.exists(uri) or sha256_hex(store.read_bytes(uri)) != sha256_hex(tarball):
            store.write_bytes(uri, tarball, content_type="application/gzip")
        endpoint = sagemaker_target(config)
        model_req = rq.sagemaker_model_request(config, plan["version"], uri)
        config_req = rq.endpoint_config_request(config, plan["version"], model_req["ModelName"])
        endpoint.ensure_model(model_req)
        endpoint.ensure_endpoint_config(config_req)
        call = _endpoint_call(config, plan, config_req["EndpointConfigName"])
        live = endpoint.live()
        operation = "create" if call["call"].endswith("CreateEndpoint") else "update"
        if operation == "update" and not live.exists:
            raise DeploymentError(f"endpoint {endpoint.name} disappeared since the plan was made")
    log.info("%s: %s (%s)", endpoint.name, operation, config_req["EndpointConfigName"])
    return {
        "operation": operation,
        "request": call["request"],
        "endpoint_config": config_req["EndpointConfigName"],
        "model_name": model_req["ModelName"],
        "package_sha256": sha256_hex(tarball),
    }


def deploy_endpoint(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """CreateEndpoint or a blue/green UpdateEndpoint through the provider's ``SageMakerHook`` (no waiting here).

    Not the provider's ``SageMakerEndpointOperator``: importing it at parse time pulls boto3 into every
    DAG file parse (house rule 2), and on a retry its "create" falls back to an update with the same
    config. A re-run here sees the endpoint already on the new config and does nothing.
    """
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    config, run, store = task_setup(model, context)
    prepared = context["ti"].xcom_pull(task_ids=PREPARE_ENDPOINT)
    with step(config, store, run, DEPLOY_ENDPOINT):
        hook = SageMakerHook(aws_conn_id=config.airflow.aws_conn_id)
        live = sagemaker_target(config).live()
        operation = prepared["operation"]
        if live.ref == prepared["endpoint_config"]:
            operation = "none"
        elif operation == "create":
            hook.create_endpoint(prepared["request"], wait_for_completion=False)
        elif operation == "update":
            hook.update_endpoint(prepared["request"], wait_for_completion=False)
    log.info("%s: %s -> %s", rq.endpoint_name(config), operation, prepared["endpoint_config"])
    return {"operation": operation, "endpoint_config": prepared["endpoint_config"]}


def endpoint_in_service(model: str, context: Mapping[str, Any]) -> bool:
    """Sensor poke: True once the endpoint is InService on the new config; a failed endpoint fails the step."""
    config, run, store = task_setup(model, context)
    prepared = context["ti"].xcom_pull(task_ids=PREPARE_ENDPOINT)
    with step(config, store, run, WAIT_ENDPOINT):
        endpoint = sagemaker_target(config)
        described = endpoint.client.describe_endpoint(EndpointName=endpoint.name)
        status = described["EndpointStatus"]
        if status in {"Failed", "UpdateRollbackFailed", "OutOfService"}:
            raise DeploymentError(f"endpoint {endpoint.name} is {status}: {described.get('FailureReason', '-')}")
        if status != "InService":
            log.info("endpoint %s is %s", endpoint.name, status)
            return False
        if described.get("EndpointConfigName") != prepared["endpoint_config"]:
            # SageMaker's own auto-rollback (an alarm during its blue/green baking) put the old config back.
            raise DeploymentError(
                f"endpoint {endpoint.name} is InService on {described.get('EndpointConfigName')}, not "
                f"{prepared['endpoint_config']}: SageMaker rolled the update back"
            )
    return True


# -- 2b. Lambda ----------------------------------------------------------------------------------------------
def _lambda_weights(plan: dict[str, Any]) -> list[float]:
    """Share of traffic on the new version, step by step (the last step is 1.0)."""
    if not plan["previous"]["exists"] or plan["previous"]["ref"] in {None, "$LATEST"}:
        return [1.0]  # a new alias has nothing to share traffic with
    if plan["strategy"] == "canary":
        return [plan["canary_percent"] / 100, 1.0]
    if plan["strategy"] == "linear":
        step_share = plan["linear_step_percent"] / 100
        steps = [round(step_share * i, 4) for i in range(1, math.ceil(1 / step_share))]
        return [*steps, 1.0]
    return [1.0]


def _lambda_model_env(config: ModelConfig, plan: dict[str, Any]) -> dict[str, str]:
    """The model variables the function gets for the plan's version."""
    assert config.deploy is not None and config.deploy.lambda_ is not None
    return rq.lambda_environment(
        {},
        model=config.name,
        version_id=plan["version_id"],
        model_uri=plan["model_uri"],
        sha256=plan["model_sha256"],
        features=plan["features"],
        max_rows=config.deploy.lambda_.max_rows,
    )


def shift_lambda_traffic(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Update the function's model variables, publish a version, route the first share of traffic to it."""
    config, run, store = task_setup(model, context)
    plan = _plan(context)
    assert config.deploy is not None and config.deploy.lambda_ is not None
    settings = config.deploy.lambda_
    with step(config, store, run, SHIFT_LAMBDA):
        target = lambda_target(config)
        env = _lambda_model_env(config, plan)
        new = target.publish(env, f"{config.name} {plan['version_id']}", settings.timeout_minutes)
        previous = plan["previous"]["ref"]
        weight = _lambda_weights(plan)[0]
        if weight >= 1 or previous is None or previous == new:
            target.route(stable=new, canary=None, weight=0.0, description=f"{config.name} {plan['version_id']}")
        else:
            target.route(
                stable=previous, canary=new, weight=weight, description=f"{config.name} canary {plan['version_id']}"
            )
    return {"function_version": new, "weight": weight}


# -- 3. verify -------------------------------------------------------------------------------------------------
def _smoke_rows(config: ModelConfig) -> int:
    return config.deploy.smoke_rows if config.deploy is not None else 20


def smoke_records(reference: Any, features: dict[str, Any], rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` rows of the reference sample as JSON records of the feature columns."""
    columns = [*features.get("numerical", []), *features.get("categorical", [])]
    frame = reference[columns].head(rows)
    records = []
    for row in frame.to_dict(orient="records"):
        records.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return records


def check_answer(answer: SmokeAnswer, *, rows: int, version_id: str, classifier: bool) -> dict[str, Any]:
    """Predictions of the right shape from the right version, or ``SmokeTestFailed`` saying what is wrong."""
    body = answer.body
    predictions = body.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != rows:
        got = len(predictions) if isinstance(predictions, list) else type(predictions).__name__
        raise SmokeTestFailed(f"expected {rows} predictions, got {got}")
    if body.get("version") != version_id:
        raise SmokeTestFailed(f"answered by version {body.get('version')!r}, expected {version_id}")
    if classifier:
        scores = body.get("scores")
        if not isinstance(scores, list) or len(scores) != rows:
            raise SmokeTestFailed(f"expected {rows} scores, got {scores!r:.80}")
        bad = [s for s in scores if not isinstance(s, int | float) or not 0 <= s <= 1]
        if bad:
            raise SmokeTestFailed(f"{len(bad)} score(s) outside [0, 1], e.g. {bad[0]!r}")
    return {"rows": rows, "version": body.get("version"), "answered_by": answer.answered_by}


def smoke_test(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Send rows of the version's reference sample to the new version and check the predictions."""
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    plan = _plan(context)
    with step(config, store, run, SMOKE):
        reference = open_registry(config, store).load_reference(plan["version"])
        records = smoke_records(reference, plan["features"], _smoke_rows(config))
        body = rq.smoke_payload(records)
        if plan["target"] == "sagemaker":
            answer = sagemaker_target(config).invoke(body)
        else:
            new = context["ti"].xcom_pull(task_ids=SHIFT_LAMBDA)["function_version"]
            answer = lambda_target(config).invoke(new, body)
        checked = check_answer(
            answer, rows=len(records), version_id=plan["version_id"], classifier=config.task == "classification"
        )
    how = f" (answered by the emulator extension at {plan['emulated']})" if plan["emulated"] else ""
    log.info("smoke test passed: %d predictions from %s%s", checked["rows"], plan["version_id"], how)
    return checked


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


def bake_check(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """One look during the bake: fail on a firing alarm, move linear Lambda traffic, say when to look next.

    The bake's start is kept in the run folder (``bake.json``, per try), because a deferred task resumes
    in a fresh process and the trigger's event carries only the wake-up time.
    """
    config, run, store = task_setup(model, context)
    plan = _plan(context)
    now = dt.datetime.now(dt.UTC)
    marker = f"{_run_folder(config, run)}bake.json"
    attempt = int(getattr(context.get("ti"), "try_number", 1) or 1)
    state = store.read_json(marker) if store.exists(marker) else None
    if state is None or state.get("try") != attempt:
        state = {"started": now.isoformat(), "try": attempt}
        store.write_json(marker, state)
    begun = dt.datetime.fromisoformat(state["started"])
    elapsed = (now - begun).total_seconds()
    bake = float(plan["bake_seconds"])
    with step(config, store, run, BAKE):
        firing = firing_alarms(_client(config, "cloudwatch"), plan["alarms"])
        if firing:
            raise AlarmFired(f"alarm(s) in ALARM {elapsed:.0f} s into the {bake:.0f} s bake: {', '.join(firing)}")
        if plan["target"] == "lambda":
            _advance_lambda(config, plan, context, elapsed / bake if bake else 1.0)
    if elapsed >= bake:
        log.info("bake done: %.0f s, no alarm fired (%s)", elapsed, ", ".join(plan["alarms"]) or "no alarms configured")
        return {"done": True, "started": begun.isoformat(), "seconds": round(elapsed, 1)}
    wake = min(begun + dt.timedelta(seconds=bake), now + dt.timedelta(seconds=plan["alarm_poll_seconds"]))
    log.info("baking: %.0f of %.0f s, no alarm firing; next check at %s", elapsed, bake, wake.isoformat())
    return {"done": False, "started": begun.isoformat(), "next_check": wake.isoformat()}


def _advance_lambda(config: ModelConfig, plan: dict[str, Any], context: Mapping[str, Any], progress: float) -> None:
    """Linear strategy: raise the new version's share as the bake progresses (never to 100%: promote does that)."""
    weights = _lambda_weights(plan)
    if len(weights) <= 2:
        return
    shifted = context["ti"].xcom_pull(task_ids=SHIFT_LAMBDA)
    index = min(int(progress * (len(weights) - 1)), len(weights) - 2)
    lambda_target(config).route(
        stable=plan["previous"]["ref"],
        canary=shifted["function_version"],
        weight=weights[index],
        description=f"{config.name} linear {plan['version_id']}",
    )


# -- 4. promote ------------------------------------------------------------------------------------------------
def _history_entry(plan: dict[str, Any], outcome: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": plan["model"],
        "version": plan["version"],
        "version_id": plan["version_id"],
        "target": plan["target"],
        "strategy": plan["strategy"],
        "previous_version": plan["previous"]["version"],
        "outcome": outcome,
        "by": plan["requested_by"],
        "reason": plan["reason"],
        "forced": plan["force"],
        "started_at": plan["started_at"],
        "finished_at": _now(),
        "dag_id": plan["dag_id"],
        "run_id": plan["run_id"],
        "run_url": plan["run_url"],
        "emulated": bool(plan["emulated"]),
        **extra,
    }


def promote(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """All traffic to the new version, ``production`` alias moved (compare-and-swap), record written."""
    from include.modelcare.registry.deployments import DeploymentHistory
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    plan = _plan(context)
    ti = context["ti"]
    detail: dict[str, Any] = {}
    with step(config, store, run, PROMOTE):
        if plan["target"] == "lambda":
            new = ti.xcom_pull(task_ids=SHIFT_LAMBDA)["function_version"]
            lambda_target(config).route(
                stable=new, canary=None, weight=0.0, description=f"{config.name} {plan['version_id']}"
            )
            detail["function_version"] = new
        else:
            prepared = ti.xcom_pull(task_ids=PREPARE_ENDPOINT)
            detail["endpoint_config"] = prepared["endpoint_config"]
        registry = open_registry(config, store)
        current = registry.alias(PRODUCTION)
        if current is None or current.version != plan["version"]:
            try:
                registry.set_alias(
                    PRODUCTION,
                    plan["version"],
                    by=plan["requested_by"],
                    why=f"deployed to {plan['target']} ({plan['dag_id']}/{plan['run_id']}): {plan['reason']}",
                    expected=plan["production"],
                    force=plan["force"],
                )
            except RegistryConflict as exc:
                raise DeploymentError(f"production alias moved by someone else during the deployment: {exc}") from None
    uri = DeploymentHistory(config, store).record(_history_entry(plan, "deployed", **detail))
    if plan["target"] == "sagemaker":
        _clean_up_endpoint(config, plan, detail["endpoint_config"])
    return {"version_id": plan["version_id"], "target": plan["target"], "record": uri, **detail}


def _clean_up_endpoint(config: ModelConfig, plan: dict[str, Any], live_config: str) -> None:
    """Delete endpoint configs/models beyond ``keep_versions`` (a failure here is logged, not fatal)."""
    assert config.deploy is not None and config.deploy.sagemaker is not None
    protected = {live_config, *([plan["previous"]["ref"]] if plan["previous"]["ref"] else [])}
    try:
        sagemaker_target(config).clean_up(config.deploy.sagemaker.keep_versions, protected)
    except Exception as exc:  # the deployment succeeded; leftovers cost money, not correctness
        log.warning("clean-up of old endpoint configs failed (the deployment stands): %s", exc)


# -- 5. roll back ------------------------------------------------------------------------------------------
def roll_back(model: str, context: Mapping[str, Any]) -> None:
    """After a failed step: put the previous version back, keep ``production`` where it was, record, alert, fail."""
    from include.modelcare.registry.deployments import DeploymentHistory
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    plan = context["ti"].xcom_pull(task_ids=RESOLVE)
    if not plan:
        raise AirflowSkipException("nothing to roll back: no deployment was planned (resolve_version failed)")
    ti = context["ti"]
    folder = _run_folder(config, run)
    failure = store.read_json(f"{folder}failure.json") if store.exists(f"{folder}failure.json") else None
    reason = failure["reason"] if failure else "a deployment task failed (see its log)"
    previous = plan["previous"]
    if plan["target"] == "sagemaker":
        assert config.deploy is not None and config.deploy.sagemaker is not None
        prepared = ti.xcom_pull(task_ids=PREPARE_ENDPOINT) or {}
        new_ref = prepared.get("endpoint_config")
        endpoint = sagemaker_target(config)
        if new_ref is None:
            action = "nothing to roll back: no endpoint config was made"
        elif previous["ref"] == new_ref:
            action = "nothing to roll back: this version was already live before the run"
        else:
            action = endpoint.roll_back(previous["ref"], new_ref)
            if previous["ref"] is not None and action.startswith("endpoint"):
                settings = config.deploy.sagemaker
                endpoint.wait_in_service(min(settings.poll_seconds, 5), settings.timeout_minutes)
    else:
        shifted = ti.xcom_pull(task_ids=SHIFT_LAMBDA) or {}
        new_ref = shifted.get("function_version")
        if new_ref is None:
            action = "nothing to roll back: no function version was published"
        elif previous["ref"] == new_ref:
            action = "nothing to roll back: this version was already live before the run"
        else:
            action = lambda_target(config).roll_back(previous["ref"], new_ref)
    registry = open_registry(config, store)
    current = registry.alias(PRODUCTION)
    if current is not None and current.version == plan["version"] and plan["production"] not in (None, plan["version"]):
        registry.set_alias(
            PRODUCTION, plan["production"], by="modelcare:rollback", why=f"rollback: {reason}", expected=plan["version"]
        )
        action += f"; production alias back on {_describe(plan['production'])}"
    outcome = "failed" if action.startswith("nothing to roll back") else "rolled_back"
    kind = "deploy_failed" if outcome == "rolled_back" else "deploy_error"
    DeploymentHistory(config, store).record(_history_entry(plan, outcome, failure=reason, rollback=action))
    alert = Alert(
        model=config.name,
        day=run.day,
        kind=f"{kind}.{plan['version_id']} to {plan['target']}",
        marker=f"deploy_failed.{plan['version_id']}.{plan['target']}.{_slug(run)}",
        summary=f"{config.name} {plan['version_id']} to {plan['target']} failed"
        + (" and was rolled back" if outcome == "rolled_back" else " before traffic moved")
        + f": {reason}",
        figures={
            "version": plan["version_id"],
            "target": plan["target"],
            "previous (live again)": _describe(previous["version"]),
            "production alias": _describe(plan["production"]),
            "rollback": action,
        },
        report_uri=folder,
        run_url=run.run_url,
    )
    send_alert(alert, config, store, context)
    message = (
        f"deployment of {config.name} {plan['version_id']} to {plan['target']} failed: {reason}; "
        f"{'rolled back' if outcome == 'rolled_back' else 'no rollback needed'} ({action}); "
        f"production stays {_describe(plan['production'])}"
    )
    raise _fail(message) from DeploymentError(message)  # alerted above: no second task-failure alert


# -- 6. alert ---------------------------------------------------------------------------------------------------
def alert_deployed(model: str, context: Mapping[str, Any]) -> dict[str, str]:
    """Email + SNS: deployed vN (previous vM) with a link to the run."""
    config, run, store = task_setup(model, context)
    plan = _plan(context)
    promoted = context["ti"].xcom_pull(task_ids=PROMOTE)
    where = promoted.get("endpoint_config") or f"{plan['target']} version {promoted.get('function_version')}"
    alert = Alert(
        model=config.name,
        day=run.day,
        kind=f"deployed.{plan['version_id']} to {plan['target']}",
        marker=f"deployed.{plan['version_id']}.{plan['target']}.{_slug(run)}",
        summary=f"{config.name} {plan['version_id']} deployed to {plan['target']} "
        f"(previous {_describe(plan['previous']['version'])}), strategy {plan['strategy']}"
        + (" on the embedded emulator" if plan["emulated"] else ""),
        figures={
            "version": plan["version_id"],
            "previous": _describe(plan["previous"]["version"]),
            "target": where,
            "by": plan["requested_by"],
            "forced": plan["force"],
        },
        report_uri=promoted.get("record"),
        run_url=run.run_url,
    )
    return send_alert(alert, config, store, context)
