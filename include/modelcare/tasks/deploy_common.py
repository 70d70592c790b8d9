"""What the deployment task bodies share: task ids, the plan from XCom, the run folder, the step boundary.

The boundary of a deployment step differs from other tasks' in one way: every final error reaches the
boundary as a ``DeploymentError`` (an AWS refusal or another domain error is wrapped, message unchanged),
because ``roll_back`` alerts with the rollback's outcome and the task-failure alert stays silent for a
``DeploymentError`` in the cause chain.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.deploy.plan import DeploymentPlan
from include.modelcare.deploy.targets.base import TargetKind, target_kind
from include.modelcare.errors import DeploymentError, ModelcareError
from include.modelcare.tasks.boundary import TaskFailed, boundary

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore
    from include.modelcare.tasks.context import RunInfo

log = logging.getLogger(__name__)

RESOLVE: Final = "resolve_version"
ROUTE: Final = "route_deployment"
SHOW_PLAN: Final = "show_plan"
SMOKE: Final = "smoke_test"
BAKE: Final = "bake"
PROMOTE: Final = "promote"
ROLL_BACK: Final = "roll_back"
ALERT: Final = "alert_deployed"
PRODUCTION: Final = "production"
PACKAGE: Final = "model.tar.gz"


def read_plan(context: Mapping[str, Any]) -> DeploymentPlan:
    """The plan ``resolve_version`` made: the only source of deploy settings for the later steps."""
    return DeploymentPlan.from_xcom(context["ti"].xcom_pull(task_ids=RESOLVE))


def prepared_of(context: Mapping[str, Any], kind: TargetKind) -> dict[str, Any] | None:
    """The XCom of the kind's first step: the new version's resources on the target (None if not made)."""
    prepared: dict[str, Any] | None = context["ti"].xcom_pull(task_ids=kind.entry_task)
    return prepared


def kind_of(plan: DeploymentPlan) -> TargetKind:
    return target_kind(plan.target)


def slug(run: RunInfo) -> str:
    from include.modelcare.tasks.training_set import run_slug

    return run_slug(run)


def run_folder(config: ModelConfig, run: RunInfo) -> str:
    return config.paths.deploy_run(slug(run))


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def describe(version: int | None) -> str:
    return f"v{version:04d}" if version is not None else "nothing"


def refuse(message: str) -> TaskFailed:
    """Fail the task without retries before anything moved (the task-failure alert carries ``message``)."""
    log.error(message)
    return TaskFailed(message)


@contextlib.contextmanager
def deploy_step(config: ModelConfig, store: ObjectStore, run: RunInfo, name: str) -> Iterator[None]:
    """Run a deployment step: on a final failure, write ``failure.json`` for ``roll_back`` and fail without retries.

    Domain errors and AWS refusals (a 4xx ``ClientError``, a bad parameter) are final; anything else
    (a bug, a network hiccup, an AWS 5xx or throttling that outlasted botocore's own retries) propagates
    so Airflow retries the step: an unreachable AWS is not a reason to roll back.
    """

    def note(reason: str) -> None:
        store.write_json(f"{run_folder(config, run)}failure.json", {"step": name, "reason": reason, "at": now()})

    with boundary(name, note=note), _as_deployment_error():
        yield


# Error codes AWS answers when it is busy, not when it refuses: retried like a 5xx.
_THROTTLED: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
    }
)


def transient_aws_error(exc: BaseException) -> bool:
    """Whether ``exc`` says AWS was unreachable or busy (retry later) rather than that it refused the request."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True  # connection refused/reset/closed, read or connect timeouts
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or exc.response.get("Error", {}).get("Code", "") in _THROTTLED
    return False


@contextlib.contextmanager
def _as_deployment_error() -> Iterator[None]:
    """Re-raise a final error as a ``DeploymentError`` with the same message (the original is its cause);
    a transient AWS error propagates unchanged (Airflow's retries)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except DeploymentError:
        raise
    except (ModelcareError, ClientError, BotoCoreError) as exc:
        if transient_aws_error(exc):
            raise
        raise DeploymentError(str(exc)) from exc
