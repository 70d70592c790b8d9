"""The exact AWS requests of a deployment, as pure functions (unit-tested against botocore's Stubber).

They take the target settings of the deployment plan (never the live config), so every step of one
run builds its requests from the same settings. Names carry the version and a short hash of what the
resource holds, so a re-run finds what an earlier attempt created (SageMaker models and endpoint
configs are immutable and cannot be renamed), and a changed setting (e.g. instance type) gets a new
resource instead of a silent mismatch.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.errors import ConfigError, DeploymentError

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.deploy.targets.sagemaker import EndpointSettings

MAX_NAME: Final = 63
_VERSIONED_NAME = re.compile(r"-v(\d{4,})-[0-9a-f]{8}$")

SAGEMAKER_TRAFFIC: Final = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}

# Environment of the Lambda function (read by include.modelcare.serving.lambda_handler).
ENV_MODEL_URI: Final = "MODELCARE_MODEL_URI"
ENV_MODEL_SHA256: Final = "MODELCARE_MODEL_SHA256"
ENV_MODEL_VERSION: Final = "MODELCARE_MODEL_VERSION"
ENV_MODEL_NAME: Final = "MODELCARE_MODEL_NAME"
ENV_FEATURES: Final = "MODELCARE_FEATURES"
ENV_MAX_ROWS: Final = "MODELCARE_MAX_ROWS"
LAMBDA_ENV_LIMIT: Final = 4096
"""Lambda's limit on all environment variables of a function together, as AWS measures them: the JSON of the
variables map ("String measured: {...}" in its error)."""
LAMBDA_ENV_KEYS: Final = (
    ENV_MODEL_URI,
    ENV_MODEL_SHA256,
    ENV_MODEL_VERSION,
    ENV_MODEL_NAME,
    ENV_FEATURES,
    ENV_MAX_ROWS,
)


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:8]


def endpoint_name(config: ModelConfig) -> str:
    """The model's SageMaker endpoint (``deploy.sagemaker.endpoint_name`` or ``modelcare-<name>``)."""
    if config.deploy is None or config.deploy.sagemaker is None:
        raise ConfigError(f"{config.name}: deploy.sagemaker is not configured")
    return config.deploy.sagemaker.endpoint_name or f"modelcare-{config.name.replace('_', '-')}"[:MAX_NAME]


def versioned_name(base: str, version: int, payload: Any) -> str:
    """``<base>-vNNNN-<hash8>`` within SageMaker's 63 characters (the base is cut, never the suffix)."""
    suffix = f"-v{version:04d}-{_digest(payload)}"
    return f"{base[: MAX_NAME - len(suffix)].rstrip('-')}{suffix}"


def version_of_name(name: str | None) -> int | None:
    """The version number a ``versioned_name`` carries (None for other names)."""
    match = _VERSIONED_NAME.search(name or "")
    return int(match.group(1)) if match else None


def _tags(model: str, version: int) -> list[dict[str, str]]:
    return [{"Key": "modelcare:model", "Value": model}, {"Key": "modelcare:version", "Value": str(version)}]


