"""The incident decisions at their edges: open, update, escalate, close, budget, ack and snooze, replay."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from include.modelcare.incidents.policy import (
    CLOSE,
    ESCALATE,
    NONE,
    OPEN,
    UPDATE,
    BatchVerdict,
    Facts,
    Incident,
    IncidentDecision,
    acknowledge,
    apply_decision,
    current_incident,
    decide_incident,
    describe,
    recorded_decision,
    snooze,
)

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)
WEEK = dt.timedelta(weeks=1)
DRIFT = BatchVerdict(
    drifted=True,
    n_drifted=3,
    n_features=10,
    drifted_features=("monthly_charges", "tenure", "contract"),
    drift_reason="drift: 3/10 features drifted",
)
CLEAN = BatchVerdict(drifted=False, n_features=10, drift_reason="0/10 features drifted")


def facts(day: dt.date = DAY, production: int | None = 1, requests: tuple[dt.date, ...] = (), **kw: object) -> Facts:
    return Facts(day=day, production=production, requests=requests, **kw)  # type: ignore[arg-type]


def step(incident: Incident | None, verdict: BatchVerdict, f: Facts) -> tuple[Incident, IncidentDecision]:
    """Decide and apply one batch (one that changes an incident)."""
    decision = decide_incident(incident, verdict, f)
    assert decision.action != NONE
    return apply_decision(incident, decision, verdict, f, model="m", at="t"), decision


def opened(requests: tuple[dt.date, ...] = ()) -> Incident:
    incident, decision = step(None, DRIFT, facts(requests=requests))
    assert decision.action == OPEN
    return incident


def test_clean_batch_without_incident_does_nothing() -> None:
    decision = decide_incident(None, CLEAN, facts())
    assert decision == IncidentDecision(NONE, False, False, False, "no drift: 0/10 features drifted")


def test_drift_opens_one_incident_with_one_alert_and_one_request() -> None:
    incident, decision = step(None, DRIFT, facts())
    assert decision.action == OPEN and decision.alert and decision.request and not decision.person
    assert decision.event == "opened" and decision.incident == "inc-2026-03-09"
    assert decision.reason.startswith("opened incident inc-2026-03-09: drift: 3/10 features drifted")
    assert incident is not None and incident.is_open and incident.requests == [{"day": "2026-03-09", "production": 1}]
    assert [e["action"] for e in incident.timeline] == [OPEN]


def test_three_drifted_weeks_are_one_incident_one_alert_one_request() -> None:
    incident: Incident | None = None
    alerts = requests = 0
    done: list[dt.date] = []
    for week in range(3):
        day = DAY + week * WEEK
        incident, decision = step(incident, DRIFT, facts(day, requests=tuple(done)))
        alerts += decision.alert
        requests += decision.request
        done += [day] if decision.request else []
    assert (alerts, requests) == (1, 1)
    assert incident is not None and [e["action"] for e in incident.timeline] == [OPEN, UPDATE, UPDATE]
    assert "no new alert" in incident.timeline[-1]["decision"]["reason"]


@pytest.mark.parametrize(
    ("verdict", "why"),
    [
        (replace(DRIFT, n_drifted=5), "5 drifted features (was 3)"),
        (replace(DRIFT, critical_drifted=("tenure",)), "critical feature(s) now drifting: tenure"),
        (replace(DRIFT, decayed=True, decay_reason="roc_auc 0.60 below floor 0.65"), "performance below the floor"),
    ],
)
def test_worse_batches_escalate_with_an_alert(verdict: BatchVerdict, why: str) -> None:
    incident = opened((DAY,)[:0])
    decision = decide_incident(incident, verdict, facts(DAY + WEEK, requests=(DAY,)))
    assert decision.action == ESCALATE and decision.alert and not decision.request
    assert why in decision.reason and decision.event == "escalated-2026-03-16"


def test_escalation_raises_the_baseline() -> None:
    incident = opened()
    worse = replace(DRIFT, n_drifted=5)
    incident, first = step(incident, worse, facts(DAY + WEEK, requests=(DAY,)))
    assert first.action == ESCALATE and incident is not None and incident.n_drifted == 5
    _, again = step(incident, worse, facts(DAY + 2 * WEEK, requests=(DAY,)))
    assert again.action == UPDATE and not again.alert


def test_performance_further_down_escalates_beyond_the_margin() -> None:
    decayed = replace(DRIFT, decayed=True, decay_reason="below", metric="roc_auc", metric_value=0.60)
    incident, _ = step(None, decayed, facts())
    assert incident is not None
    small = decide_incident(incident, replace(decayed, metric_value=0.595), facts(DAY + WEEK, requests=(DAY,)))
    assert small.action == UPDATE
    big = decide_incident(incident, replace(decayed, metric_value=0.55), facts(DAY + WEEK, requests=(DAY,)))
    assert big.action == ESCALATE and "performance further down: roc_auc 0.5500 (was 0.6000)" in big.reason


def test_clean_week_closes_with_one_short_message() -> None:
    incident = opened()
    incident, decision = step(incident, CLEAN, facts(DAY + WEEK, requests=(DAY,)))
    assert decision.action == CLOSE and decision.alert and decision.event == "closed"
    assert decision.reason == "closed incident inc-2026-03-09: batch 2026-03-16 is clean against v1's reference"
    assert incident is not None and incident.status == "closed" and incident.closed == "2026-03-16"
    # The next drift is a new incident.
    _, again = step(incident, DRIFT, facts(DAY + 2 * WEEK, requests=(DAY,)))
    assert again.action == OPEN and again.incident == "inc-2026-03-23"


def test_close_after_promotion_names_the_new_reference() -> None:
    incident = opened()
    decision = decide_incident(incident, CLEAN, facts(DAY + WEEK, production=2, requests=(DAY,)))
    assert (
        decision.action == CLOSE
        and "clean against v2's reference (promoted since the incident opened)" in decision.reason
    )


def test_decay_incident_stays_open_without_labels() -> None:
    decayed = replace(CLEAN, decayed=True, decay_reason="roc_auc below floor")
    incident, _ = step(None, decayed, facts())
    assert incident is not None and incident.decayed
    decision = decide_incident(incident, CLEAN, facts(DAY + WEEK, requests=(DAY,)))
    assert decision.action == UPDATE and "no labels yet" in decision.reason
    healed = decide_incident(incident, replace(CLEAN, decayed=False), facts(DAY + WEEK, requests=(DAY,)))
    assert healed.action == CLOSE


def test_retrained_version_that_does_not_fix_it_is_retrained_again_within_budget() -> None:
    incident = opened()
    decision = decide_incident(incident, DRIFT, facts(DAY + WEEK, production=2, requests=(DAY,)))
    assert decision.action == ESCALATE and decision.alert and decision.request and not decision.person
    assert "retraining did not fix it (production is v2 since the request of 2026-03-09 (was v1)" in decision.reason


def test_budget_exhausted_escalates_to_a_person_once() -> None:
    incident = opened()
    incident, second = step(incident, DRIFT, facts(DAY + WEEK, production=2, requests=(DAY,)))
    assert second.request
    assert incident is not None
    requests = (DAY, DAY + WEEK)
    incident, third = step(incident, DRIFT, facts(DAY + 2 * WEEK, production=3, requests=requests))
    assert third.action == ESCALATE and third.person and not third.request and third.alert
    assert third.event == "needs_person" and "needs a person" in third.reason
    assert "retrain budget used: 2 request(s) in the last 30 days (max 2)" in third.reason
    assert incident is not None and incident.needs_person
    _, fourth = step(incident, DRIFT, facts(DAY + 3 * WEEK, production=3, requests=requests))
    assert fourth.action == UPDATE and not fourth.alert and not fourth.request


def test_budget_counts_the_last_30_days_only() -> None:
    old = (DAY - dt.timedelta(days=30), DAY - dt.timedelta(days=40))
    decision = decide_incident(None, DRIFT, facts(requests=old))
    assert decision.request
    full = (DAY - dt.timedelta(days=29), DAY - dt.timedelta(days=20))
    decision = decide_incident(None, DRIFT, facts(requests=full))
    assert decision.action == OPEN and not decision.request and decision.person


def test_minimum_gap_defers_the_request_to_a_later_batch() -> None:
    incident, decision = step(None, DRIFT, facts(requests=(DAY - dt.timedelta(days=3),)))
    assert (
        decision.action == OPEN
        and not decision.request
        and "(3 < 7 days cooldown) (minimum gap between requests)" in decision.reason
    )
    assert incident is not None
    later = decide_incident(incident, DRIFT, facts(DAY + WEEK, requests=(DAY - dt.timedelta(days=3),)))
    assert later.action == UPDATE and later.request and not later.alert


def test_form_switch_defers_the_request() -> None:
    decision = decide_incident(None, DRIFT, facts(requests_enabled=False))
    assert decision.alert and not decision.request and "form switched retraining requests off" in decision.reason


def test_a_refused_retrained_version_counts_as_not_fixed_at_the_next_batch() -> None:
    """The gate (or a person) refused what the request produced: the next drifted batch escalates at once."""
    incident = opened()
    later = facts(DAY + WEEK, requests=(DAY,), refused=(DAY + dt.timedelta(days=1),))
    decision = decide_incident(incident, DRIFT, later)
    assert decision.action == ESCALATE and decision.alert and decision.request
    assert "the version retrained after the request of 2026-03-09 was refused (2026-03-10)" in decision.reason
    earlier_refusal = facts(DAY + WEEK, requests=(DAY,), refused=(DAY - dt.timedelta(days=1),))
    assert decide_incident(incident, DRIFT, earlier_refusal).action == UPDATE  # refused before the request: not it
    spent = facts(DAY + WEEK, requests=(DAY, DAY - WEEK), refused=(DAY,))
    person = decide_incident(incident, DRIFT, spent)
    assert person.person and not person.request and "needs a person" in person.reason


def test_stale_request_without_promotion_counts_as_not_fixed() -> None:
    incident = opened()
    decision = decide_incident(incident, DRIFT, facts(DAY + dt.timedelta(days=35), requests=(DAY,)))
    assert decision.action == ESCALATE and decision.request and "has promoted no version in 35 days" in decision.reason


def test_snoozed_incident_sends_nothing_until_the_date() -> None:
    incident = snooze(opened(), DAY + 2 * WEEK, "ana", "on it", "t")
    worse = replace(DRIFT, n_drifted=6)
    quiet = decide_incident(incident, worse, facts(DAY + 2 * WEEK, requests=(DAY,)))
    assert quiet.action == ESCALATE and not quiet.alert and "snoozed until 2026-03-23: not sent" in quiet.reason
    assert not decide_incident(incident, CLEAN, facts(DAY + WEEK, requests=(DAY,))).alert
    after = decide_incident(incident, worse, facts(DAY + 3 * WEEK, requests=(DAY,)))
    assert after.alert


def test_acknowledged_incident_alerts_only_on_escalation_and_close() -> None:
    incident = acknowledge(opened(), "ana", "looking", "t")
    assert incident.acknowledged == {"by": "ana", "note": "looking", "at": "t"}
    update = decide_incident(incident, DRIFT, facts(DAY + WEEK, requests=(DAY,)))
    assert update.action == UPDATE and not update.alert and "(acknowledged)" in update.reason
    assert decide_incident(incident, replace(DRIFT, n_drifted=9), facts(DAY + WEEK, requests=(DAY,))).alert
    assert decide_incident(incident, CLEAN, facts(DAY + WEEK, requests=(DAY,))).alert
    assert incident.timeline[-1]["event"] == "acknowledged" and incident.entry(DAY) is not None


def test_a_recorded_date_replays_its_decision() -> None:
    incident = opened()
    replay = recorded_decision(incident, DAY)
    assert replay is not None and replay.action == OPEN and replay.request and replay.incident == incident.id
    assert recorded_decision(incident, DAY + WEEK) is None
    assert current_incident([incident], DAY) is incident
    closed, _ = step(incident, CLEAN, facts(DAY + WEEK, requests=(DAY,)))
    assert closed is not None
    assert current_incident([closed], DAY + WEEK) is closed  # a re-run of the closing date finds it
    assert current_incident([closed], DAY + 2 * WEEK) is None


def test_round_trip_and_describe() -> None:
    incident = snooze(acknowledge(opened(), "ana", "", "t"), DAY, "bo", "", "t")
    assert Incident.from_dict(incident.to_dict()) == incident
    (row,) = describe([incident])
    assert row["id"] == "inc-2026-03-09" and row["batches"] == 1 and row["acknowledged_by"] == "ana"
    assert row["snoozed_until"] == "2026-03-09" and row["requests"] == 1
