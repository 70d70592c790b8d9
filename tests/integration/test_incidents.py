"""Incidents end to end with dag.test(): one alert and one request per episode, escalations, the close,
the retrain budget, and people acknowledging or snoozing through the CLI and the ``modelcare_incidents`` DAG."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.airflow_env import REPO
from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

W0 = dt.date(2026, 9, 7)
WEEKS = [W0 + dt.timedelta(weeks=i) for i in range(4)]
MILD = {"covariate_shift": 1.0, "shift_features": ("data_usage_gb", "age", "support_calls")}  # no critical feature


def _subjects(h: Harness) -> list[str]:
    return [str(m["Subject"]) for m in h.mails()]


def _incident(h: Harness, incident_id: str) -> dict[str, Any]:
    return h.store.read_json(h.config.paths.incident(incident_id))


def _requests(h: Harness) -> list[str]:
    return h.store.list(h.config.paths.retrain_requests())


def test_one_incident_across_three_drifted_weeks_then_a_clean_week_closes_it(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    h = harness
    h.seed_weeks(WEEKS, {d: Scenario.drifted() for d in WEEKS[:3]})
    for day in WEEKS[:3]:
        h.run(day)
    incident = _incident(h, "inc-2026-09-07")
    actions = [e["action"] for e in incident["timeline"]]
    assert actions[0] == "open" and set(actions[1:]) <= {"update", "escalate"}
    escalations = actions.count("escalate")
    assert len(_requests(h)) == 1 and incident["requests"] == [{"day": "2026-09-07", "production": None}]
    subjects = _subjects(h)
    assert len(subjects) == 1 + escalations and "drift detected" in subjects[0]
    assert len(h.sns()) == 1 + escalations
    body = h.mails()[0].get_body(preferencelist=("html", "plain")).get_content()
    assert "inc-2026-09-07" in body

    # A re-run of the last drifted week adds no timeline entry, alert or request.
    states = h.run(WEEKS[2])
    assert len(_incident(h, "inc-2026-09-07")["timeline"]) == 3
    assert len(_requests(h)) == 1 and len(h.mails()) == 1 + escalations and h.sns() == []

    states = h.run(WEEKS[3])
    assert states["alert_drift"] == "success" and states["no_retraining"] == "success"
    closed = _incident(h, "inc-2026-09-07")
    assert closed["status"] == "closed" and closed["closed"] == WEEKS[3].isoformat()
    assert "drift incident closed" in _subjects(h)[-1]
    close_body = h.mails()[-1].get_body(preferencelist=("html", "plain")).get_content()
    assert "is clean against the baseline reference" in close_body and "share_drifted" not in close_body
    h.run(WEEKS[3])
    assert len(h.mails()) == 2 + escalations  # the close is sent once


def test_a_critical_feature_drifting_later_escalates_with_an_alert(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    h = harness
    h.seed_weeks(WEEKS[:2], {WEEKS[0]: Scenario(**MILD), WEEKS[1]: Scenario.drifted()})  # type: ignore[arg-type]
    h.run(WEEKS[0])
    opened = _incident(h, "inc-2026-09-07")
    assert opened["critical"] == [] and opened["n_drifted"] >= 3
    states = h.run(WEEKS[1])
    assert states["alert_drift"] == "success" and states["request_retraining"] == "skipped"
    entry = _incident(h, "inc-2026-09-07")["timeline"][-1]
    assert entry["action"] == "escalate" and "critical feature(s) now drifting" in entry["decision"]["reason"]
    subjects = _subjects(h)
    assert len(subjects) == 2 and "drift incident escalated" in subjects[1]


def test_budget_used_up_escalates_to_a_person_instead_of_retraining(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario
    from include.modelcare.incidents.policy import BatchVerdict, Facts, apply_decision, decide_incident

    h = harness
    paths = h.config.paths
    day = WEEKS[2]
    before = [WEEKS[0], WEEKS[1]]
    for earlier in before:  # two requests in the last 30 days: the budget (2) is used up
        h.store.write_json(paths.retrain_request(earlier), {"day": earlier.isoformat()})
    # An open incident whose retraining was followed by a promotion (v7), yet the batch still drifts.
    verdict = BatchVerdict(drifted=True, n_drifted=20, n_features=10, drift_reason="drift")
    facts = Facts(day=WEEKS[0], production=None)
    incident = apply_decision(None, decide_incident(None, verdict, facts), verdict, facts, model="m", at="t")
    stored = incident.to_dict()
    stored["requests"] = [{"day": WEEKS[1].isoformat(), "production": 7}]
    stored["critical"] = sorted(h.config.drift.critical_features)  # so nothing but the retraining escalates
    h.store.write_json(paths.incident(incident.id), stored)

    h.seed_weeks([day], {day: Scenario.drifted()})
    states = h.run(day)
    assert states["alert_drift"] == "success" and states["request_retraining"] == "skipped"
    updated = _incident(h, incident.id)
    assert updated["needs_person"] is True and updated["timeline"][-1]["decision"]["event"] == "needs_person"
    (subject,) = _subjects(h)
    assert "retraining did not fix it; needs a person" in subject
    assert not h.store.exists(paths.retrain_request(day))


def test_ack_from_the_cli_and_snooze_from_the_dag_form(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from include.modelcare.cli.main import main
    from include.modelcare.dev.simulate import Scenario

    h = harness
    h.seed_weeks(WEEKS[:3], {WEEKS[0]: Scenario(**MILD), WEEKS[1]: Scenario.drifted(), WEEKS[2]: Scenario.drifted()})  # type: ignore[arg-type]
    h.run(WEEKS[0])
    assert main(["incidents", "ack", "--model", h.config.name, "--by", "ana", "--note", "on it"]) == 0
    assert _incident(h, "inc-2026-09-07")["acknowledged"]["by"] == "ana"

    dag = DagBag(dag_folder=str(REPO / "dags")).dags["modelcare_incidents"]
    when = dt.datetime(2026, 9, 8, 12, tzinfo=dt.UTC)
    conf = {"model": h.config.name, "action": "snooze", "until": WEEKS[1].isoformat(), "note": "release week"}
    dr = dag.test(logical_date=when, run_after=when, run_conf=conf)
    assert {ti.task_id: str(ti.state) for ti in dr.get_task_instances()} == {"apply_incident_action": "success"}
    assert _incident(h, "inc-2026-09-07")["snoozed_until"] == WEEKS[1].isoformat()

    # Snoozed: the escalating week is recorded but sends nothing; after the date, alerts resume.
    states = h.run(WEEKS[1])
    assert states["alert_drift"] == "skipped"
    entry = _incident(h, "inc-2026-09-07")["timeline"][-1]
    assert entry["action"] == "escalate" and "snoozed until 2026-09-14: not sent" in entry["decision"]["reason"]
    assert len(h.mails()) == 1

    capsys.readouterr()
    assert main(["incidents", "show", "--model", h.config.name, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    events = [e.get("event") for e in shown["timeline"] if e.get("person")]
    assert events == ["acknowledged", "snoozed"] and shown["acknowledged"]["note"] == "on it"
    assert main(["incidents", "list", "--model", h.config.name]) == 0
    listed = capsys.readouterr().out
    assert "inc-2026-09-07" in listed and "acknowledged by ana" in listed and "snoozed until 2026-09-14" in listed
    # A snooze without a date is refused by the CLI; an unknown incident is one line on stderr, exit 2.
    assert main(["incidents", "ack", "inc-1999-01-01", "--model", h.config.name]) == 2
    assert "no incident 'inc-1999-01-01'" in capsys.readouterr().err
