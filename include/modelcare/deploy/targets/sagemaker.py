"""The SageMaker real-time endpoint target: model.tar.gz -> model -> endpoint config -> blue/green update.

SageMaker moves the traffic itself (the plan's strategy becomes the UpdateEndpoint's blue/green routing),
so this target's steps are: make the resources (``prepare_endpoint``), create or update the endpoint
(``deploy_endpoint``) and wait until it serves the new config (``wait_for_endpoint``, a sensor).
Clients come from the amazon provider's ``SageMakerHook`` (and a ``sagemaker-runtime`` client).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field

from include.modelcare.config.deploy import SageMakerEndpointSettings
from include.modelcare.deploy import requests as rq
from include.modelcare.deploy.targets.base import (
    Live,
    SmokeAnswer,
    Step,
    TargetKind,
    client_error,
    error_code,
    register,
)
from include.modelcare.errors import ConfigError, DeploymentError

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.deploy.plan import DeploymentPlan
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

PREPARE_ENDPOINT: Final = "prepare_endpoint"
DEPLOY_ENDPOINT: Final = "deploy_endpoint"
WAIT_ENDPOINT: Final = "wait_for_endpoint"


class EndpointSettings(SageMakerEndpointSettings):
    """``deploy.sagemaker`` with the endpoint name resolved: the plan's target settings for SageMaker."""

    endpoint_name: str = Field(description="The endpoint (resolved: deploy.sagemaker.endpoint_name or the default).")

    @classmethod
    def of(cls, config: ModelConfig) -> EndpointSettings:
        if config.deploy is None or config.deploy.sagemaker is None:
            raise ConfigError(f"{config.name}: deploy.sagemaker is not configured")
        return cls.model_validate({**config.deploy.sagemaker.model_dump(), "endpoint_name": rq.endpoint_name(config)})


