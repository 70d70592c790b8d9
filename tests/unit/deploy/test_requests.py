"""Every SageMaker, Lambda and CloudWatch request of a deployment, checked by botocore's Stubber.

The Stubber validates each request against the real API model, so these tests pin the exact shape of
the calls the emulator lacks (UpdateEndpoint, Invoke) as well as the ones it has.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from include.modelcare.config.deploy import LambdaSettings
from include.modelcare.deploy import requests as rq
from include.modelcare.deploy.alarms import firing_alarms
from include.modelcare.deploy.plan import Live
from include.modelcare.deploy.smoke import check_answer
from include.modelcare.deploy.targets.base import SmokeAnswer
from include.modelcare.deploy.targets.lambda_alias import LambdaAlias, traffic_steps
from include.modelcare.deploy.targets.sagemaker import EndpointSettings, SageMakerEndpoint
from include.modelcare.errors import ConfigError, DeploymentError, SmokeTestFailed
from tests.unit.configs import make_config
from tests.unit.deploy.plans import make_plan

pytestmark = pytest.mark.unit

DEPLOY: dict[str, Any] = {
    "target": "sagemaker",
    "strategy": "canary",
    "alarms": ["churn-errors"],
    "sagemaker": {
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-inference:1.9.1",
        "role_arn": "arn:aws:iam::123456789012:role/sm-exec",
        "instance_count": 2,
    },
    "lambda": {"function_name": "churn-fn", "alias": "live"},
}


@pytest.fixture
def config() -> Any:
    return make_config(deploy=DEPLOY)


@pytest.fixture
def settings(config: Any) -> EndpointSettings:
    """The SageMaker settings as the plan carries them."""
    return EndpointSettings.of(config)


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def stubbed() -> Iterator[Any]:
    from botocore.stub import Stubber

    made: list[Stubber] = []

    def make(service: str) -> tuple[Any, Stubber]:
        client = _client(service)
        stub = Stubber(client)
        stub.activate()
        made.append(stub)
        return client, stub

    yield make
    for stub in made:
        stub.assert_no_pending_responses()
        stub.deactivate()


def _not_found(stub: Any, method: str, code: str = "ValidationException", message: str = "Could not find it") -> None:
    stub.add_client_error(method, service_error_code=code, service_message=message, http_status_code=400)


# -- names -------------------------------------------------------------------------------------------
def test_versioned_names_fit_sagemaker_and_carry_the_version() -> None:
    name = rq.versioned_name("x" * 80, 12, {"a": 1})
    assert len(name) <= rq.MAX_NAME and rq.version_of_name(name) == 12
    assert rq.versioned_name("ep", 3, {"a": 1}) != rq.versioned_name("ep", 3, {"a": 2})  # content changes the name
    assert rq.version_of_name("something-else") is None and rq.version_of_name(None) is None


def test_endpoint_name_defaults_to_the_model_name(config: Any) -> None:
    assert rq.endpoint_name(config) == f"modelcare-{config.name.replace('_', '-')}"


# -- SageMaker ---------------------------------------------------------------------------------------
def test_create_model_and_endpoint_config_requests(config: Any, settings: EndpointSettings, stubbed: Any) -> None:
    client, stub = stubbed("sagemaker")
    model_req = rq.sagemaker_model_request(settings, config.name, 2, "s3://b/registry/packages/v0002/model.tar.gz")
    config_req = rq.endpoint_config_request(settings, config.name, 2, model_req["ModelName"])
    _not_found(stub, "describe_model")
    stub.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:1:model/m"}, model_req)
    _not_found(stub, "describe_endpoint_config")
    stub.add_response("create_endpoint_config", {"EndpointConfigArn": "arn:aws:sagemaker:::x"}, config_req)
    endpoint = SageMakerEndpoint.from_config(config, client)
    assert endpoint.ensure_model(model_req) is True
    assert endpoint.ensure_endpoint_config(config_req) is True
    variant = config_req["ProductionVariants"][0]
    assert variant["VariantName"] == "AllTraffic" and variant["InitialInstanceCount"] == 2
    assert model_req["PrimaryContainer"]["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"


def test_re_run_reuses_the_existing_model_and_config(config: Any, settings: EndpointSettings, stubbed: Any) -> None:
    client, stub = stubbed("sagemaker")
    model_req = rq.sagemaker_model_request(settings, config.name, 2, "s3://b/model.tar.gz")
    config_req = rq.endpoint_config_request(settings, config.name, 2, model_req["ModelName"])
    stub.add_response("describe_model", _described_model(model_req), {"ModelName": model_req["ModelName"]})
    stub.add_response(
        "describe_endpoint_config",
        _described_config(config_req),
        {"EndpointConfigName": config_req["EndpointConfigName"]},
    )
    endpoint = SageMakerEndpoint.from_config(config, client)
    assert endpoint.ensure_model(model_req) is False
    assert endpoint.ensure_endpoint_config(config_req) is False


def _described_endpoint(name: str, config_name: str) -> dict[str, Any]:
    import datetime as dt

    return {
        "EndpointName": name,
        "EndpointArn": "arn:aws:sagemaker:::endpoint/x",
        "EndpointConfigName": config_name,
        "EndpointStatus": "InService",
        "CreationTime": dt.datetime(2026, 1, 1),
        "LastModifiedTime": dt.datetime(2026, 1, 1),
    }


def _described_model(request: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt

    return {
        "ModelName": request["ModelName"],
        "ModelArn": "arn:aws:sagemaker:us-east-1:1:model/m",
        "CreationTime": dt.datetime(2026, 1, 1),
    }


def _described_config(request: dict[str, Any]) -> dict[str, Any]:
    import datetime as dt

    return {
        "EndpointConfigName": request["EndpointConfigName"],
        "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:endpoint-config/c",
        "ProductionVariants": request["ProductionVariants"],
        "CreationTime": dt.datetime(2026, 1, 1),
    }


@pytest.mark.parametrize(
    ("strategy", "routing"),
    [
        ("all_at_once", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}),
        (
            "canary",
            {"Type": "CANARY", "WaitIntervalInSeconds": 300, "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}},
        ),
        (
            "linear",
            {
                "Type": "LINEAR",
                "WaitIntervalInSeconds": 300,
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
            },
        ),
    ],
)
def test_update_endpoint_blue_green_request(
    settings: EndpointSettings, stubbed: Any, strategy: str, routing: dict[str, Any]
) -> None:
    client, stub = stubbed("sagemaker")
    deployment = rq.deployment_config(
        settings, strategy, canary_percent=10, linear_step_percent=25, alarms=["churn-errors"]
    )
    request = rq.update_endpoint_request("modelcare-churn", "modelcare-churn-v0002-abcdef12", deployment)
    assert deployment["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == routing
    assert deployment["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "churn-errors"}]}
    stub.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:::endpoint/x"}, request)
    client.update_endpoint(**request)  # the Stubber rejects any field the real API does not accept


def test_create_endpoint_request(stubbed: Any) -> None:
    client, stub = stubbed("sagemaker")
    request = rq.create_endpoint_request("modelcare-churn", "modelcare-churn-v0001-abcdef12", "churn")
    stub.add_response("create_endpoint", {"EndpointArn": "arn:aws:sagemaker:::endpoint/x"}, request)
    client.create_endpoint(**request)


def test_sagemaker_live_version_and_rollback(config: Any, settings: EndpointSettings, stubbed: Any) -> None:

    client, stub = stubbed("sagemaker")
    name = rq.endpoint_name(config)
    new, old = f"{name}-v0002-aaaaaaaa", f"{name}-v0001-bbbbbbbb"
    stub.add_response("describe_endpoint", _described_endpoint(name, new), {"EndpointName": name})
    stub.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:::endpoint/x"},
        rq.update_endpoint_request(name, old, rq.rollback_deployment_config(settings)),
    )
    endpoint = SageMakerEndpoint.from_config(config, client)
    assert "updated back to" in endpoint.restore_config(old, new)

    _not_found(stub, "describe_endpoint", message=f"Could not find endpoint {name}")
    live = endpoint.live()
    assert live.exists is False and live.version is None


def test_new_endpoint_that_failed_is_deleted(config: Any, stubbed: Any) -> None:

    client, stub = stubbed("sagemaker")
    name = rq.endpoint_name(config)
    new = f"{name}-v0001-aaaaaaaa"
    stub.add_response("describe_endpoint", _described_endpoint(name, new), {"EndpointName": name})
    stub.add_response("delete_endpoint", {}, {"EndpointName": name})
    assert "deleted endpoint" in SageMakerEndpoint.from_config(config, client).restore_config(None, new)


def test_invoke_endpoint_request(config: Any, stubbed: Any) -> None:
    from botocore.response import StreamingBody

    runtime, stub = stubbed("sagemaker-runtime")
    body = rq.smoke_payload([{"a": 1}])
    answer = json.dumps({"predictions": [1], "version": "v0002"}).encode()
    stub.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "InvokedProductionVariant": "AllTraffic"},
        {
            "EndpointName": rq.endpoint_name(config),
            "ContentType": "application/json",
            "Accept": "application/json",
            "Body": body,
        },
    )
    got = SageMakerEndpoint.from_config(config, _client("sagemaker"), runtime).send(body)
    assert got.body["version"] == "v0002" and got.answered_by == "AllTraffic"


def test_clean_up_keeps_the_newest_and_the_protected(config: Any, stubbed: Any) -> None:
    import datetime as dt

    client, stub = stubbed("sagemaker")
    name = rq.endpoint_name(config)
    names = [f"{name}-v{v:04d}-aaaaaaa{v}" for v in (1, 2, 3, 4)]
    stub.add_response(
        "list_endpoint_configs",
        {
            "EndpointConfigs": [
                {
                    "EndpointConfigName": n,
                    "EndpointConfigArn": f"arn:aws:sagemaker:us-east-1:1:endpoint-config/{n}",
                    "CreationTime": dt.datetime(2026, 1, 1),
                }
                for n in names
            ]
        },
        {"NameContains": name[: rq.MAX_NAME - 15]},
    )
    old = names[1]  # v0002: beyond keep=1 and not protected
    model = f"{name}-v0002-cccccccc"
    stub.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": old,
            "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:endpoint-config/old",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model}],
            "CreationTime": dt.datetime(2026, 1, 1),
        },
        {"EndpointConfigName": old},
    )
    stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": old})
    stub.add_response("delete_model", {}, {"ModelName": model})
    deleted = SageMakerEndpoint.from_config(config, client).delete_old(1, protected={names[0], names[2]})
    assert deleted == [old, model]


# -- Lambda --------------------------------------------------------------------------------------------
def _function_config(version: str, env: dict[str, str], code: str = "code-1") -> dict[str, Any]:
    return {"FunctionName": "churn-fn", "Version": version, "Environment": {"Variables": env}, "CodeSha256": code}


def test_lambda_publish_update_wait_publish(config: Any, stubbed: Any) -> None:
    client, stub = stubbed("lambda")
    env = rq.lambda_environment(
        {"LOG_LEVEL": "INFO"},
        model="churn",
        version_id="v0002",
        model_uri="s3://b/registry/versions/v0002/model.skops",
        sha256="ab" * 32,
        features={"numerical": ["a"], "categorical": ["b"]},
        max_rows=1000,
    )
    assert env["LOG_LEVEL"] == "INFO" and json.loads(env["MODELCARE_FEATURES"]) == {
        "numerical": ["a"],
        "categorical": ["b"],
    }
    stub.add_response(
        "get_function_configuration", _function_config("$LATEST", {"LOG_LEVEL": "INFO"}), {"FunctionName": "churn-fn"}
    )
    stub.add_response(
        "list_versions_by_function",
        {
            "Versions": [
                _function_config("$LATEST", {}),
                _function_config("1", {"MODELCARE_MODEL_VERSION": "v0001"}),
                _function_config("2", env, code="older-code"),  # same model, older code: not reused
            ]
        },
        {"FunctionName": "churn-fn"},
    )
    stub.add_response(
        "update_function_configuration",
        _function_config("$LATEST", env),
        {"FunctionName": "churn-fn", "Environment": {"Variables": {**env, "LOG_LEVEL": "INFO"}}},
    )
    stub.add_response(
        "get_function",
        {"Configuration": {"State": "Active", "LastUpdateStatus": "Successful"}},
        {"FunctionName": "churn-fn"},
    )
    stub.add_response(
        "publish_version", _function_config("2", env), {"FunctionName": "churn-fn", "Description": "churn v0002"}
    )
    assert LambdaAlias.from_config(config, client).publish(env, "churn v0002", timeout_minutes=1) == "2"


def test_lambda_publish_reuses_an_identical_version(config: Any, stubbed: Any) -> None:
    client, stub = stubbed("lambda")
    env = {k: "x" for k in rq.LAMBDA_ENV_KEYS}
    stub.add_response("get_function_configuration", _function_config("$LATEST", env), {"FunctionName": "churn-fn"})
    stub.add_response(
        "list_versions_by_function",
        {"Versions": [_function_config("$LATEST", env), _function_config("7", env)]},
        {"FunctionName": "churn-fn"},
    )
    assert LambdaAlias.from_config(config, client).publish(env, "again", timeout_minutes=1) == "7"


def test_lambda_canary_alias_and_rollback_requests(config: Any, stubbed: Any) -> None:
    client, stub = stubbed("lambda")
    alias = {"AliasArn": "arn:aws:lambda:us-east-1:1:function:churn-fn:live", "Name": "live", "FunctionVersion": "1"}
    canary = rq.alias_request("churn-fn", "live", stable="1", canary="2", weight=0.1, description="canary")
    assert canary["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    stub.add_response("get_alias", alias, {"FunctionName": "churn-fn", "Name": "live"})
    stub.add_response("update_alias", alias, canary)
    LambdaAlias.from_config(config, client).route(stable="1", canary="2", weight=0.1, description="canary")

    # Rollback: the alias still points at 1 with 10% on 2 -> all traffic back on 1.
    weighted = {**alias, "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}}
    stub.add_response("get_alias", weighted, {"FunctionName": "churn-fn", "Name": "live"})
    back = rq.alias_request(
        "churn-fn", "live", stable="1", canary=None, weight=0.0, description="rollback from version 2"
    )
    assert back["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    stub.add_response("update_alias", alias, back)
    assert "back on version 1" in LambdaAlias.from_config(config, client).restore("1", "2")


def test_lambda_first_alias_is_created(config: Any, stubbed: Any) -> None:
    client, stub = stubbed("lambda")
    _not_found(stub, "get_alias", code="ResourceNotFoundException")
    request = rq.alias_request("churn-fn", "live", stable="1", canary=None, weight=0.0, description="churn v0001")
    stub.add_response("create_alias", {"Name": "live", "FunctionVersion": "1"}, request)
    LambdaAlias.from_config(config, client).route(stable="1", canary=None, weight=0.0, description="churn v0001")


@pytest.mark.parametrize(
    ("payload", "function_error", "message"),
    [
        ({"statusCode": 200, "body": json.dumps({"predictions": [0], "version": "v0002"})}, None, None),
        (
            {"statusCode": 400, "body": json.dumps({"error": "missing column(s): age"})},
            None,
            "answered 400: missing column",
        ),
        ({"errorMessage": "boom", "errorType": "RuntimeError"}, "Unhandled", r"failed \(Unhandled\): .*boom"),
    ],
)
def test_lambda_invoke_request_and_answers(
    config: Any, stubbed: Any, payload: dict[str, Any], function_error: str | None, message: str | None
) -> None:
    from botocore.response import StreamingBody

    client, stub = stubbed("lambda")
    body = rq.smoke_payload([{"a": 1}])
    raw = json.dumps(payload).encode()
    response: dict[str, Any] = {
        "StatusCode": 200,
        "Payload": StreamingBody(io.BytesIO(raw), len(raw)),
        "ExecutedVersion": "2",
    }
    if function_error:
        response["FunctionError"] = function_error
    stub.add_response(
        "invoke",
        response,
        {"FunctionName": "churn-fn", "Qualifier": "2", "InvocationType": "RequestResponse", "Payload": body},
    )
    target = LambdaAlias.from_config(config, client)
    if message is None:
        assert target.send("2", body).body["version"] == "v0002"
    else:
        with pytest.raises(DeploymentError, match=message):
            target.send("2", body)


def test_missing_function_says_how_to_create_it(config: Any, stubbed: Any) -> None:
    client, stub = stubbed("lambda")
    _not_found(stub, "get_function_configuration", code="ResourceNotFoundException")
    with pytest.raises(DeploymentError, match="make-lambda-zip"):
        LambdaAlias.from_config(config, client).live()


# -- alarms, smoke answers, traffic steps -------------------------------------------------------------
def test_firing_alarms_and_unknown_alarm_names(stubbed: Any) -> None:
    import datetime as dt

    client, stub = stubbed("cloudwatch")

    def alarm(name: str, state: str) -> dict[str, Any]:
        return {"AlarmName": name, "StateValue": state, "StateUpdatedTimestamp": dt.datetime(2026, 1, 1)}

    stub.add_response(
        "describe_alarms",
        {"MetricAlarms": [alarm("a", "ALARM"), alarm("b", "OK")]},
        {"AlarmNames": ["a", "b"]},
    )
    assert firing_alarms(client, ["a", "b"]) == ["a"]
    stub.add_response("describe_alarms", {"MetricAlarms": [alarm("a", "OK")]}, {"AlarmNames": ["a", "typo"]})
    with pytest.raises(DeploymentError, match="not found in CloudWatch: typo"):
        firing_alarms(client, ["a", "typo"])
    assert firing_alarms(client, []) == []


def test_smoke_answer_checks() -> None:
    good = SmokeAnswer(body={"predictions": [0, 1], "scores": [0.2, 0.9], "version": "v0002"}, answered_by="2")
    assert check_answer(good, rows=2, version_id="v0002", classifier=True)["rows"] == 2
    with pytest.raises(SmokeTestFailed, match="expected 3 predictions, got 2"):
        check_answer(good, rows=3, version_id="v0002", classifier=True)
    with pytest.raises(SmokeTestFailed, match="answered by version 'v0002', expected v0003"):
        check_answer(good, rows=2, version_id="v0003", classifier=True)
    bad = SmokeAnswer(body={"predictions": [0, 1], "scores": [0.2, 1.5], "version": "v0002"}, answered_by=None)
    with pytest.raises(SmokeTestFailed, match="outside"):
        check_answer(bad, rows=2, version_id="v0002", classifier=True)


@pytest.mark.parametrize(
    ("strategy", "previous", "weights"),
    [
        ("canary", {"exists": True, "ref": "1"}, [0.1, 1.0]),
        ("linear", {"exists": True, "ref": "1"}, [0.25, 0.5, 0.75, 1.0]),
        ("all_at_once", {"exists": True, "ref": "1"}, [1.0]),
        ("canary", {"exists": False, "ref": None}, [1.0]),  # a new alias has nothing to share traffic with
    ],
)
def test_lambda_traffic_steps(config: Any, strategy: str, previous: dict[str, Any], weights: list[float]) -> None:
    plan = make_plan(
        config,
        "lambda",
        strategy=strategy,
        canary_percent=10,
        linear_step_percent=25,
        previous={"version": 1, **previous},
    )
    assert traffic_steps(plan) == weights


def test_deploy_section_needs_the_default_targets_settings() -> None:
    from include.modelcare.errors import ConfigError

    with pytest.raises((ConfigError, ValueError), match="lambda: required"):
        make_config(deploy={"target": "lambda"})


# -- requests come from the plan -------------------------------------------------------------------------
def test_a_config_problem_is_a_config_error(config: Any, settings: EndpointSettings) -> None:
    lambda_only = make_config(deploy={"target": "lambda", "lambda": {"function_name": "churn-fn"}})
    with pytest.raises(ConfigError, match=r"deploy\.sagemaker is not configured"):
        rq.endpoint_name(lambda_only)
    with pytest.raises(ConfigError, match="strategy 'blue'"):
        rq.deployment_config(settings, "blue", canary_percent=10, linear_step_percent=25, alarms=[])
    with pytest.raises(ConfigError, match="settings for target 'sagemaker' are invalid"):
        make_plan(config, target_settings={"endpoint_name": "x"}).settings(EndpointSettings)


def test_the_update_is_built_from_the_plan_not_the_live_config(config: Any, stubbed: Any) -> None:
    """A config edit after the plan was made (wait interval, timeouts, canary) changes nothing in this run."""
    ref = "modelcare-customer-churn-v0001-bbbbbbbb"
    previous = {"version": 1, "ref": ref, "exists": True}
    plan = make_plan(config, previous=previous, canary_percent=20)
    sagemaker: dict[str, Any] = dict(DEPLOY["sagemaker"])
    edited = {**DEPLOY, "sagemaker": {**sagemaker, "wait_interval_seconds": 5, "instance_count": 4}}
    assert make_config(deploy=edited).deploy is not None  # what the live config says now
    client, stub = stubbed("sagemaker")
    endpoint = SageMakerEndpoint(plan.settings(EndpointSettings), client)
    calls = {c["call"]: c["request"] for c in endpoint.planned_calls(plan)}
    update = calls["sagemaker:UpdateEndpoint"]
    policy = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 300,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
    }
    assert policy["TerminationWaitInSeconds"] == 0 and policy["MaximumExecutionTimeoutInSeconds"] == 3600
    assert calls["sagemaker:CreateEndpointConfig"]["ProductionVariants"][0]["InitialInstanceCount"] == 2
    name = rq.endpoint_name(config)
    stub.add_response("describe_endpoint", _described_endpoint(name, ref), {"EndpointName": name})
    stub.add_response("update_endpoint", {"EndpointArn": "arn:aws:sagemaker:::endpoint/x"}, update)
    config_name = calls["sagemaker:CreateEndpointConfig"]["EndpointConfigName"]
    shifted = endpoint.shift(plan, {"operation": "update", "request": update, "endpoint_config": config_name})
    assert shifted == {"operation": "update", "endpoint_config": config_name}


def test_lambda_linear_bake_steps_the_alias_from_the_plan(config: Any, stubbed: Any) -> None:
    plan = make_plan(config, "lambda", strategy="linear", previous={"version": 1, "ref": "1", "exists": True})
    client, stub = stubbed("lambda")
    target = LambdaAlias(plan.settings(LambdaSettings), client)
    alias = {"AliasArn": "arn:aws:lambda:us-east-1:1:function:churn-fn:live", "Name": "live", "FunctionVersion": "1"}
    step = rq.alias_request(
        "churn-fn", "live", stable="1", canary="2", weight=0.5, description="customer_churn linear v0002"
    )
    stub.add_response("get_alias", alias, {"FunctionName": "churn-fn", "Name": "live"})
    stub.add_response("update_alias", alias, step)
    target.advance(plan, {"function_version": "2"}, progress=0.6)  # 0.25 -> 0.5 -> 0.75: the second step
    assert [c["call"] for c in target.planned_calls(plan)][-2:] == ["lambda:UpdateAlias", "lambda:Invoke"]


def test_live_is_part_of_the_plan_json() -> None:
    assert Live(version=1, ref="1", exists=True).as_dict() == {"version": 1, "ref": "1", "exists": True}
