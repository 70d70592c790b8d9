"""The whole deployment DAG with one lost reply at each S3 write it makes, and kill -9 mid-deploy.

The writes are not listed here: a clean run through the fault proxy records them (``proxy.writes()``),
they are grouped into kinds (run-specific parts of the key normalised), and every kind is then faulted
in a fresh scenario: "applied, then 503" at each kind, and "503 before" at every third. After the run,
and after a re-run when it failed, the invariants of ``tests.faults.invariants`` must hold. A write
added to the deployment later joins the sweep by itself.

One test per target loops over the kinds and collects a matrix (write -> outcome), printed (``-s``) and
written as JSON under the test's tmp dir, then asserts that every cell held.

CI time: a deployment run costs ~8-14 s here, so the default sweep is bounded (``sweep_plan``): a lost
reply at every conditional write (the ``production`` alias, the alert markers) and at the deployment
record, plus every reply of the alias write lost. ``MODELCARE_FAULTS_FULL=1`` runs the full sweep (a
lost reply at every write, the fault before at every third, every reply lost at the conditional writes
and the record) and the Lambda kill -9 case: ~7 minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.faults import invariants as inv
from tests.faults.conftest import Harness, reset_deploy_targets, run_dag, task_states
from tests.faults.invariants import Cell
from tests.faults.proxy import FaultProxy, Request, Rule, When

pytestmark = pytest.mark.faults

FAST = {"bake_minutes": 0}  # no bake wait: the alarms are still checked once (bake.json still written)
T0 = dt.datetime(2026, 5, 4, 9, tzinfo=dt.UTC)  # the baseline deployment (v1), when the scenario needs one
T1 = T0 + dt.timedelta(hours=1)  # the deployment under test
BEFORE_EVERY = 3  # the fault before the write at every third kind
MAX_KINDS = 12  # cap per target (CI time); the cut is reported in the matrix
FULL = os.environ.get("MODELCARE_FAULTS_FULL") == "1"  # every cell; default: the bounded CI sweep below
EXHAUST = 3  # attempts botocore makes per S3 call here ("reached max retries: 2"): every reply of the write lost

_NORMALISE = [
    (re.compile(r"(manual|scheduled|backfill|asset_triggered|dag_test)__[^/.]+"), "<run>"),
    (re.compile(r"\d{8}T\d{6}Z"), "<stamp>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}(T[0-9:%A-F+]+)?"), "<day>"),
    (re.compile(r"\bv\d{4}\b"), "<v>"),
]


def write_kind(request: Request) -> str:
    """``METHOD bucket/key`` with the run, time stamps, dates and version numbers normalised."""
    key = request.key
    for pattern, placeholder in _NORMALISE:
        key = pattern.sub(placeholder, key)
    return f"{request.method} {key}"


def kinds_of(writes: list[Request]) -> list[str]:
    """Distinct write kinds, in the order the run first made them."""
    return list(dict.fromkeys(write_kind(w) for w in writes))


def matches(kind: str) -> Callable[[Request], bool]:
    return lambda r: r.is_s3_write and write_kind(r) == kind


@dataclass(frozen=True)
class Scenario:
    """One deployment: SageMaker's first deploy of v1, or Lambda's canary update v1 -> v2."""

    target: str
    update: bool

    @property
    def conf(self) -> dict[str, Any]:
        strategy = {"strategy": "canary"} if self.target == "lambda" else {}
        return {**FAST, "version": "v2" if self.update else "v1", "target": self.target, **strategy}


def _register(h: Harness, seed: int) -> Any:
    from include.modelcare.dev.simulate import register_simulated_version

    return register_simulated_version(h.registry, h.config, seed=seed)


def fresh(h: Harness, devstack: Any, proxy: FaultProxy, scenario: Scenario) -> None:
    """Empty bucket, inboxes and targets; v1 and v2 registered; v1 live when the scenario is an update.

    v1 is put live directly (a published function version, the alias, ``production``), not by a
    deployment run: it is the same state at a tenth of the cost.
    """
    h.reset()
    reset_deploy_targets(h, devstack)
    v1 = _register(h, 1)
    _register(h, 2)
    if scenario.update:
        put_live(h, devstack, v1)
    proxy.reset()


def put_live(h: Harness, devstack: Any, record: Any) -> None:
    """``record`` served by the Lambda alias (a published version) and named by ``production``."""
    from include.modelcare.deploy import requests as rq
    from include.modelcare.deploy.targets.lambda_alias import LambdaAlias

    target = LambdaAlias.from_config(h.config, devstack.client("lambda"))
    env = rq.lambda_environment(
        {},
        model=h.config.name,
        version_id=record.version_id,
        model_uri=h.registry.object_uri(record.version, "model.skops"),
        sha256=record.artifacts["model.skops"]["sha256"],
        features=record.metadata["features"],
        max_rows=target.settings.max_rows,
    )
    published = target.publish(env, f"{h.config.name} {record.version_id}", target.settings.timeout_minutes)
    target.route(stable=published, canary=None, weight=0.0, description=f"{h.config.name} {record.version_id}")
    h.registry.set_alias("production", record.version, by="fault-test", why="baseline")


def final_invariants(h: Harness, devstack: Any, run_id: str, planned: bool) -> list[str]:
    return inv.check(
        inv.production_served(h.config, h.store, devstack.client),
        inv.one_deployment_record(h.config, h.store, run_id, planned=planned),
        inv.one_alert_per_event(h.mails(), h.sns()),
        inv.no_half_written_version(h.config, h.store),
    )


def _planned(h: Harness, run_id: str) -> bool:
    return any(u.endswith("/plan.json") for u in h.store.list(f"s3://{h.config.data.bucket}/") if "deploy_runs" in u)


def run_faulted(h: Harness, devstack: Any, proxy: FaultProxy, scenario: Scenario, rule: Rule | None) -> Cell:
    """Run the scenario's deployment with ``rule`` in the proxy; re-run once if it failed; check."""
    fault = "-" if rule is None else f"{rule.fault} {rule.when}" + (f" x{rule.times}" if rule.times > 1 else "")
    cell = Cell(write="(none)" if rule is None else "", fault=fault)
    if rule is not None:
        proxy.add(rule)
    dr = run_dag(h, "deploy", T1, scenario.conf)
    cell.first_run = str(dr.state)
    cell.fired = len(rule.fired) if rule is not None else 1
    problems = [f"after the run: {p}" for p in inv.production_served(h.config, h.store, devstack.client)]
    if str(dr.state) != "success":
        failed = sorted(t for t, s in task_states(dr).items() if s == "failed")
        cell.first_run += f" ({', '.join(failed)})"
        proxy.reset()
        dr = run_dag(h, "deploy", T1, scenario.conf)
        cell.rerun = str(dr.state)
        if cell.rerun != "success":
            problems.append(f"the re-run did not deploy: {task_states(dr)}")
    cell.problems = problems + final_invariants(h, devstack, dr.run_id, _planned(h, dr.run_id))
    return cell


