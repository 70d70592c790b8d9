"""The two deployment targets, each wrapping boto3 clients (from the amazon provider's hooks).

Both answer the same questions: which registry version is live, make the new version's resources,
move traffic, put the previous version back, and send a request to a given version. Every method is
safe to call again after a crash: it looks at the target's state before changing it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.modelcare.deploy import requests as rq
from include.modelcare.errors import DeploymentError
from include.modelcare.registry.records import parse_version

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    return ClientError


@dataclass(frozen=True)
class Live:
    """What a target serves now: the registry version and the target's own reference to it."""

    version: int | None
    ref: str | None  # SageMaker: endpoint config name; Lambda: function version number
    exists: bool  # the endpoint / alias exists at all

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "ref": self.ref, "exists": self.exists}


@dataclass(frozen=True)
class SmokeAnswer:
    """What a smoke request got back: the parsed body and which model version answered."""

    body: dict[str, Any]
    answered_by: str | None  # SageMaker variant or Lambda version that served the request


# -- SageMaker ---------------------------------------------------------------------------------------
class SageMakerEndpoint:
    """The model's real-time endpoint (``sagemaker`` client) and its runtime (``sagemaker-runtime``)."""

    def __init__(self, config: ModelConfig, client: Any, runtime: Any | None = None) -> None:
        self.config = config
        self.client = client
        self.runtime = runtime
        self.name = rq.endpoint_name(config)

    def live(self) -> Live:
        """The endpoint's current config and the version it carries (``exists=False`` if there is no endpoint)."""
        try:
            endpoint = self.client.describe_endpoint(EndpointName=self.name)
        except _client_error() as exc:
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
        except _client_error() as exc:
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
        except _client_error() as exc:
            if error_code(exc) != "ValidationException":
                raise
        self.client.create_endpoint_config(**request)
        log.info("created endpoint config %s", request["EndpointConfigName"])
        return True

    def roll_back(self, previous_config: str | None, new_config: str) -> str:
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
            **rq.update_endpoint_request(self.name, previous_config, rq.rollback_deployment_config(self.config))
        )
        return f"endpoint {self.name} updated back to {previous_config}"

    def wait_in_service(self, poll_seconds: int, timeout_minutes: float) -> None:
        """Block until InService (only for rollbacks: they must finish before the run reports)."""
        attempts = max(1, int(timeout_minutes * 60 / max(poll_seconds, 1)))
        self.client.get_waiter("endpoint_in_service").wait(
            EndpointName=self.name, WaiterConfig={"Delay": poll_seconds, "MaxAttempts": attempts}
        )

    def invoke(self, body: bytes) -> SmokeAnswer:
        """InvokeEndpoint with a JSON body; ``DeploymentError`` when the model answers with an error."""
        if self.runtime is None:
            raise DeploymentError("no sagemaker-runtime client given")
        try:
            response = self.runtime.invoke_endpoint(
                EndpointName=self.name, ContentType="application/json", Accept="application/json", Body=body
            )
        except _client_error() as exc:
            raise DeploymentError(f"endpoint {self.name} answered {error_code(exc) or 'an error'}: {exc}") from None
        payload = json.loads(response["Body"].read())
        return SmokeAnswer(body=payload, answered_by=response.get("InvokedProductionVariant"))

    def clean_up(self, keep: int, protected: set[str]) -> list[str]:
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
                    except _client_error() as exc:
                        if error_code(exc) != "ValidationException":
                            raise
        if deleted:
            log.info("deleted old endpoint configs and models: %s", ", ".join(deleted))
        return deleted


