"""The model page lists every incident with its timeline (batches and what people did), escaped."""

from __future__ import annotations

import datetime as dt

import pytest

from include.modelcare.incidents.policy import BatchVerdict, Facts, acknowledge, apply_decision, decide_incident, snooze
from include.modelcare.ui.pages import incidents_html

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)


def test_incidents_section_shows_the_timeline_and_people() -> None:
    verdict = BatchVerdict(drifted=True, n_drifted=3, n_features=10, drift_reason="drift: <b>3</b>/10")
    facts = Facts(day=DAY, production=1)
    incident = apply_decision(None, decide_incident(None, verdict, facts), verdict, facts, model="m", at="t")
    incident = snooze(acknowledge(incident, "ana", "on it", "2026-03-10T09:00"), DAY, "bo", "", "2026-03-10T10:00")
    page = incidents_html([incident.to_dict()])
    assert "inc-2026-03-09: open, acknowledged by ana, snoozed until 2026-03-09" in page
    assert "1 retraining request(s)" in page and "requested" in page
    assert "acknowledged" in page and "snoozed until 2026-03-09" in page and "ana: on it" in page
    assert "&lt;b&gt;3&lt;/b&gt;" in page and "<b>3</b>" not in page
    assert incidents_html([]) == "<h2>Incidents</h2><p>none</p>"