def sweep(h: Harness, devstack: Any, proxy: FaultProxy, scenario: Scenario, out: Path) -> list[Cell]:
    """Record the writes of a clean run, then fault each kind; returns the matrix (also printed, saved)."""
    started = time.monotonic()
    fresh(h, devstack, proxy, scenario)
    clean = run_faulted(h, devstack, proxy, scenario, None)
    kinds = kinds_of(proxy.writes())
    assert clean.first_run == "success" and not clean.problems, clean
    assert kinds, "the deployment made no S3 write through the proxy: is the connection pointing at it?"
    cells = [clean]
    swept = kinds[:MAX_KINDS]
    conditional = {write_kind(w) for w in proxy.writes() if w.conditional}
    plan = sweep_plan(swept, conditional, full=FULL)
    for kind, when, times in plan:
        fresh(h, devstack, proxy, scenario)
        cell = run_faulted(h, devstack, proxy, scenario, Rule(matches(kind), when=when, fault="503", times=times))
        cell.write = kind
        if not cell.fired:
            cell.problems.append("the fault never fired (the write did not recur in this scenario)")
        cells.append(cell)
    seconds = time.monotonic() - started
    report(scenario, cells, kinds, seconds, out)
    return cells


def sweep_plan(kinds: list[str], conditional: set[str], *, full: bool) -> list[tuple[str, When, int]]:
    """The cells of a sweep: (write kind, fault before/after, how many attempts in a row).

    Full: a lost reply at every kind, the fault before at every third, and every reply lost
    (``EXHAUST``: botocore gives up, the task fails, Airflow retries it; the write had applied on the
    first attempt) at the conditional writes and the deployment record. Bounded (the default, for CI
    time): a lost reply at the conditional writes and the deployment record, every reply of the
    ``production`` alias write lost.
    """
    key = [k for k in kinds if k in conditional or "/deployments/" in k]
    if not full:
        return [(k, "after", 1) for k in key] + [(k, "after", EXHAUST) for k in key if k.endswith("/production.json")]
    plan: list[tuple[str, When, int]] = [(k, "after", 1) for k in kinds]
    plan += [(k, "before", 1) for i, k in enumerate(kinds) if i % BEFORE_EVERY == 0]
    plan += [(k, "after", EXHAUST) for k in key]
    return plan


