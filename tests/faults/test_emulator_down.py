"""The emulator down mid-run, then back: the run fails as infrastructure (retried), the re-run completes.

From a chosen request on, the proxy resets every connection (``Outage``); botocore's retries run out,
the task fails with a connection error, which is not a domain error: Airflow retries it (the task's
``try_number`` shows it) and no domain failure is recorded (no ``failure.json`` of a deployment, no
quarantine of a batch). Then the emulator is "back" (the rule is removed) and the same run is re-run:
it completes and every invariant of ``tests.faults.invariants`` holds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.faults import invariants as inv
from tests.faults.conftest import Harness, reset_deploy_targets, run_dag, task_states
from tests.faults.proxy import FaultProxy, Request, Rule

pytestmark = pytest.mark.faults

T = dt.datetime(2026, 7, 6, 9, tzinfo=dt.UTC)
DRIFT_DAY = dt.date(2026, 7, 13)
RETRIES = 2  # operators/defaults: config.airflow.retries of the sample model


class Outage:
    """Matches every request from the first one ``starts_at`` matches on (that one included)."""

    def __init__(self, starts_at: Any) -> None:
        self.starts_at = starts_at
        self.started = False

    def __call__(self, request: Request) -> bool:
        self.started = self.started or bool(self.starts_at(request))
        return self.started


@pytest.fixture
def few_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two botocore attempts per call instead of five: the outage outlasts them in seconds, not minutes."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")


def _tries(dag_run: Any) -> dict[str, int]:
    return {ti.task_id: int(ti.try_number) for ti in dag_run.get_task_instances()}


def test_emulator_down_during_the_smoke_test_then_back(
    harness: Harness, devstack: Any, proxy: FaultProxy, few_attempts: None
) -> None:
    from include.modelcare.dev.simulate import register_simulated_version

    h = harness
    reset_deploy_targets(h, devstack)
    register_simulated_version(h.registry, h.config, seed=1)
    proxy.reset()
    outage = Outage(lambda r: r.service == "sagemaker" and "invocations" in r.path)
    rule = proxy.add(Rule(outage, when="before", fault="reset", times=10**9))
    conf = {"version": "v1", "target": "sagemaker", "bake_minutes": 0}

    down = run_dag(h, "deploy", T, conf)
    states, tries = task_states(down), _tries(down)
    print(f"\nemulator down from the smoke test on: {states} (tries {tries}); {len(rule.fired)} requests refused")
    assert rule.fired, "the outage never started"
    assert str(down.state) == "failed", states
    assert states["smoke_test"] == "failed" and tries["smoke_test"] == RETRIES + 1, (states, tries)
    assert states["promote"] == "upstream_failed", states
    folder = h.config.paths.deploy_run(down.run_id.replace(":", "").replace("+", ""))
    failures = [u for u in h.store.list(f"s3://{h.config.data.bucket}/") if u.endswith("/failure.json")]
    assert not failures, f"an outage was recorded as a domain failure: {failures} ({folder})"
    assert inv.production_served(h.config, h.store, devstack.client) == []

    proxy.reset()  # the emulator is back
    back = run_dag(h, "deploy", T, conf)
    assert str(back.state) == "success", task_states(back)
    problems = inv.check(
        inv.production_served(h.config, h.store, devstack.client),
        inv.one_deployment_record(h.config, h.store, back.run_id),
        inv.one_alert_per_event(h.mails(), h.sns()),
        inv.no_half_written_version(h.config, h.store),
    )
    assert h.registry.alias("production") is not None
    print(f"re-run after the outage: {task_states(back)}; invariants: {problems or 'held'}")
    assert not problems


def test_emulator_down_during_drift_measurement_then_back(
    harness: Harness, proxy: FaultProxy, few_attempts: None
) -> None:
    from include.modelcare.dev.simulate import Scenario

    h = harness
    h.seed(DRIFT_DAY, Scenario.drifted())
    proxy.reset()
    outage = Outage(lambda r: r.method == "PUT" and r.key.endswith("/drift.html"))
    rule = proxy.add(Rule(outage, when="before", fault="reset", times=10**9))
    when = dt.datetime.combine(DRIFT_DAY, dt.time(6), tzinfo=dt.UTC)

    down = run_dag(h, "monitor", when)
    states, tries = task_states(down), _tries(down)
    print(f"\nemulator down from the drift report on: {states} (tries {tries}); {len(rule.fired)} requests refused")
    assert rule.fired, "the outage never started"
    assert str(down.state) == "failed", states
    assert states["validate_batch"] == "success", states
    assert states["measure_drift"] == "failed" and tries["measure_drift"] == RETRIES + 1, (states, tries)
    assert not h.store.exists(h.config.paths.quarantine(DRIFT_DAY) + "_REASON.json"), "an outage quarantined a batch"

    proxy.reset()
    back = run_dag(h, "monitor", when)
    states = task_states(back)
    assert states["request_retraining"] == "success" and states["alert_drift"] == "success", states
    problems = inv.check(
        inv.batch_consistent(h.config, h.store, DRIFT_DAY), inv.one_alert_per_event(h.mails(), h.sns())
    )
    assert h.store.exists(h.config.paths.retrain_request(DRIFT_DAY))
    print(f"re-run after the outage: {states}; invariants: {problems or 'held'}")
    assert not problems
