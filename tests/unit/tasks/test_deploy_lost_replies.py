"""Deployment steps under infrastructure trouble (issue 10, defect 2), with the in-memory target.

An unreachable or busy AWS (connection errors, 5xx, throttling that outlasted botocore's retries) is
not a final failure of a step: it propagates for Airflow's retries, with no ``failure.json`` and so no
rollback. And ``roll_back`` never takes away what serves the version ``production`` already points at
when there is no earlier version to point it back at.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.unit.tasks.test_deployment_targets import (  # noqa: F401  # the fixture, shared
    MODEL,
    STATE,
    STEP,
    _context,
    _deploy_to_verified,
    _run,
    world,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "error",
    [
        (
            "ClientError",
            {"Error": {"Code": "SlowDown", "Message": "reduce your rate"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
        ),
        (
            "ClientError",
            {"Error": {"Code": "ThrottlingException", "Message": "rate"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        ),
        ("EndpointConnectionError", {"endpoint_url": "http://127.0.0.1:1"}),
        ("ConnectionClosedError", {"endpoint_url": "http://127.0.0.1:1"}),
    ],
    ids=["503", "throttled", "refused", "reset"],
)
def test_an_unreachable_or_busy_aws_is_retried_not_rolled_back(
    world: SimpleNamespace,  # noqa: F811
    error: tuple[str, dict[str, Any]],
) -> None:
    import botocore.exceptions

    from include.modelcare.tasks import deployment as d

    w = world
    name, args = error
    cls = getattr(botocore.exceptions, name)
    exc = cls(args, "Load") if name == "ClientError" else cls(**args)
    context = _context("manual__transient", version=w.versions[0].version_id)
    _run(d.RESOLVE, context, d.resolve_version)
    STATE["fail_prepare"] = exc
    with pytest.raises(cls):
        d.target_step(MODEL, STEP, context)
    assert not w.store.exists(f"{w.config.paths.deploy_run('manual__transient')}failure.json")


def test_roll_back_keeps_serving_what_production_already_points_at(world: SimpleNamespace) -> None:  # noqa: F811
    """A first deployment whose promote moved ``production`` and then failed: nothing earlier exists to
    put back, so removing v1 from the target would leave ``production`` naming a version nothing serves."""
    from include.modelcare.registry.deployments import DeploymentHistory
    from include.modelcare.tasks import deployment as d
    from include.modelcare.tasks.boundary import TaskFailed

    w = world
    v1 = w.versions[0]
    context = _context("manual__moved", version=v1.version_id)
    _deploy_to_verified(context)
    _run(d.BAKE, context, d.bake_check)
    w.registry.set_alias("production", v1.version, by="promote", why="moved, then the step failed")
    with pytest.raises(TaskFailed, match="production already points at v0001"):
        d.roll_back(MODEL, context)
    assert STATE["stable"] == f"{MODEL}-slot-{v1.version_id}", "roll_back removed the version production serves"
    assert w.registry.alias("production").version == v1.version
    record = DeploymentHistory(w.config, w.store).entries()[0]
    assert record["outcome"] == "failed" and "keeps serving it" in record["rollback"]