# -- Lambda ------------------------------------------------------------------------------------------
class LambdaAlias:
    """The serving function and its alias (``lambda`` client)."""

    def __init__(self, config: ModelConfig, client: Any) -> None:
        if config.deploy is None or config.deploy.lambda_ is None:
            raise DeploymentError(f"{config.name}: deploy.lambda is not configured")
        self.config = config
        self.settings = config.deploy.lambda_
        self.client = client
        self.function = self.settings.function_name
        self.alias = self.settings.alias

    def _function_configuration(self, qualifier: str | None = None) -> dict[str, Any]:
        kwargs = {"FunctionName": self.function, **({"Qualifier": qualifier} if qualifier else {})}
        try:
            return dict(self.client.get_function_configuration(**kwargs))
        except _client_error() as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise DeploymentError(
                    f"Lambda function {self.function}{':' + qualifier if qualifier else ''} not found: create it with "
                    f"the zip from `modelcare make-lambda-zip` (handler {_handler()}) before deploying"
                ) from None
            raise

    def version_served_by(self, function_version: str) -> int | None:
        """The registry version a published function version serves (from its environment)."""
        env = self._function_configuration(function_version).get("Environment", {}).get("Variables", {})
        return parse_version(env.get(rq.ENV_MODEL_VERSION, ""))

    def live(self) -> Live:
        """The alias's main function version and the registry version it serves."""
        self._function_configuration()  # a clear error when the function itself is missing
        try:
            alias = self.client.get_alias(FunctionName=self.function, Name=self.alias)
        except _client_error() as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return Live(version=None, ref=None, exists=False)
            raise
        ref = str(alias["FunctionVersion"])
        version = self.version_served_by(ref) if ref != "$LATEST" else None
        return Live(version=version, ref=ref, exists=True)

    def publish(self, environment: dict[str, str], description: str, timeout_minutes: float) -> str:
        """Set the model variables on $LATEST, wait until updated, publish.

        A published version with the same code (CodeSha256) and model variables is reused, so a re-run
        does not publish twice, while new function code always gets a new version.
        """
        latest = self._function_configuration()
        for version in self._published():
            env = version.get("Environment", {}).get("Variables", {})
            same_code = version.get("CodeSha256") == latest.get("CodeSha256")
            if same_code and all(env.get(k) == environment.get(k) for k in rq.LAMBDA_ENV_KEYS):
                log.info("function version %s already serves this model with this code (re-run)", version["Version"])
                return str(version["Version"])
        merged = {**latest.get("Environment", {}).get("Variables", {}), **environment}
        self.client.update_function_configuration(FunctionName=self.function, Environment={"Variables": merged})
        self.client.get_waiter("function_updated_v2").wait(
            FunctionName=self.function,
            WaiterConfig={"Delay": 2, "MaxAttempts": max(1, int(timeout_minutes * 30))},
        )
        published = self.client.publish_version(FunctionName=self.function, Description=description[:256])
        log.info("published %s version %s (%s)", self.function, published["Version"], description)
        return str(published["Version"])

    def _published(self) -> list[dict[str, Any]]:
        versions: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_versions_by_function")
        for page in paginator.paginate(FunctionName=self.function):
            versions += [v for v in page["Versions"] if v["Version"] != "$LATEST"]
        return versions

    def route(self, *, stable: str, canary: str | None, weight: float, description: str) -> dict[str, Any]:
        """Point the alias at ``stable`` with ``weight`` of the traffic on ``canary`` (create it if missing)."""
        request = rq.alias_request(
            self.function, self.alias, stable=stable, canary=canary, weight=weight, description=description
        )
        try:
            self.client.get_alias(FunctionName=self.function, Name=self.alias)
        except _client_error() as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            log.info("creating alias %s:%s -> %s", self.function, self.alias, stable)
            return dict(self.client.create_alias(**request))
        log.info("alias %s:%s -> %s (+%s at %.0f%%)", self.function, self.alias, stable, canary, weight * 100)
        return dict(self.client.update_alias(**request))

    def roll_back(self, previous: str | None, new: str) -> str:
        """Send all traffic back to ``previous`` (or delete an alias that only ever served the failed version)."""
        try:
            alias = self.client.get_alias(FunctionName=self.function, Name=self.alias)
        except _client_error() as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return "nothing to roll back: the alias does not exist"
        serving = str(alias["FunctionVersion"])
        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) or {}
        if serving != new and new not in weights:
            return f"nothing to roll back: {self.alias} serves version {serving}, no traffic on {new}"
        if previous is None:
            self.client.delete_alias(FunctionName=self.function, Name=self.alias)
            return f"deleted alias {self.alias}: it was new and served only the failed version {new}"
        request = rq.alias_request(
            self.function,
            self.alias,
            stable=previous,
            canary=None,
            weight=0.0,
            description=f"rollback from version {new}",
        )
        self.client.update_alias(**request)
        return f"alias {self.alias} back on version {previous} (no traffic on {new})"

    def invoke(self, qualifier: str, body: bytes) -> SmokeAnswer:
        """Invoke one function version; ``DeploymentError`` on a function error or a non-200 answer."""
        response = self.client.invoke(
            FunctionName=self.function, Qualifier=qualifier, InvocationType="RequestResponse", Payload=body
        )
        raw = response["Payload"].read()
        where = f"{self.function}:{qualifier}"
        if response.get("FunctionError"):
            raise DeploymentError(f"{where} failed ({response['FunctionError']}): {raw[:300].decode(errors='replace')}")
        try:
            answer = json.loads(raw)
            status, payload = int(answer["statusCode"]), json.loads(answer["body"])
        except (ValueError, KeyError, TypeError):
            raise DeploymentError(
                f"{where} answered something that is not the handler's response: {raw[:200]!r}"
            ) from None
        if status != 200:
            raise DeploymentError(f"{where} answered {status}: {payload.get('error', payload)}")
        return SmokeAnswer(body=payload, answered_by=response.get("ExecutedVersion"))


def _handler() -> str:
    from include.modelcare.serving.package import LAMBDA_HANDLER

    return LAMBDA_HANDLER
