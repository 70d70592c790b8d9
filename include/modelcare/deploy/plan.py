"""The deployment plan: every setting a deployment's later steps use, resolved once per run.

Why one frozen record: the steps of a deployment run in separate processes, minutes or hours apart and
possibly as retries. Had they read the live config, an edit between two attempts would mix two
configurations (the canary size from the first, the wait interval from the second). So
``resolve_version`` resolves the plan once, keeps it in the run's folder (``deploy_runs/<run>/plan.json``,
a re-run reads it back) and hands it to XCom as its JSON dict; later steps read only the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict

from include.modelcare.config.deploy import DeployStrategy
from include.modelcare.errors import ConfigError

if TYPE_CHECKING:
    from include.modelcare.config.deploy import DeployConfig

S = TypeVar("S", bound=BaseModel)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Live(_Frozen):
    """What a target serves now: the registry version and the target's own reference to it."""

    version: int | None
    ref: str | None  # SageMaker: endpoint config name; Lambda: function version number
    exists: bool  # the endpoint / alias exists at all

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class DeploymentPlan(_Frozen):
    """One deployment, fully resolved: which version goes where, how, and with which target settings."""

    model: str
    version: int
    version_id: str
    status: str
    force: bool
    dry_run: bool
    target: str  # a registered target kind (``deploy.targets.base``), not only the built-in ones
    strategy: DeployStrategy
    canary_percent: int
    linear_step_percent: int
    bake_seconds: float
    alarm_poll_seconds: int
    alarms: list[str]
    smoke_rows: int
    classifier: bool  # the smoke test also checks scores in [0, 1]
    model_uri: str
    model_sha256: str
    features: dict[str, list[str]]
    previous: Live
    production: int | None
    reason: str
    requested_by: str
    started_at: str
    run_id: str
    dag_id: str
    run_url: str
    emulated: str | None  # the local emulator's endpoint URL (None on real AWS)
    aws_conn_id: str
    target_settings: dict[str, Any]  # the target kind's own settings model, as JSON (see ``settings``)
    package_uri: str | None = None  # model.tar.gz of the version (targets that serve a package)
    threshold: float | None = None  # the version's decision threshold (binary classifiers), served with it
    # The version's calibrator as served (``Calibrator.knots()``: method, x, y), applied to the positive-class
    # score before the threshold (which is then on the calibrated scale); None: served raw (older versions).
    calibration: dict[str, Any] | None = None

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any] | None) -> DeploymentPlan:
        """The plan ``resolve_version`` pushed (``ConfigError`` when there is none: nothing was planned)."""
        if not value:
            raise ConfigError("no deployment plan in XCom (resolve_version did not run or failed)")
        return cls.model_validate(dict(value))

    def as_json(self) -> dict[str, Any]:
        """The plan as the JSON dict kept in ``plan.json`` and pushed to XCom."""
        return self.model_dump(mode="json")

    def settings(self, model: type[S]) -> S:
        """The target settings, validated into the target kind's model (``ConfigError`` if they do not fit)."""
        from pydantic import ValidationError

        try:
            return model.model_validate(self.target_settings)
        except ValidationError as exc:
            raise ConfigError(f"{self.model}: plan settings for target {self.target!r} are invalid: {exc}") from None


def deploy_settings(deploy: DeployConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """The traffic and verification settings of a run: the form's values over the config's defaults."""
    bake_minutes = params["bake_minutes"] if params.get("bake_minutes") is not None else deploy.bake_minutes
    return {
        "strategy": str(params.get("strategy") or deploy.strategy),
        "canary_percent": int(params.get("canary_percent") or deploy.canary_percent),
        "linear_step_percent": deploy.linear_step_percent,
        "bake_seconds": float(bake_minutes) * 60,
        "alarm_poll_seconds": deploy.alarm_poll_seconds,
        "alarms": list(deploy.alarms),
        "smoke_rows": deploy.smoke_rows,
    }