def sagemaker_model_request(
    settings: EndpointSettings, model: str, version: int, model_data_url: str
) -> dict[str, Any]:
    """CreateModel: the scikit-learn container serving ``model.tar.gz`` with ``code/inference.py``."""
    container = {
        "Image": settings.image_uri,
        "ModelDataUrl": model_data_url,
        "Environment": {
            # The framework container runs code/inference.py from the tarball (model_fn, transform_fn).
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": model_data_url,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        },
    }
    return {
        "ModelName": versioned_name(settings.endpoint_name, version, [container, settings.role_arn]),
        "PrimaryContainer": container,
        "ExecutionRoleArn": settings.role_arn,
        "Tags": _tags(model, version),
    }


def endpoint_config_request(settings: EndpointSettings, model: str, version: int, model_name: str) -> dict[str, Any]:
    """CreateEndpointConfig: one production variant (same variant name every version, as blue/green needs)."""
    variant = {
        "VariantName": settings.variant_name,
        "ModelName": model_name,
        "InitialInstanceCount": settings.instance_count,
        "InstanceType": settings.instance_type,
        "InitialVariantWeight": 1.0,
    }
    return {
        "EndpointConfigName": versioned_name(settings.endpoint_name, version, variant),
        "ProductionVariants": [variant],
        "Tags": _tags(model, version),
    }


def deployment_config(
    settings: EndpointSettings,
    strategy: str,
    *,
    canary_percent: int,
    linear_step_percent: int,
    alarms: list[str],
) -> dict[str, Any]:
    """DeploymentConfig of UpdateEndpoint: blue/green traffic routing, baking and auto-rollback on alarms."""
    if strategy not in SAGEMAKER_TRAFFIC:
        raise ConfigError(f"strategy {strategy!r} is not one of {', '.join(SAGEMAKER_TRAFFIC)}")
    routing: dict[str, Any] = {
        "Type": SAGEMAKER_TRAFFIC[strategy],
        "WaitIntervalInSeconds": settings.wait_interval_seconds,
    }
    if strategy == "canary":
        routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": canary_percent}
    elif strategy == "linear":
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": linear_step_percent}
    result: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": settings.max_execution_timeout_seconds,
        }
    }
    if alarms:
        result["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return result


def rollback_deployment_config(settings: EndpointSettings) -> dict[str, Any]:
    """DeploymentConfig of a rollback: all traffic back at once, no baking (the old version is known good)."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": settings.max_execution_timeout_seconds,
        }
    }


def create_endpoint_request(name: str, endpoint_config_name: str, model: str) -> dict[str, Any]:
    """CreateEndpoint (a new endpoint has no traffic to shift)."""
    return {
        "EndpointName": name,
        "EndpointConfigName": endpoint_config_name,
        "Tags": [{"Key": "modelcare:model", "Value": model}],
    }


def update_endpoint_request(name: str, endpoint_config_name: str, deployment: dict[str, Any]) -> dict[str, Any]:
    """UpdateEndpoint with a blue/green DeploymentConfig (the emulator lacks this call)."""
    return {"EndpointName": name, "EndpointConfigName": endpoint_config_name, "DeploymentConfig": deployment}


def lambda_environment(
    current: dict[str, str],
    *,
    model: str,
    version_id: str,
    model_uri: str,
    sha256: str,
    features: dict[str, Any],
    max_rows: int,
    threshold: float | None = None,
    calibration: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The function's environment with the model variables replaced (other variables are kept).

    ``threshold`` and ``calibration`` (the version's calibrator knots): inside ``MODELCARE_FEATURES``
    (``serving.model.FeatureSchema``), exactly as registered: the knots are capped at fit time
    (``ml.calibration.MAX_KNOTS``: 100 knots of 6 digits are ~2.1 KB here), so Lambda serves the calibrator the
    gate scored, never a thinner one. ``DeploymentError`` when the result exceeds ``LAMBDA_ENV_LIMIT``
    (AWS would refuse it less clearly); variables the function has besides ours count only when passed in
    ``current`` (``LambdaAlias.publish`` merges them in afterwards).
    """
    env = {k: v for k, v in current.items() if k not in LAMBDA_ENV_KEYS}
    served: dict[str, Any] = {
        "numerical": list(features.get("numerical", [])),
        "categorical": list(features.get("categorical", [])),
    }
    if threshold is not None:
        served["threshold"] = threshold
    if calibration is not None:
        served["calibration"] = calibration
    env.update(
        {
            ENV_MODEL_URI: model_uri,
            ENV_MODEL_SHA256: sha256,
            ENV_MODEL_VERSION: version_id,
            ENV_MODEL_NAME: model,
            ENV_FEATURES: json.dumps(served, sort_keys=True),
            ENV_MAX_ROWS: str(max_rows),
        }
    )
    size = lambda_environment_size(env)
    if size > LAMBDA_ENV_LIMIT:
        largest = max(env, key=lambda key: len(env[key]))
        raise DeploymentError(
            f"{model} {version_id}: the Lambda environment would be {size:,} bytes, over Lambda's "
            f"{LAMBDA_ENV_LIMIT:,} (largest: {largest}, {len(env[largest]):,} characters)"
        )
    return env


def lambda_environment_size(env: dict[str, str]) -> int:
    """Bytes of the variables as AWS measures them against ``LAMBDA_ENV_LIMIT`` (compact JSON, UTF-8)."""
    return len(json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode())


def alias_request(
    function_name: str, alias: str, *, stable: str, canary: str | None, weight: float, description: str
) -> dict[str, Any]:
    """UpdateAlias/CreateAlias: ``stable`` gets 1-weight of the traffic, ``canary`` gets ``weight``."""
    request: dict[str, Any] = {
        "FunctionName": function_name,
        "Name": alias,
        "FunctionVersion": stable,
        "Description": description[:256],
    }
    if canary is not None and canary != stable and 0 < weight < 1:
        request["RoutingConfig"] = {"AdditionalVersionWeights": {canary: round(weight, 4)}}
    else:
        request["RoutingConfig"] = {"AdditionalVersionWeights": {}}
    return request


def smoke_payload(records: list[dict[str, Any]]) -> bytes:
    """The JSON body both targets accept: ``{"instances": [...]}``."""
    return json.dumps({"instances": records}).encode()
