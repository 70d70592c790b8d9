"""The deployment task bodies against a third, in-memory target registered through ``DeployTarget``.

Proves that a new kind of target is one module's worth of code: nothing in the task bodies names a
target. The bodies run with a fake task context (``ti.xcom_pull``) on the embedded stack's S3 and
CloudWatch, with a real registry; the assertions are on outcomes (what the target serves, the
``production`` alias, the deployment record, ``failure.json``), not on calls.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from tests.airflow_env import configure_airflow

configure_airflow()  # before anything imports airflow: a throw-away AIRFLOW_HOME

from include.modelcare.deploy.plan import DeploymentPlan, Live  # noqa: E402
from include.modelcare.deploy.targets import base  # noqa: E402
from include.modelcare.deploy.targets.base import DeployTarget, SmokeAnswer, Step, TargetKind  # noqa: E402
from include.modelcare.errors import DeploymentError  # noqa: E402
from include.modelcare.tasks import deployment as d  # noqa: E402
from include.modelcare.tasks.boundary import TaskFailed  # noqa: E402
from tests.conftest import unique_bucket_name  # noqa: E402

pytestmark = pytest.mark.unit

STEP = "deploy_memory"
MODEL = "customer_churn"
T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


class MemorySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slot: str


class MemoryTarget:
    """A serving slot in a dict: a stable version and an optional canary with a share of the traffic."""

    def __init__(self, settings: MemorySettings, state: dict[str, Any]) -> None:
        self.settings = settings
        self.state = state

    def live(self) -> Live:
        ref = self.state["stable"]
        return Live(version=self.state["versions"].get(ref), ref=ref, exists=ref is not None)

    def planned_calls(self, plan: DeploymentPlan) -> list[dict[str, Any]]:
        return [{"call": "memory:Load", "request": {"slot": self.settings.slot, "version": plan.version_id}}]

    def prepare(self, plan: DeploymentPlan, registry: Any, store: Any) -> dict[str, Any]:
        from include.modelcare.ml.serialization import sha256_hex

        if self.state.get("fail_prepare"):
            raise self.state["fail_prepare"]
        model_bytes = registry.load_model_bytes(plan.version)
        ref = f"{self.settings.slot}-{plan.version_id}"
        self.state["versions"][ref] = plan.version
        return {"slot_version": ref, "sha256": sha256_hex(model_bytes)}

    def shift(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        new = prepared["slot_version"]
        share = plan.canary_percent / 100 if plan.previous.exists and plan.strategy == "canary" else 1.0
        if share >= 1:
            self.state.update(stable=new, canary=None, share=0.0)
        else:
            self.state.update(canary=new, share=share)
        return {"share": share}

    def ready(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> bool:
        return True

    def invoke(self, prepared: dict[str, Any], body: bytes) -> SmokeAnswer:
        rows = json.loads(body)["instances"]
        version = self.state["versions"][prepared["slot_version"]]
        answer = {"predictions": [0] * len(rows), "scores": [0.5] * len(rows), "version": f"v{version:04d}"}
        return SmokeAnswer(body=answer, answered_by=prepared["slot_version"])

    def advance(self, plan: DeploymentPlan, prepared: dict[str, Any], progress: float) -> None:
        self.state["advanced"] = progress

    def promote(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        self.state.update(stable=prepared["slot_version"], canary=None, share=0.0)
        return {"slot_version": prepared["slot_version"]}

    def roll_back(self, plan: DeploymentPlan, new_ref: str) -> str:
        self.state.update(stable=plan.previous.ref, canary=None, share=0.0)
        return f"slot back on {plan.previous.ref} (no traffic on {new_ref})"

    def clean_up(self, plan: DeploymentPlan, live_ref: str) -> list[str]:
        return []


STATE: dict[str, Any] = {}


def _build(plan: DeploymentPlan) -> DeployTarget:
    return MemoryTarget(plan.settings(MemorySettings), STATE)


KIND = TargetKind(
    name="memory",
    steps=(Step(STEP, "deploy"),),
    ref_key="slot_version",
    nothing_prepared="nothing was loaded",
    settings=lambda config: {"slot": f"{config.name}-slot"},
    build=_build,
)


class FakeTI:
    """``ti.xcom_pull(task_ids=...)`` over the results of the bodies run so far."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}
        self.try_number = 1

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcoms.get(task_ids)


def _context(run_id: str, **params: Any) -> dict[str, Any]:
    run = SimpleNamespace(dag_id=f"modelcare_deploy_{MODEL}", run_id=run_id, run_after=T0, run_type="manual")
    params = {"target": "memory", "bake_minutes": 0, "dry_run": False, "reason": "unit test", **params}
    return {"params": params, "dag_run": run, "run_id": run_id, "logical_date": T0, "ti": FakeTI()}