def report(scenario: Scenario, cells: list[Cell], kinds: list[str], seconds: float, out: Path) -> None:
    faulted = [c for c in cells if c.fault != "-"]
    summary = {
        "scenario": asdict(scenario),
        "write_kinds_recorded": kinds,
        "write_kinds_swept": kinds[:MAX_KINDS],
        "faults_injected": sum(c.fired for c in faulted),
        "survived": sum(1 for c in faulted if c.held),
        "seconds": round(seconds, 1),
        "matrix": [{**asdict(c), "held": c.held} for c in cells],
    }
    out.write_text(json.dumps(summary, indent=2))
    width = max(len(c.write) for c in cells)
    lines = [f"\n== deployment faults: {scenario.target} ({'update' if scenario.update else 'first deploy'}) =="]
    for c in cells:
        verdict = "held" if c.held else "BROKE: " + "; ".join(c.problems)
        lines.append(f"{c.write:<{width}}  {c.fault:<13}  run={c.first_run:<28} rerun={c.rerun:<8} {verdict}")
    lines.append(
        f"faults injected {summary['faults_injected']}, survived {summary['survived']} of {len(faulted)}; "
        f"{seconds:.0f} s; matrix: {out}"
    )
    print("\n".join(lines))


@pytest.mark.parametrize(
    "scenario",
    [Scenario("sagemaker", update=False), Scenario("lambda", update=True)],
    ids=["sagemaker-first-deploy", "lambda-canary-update"],
)
def test_one_lost_reply_at_each_write_of_the_deployment(
    harness: Harness, devstack: Any, proxy: FaultProxy, scenario: Scenario, tmp_path: Path
) -> None:
    cells = sweep(harness, devstack, proxy, scenario, tmp_path / f"deployment-faults-{scenario.target}.json")
    broken = [c for c in cells if not c.held]
    assert not broken, "\n".join(f"{c.write} ({c.fault}): {c.problems}" for c in broken)


# -- kill -9 mid-deploy, then re-run ---------------------------------------------------------------------------
_CHILD = """
import datetime as dt, json, sys
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags[sys.argv[2]]
when = dt.datetime.fromisoformat(sys.argv[3])
dag.test(logical_date=when, run_after=when, run_conf=json.loads(sys.argv[4]))
"""


def reap(dag_id: str) -> None:
    """What the scheduler does with the task of a killed worker (heartbeat timeout): mark it failed.

    Without it, dag.test()'s clear turns the dead ``running`` task into ``restarting``, which nothing
    under dag.test() ever picks up again.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.state == TaskInstanceState.RUNNING)
            .values(state=TaskInstanceState.FAILED)
        )


def _alias_write(r: Request) -> bool:
    return r.method == "PUT" and r.key.endswith("/aliases/production.json")


def _lambda_alias_call(r: Request) -> bool:
    return r.service == "lambda" and r.method == "PUT" and "/aliases/" in r.path


KILL_POINTS = [
    pytest.param((Scenario("sagemaker", update=False), "the production alias write", _alias_write), id="sagemaker"),
    pytest.param(
        (Scenario("lambda", update=True), "the Lambda UpdateAlias call", _lambda_alias_call),
        id="lambda",
        marks=pytest.mark.skipif(not FULL, reason="MODELCARE_FAULTS_FULL=1 only (CI time)"),
    ),
]


@pytest.mark.parametrize("case", KILL_POINTS)
def test_kill_9_mid_deploy_then_rerun(
    harness: Harness,
    devstack: Any,
    proxy: FaultProxy,
    case: tuple[Scenario, str, Callable[[Request], bool]],
) -> None:
    """The whole dag.test() in a child process, SIGKILLed while its request at ``point`` is parked in the
    proxy; the request is then released (it applies: the worst case), and the run is re-run here."""
    from tests.airflow_env import DAGS, REPO

    scenario, point, held_at = case
    h = harness
    fresh(h, devstack, proxy, scenario)
    hold = proxy.hold(held_at)
    child = subprocess.Popen(  # our own interpreter and script
        [
            sys.executable,
            "-c",
            _CHILD,
            str(DAGS),
            f"modelcare_deploy_{h.config.name}",
            T1.isoformat(),
            json.dumps(scenario.conf),
        ],
        env=dict(os.environ),
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert hold.arrived.wait(180), f"the child never reached {point}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    hold.release()
    time.sleep(0.5)  # the released request reaches the emulator
    proxy.reset()
    reap(f"modelcare_deploy_{h.config.name}")
    dr = run_dag(h, "deploy", T1, scenario.conf)
    assert str(dr.state) == "success", task_states(dr)
    problems = final_invariants(h, devstack, dr.run_id, planned=True)
    print(f"\nkill -9 at {point} ({scenario.target}), then re-run: {problems or 'held'}")
    assert not problems
