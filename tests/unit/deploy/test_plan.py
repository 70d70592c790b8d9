"""The deployment plan: resolved once, frozen, the same JSON in plan.json and XCom; the target registry."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from include.modelcare.deploy.plan import DeploymentPlan, deploy_settings
from include.modelcare.deploy.targets.base import configured_kinds, target_kind
from include.modelcare.deploy.targets.sagemaker import EndpointSettings
from include.modelcare.errors import ConfigError
from tests.unit.configs import make_config
from tests.unit.deploy.plans import make_plan

pytestmark = pytest.mark.unit

DEPLOY: dict[str, Any] = {
    "target": "sagemaker",
    "bake_minutes": 10,
    "sagemaker": {"image_uri": "img", "role_arn": "arn:aws:iam::1:role/r", "wait_interval_seconds": 120},
    "lambda": {"function_name": "churn-fn"},
}


def test_the_form_overrides_the_config_defaults() -> None:
    deploy = make_config(deploy=DEPLOY).deploy
    assert deploy is not None
    assert deploy_settings(deploy, {})["bake_seconds"] == 600 and deploy_settings(deploy, {})["strategy"] == "canary"
    chosen = deploy_settings(deploy, {"strategy": "linear", "canary_percent": 30, "bake_minutes": 0})
    assert (chosen["strategy"], chosen["canary_percent"], chosen["bake_seconds"]) == ("linear", 30, 0.0)


def test_plan_round_trips_through_json_and_is_frozen() -> None:
    config = make_config(deploy=DEPLOY)
    plan = make_plan(config)
    assert DeploymentPlan.from_xcom(plan.as_json()) == plan
    assert plan.settings(EndpointSettings).wait_interval_seconds == 120
    assert plan.settings(EndpointSettings).endpoint_name == "modelcare-customer-churn"
    with pytest.raises(ValidationError):
        plan.canary_percent = 50  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        DeploymentPlan.model_validate({**plan.as_json(), "surprise": 1})
    with pytest.raises(ConfigError, match="no deployment plan"):
        DeploymentPlan.from_xcom(None)


def test_registry_lists_the_configured_kinds_and_refuses_unknown_ones() -> None:
    config = make_config(deploy=DEPLOY)
    assert [k.name for k in configured_kinds(config)] == ["sagemaker", "lambda"]
    assert target_kind("sagemaker").entry_task == "prepare_endpoint" and target_kind("sagemaker").packaged
    assert [s.task_id for s in target_kind("lambda").steps] == ["shift_lambda_traffic"]
    lambda_only = make_config(deploy={"target": "lambda", "lambda": {"function_name": "f"}})
    assert [k.name for k in configured_kinds(lambda_only)] == ["lambda"]
    with pytest.raises(ConfigError, match="unknown deployment target 'batch'"):
        target_kind("batch")
