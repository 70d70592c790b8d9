"""The ``deploy`` section of a model config: targets (SageMaker endpoint, Lambda alias) and the rollout.

Apart from ``config.schema`` by role (the deployment DAG and ``deploy/`` read only this) and to keep
``schema`` under the size limit; ``schema.ModelConfig.deploy`` holds it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from include.modelcare.config.base import _Strict

# The choices of a deployment, named once: the deploy code and the trigger form use these types.
TargetName = Literal["sagemaker", "lambda"]
DeployStrategy = Literal["all_at_once", "canary", "linear"]


class SageMakerEndpointSettings(_Strict):
    """A real-time SageMaker endpoint served by the scikit-learn inference container."""

    image_uri: str = Field(description="scikit-learn inference image URI of your region (needs Python 3.11+).")
    role_arn: str = Field(description="Execution role of the SageMaker model (reads model.tar.gz from S3).")
    endpoint_name: str | None = Field(
        None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$", description="Default: modelcare-<name>."
    )
    variant_name: str = Field("AllTraffic", description="Production variant name (must not change between deploys).")
    instance_type: str = Field("ml.m5.large", description="Endpoint instance type.")
    instance_count: int = Field(1, ge=1, description="Endpoint instances (a canary needs at least 2 to split).")
    wait_interval_seconds: int = Field(
        300, ge=0, le=3600, description="Blue/green: wait between traffic shifts (canary/linear steps)."
    )
    termination_wait_seconds: int = Field(
        0, ge=0, le=3600, description="Blue/green: keep the old fleet this long after the shift (baking)."
    )
    max_execution_timeout_seconds: int = Field(3600, ge=600, le=28800, description="Blue/green: deployment limit.")
    keep_versions: int = Field(
        3, ge=1, description="Endpoint configs and models kept for past versions (older ones are deleted)."
    )
    poll_seconds: int = Field(30, ge=1, description="How often waits check the endpoint's status.")
    timeout_minutes: float = Field(60, gt=0, description="How long to wait for the endpoint to be InService.")


class LambdaSettings(_Strict):
    """A Lambda function running ``include.modelcare.serving.lambda_handler.handler`` behind an alias."""

    function_name: str = Field(pattern=r"^[a-zA-Z0-9-_]{1,64}$", description="Existing function (see make-lambda-zip).")
    alias: str = Field("live", pattern=r"^[a-zA-Z_-][a-zA-Z0-9_-]{0,127}$", description="Alias callers invoke.")
    max_rows: int = Field(1000, ge=1, description="Largest request the handler accepts (MODELCARE_MAX_ROWS).")
    timeout_minutes: float = Field(10, gt=0, description="How long to wait for a configuration update.")


class DeployConfig(_Strict):
    """How approved versions reach production (the deployment DAG reads only this)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    target: TargetName = Field("sagemaker", description="Default target of the deployment DAG.")
    strategy: DeployStrategy = Field(
        "canary", description="Traffic shift: all at once, a canary share first, or linear steps."
    )
    canary_percent: int = Field(10, ge=1, le=50, description="Canary traffic share (SageMaker: of the capacity).")
    linear_step_percent: int = Field(25, ge=10, le=50, description="Share moved per linear step.")
    bake_minutes: float = Field(10, ge=0, le=1440, description="Watch the alarms this long before promoting.")
    alarm_poll_seconds: int = Field(60, ge=1, description="How often the alarms are checked while baking.")
    alarms: list[str] = Field(
        default_factory=list, description="CloudWatch alarms: any in ALARM during the bake rolls the deployment back."
    )
    smoke_rows: int = Field(20, ge=1, le=1000, description="Rows of the version's reference sample sent as smoke test.")
    sagemaker: SageMakerEndpointSettings | None = None
    lambda_: LambdaSettings | None = Field(None, alias="lambda")

    @model_validator(mode="after")
    def _target_configured(self) -> DeployConfig:
        if self.target == "sagemaker" and self.sagemaker is None:
            raise ValueError("sagemaker: required when target is 'sagemaker' (image_uri, role_arn)")
        if self.target == "lambda" and self.lambda_ is None:
            raise ValueError("lambda: required when target is 'lambda' (function_name)")
        return self

    def targets(self) -> list[str]:
        """Targets with settings (the form offers these)."""
        return [t for t, s in (("sagemaker", self.sagemaker), ("lambda", self.lambda_)) if s is not None]
