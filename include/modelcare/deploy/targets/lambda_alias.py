"""The Lambda target: model variables on the function, a published version, an alias with weights.

One step (``shift_lambda_traffic``) publishes the version and routes the first share of the alias's
traffic to it; the bake raises the share for the linear strategy, and promotion puts all traffic on it.
The client comes from the amazon provider's ``LambdaHook`` (no operator updates an alias).
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.config.deploy import LambdaSettings
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
from include.modelcare.registry.records import parse_version

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.deploy.plan import DeploymentPlan
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

SHIFT_LAMBDA: Final = "shift_lambda_traffic"


def traffic_steps(plan: DeploymentPlan) -> list[float]:
    """Share of traffic on the new version, step by step (the last step is 1.0)."""
    if not plan.previous.exists or plan.previous.ref in {None, "$LATEST"}:
        return [1.0]  # a new alias has nothing to share traffic with
    if plan.strategy == "canary":
        return [plan.canary_percent / 100, 1.0]
    if plan.strategy == "linear":
        step_share = plan.linear_step_percent / 100
        steps = [round(step_share * i, 4) for i in range(1, math.ceil(1 / step_share))]
        return [*steps, 1.0]
    return [1.0]


class LambdaAlias:
    """The serving function and its alias (``lambda`` client)."""

    def __init__(self, settings: LambdaSettings, client: Any) -> None:
        self.settings = settings
        self.client = client
        self.function = settings.function_name
        self.alias = settings.alias

    @classmethod
    def from_config(cls, config: ModelConfig, client: Any) -> LambdaAlias:
        """The alias of a model's config (tools that look at it outside a deployment, e.g. the demo)."""
        if config.deploy is None or config.deploy.lambda_ is None:
            raise ConfigError(f"{config.name}: deploy.lambda is not configured")
        return cls(config.deploy.lambda_, client)

    @classmethod
    def from_plan(cls, plan: DeploymentPlan) -> LambdaAlias:
        """The plan's function and alias with the client of the provider's ``LambdaHook``."""
        from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook

        return cls(plan.settings(LambdaSettings), LambdaHook(aws_conn_id=plan.aws_conn_id).conn)

    # -- the function, its versions and the alias ------------------------------------------------------
    def _function_configuration(self, qualifier: str | None = None) -> dict[str, Any]:
        kwargs = {"FunctionName": self.function, **({"Qualifier": qualifier} if qualifier else {})}
        try:
            return dict(self.client.get_function_configuration(**kwargs))
        except client_error() as exc:
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
        except client_error() as exc:
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
        except client_error() as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            log.info("creating alias %s:%s -> %s", self.function, self.alias, stable)
            return dict(self.client.create_alias(**request))
        log.info("alias %s:%s -> %s (+%s at %.0f%%)", self.function, self.alias, stable, canary, weight * 100)
        return dict(self.client.update_alias(**request))

    def restore(self, previous: str | None, new: str) -> str:
        """Send all traffic back to ``previous`` (or delete an alias that only ever served the failed version)."""
        try:
            alias = self.client.get_alias(FunctionName=self.function, Name=self.alias)
        except client_error() as exc:
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

    def send(self, qualifier: str, body: bytes) -> SmokeAnswer:
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

    # -- DeployTarget ----------------------------------------------------------------------------------
    def model_environment(self, plan: DeploymentPlan) -> dict[str, str]:
        """The model variables the function gets for the plan's version."""
        return rq.lambda_environment(
            {},
            model=plan.model,
            version_id=plan.version_id,
            model_uri=plan.model_uri,
            sha256=plan.model_sha256,
            features=plan.features,
            max_rows=self.settings.max_rows,
            threshold=plan.threshold,
            calibration=plan.calibration,
        )

    def planned_calls(self, plan: DeploymentPlan) -> list[dict[str, Any]]:
        previous = plan.previous.ref
        first_weight = traffic_steps(plan)[0]
        env = self.model_environment(plan)
        return [
            {
                "call": "lambda:UpdateFunctionConfiguration",
                "request": {"FunctionName": self.function, "Environment": {"Variables": env}},
            },
            {"call": "lambda:PublishVersion", "request": {"FunctionName": self.function}},
            {
                "call": "lambda:UpdateAlias" if plan.previous.exists else "lambda:CreateAlias",
                "request": rq.alias_request(
                    self.function,
                    self.alias,
                    stable=previous if previous and first_weight < 1 else "<new version>",
                    canary="<new version>",
                    weight=first_weight,
                    description=f"{plan.model} {plan.version_id}",
                ),
            },
            {"call": "lambda:Invoke", "request": {"Qualifier": "<new version>", "rows": plan.smoke_rows}},
        ]

    def prepare(self, plan: DeploymentPlan, registry: ModelRegistry, store: ObjectStore) -> dict[str, Any]:
        """Update the function's model variables and publish a version (no traffic yet)."""
        new = self.publish(
            self.model_environment(plan), f"{plan.model} {plan.version_id}", self.settings.timeout_minutes
        )
        return {"function_version": new}

    def shift(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        """Route the first share of the alias's traffic to the new version (all of it on a new alias)."""
        new = prepared["function_version"]
        previous = plan.previous.ref
        weight = traffic_steps(plan)[0]
        if weight >= 1 or previous is None or previous == new:
            self.route(stable=new, canary=None, weight=0.0, description=f"{plan.model} {plan.version_id}")
        else:
            self.route(stable=previous, canary=new, weight=weight, description=f"{plan.model} canary {plan.version_id}")
        return {"function_version": new, "weight": weight}

    def ready(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> bool:
        return True  # a published version serves at once

    def invoke(self, prepared: dict[str, Any], body: bytes) -> SmokeAnswer:
        return self.send(prepared["function_version"], body)  # the new version itself, whatever its share

    def advance(self, plan: DeploymentPlan, prepared: dict[str, Any], progress: float) -> None:
        """Linear strategy: raise the new version's share as the bake progresses (never to 100%: promote does that)."""
        weights = traffic_steps(plan)
        if len(weights) <= 2:
            return
        index = min(int(progress * (len(weights) - 1)), len(weights) - 2)
        self.route(
            stable=str(plan.previous.ref),
            canary=prepared["function_version"],
            weight=weights[index],
            description=f"{plan.model} linear {plan.version_id}",
        )

    def promote(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        new = prepared["function_version"]
        self.route(stable=new, canary=None, weight=0.0, description=f"{plan.model} {plan.version_id}")
        return {"function_version": new}

    def roll_back(self, plan: DeploymentPlan, new_ref: str) -> str:
        return self.restore(plan.previous.ref, new_ref)

    def clean_up(self, plan: DeploymentPlan, live_ref: str) -> list[str]:
        return []  # published versions are immutable and free: kept for redeploys


def _handler() -> str:
    from include.modelcare.serving.package import LAMBDA_HANDLER

    return LAMBDA_HANDLER


def _settings(config: ModelConfig) -> dict[str, Any] | None:
    if config.deploy is None or config.deploy.lambda_ is None:
        return None
    return config.deploy.lambda_.model_dump(mode="json")


KIND: Final = register(
    TargetKind(
        name="lambda",
        steps=(Step(SHIFT_LAMBDA, "deploy"),),
        ref_key="function_version",
        nothing_prepared="no function version was published",
        settings=_settings,
        build=LambdaAlias.from_plan,
    )
)