class SageMakerEndpoint:
    """The model's real-time endpoint (``sagemaker`` client) and its runtime (``sagemaker-runtime``)."""

    def __init__(self, settings: EndpointSettings, client: Any, runtime: Any | None = None) -> None:
        self.settings = settings
        self.client = client
        self.runtime = runtime
        self.name = settings.endpoint_name

    @classmethod
    def from_config(cls, config: ModelConfig, client: Any, runtime: Any | None = None) -> SageMakerEndpoint:
        """The endpoint of a model's config (tools that look at it outside a deployment, e.g. the demo)."""
        return cls(EndpointSettings.of(config), client, runtime)

    @classmethod
    def from_plan(cls, plan: DeploymentPlan) -> SageMakerEndpoint:
        """The plan's endpoint with clients from the amazon provider's hooks."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        runtime = AwsBaseHook(aws_conn_id=plan.aws_conn_id, client_type="sagemaker-runtime").conn
        return cls(plan.settings(EndpointSettings), SageMakerHook(aws_conn_id=plan.aws_conn_id).conn, runtime)

    # -- the endpoint's state and resources ------------------------------------------------------------
    def live(self) -> Live:
        """The endpoint's current config and the version it carries (``exists=False`` if there is no endpoint)."""
        try:
            endpoint = self.client.describe_endpoint(EndpointName=self.name)
        except client_error() as exc:
            if error_code(exc) == "ValidationException" and "Could not find" in str(exc):
                return Live(version=None, ref=None, exists=False)
            raise
        config_name = endpoint.get("EndpointConfigName")
        return Live(version=rq.version_of_name(config_name), ref=config_name, exists=True)

    def ensure_model(self, request: dict[str, Any]) -> bool:
        """CreateModel unless a model of that name exists (names carry version and content hash)."""
        try:
            self.client.describe_model(ModelName=request["ModelName"])
            log.info("SageMaker model %s exists (re-run)", request["ModelName"])
            return False
        except client_error() as exc:
            if error_code(exc) != "ValidationException":
                raise
        self.client.create_model(**request)
        log.info(
            "created SageMaker model %s from %s", request["ModelName"], request["PrimaryContainer"]["ModelDataUrl"]
        )
        return True

    def ensure_endpoint_config(self, request: dict[str, Any]) -> bool:
        """CreateEndpointConfig unless one of that name exists."""
        try:
            self.client.describe_endpoint_config(EndpointConfigName=request["EndpointConfigName"])
            log.info("endpoint config %s exists (re-run)", request["EndpointConfigName"])
            return False
        except client_error() as exc:
            if error_code(exc) != "ValidationException":
                raise
        self.client.create_endpoint_config(**request)
        log.info("created endpoint config %s", request["EndpointConfigName"])
        return True

    def restore_config(self, previous_config: str | None, new_config: str) -> str:
        """Put the previous config back (or delete an endpoint that never served anything else)."""
        live = self.live()
        if not live.exists:
            return "nothing to roll back: the endpoint does not exist"
        if live.ref != new_config:
            return f"nothing to roll back: the endpoint serves {live.ref}, not {new_config}"
        if previous_config is None:
            self.client.delete_endpoint(EndpointName=self.name)
            return f"deleted endpoint {self.name}: it was new and served only the failed version"
        self.client.update_endpoint(
            **rq.update_endpoint_request(self.name, previous_config, rq.rollback_deployment_config(self.settings))
        )
        return f"endpoint {self.name} updated back to {previous_config}"

    def wait_in_service(self, poll_seconds: int, timeout_minutes: float) -> None:
        """Block until InService (only for rollbacks: they must finish before the run reports)."""
        attempts = max(1, int(timeout_minutes * 60 / max(poll_seconds, 1)))
        self.client.get_waiter("endpoint_in_service").wait(
            EndpointName=self.name, WaiterConfig={"Delay": poll_seconds, "MaxAttempts": attempts}
        )

    def send(self, body: bytes) -> SmokeAnswer:
        """InvokeEndpoint with a JSON body; ``DeploymentError`` when the model answers with an error."""
        if self.runtime is None:
            raise DeploymentError("no sagemaker-runtime client given")
        try:
            response = self.runtime.invoke_endpoint(
                EndpointName=self.name, ContentType="application/json", Accept="application/json", Body=body
            )
        except client_error() as exc:
            raise DeploymentError(f"endpoint {self.name} answered {error_code(exc) or 'an error'}: {exc}") from None
        payload = json.loads(response["Body"].read())
        return SmokeAnswer(body=payload, answered_by=response.get("InvokedProductionVariant"))

    def delete_old(self, keep: int, protected: set[str]) -> list[str]:
        """Delete endpoint configs and models of this endpoint's versions beyond the newest ``keep``."""
        prefix = self.name[: rq.MAX_NAME - 15]
        configs = []
        paginator = self.client.get_paginator("list_endpoint_configs")
        for page in paginator.paginate(NameContains=prefix):
            configs += [c["EndpointConfigName"] for c in page["EndpointConfigs"]]
        ours = sorted(
            (c for c in configs if rq.version_of_name(c) is not None and c.startswith(prefix)),
            key=lambda c: (rq.version_of_name(c) or 0, c),
            reverse=True,
        )
        kept_versions: list[int] = []
        deleted: list[str] = []
        for name in ours:
            version = rq.version_of_name(name) or 0
            if name in protected or version in kept_versions or len(kept_versions) < keep:
                if version not in kept_versions:
                    kept_versions.append(version)
                continue
            described = self.client.describe_endpoint_config(EndpointConfigName=name)
            self.client.delete_endpoint_config(EndpointConfigName=name)
            deleted.append(name)
            for variant in described.get("ProductionVariants", []):
                model = variant.get("ModelName")
                if model and rq.version_of_name(model) not in kept_versions:
                    try:
                        self.client.delete_model(ModelName=model)
                        deleted.append(model)
                    except client_error() as exc:
                        if error_code(exc) != "ValidationException":
                            raise
        if deleted:
            log.info("deleted old endpoint configs and models: %s", ", ".join(deleted))
        return deleted

    # -- DeployTarget ----------------------------------------------------------------------------------
    def _package_uri(self, plan: DeploymentPlan) -> str:
        if not plan.package_uri:
            raise ConfigError(f"{plan.model}: the plan has no package_uri (SageMaker serves model.tar.gz)")
        return plan.package_uri

    def _requests(self, plan: DeploymentPlan) -> tuple[dict[str, Any], dict[str, Any]]:
        model_req = rq.sagemaker_model_request(self.settings, plan.model, plan.version, self._package_uri(plan))
        return model_req, rq.endpoint_config_request(self.settings, plan.model, plan.version, model_req["ModelName"])

    def _endpoint_call(self, plan: DeploymentPlan, config_name: str) -> dict[str, Any]:
        if not plan.previous.exists:
            return {
                "call": "sagemaker:CreateEndpoint",
                "request": rq.create_endpoint_request(self.name, config_name, plan.model),
            }
        deployment = rq.deployment_config(
            self.settings,
            plan.strategy,
            canary_percent=plan.canary_percent,
            linear_step_percent=plan.linear_step_percent,
            alarms=plan.alarms,
        )
        return {
            "call": "sagemaker:UpdateEndpoint",
            "request": rq.update_endpoint_request(self.name, config_name, deployment),
        }

    def planned_calls(self, plan: DeploymentPlan) -> list[dict[str, Any]]:
        model_req, config_req = self._requests(plan)
        return [
            {"call": "s3:PutObject", "request": {"uri": self._package_uri(plan), "what": "model.tar.gz"}},
            {"call": "sagemaker:CreateModel", "request": model_req},
            {"call": "sagemaker:CreateEndpointConfig", "request": config_req},
            self._endpoint_call(plan, config_req["EndpointConfigName"]),
            {"call": "sagemaker-runtime:InvokeEndpoint", "request": {"rows": plan.smoke_rows}},
        ]

    def prepare(self, plan: DeploymentPlan, registry: ModelRegistry, store: ObjectStore) -> dict[str, Any]:
        """Write the version's ``model.tar.gz``, create its SageMaker model and endpoint config (idempotently)."""
        from include.modelcare.ml.serialization import sha256_hex
        from include.modelcare.serving.package import build_model_tarball

        model_bytes = registry.load_model_bytes(plan.version)
        meta: dict[str, Any] = {
            "model": plan.model,
            "version": plan.version_id,
            "sha256": plan.model_sha256,
            "features": plan.features,
        }
        if plan.threshold is not None:  # the version's decision threshold (serving.model.FeatureSchema)
            meta["threshold"] = plan.threshold
        if plan.calibration is not None:  # its calibrator's knots, applied before the threshold
            meta["calibration"] = plan.calibration
        tarball = build_model_tarball(model_bytes, meta)  # byte-reproducible: a re-run writes the same bytes
        uri = self._package_uri(plan)
        if not store.exists(uri) or sha256_hex(store.read_bytes(uri)) != sha256_hex(tarball):
            store.write_bytes(uri, tarball, content_type="application/gzip")
        model_req, config_req = self._requests(plan)
        self.ensure_model(model_req)
        self.ensure_endpoint_config(config_req)
        call = self._endpoint_call(plan, config_req["EndpointConfigName"])
        operation = "create" if call["call"].endswith("CreateEndpoint") else "update"
        if operation == "update" and not self.live().exists:
            raise DeploymentError(f"endpoint {self.name} disappeared since the plan was made")
        log.info("%s: %s (%s)", self.name, operation, config_req["EndpointConfigName"])
        return {
            "operation": operation,
            "request": call["request"],
            "endpoint_config": config_req["EndpointConfigName"],
            "model_name": model_req["ModelName"],
            "package_sha256": sha256_hex(tarball),
        }

    def shift(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        """CreateEndpoint or a blue/green UpdateEndpoint (no waiting here: ``ready`` is the sensor's poke).

        Not the provider's ``SageMakerEndpointOperator``: importing it at parse time pulls boto3 into every
        DAG file parse, and on a retry its "create" falls back to an update with the same config. A re-run
        here sees the endpoint already on the new config and does nothing.
        """
        operation = prepared["operation"]
        if self.live().ref == prepared["endpoint_config"]:
            operation = "none"
        elif operation == "create":
            self.client.create_endpoint(**prepared["request"])
        elif operation == "update":
            self.client.update_endpoint(**prepared["request"])
        log.info("%s: %s -> %s", self.name, operation, prepared["endpoint_config"])
        return {"operation": operation, "endpoint_config": prepared["endpoint_config"]}

    def ready(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> bool:
        """True once InService on the new config; a failed endpoint (or SageMaker's own rollback) fails."""
        described = self.client.describe_endpoint(EndpointName=self.name)
        status = described["EndpointStatus"]
        if status in {"Failed", "UpdateRollbackFailed", "OutOfService"}:
            raise DeploymentError(f"endpoint {self.name} is {status}: {described.get('FailureReason', '-')}")
        if status != "InService":
            log.info("endpoint %s is %s", self.name, status)
            return False
        if described.get("EndpointConfigName") != prepared["endpoint_config"]:
            # SageMaker's own auto-rollback (an alarm during its blue/green baking) put the old config back.
            raise DeploymentError(
                f"endpoint {self.name} is InService on {described.get('EndpointConfigName')}, not "
                f"{prepared['endpoint_config']}: SageMaker rolled the update back"
            )
        return True

    def invoke(self, prepared: dict[str, Any], body: bytes) -> SmokeAnswer:
        return self.send(body)  # the endpoint serves only the new config once ``ready``

    def advance(self, plan: DeploymentPlan, prepared: dict[str, Any], progress: float) -> None:
        """Nothing: SageMaker steps the traffic itself (the update's blue/green routing)."""

    def promote(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        return {"endpoint_config": prepared["endpoint_config"]}  # blue/green already moved all traffic

    def roll_back(self, plan: DeploymentPlan, new_ref: str) -> str:
        previous = plan.previous.ref
        action = self.restore_config(previous, new_ref)
        if previous is not None and action.startswith("endpoint"):
            self.wait_in_service(min(self.settings.poll_seconds, 5), self.settings.timeout_minutes)
        return action

    def clean_up(self, plan: DeploymentPlan, live_ref: str) -> list[str]:
        """Delete endpoint configs/models beyond ``keep_versions`` (a failure here is logged, not fatal)."""
        protected = {live_ref, *([plan.previous.ref] if plan.previous.ref else [])}
        try:
            return self.delete_old(self.settings.keep_versions, protected)
        except Exception as exc:  # the deployment succeeded; leftovers cost money, not correctness
            log.warning("clean-up of old endpoint configs failed (the deployment stands): %s", exc)
            return []


def _settings(config: ModelConfig) -> dict[str, Any] | None:
    if config.deploy is None or config.deploy.sagemaker is None:
        return None
    return EndpointSettings.of(config).model_dump(mode="json")


def _poll(config: ModelConfig) -> tuple[float, float]:
    settings = EndpointSettings.of(config)
    return settings.poll_seconds, settings.timeout_minutes * 60


KIND: Final = register(
    TargetKind(
        name="sagemaker",
        steps=(Step(PREPARE_ENDPOINT, "prepare"), Step(DEPLOY_ENDPOINT, "shift"), Step(WAIT_ENDPOINT, "ready")),
        ref_key="endpoint_config",
        nothing_prepared="no endpoint config was made",
        where="{ref}",
        settings=_settings,
        build=SageMakerEndpoint.from_plan,
        packaged=True,
        poll=_poll,
    )
)
