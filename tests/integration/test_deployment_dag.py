"""The deployment DAG end to end with dag.test() on the embedded stack (plus modelcare's emulator extension).

Versions are registered straight into the registry with real skops models (training is the retraining
DAG's business); every deployment below really creates/updates the emulated endpoint or Lambda alias and
every smoke request really runs the packaged model (``include/modelcare/dev/emulator.py``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

import pytest

from tests.integration.conftest import Harness, reset_deploy_targets

pytestmark = pytest.mark.integration

FAST = {"bake_minutes": 0.02}  # a 1.2 s bake: the alarms are still checked


def _register(h: Harness, seed: int, status: str = "Approved") -> Any:
    from include.modelcare.dev.simulate import register_simulated_version

    return register_simulated_version(h.registry, h.config, seed=seed, status=status)


@pytest.fixture
def deploy_harness(harness: Harness, devstack: Any) -> Harness:
    reset_deploy_targets(harness, devstack)
    return harness


CALLS: list[tuple[str, str]] = []  # (service, operation) of every AWS call made inside deployment runs


def _deploy(h: Harness, when: dt.datetime, **conf: Any) -> dict[str, str]:
    from unittest import mock

    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def recording(client: Any, operation: str, params: Any) -> Any:
        CALLS.append((client.meta.service_model.service_name, operation))
        return original(client, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", recording):
        return h.run_dag("deploy", when, {**FAST, **conf})


# IAM action names that differ from the API operation's name.
IAM_NAMES = {
    ("s3", "ListObjectsV2"): ["s3:ListBucket"],
    ("s3", "HeadObject"): ["s3:GetObject"],
    ("s3", "CopyObject"): ["s3:GetObject", "s3:PutObject"],
    ("lambda", "Invoke"): ["lambda:InvokeFunction"],
    ("sagemaker-runtime", "InvokeEndpoint"): ["sagemaker:InvokeEndpoint"],
}


def _policy_actions(name: str) -> set[str]:
    from tests.airflow_env import REPO

    policy = json.loads((REPO / "docs" / "iam" / name).read_text())
    actions: set[str] = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def _assert_policy_covers(name: str, calls: list[tuple[str, str]]) -> None:
    needed = {a for service, op in calls for a in IAM_NAMES.get((service, op), [f"{service}:{op}"])}
    allowed = _policy_actions(name)
    assert not any("*" in a for a in allowed), allowed
    assert needed <= allowed, f"{name} lacks {sorted(needed - allowed)}"


def _endpoint_config(devstack: Any, h: Harness) -> str | None:
    from include.modelcare.deploy.requests import endpoint_name

    try:
        return str(
            devstack.client("sagemaker").describe_endpoint(EndpointName=endpoint_name(h.config))["EndpointConfigName"]
        )
    except devstack.client("sagemaker").exceptions.ClientError:
        return None


def _alias(devstack: Any, h: Harness) -> dict[str, Any]:
    assert h.config.deploy is not None and h.config.deploy.lambda_ is not None
    lam = devstack.client("lambda")
    alias = lam.get_alias(FunctionName=h.config.deploy.lambda_.function_name, Name=h.config.deploy.lambda_.alias)
    return {
        "version": alias["FunctionVersion"],
        "weights": alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}),
    }


def _production(h: Harness) -> int | None:
    alias = h.registry.alias("production")
    return alias.version if alias is not None else None


def _history(h: Harness) -> list[dict[str, Any]]:
    from include.modelcare.registry.deployments import DeploymentHistory

    return DeploymentHistory(h.config, h.store).entries()


T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def test_sagemaker_first_deploy_then_blue_green_update(deploy_harness: Harness, devstack: Any) -> None:
    from include.modelcare.dev import emulator

    h = deploy_harness
    v1, v2 = _register(h, 1), _register(h, 2)
    calls_before = len(emulator.STATE.invocations)
    CALLS.clear()

    states = _deploy(h, T0, version="v1")
    assert states["deploy_endpoint"] == "success" and states["promote"] == "success", states
    assert states["roll_back"] == "skipped", states
    assert f"-v{v1.version:04d}-" in (_endpoint_config(devstack, h) or "")
    assert _production(h) == v1.version

    states = _deploy(h, T0 + dt.timedelta(hours=1))  # no version given: the latest Approved one (v2)
    assert states["deploy_endpoint"] == "success" and states["alert_deployed"] == "success", states
    assert f"-v{v2.version:04d}-" in (_endpoint_config(devstack, h) or "")
    assert _production(h) == v2.version
    served = [c for c in emulator.STATE.invocations[calls_before:]]
    assert [c["call"] for c in served] == [
        "sagemaker-runtime:InvokeEndpoint",  # smoke test of v1 (new endpoint: no UpdateEndpoint)
        "sagemaker:UpdateEndpoint",
        "sagemaker-runtime:InvokeEndpoint",  # smoke test of v2
    ]
    assert all(c.get("ok", True) for c in served)

    history = _history(h)
    assert [(e["version_id"], e["outcome"], e["previous_version"]) for e in history] == [
        (v2.version_id, "deployed", v1.version),
        (v1.version_id, "deployed", None),
    ]
    assert history[0]["target"] == "sagemaker" and history[0]["emulated"]
    moves = h.registry.alias_history("production")
    assert [m["version"] for m in moves] == [v1.version, v2.version]
    subjects = [m["Subject"] for m in h.mails()]
    assert any(f"deployed {v2.version_id} to sagemaker" in s for s in subjects), subjects
    _assert_policy_covers("sagemaker-deploy-policy.json", CALLS)
    # The package SageMaker serves is the version's reproducible model.tar.gz.
    package = f"{h.config.paths.registry_root}/packages/{v2.version_id}/model.tar.gz"
    assert h.store.exists(package)


def test_alarm_during_bake_rolls_back_and_production_stays(deploy_harness: Harness, devstack: Any) -> None:
    h = deploy_harness
    v1, v2 = _register(h, 1), _register(h, 2)
    assert _deploy(h, T0, version="v1")["promote"] == "success"
    live_before = _endpoint_config(devstack, h)
    assert h.config.deploy is not None
    devstack.client("cloudwatch").set_alarm_state(
        AlarmName=h.config.deploy.alarms[0], StateValue="ALARM", StateReason="5XX errors on the new fleet"
    )

    states = _deploy(h, T0 + dt.timedelta(hours=1), version="v2")
    assert states["deploy_endpoint"] == "success" and states["smoke_test"] == "success", states
    assert states["bake"] == "failed" and states["promote"] == "upstream_failed", states
    assert states["roll_back"] == "failed", states  # it rolls back, then fails the run saying why
    assert _endpoint_config(devstack, h) == live_before
    assert _production(h) == v1.version
    latest = _history(h)[0]
    assert latest["version_id"] == v2.version_id and latest["outcome"] == "rolled_back"
    assert "modelcare-customer-churn-errors" in latest["failure"] and "updated back to" in latest["rollback"]
    subjects = [m["Subject"] for m in h.mails()]
    assert any(f"deployment failed and rolled back {v2.version_id}" in s for s in subjects), subjects


def _broken_zip() -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("include/__init__.py", "")
        archive.writestr("include/modelcare/__init__.py", "")
        archive.writestr("include/modelcare/serving/__init__.py", "")
        archive.writestr(
            "include/modelcare/serving/lambda_handler.py",
            "def handler(event, context):\n    raise RuntimeError('broken build: predictions unavailable')\n",
        )
    return raw.getvalue()


def test_lambda_canary_failed_smoke_rollback_and_redeploy_of_an_older_version(
    deploy_harness: Harness, devstack: Any
) -> None:
    from include.modelcare.serving.package import build_lambda_zip

    h = deploy_harness
    CALLS.clear()
    assert h.config.deploy is not None and h.config.deploy.lambda_ is not None
    function = h.config.deploy.lambda_.function_name
    lam = devstack.client("lambda")
    v1, v2 = _register(h, 1), _register(h, 2)

    states = _deploy(h, T0, version="v1", target="lambda")
    assert states["shift_lambda_traffic"] == "success" and states["promote"] == "success", states
    first = _alias(devstack, h)
    assert first["weights"] == {}

    states = _deploy(h, T0 + dt.timedelta(hours=1), version="v2", target="lambda", strategy="canary")
    assert states["promote"] == "success", states
    second = _alias(devstack, h)
    assert second["version"] != first["version"] and second["weights"] == {}
    assert _production(h) == v2.version

    # A broken function build: the smoke test of the newly published version fails after the canary moved.
    lam.update_function_code(FunctionName=function, ZipFile=_broken_zip())
    states = _deploy(h, T0 + dt.timedelta(hours=2), version="v1", target="lambda")
    assert states["shift_lambda_traffic"] == "success" and states["smoke_test"] == "failed", states
    assert states["roll_back"] == "failed", states
    assert _alias(devstack, h) == second  # all traffic back on v2's function version
    assert _production(h) == v2.version
    latest = _history(h)[0]
    assert latest["outcome"] == "rolled_back" and "broken build" in latest["failure"], latest

    # Fixed build: the same manual redeploy of the older v1 now goes through, without any training.
    lam.update_function_code(FunctionName=function, ZipFile=build_lambda_zip())
    states = _deploy(h, T0 + dt.timedelta(hours=3), version="v1", target="lambda", strategy="all_at_once")
    assert states["promote"] == "success", states
    assert _production(h) == v1.version
    assert [e["outcome"] for e in _history(h)] == ["deployed", "rolled_back", "deployed", "deployed"]
    env = lam.get_function_configuration(FunctionName=function, Qualifier=_alias(devstack, h)["version"])
    assert env["Environment"]["Variables"]["MODELCARE_MODEL_VERSION"] == v1.version_id
    _assert_policy_covers("lambda-deploy-policy.json", CALLS)


def test_rejected_version_is_refused_and_dry_run_changes_nothing(deploy_harness: Harness, devstack: Any) -> None:
    h = deploy_harness
    _register(h, 1)
    rejected = _register(h, 2, status="Rejected")

    states = _deploy(h, T0, version=rejected.version_id)
    assert states["resolve_version"] == "failed", states
    assert all(s in {"upstream_failed", "skipped", "None"} for t, s in states.items() if t != "resolve_version")
    assert _endpoint_config(devstack, h) is None and _production(h) is None
    bodies = [m.get_body().get_content() for m in h.mails()]
    assert any(f"{rejected.version_id} is Rejected, not Approved: refused" in b for b in bodies), bodies

    keys_before = sorted(h.store.list(f"s3://{h.config.data.bucket}/"))

    states = _deploy(h, T0 + dt.timedelta(hours=1), version="v1", dry_run=True)
    assert states["show_plan"] == "success" and states["prepare_endpoint"] == "skipped", states
    assert _endpoint_config(devstack, h) is None and _production(h) is None
    keys_after = sorted(h.store.list(f"s3://{h.config.data.bucket}/"))
    assert keys_after == keys_before, set(keys_after) ^ set(keys_before)


def test_dry_run_lists_the_calls_it_would_make(deploy_harness: Harness) -> None:
    from include.modelcare.deploy.plan import Live
    from include.modelcare.tasks.deployment import planned_calls
    from tests.unit.deploy.plans import make_plan

    h = deploy_harness
    v1 = _register(h, 1)
    plan = make_plan(
        h.config,
        "sagemaker",
        version=v1.version,
        version_id=v1.version_id,
        strategy="canary",
        canary_percent=10,
        alarms=["modelcare-customer-churn-errors"],
        package_uri="s3://b/p/model.tar.gz",
        model_uri=v1.uri + "/model.skops",
        model_sha256=v1.artifacts["model.skops"]["sha256"],
        features={"numerical": ["a"], "categorical": []},
    )
    calls = [c["call"] for c in planned_calls(plan)]
    assert calls == [
        "s3:PutObject",
        "sagemaker:CreateModel",
        "sagemaker:CreateEndpointConfig",
        "sagemaker:CreateEndpoint",
        "sagemaker-runtime:InvokeEndpoint",
        "cloudwatch:DescribeAlarms",
    ]
    plan = plan.model_copy(update={"previous": Live(version=1, ref="x-v0001-aaaaaaaa", exists=True)})
    assert "sagemaker:UpdateEndpoint" in [c["call"] for c in planned_calls(plan)]
    json.dumps(planned_calls(plan))  # the XCom must be JSON


def test_re_run_of_resolve_keeps_the_first_plan(deploy_harness: Harness) -> None:
    """A re-run after traffic moved must still name the version that was live before the first attempt."""
    from types import SimpleNamespace

    from include.modelcare.tasks.deployment import resolve_version

    h = deploy_harness
    v1 = _register(h, 1)
    run = SimpleNamespace(dag_id="modelcare_deploy_customer_churn", run_id="manual__rerun", run_after=T0)
    context: dict[str, Any] = {
        "params": {"version": "v1", "target": "lambda", "strategy": "canary", "bake_minutes": 0, "dry_run": False},
        "dag_run": run,
        "run_id": run.run_id,
        "logical_date": T0,
    }
    first = resolve_version(h.config.name, context)
    assert first["previous"] == {"version": None, "ref": None, "exists": False}
    h.registry.set_alias("production", v1.version, by="test", why="someone moved it meanwhile")
    again = resolve_version(h.config.name, context)
    assert again == first  # read back from deploy_runs/<run>/plan.json, not re-resolved
    context["params"] = {**context["params"], "dry_run": True}
    assert resolve_version(h.config.name, context)["production"] == v1.version  # a dry run always re-plans