def _run(name: str, context: dict[str, Any], body: Any, *args: Any) -> Any:
    result = body(MODEL, *args, context)
    context["ti"].xcoms[name] = result
    return result


@pytest.fixture
def world(devstack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """The sample model in its own catalog and bucket, one alarm (OK), two registered versions, the memory kind."""
    from include.modelcare.config.catalog import get_model_config
    from include.modelcare.dev.simulate import register_simulated_version
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

    bucket, alarm = unique_bucket_name("deploy"), unique_bucket_name("alarm")
    raw = yaml.safe_load((Path(__file__).parents[3] / "include" / "models" / f"{MODEL}.yaml").read_text())
    raw["data"]["bucket"] = bucket
    raw["alerts"] = {"emails": [], "sns_topic_arn": None}
    raw["deploy"]["alarms"] = [alarm]
    (tmp_path / f"{MODEL}.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("MODELCARE_MODELS_DIR", str(tmp_path))
    devstack.client("s3").create_bucket(Bucket=bucket)
    cloudwatch = devstack.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="Memory",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test")
    config = get_model_config(MODEL)
    store = ObjectStore(devstack.client("s3"))
    registry = ModelRegistry(config, store)
    versions = [register_simulated_version(registry, config, seed=s) for s in (1, 2)]
    STATE.clear()
    STATE.update(stable=None, canary=None, share=0.0, versions={})
    base.register(KIND)
    try:
        yield SimpleNamespace(
            config=config, store=store, registry=registry, versions=versions, alarm=alarm, cloudwatch=cloudwatch
        )
    finally:
        base._KINDS.pop(KIND.name, None)


def _history(w: SimpleNamespace) -> list[dict[str, Any]]:
    from include.modelcare.registry.deployments import DeploymentHistory

    return DeploymentHistory(w.config, w.store).entries()


def _deploy_to_verified(context: dict[str, Any]) -> None:
    plan = _run(d.RESOLVE, context, d.resolve_version)
    assert _run(d.ROUTE, context, d.route_deployment) == STEP
    assert plan["target"] == "memory" and plan["target_settings"] == {"slot": f"{MODEL}-slot"}
    _run(STEP, context, d.target_step, STEP)
    _run(d.SMOKE, context, d.smoke_test)


def test_deploy_promote_then_alarm_rolls_back_to_the_previous_version(world: SimpleNamespace) -> None:
    w = world
    v1, v2 = w.versions
    first = _context("manual__first", version=v1.version_id)
    _deploy_to_verified(first)
    assert _run(d.BAKE, first, d.bake_check)["done"] is True
    promoted = _run(d.PROMOTE, first, d.promote)
    assert STATE["stable"] == f"{MODEL}-slot-{v1.version_id}"
    assert w.registry.alias("production").version == v1.version
    assert w.store.exists(promoted["record"])
    assert [(e["version_id"], e["target"], e["outcome"]) for e in _history(w)] == [
        (v1.version_id, "memory", "deployed")
    ]

    # v2 as a canary; the config is edited meanwhile: the run keeps the settings of its plan.
    second = _context("manual__second", version=v2.version_id, strategy="canary")
    plan = _run(d.RESOLVE, second, d.resolve_version)
    assert plan["previous"] == {"version": v1.version, "ref": STATE["stable"], "exists": True}
    _edit_canary_percent(40)
    assert d.resolve_version(MODEL, second) == plan  # re-run: the first attempt's plan.json
    _run(d.ROUTE, second, d.route_deployment)
    _run(STEP, second, d.target_step, STEP)
    assert STATE["canary"] == f"{MODEL}-slot-{v2.version_id}" and STATE["share"] == plan["canary_percent"] / 100 == 0.1
    assert _run(d.SMOKE, second, d.smoke_test)["version"] == v2.version_id

    w.cloudwatch.set_alarm_state(AlarmName=w.alarm, StateValue="ALARM", StateReason="errors on the canary")
    with pytest.raises(TaskFailed, match=f"bake: alarm\\(s\\) in ALARM .*{w.alarm}") as failed:
        d.bake_check(MODEL, second)
    assert isinstance(failed.value.__cause__, DeploymentError)
    folder = w.config.paths.deploy_run("manual__second")
    assert w.store.read_json(f"{folder}failure.json")["step"] == d.BAKE

    with pytest.raises(TaskFailed, match=r"rolled back .*production stays v0001") as rolled:
        d.roll_back(MODEL, second)
    assert isinstance(rolled.value.__cause__, DeploymentError)  # the failure callback sends no second alert
    assert STATE["stable"] == f"{MODEL}-slot-{v1.version_id}" and STATE["canary"] is None
    assert w.registry.alias("production").version == v1.version
    latest = _history(w)[0]
    assert latest["version_id"] == v2.version_id and latest["outcome"] == "rolled_back"
    assert w.alarm in latest["failure"] and "slot back on" in latest["rollback"]


def _edit_canary_percent(percent: int) -> None:
    import os

    path = Path(os.environ["MODELCARE_MODELS_DIR"]) / f"{MODEL}.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["deploy"]["canary_percent"] = percent
    path.write_text(yaml.safe_dump(raw))


def test_final_and_transient_errors_at_the_step_boundary(world: SimpleNamespace) -> None:
    from botocore.exceptions import ClientError

    w = world
    context = _context("manual__errors", version=w.versions[0].version_id)
    _run(d.RESOLVE, context, d.resolve_version)
    folder = w.config.paths.deploy_run("manual__errors")

    STATE["fail_prepare"] = RuntimeError("connection reset")  # not final: propagates for Airflow's retries
    with pytest.raises(RuntimeError, match="connection reset"):
        d.target_step(MODEL, STEP, context)
    assert not w.store.exists(f"{folder}failure.json")

    refused = ClientError({"Error": {"Code": "ValidationException", "Message": "bad request"}}, "Load")
    STATE["fail_prepare"] = refused  # an AWS refusal is final: failure.json, no retries, a DeploymentError cause
    with pytest.raises(TaskFailed, match=f"^{STEP}: .*bad request") as failed:
        d.target_step(MODEL, STEP, context)
    assert isinstance(failed.value.__cause__, DeploymentError) and failed.value.__cause__.__cause__ is refused
    assert w.store.read_json(f"{folder}failure.json")["reason"] == str(failed.value)

    with pytest.raises(TaskFailed, match="no rollback needed \\(nothing to roll back: nothing was loaded\\)"):
        d.roll_back(MODEL, context)
    assert w.registry.alias("production") is None and _history(w)[0]["outcome"] == "failed"


def test_dry_run_and_an_unconfigured_target(world: SimpleNamespace) -> None:
    w = world
    dry = _context("manual__dry", version=w.versions[0].version_id, dry_run=True)
    plan = DeploymentPlan.model_validate(_run(d.RESOLVE, dry, d.resolve_version))
    assert _run(d.ROUTE, dry, d.route_deployment) == d.SHOW_PLAN
    calls = [c["call"] for c in d.show_plan(MODEL, dry)]
    assert calls == ["memory:Load", "cloudwatch:DescribeAlarms"] and plan.alarms == [w.alarm]
    assert not w.store.exists(f"{w.config.paths.deploy_run('manual__dry')}plan.json")

    base._KINDS.pop(KIND.name)
    with pytest.raises(TaskFailed, match=r"target 'memory' is not configured .*configured: sagemaker, lambda$"):
        d.resolve_version(MODEL, _context("manual__unknown", version=w.versions[0].version_id))


def _register_calibrated(w: SimpleNamespace, calibration: Any, seed: int) -> Any:
    """A version registered the way retraining registers a calibrated one: knots, calibrated and raw thresholds."""
    first = w.registry.get(w.versions[0].version)
    return w.registry.register(
        model_bytes=w.registry.load_model_bytes(first.version),
        reference=w.registry.load_reference(first.version),
        metadata={**first.metadata, "threshold": 0.21, "raw_threshold": 0.33, "calibration": calibration},
        status="Approved",
        reasons=["calibrated (test)"],
        run_key=f"calibrated/seed-{seed}",
        actor="test",
    )


def test_the_plan_carries_the_versions_calibration_and_refuses_a_broken_one(world: SimpleNamespace) -> None:
    from include.modelcare.ml.calibration import Calibrator

    w = world
    calibrator = Calibrator(x=(0.1, 0.4, 0.9), y=(0.02, 0.21, 0.8), rows=500, brier_raw=0.2, brier_calibrated=0.15)
    good = _register_calibrated(w, calibrator.to_dict(), seed=3)
    context = _context("manual__calibrated", version=good.version_id, dry_run=True)
    plan = DeploymentPlan.model_validate(_run(d.RESOLVE, context, d.resolve_version))
    assert plan.threshold == 0.21 and plan.calibration == calibrator.knots()  # knots only: what serving needs
    old = DeploymentPlan.model_validate(
        _run(d.RESOLVE, _context("manual__old", version="v0001", dry_run=True), d.resolve_version)
    )
    assert old.calibration is None and old.threshold is None  # registered before calibration: served raw

    broken = _register_calibrated(w, {"x": [0.4, 0.1], "y": [0.1, 0.2]}, seed=4)
    with pytest.raises(TaskFailed, match=f"{broken.version_id}: its stored calibration is unusable: .*non-decreasing"):
        d.resolve_version(MODEL, _context("manual__broken", version=broken.version_id, dry_run=True))
