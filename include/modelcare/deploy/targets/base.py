"""The one protocol every deployment target implements, and the registry of target kinds.

Why a protocol and a registry: the deployment task bodies speak to "the target of the plan" only, so a
new kind of target (say batch scoring) is one new module that implements ``DeployTarget`` and calls
``register`` at import; no task body, plan field or DAG branch names a target. Built-in kinds
(``sagemaker``, ``lambda``) are imported on the first look-up.

Every method is safe to call again after a crash: it looks at the target's state before changing it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from include.modelcare.deploy.plan import Live
from include.modelcare.errors import ConfigError

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.deploy.plan import DeploymentPlan
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

__all__ = [
    "DeployTarget",
    "Live",
    "SmokeAnswer",
    "Step",
    "TargetKind",
    "configured_kinds",
    "register",
    "target_for",
    "target_kind",
]

# Built-in kinds, in the order forms and messages list them (then other kinds, as registered).
BUILTINS: Final = {
    "sagemaker": "include.modelcare.deploy.targets.sagemaker",
    "lambda": "include.modelcare.deploy.targets.lambda_alias",
}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def client_error() -> type[Exception]:
    """botocore's ClientError (imported on use: no botocore at module level)."""
    from botocore.exceptions import ClientError

    return ClientError


@dataclass(frozen=True)
class SmokeAnswer:
    """What a smoke request got back: the parsed body and which model version answered."""

    body: dict[str, Any]
    answered_by: str | None  # SageMaker variant or Lambda version that served the request


class DeployTarget(Protocol):
    """A place a registered version can serve from, moved there step by step.

    ``prepared`` is the XCom of the kind's first step (what ``prepare`` returned, plus what that step
    added): the new version's resources on the target, under the kind's ``ref_key``.
    """

    def live(self) -> Live:
        """Which registry version the target serves now (``exists=False`` when there is nothing yet)."""
        ...

    def planned_calls(self, plan: DeploymentPlan) -> list[dict[str, Any]]:
        """The calls a deployment of ``plan`` makes, with their requests (what a dry run shows)."""
        ...

    def prepare(self, plan: DeploymentPlan, registry: ModelRegistry, store: ObjectStore) -> dict[str, Any]:
        """Make the new version's resources without moving traffic; the result must be JSON."""
        ...

    def shift(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        """Start moving traffic to the new version as the plan's strategy says."""
        ...

    def ready(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> bool:
        """True once the new version serves (a poke: False means "look again later")."""
        ...

    def invoke(self, prepared: dict[str, Any], body: bytes) -> SmokeAnswer:
        """Send the smoke request to the new version."""
        ...

    def advance(self, plan: DeploymentPlan, prepared: dict[str, Any], progress: float) -> None:
        """During the bake (``progress`` 0..1): move more traffic if the strategy steps (never to 100%)."""
        ...

    def promote(self, plan: DeploymentPlan, prepared: dict[str, Any]) -> dict[str, Any]:
        """All traffic on the new version; returns what the deployment record notes about it."""
        ...

    def roll_back(self, plan: DeploymentPlan, new_ref: str) -> str:
        """Put the plan's previous version back (or remove what served only ``new_ref``); says what it did."""
        ...

    def clean_up(self, plan: DeploymentPlan, live_ref: str) -> list[str]:
        """After a promotion: delete old versions' resources; never raises (the deployment stands)."""
        ...


StepAction = Literal["prepare", "shift", "deploy", "ready"]  # deploy = prepare, then shift


@dataclass(frozen=True)
class Step:
    """One task of a target's deploy chain (the DAG makes one task per step, in order)."""

    task_id: str
    action: StepAction


@dataclass(frozen=True)
class TargetKind:
    """A registered kind of target: how to read its settings, build it, and the steps that deploy to it."""

    name: str
    steps: tuple[Step, ...]  # the first step's XCom is ``prepared`` for every later step
    ref_key: str  # key of the new version's reference in ``prepared``
    nothing_prepared: str  # rollback note when the first step made nothing, e.g. "no endpoint config was made"
    settings: Callable[[ModelConfig], dict[str, Any] | None]  # None: not configured for this model
    build: Callable[[DeploymentPlan], DeployTarget]
    where: str = "{target} version {ref}"  # how the deployed alert names the new version's place
    packaged: bool = False  # serves the version's model.tar.gz (the plan gets ``package_uri``)
    poll: Callable[[ModelConfig], tuple[float, float]] = lambda _config: (30, 3600)  # ready: poke, timeout (s)

    @property
    def entry_task(self) -> str:
        """The task the route branches to; later steps read its XCom."""
        return self.steps[0].task_id

    def step(self, task_id: str) -> Step:
        for step in self.steps:
            if step.task_id == task_id:
                return step
        raise ConfigError(f"target {self.name!r} has no step {task_id!r} (steps: {[s.task_id for s in self.steps]})")


_KINDS: dict[str, TargetKind] = {}
_loaded = False


def register(kind: TargetKind) -> TargetKind:
    """Add (or replace) a target kind; a target module calls this at import."""
    _KINDS[kind.name] = kind
    return kind


def _load_builtins() -> None:
    global _loaded  # noqa: PLW0603  # import the built-in kinds once, on first use (they import this module)
    if not _loaded:
        _loaded = True
        for module in BUILTINS.values():
            importlib.import_module(module)


def target_kind(name: str) -> TargetKind:
    """The registered kind ``name`` (``ConfigError`` naming the known ones otherwise)."""
    _load_builtins()
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown deployment target {name!r} (known: {', '.join(_KINDS) or 'none'})") from None


def configured_kinds(config: ModelConfig) -> list[TargetKind]:
    """The kinds this model has settings for: the built-in ones first, then others in registration order."""
    _load_builtins()
    order = [*[name for name in BUILTINS if name in _KINDS], *[name for name in _KINDS if name not in BUILTINS]]
    return [_KINDS[name] for name in order if _KINDS[name].settings(config) is not None]


def target_for(plan: DeploymentPlan) -> DeployTarget:
    """The plan's target, built from the plan alone (clients from the amazon provider's hooks)."""
    return target_kind(plan.target).build(plan)
