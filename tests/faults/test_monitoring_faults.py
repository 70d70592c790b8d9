"""The monitoring DAG under 503s: a 503 before and after each S3 write it makes (recorded, not listed).

Three weeks: a clean one (validated, no retraining), a drifted one (alert + retraining request) and a
faulty one (quarantined, validation alert). For each, a clean run through the proxy records the writes
and the task states; then every write kind gets a 503 after it applied ("reply lost") and one before
it reached the emulator, each in a fresh scenario. The run must end as the clean run did (after one
re-run if it did not), and: no duplicate retraining request or alert, the batch validated or
quarantined but never both, a quarantined batch never consumed (``tests.faults.invariants``).
The faulty week, the fault before each write of the clean week (whose writes all recur in the
drifted week) and before every other write of the drifted week run with ``MODELCARE_FAULTS_FULL=1``
only (CI time).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.faults import invariants as inv
from tests.faults.conftest import Harness, run_dag, task_states
from tests.faults.invariants import Cell
from tests.faults.proxy import FaultProxy, Rule, When
from tests.faults.test_deployment_faults import FULL, kinds_of, matches

pytestmark = pytest.mark.faults

WEEKS = {"clean": dt.date(2026, 6, 1), "drifted": dt.date(2026, 6, 8), "faulty": dt.date(2026, 6, 15)}


def _scenario(week: str) -> Any:
    from include.modelcare.dev.simulate import Scenario

    return {"clean": Scenario.clean, "drifted": Scenario.drifted, "faulty": Scenario.faulty}[week]()


def _run(h: Harness, day: dt.date) -> dict[str, str]:
    return task_states(run_dag(h, "monitor", dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC)))


def _outcome(states: dict[str, str]) -> dict[str, str]:
    """The states that say what the run decided (the trigger's state depends on the retraining DAG's runs)."""
    return {t: s for t, s in states.items() if t != "trigger_retraining"}


def _check(h: Harness, day: dt.date) -> list[str]:
    return inv.check(inv.batch_consistent(h.config, h.store, day), inv.one_alert_per_event(h.mails(), h.sns()))


def run_week(h: Harness, proxy: FaultProxy, week: str, rule: Rule | None, expected: dict[str, str]) -> Cell:
    day = WEEKS[week]
    h.reset()
    h.seed(day, _scenario(week))
    proxy.reset()
    cell = Cell(week=week, write="(none)", fault="-" if rule is None else f"{rule.fault} {rule.when}")
    if rule is not None:
        proxy.add(rule)
    states = _run(h, day)
    cell.fired = len(rule.fired) if rule is not None else 1
    cell.first_run = "as the clean run" if _outcome(states) == expected else f"differs: {states}"
    if _outcome(states) != expected:
        proxy.reset()
        states = _run(h, day)
        cell.rerun = "as the clean run" if _outcome(states) == expected else "differs"
        if _outcome(states) != expected:
            cell.problems.append(f"the re-run ended {states}, the clean run {expected}")
    cell.problems += _check(h, day)
    return cell


@pytest.mark.parametrize(
    "week",
    [
        "clean",
        "drifted",
        pytest.param("faulty", marks=pytest.mark.skipif(not FULL, reason="MODELCARE_FAULTS_FULL=1 only (CI time)")),
    ],
)
def test_a_503_before_and_after_each_write_of_monitoring(
    harness: Harness, proxy: FaultProxy, week: str, tmp_path: Path
) -> None:
    h = harness
    started = time.monotonic()
    cells: list[Cell] = []
    day = WEEKS[week]
    h.reset()
    h.seed(day, _scenario(week))
    proxy.reset()
    expected = _outcome(_run(h, day))
    kinds = kinds_of(proxy.writes())
    assert kinds, "the monitoring run made no S3 write through the proxy"
    clean_problems = _check(h, day)
    assert not clean_problems, clean_problems
    cells.append(Cell(week=week, write="(none)", fault="-", fired=1, first_run=str(expected)))
    # The clean week's writes all recur in the drifted week. By default (CI time) the clean week gets the
    # lost reply only, and the drifted week the lost reply at every write and the fault before it at every
    # other write (a fault before a write is the easy case: botocore's retry simply applies it).
    faults: tuple[When, ...] = ("after",) if week == "clean" and not FULL else ("after", "before")
    plan: list[tuple[str, When]] = [
        (k, when) for i, k in enumerate(kinds) for when in faults if FULL or when == "after" or i % 2 == 0
    ]
    for kind, when in plan:
        cell = run_week(h, proxy, week, Rule(matches(kind), when=when, fault="503"), expected)
        cell.write = kind
        if not cell.fired:
            cell.problems.append("the fault never fired")
        cells.append(cell)
    seconds = time.monotonic() - started
    faulted = cells[1:]
    out = tmp_path / f"monitoring-faults-{week}.json"
    summary = {
        "week": week,
        "write_kinds_recorded": kinds,
        "faults_injected": sum(c.fired for c in faulted),
        "survived": sum(1 for c in faulted if c.held),
        "seconds": round(seconds, 1),
        "matrix": [{**asdict(c), "held": c.held} for c in cells],
    }
    out.write_text(json.dumps(summary, indent=2))
    width = max(len(c.write) for c in cells)
    print(f"\n== monitoring faults: {week} week ==")
    for c in faulted:
        verdict = "held" if c.held else "BROKE: " + "; ".join(c.problems)
        print(f"{c.write:<{width}}  {c.fault:<10}  run={c.first_run[:40]:<40} rerun={c.rerun:<16} {verdict}")
    print(
        f"faults injected {summary['faults_injected']}, survived {summary['survived']} of {len(faulted)}; "
        f"{seconds:.0f} s; matrix: {out}"
    )
    broken = [c for c in faulted if not c.held]
    assert not broken, "\n".join(f"{c.write} ({c.fault}): {c.problems}" for c in broken)
