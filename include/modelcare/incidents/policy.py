"""Incident decisions, as pure functions: (open incident or None, this batch's verdicts, facts) -> decision.

Why incidents: with a cooldown alone, one drift episode meant an alert and a retraining request every
week. An incident is the episode: it opens with ONE alert and ONE retraining request, later batches add a
timeline entry without alerting unless the episode gets worse (escalates), and it closes with one short
message when a batch is clean against the current production reference. When retraining did not end it
and the retrain budget is used up, the next step is a person, not another weekly retrain.

Nothing here reads or writes: ``incidents.store`` loads the incident and saves what ``apply_decision``
returns; ``tasks.monitoring_decide`` gathers the facts and acts on the decision.

Decision table (``decide_incident``; "silent": snoozed until on or after the batch date):

    incident  batch            condition                                      action    alert            request
    none      clean                                                           none      no               no
    none      drift or decay   budget left, minimum gap kept, form allows     open      yes              yes
    none      drift or decay   budget used up                                 open      yes (a person)   no
    open      clean            labels confirm it, when decay opened it        close     unless silent    no
    open      clean            decay opened it, no labels on this batch       update    no               no
    open      drift or decay   more features / new critical / metric down     escalate  unless silent    [1]
    open      drift or decay   retrained and promoted, or request 30 d stale  escalate  unless silent    [2]
    open      drift or decay   otherwise                                      update    no               [1]

[1] only while the incident has no request yet (the opening one was deferred by the minimum gap or the
form); [2] a new request when the budget allows, else an escalation to a person (once per incident; after
it, no automatic retraining for this incident). Acknowledged incidents follow the same table (updates
never alert; escalations and the close do).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from include.modelcare.policy import cooldown, lower_is_better

Action = Literal["none", "open", "update", "escalate", "close"]
NONE: Action = "none"
OPEN: Action = "open"
UPDATE: Action = "update"
ESCALATE: Action = "escalate"
CLOSE: Action = "close"

OPEN_STATUS, CLOSED_STATUS = "open", "closed"
BUDGET_DAYS = 30
"""The retrain budget's window: requests in the last 30 days (the request day itself excluded)."""
STALE_DAYS = 30
"""A request this old without a promoted version has not ended the incident: retraining did not fix it."""


@dataclass(frozen=True)
class BatchVerdict:
    """What monitoring measured on one batch (drift summary, decay verdict), as the incident decision needs it."""

    drifted: bool
    n_drifted: int = 0
    n_features: int = 0
    drifted_features: tuple[str, ...] = ()
    critical_drifted: tuple[str, ...] = ()
    drift_reason: str = ""
    decayed: bool | None = None
    """None: performance not measured on this batch (no production model or no labels yet)."""
    decay_reason: str = ""
    metric: str | None = None
    metric_value: float | None = None
    lower_better: bool = False

    @property
    def triggered(self) -> bool:
        return self.drifted or bool(self.decayed)

    def cause(self) -> str:
        """The drift and decay reasons of a triggered batch, decay first."""
        parts = []
        if self.decayed:
            parts.append(f"performance decay: {self.decay_reason}")
        if self.drifted:
            parts.append(self.drift_reason)
        return "; ".join(parts)


def batch_verdict(drift: Mapping[str, Any], performance: Mapping[str, Any] | None, metric: str) -> BatchVerdict:
    """The incident policy's view of a batch: the drift summary (``DriftResult.to_dict()``, as ``measure_drift``
    pushes it) and the performance check (``check_performance``'s record; measured only when its ``status`` is
    ``"measured"``). ``metric``: the monitored metric when the check names none."""
    measured = bool(performance) and performance.get("status") == "measured"  # type: ignore[union-attr]
    perf: Mapping[str, Any] = performance if measured and performance else {}
    metric = str(perf.get("metric") or metric)
    value = perf.get("value")
    return BatchVerdict(
        drifted=bool(drift["drift_detected"]),
        n_drifted=int(drift.get("n_drifted") or 0),
        n_features=int(drift.get("n_features") or 0),
        drifted_features=tuple(drift.get("top_features") or ()),
        critical_drifted=tuple(drift.get("critical_drifted") or ()),
        drift_reason=str(drift["reason"]),
        decayed=bool(perf["decayed"]) if measured else None,
        decay_reason=str(perf.get("reason", "")),
        metric=metric,
        metric_value=None if value is None else float(value),
        lower_better=lower_is_better(metric),
    )


@dataclass(frozen=True)
class Facts:
    """Everything else the decision depends on: the date, production now, earlier requests, the settings."""

    day: dt.date
    production: int | None
    requests: tuple[dt.date, ...] = ()
    """Days of the model's retraining requests strictly before ``day`` (any incident)."""
    cooldown_days: int = 7
    max_retrains: int = 2
    metric_drop: float = 0.01
    requests_enabled: bool = True
    refused: tuple[dt.date, ...] = ()
    """Registration dates of versions that were refused (Rejected): by the gate, or by a person."""


@dataclass(frozen=True)
class IncidentDecision:
    """What to do with this batch: the action, whether to alert (and the alert's event), request, call a person."""

    action: Action
    alert: bool
    request: bool
    person: bool
    reason: str
    event: str | None = None
    """The alert's de-duplication event within the incident (opened, escalated-<day>, needs_person, closed)."""
    incident: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IncidentDecision:
        return cls(
            action=raw["action"],
            alert=bool(raw["alert"]),
            request=bool(raw["request"]),
            person=bool(raw["person"]),
            reason=str(raw["reason"]),
            event=raw.get("event"),
            incident=raw.get("incident"),
        )


@dataclass(frozen=True)
class Incident:
    """One episode, as stored (``incidents/<id>.json``): its state, the baselines escalations compare with,
    the requests it made, what people said, and the timeline (one entry per batch date)."""

    id: str
    model: str
    opened: str
    status: str = OPEN_STATUS
    closed: str | None = None
    production_at_open: int | None = None
    n_drifted: int = 0
    """Baseline for 'more drifted features': at open, then at each escalation."""
    critical: list[str] = field(default_factory=list)
    metric_value: float | None = None
    decayed: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    """``{"day", "production"}`` of each retraining request this incident made."""
    needs_person: bool = False
    acknowledged: dict[str, Any] | None = None
    snoozed_until: str | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Incident:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def is_open(self) -> bool:
        return self.status == OPEN_STATUS

    def entry(self, day: dt.date) -> dict[str, Any] | None:
        """The timeline entry of a batch date (a re-run of that date finds it and repeats nothing)."""
        return next((e for e in self.timeline if e["day"] == day.isoformat() and "decision" in e), None)

    def silent(self, day: dt.date) -> bool:
        """Snoozed: nothing is sent for batches up to and including the snooze date."""
        return self.snoozed_until is not None and day <= dt.date.fromisoformat(self.snoozed_until)


def incident_id(day: dt.date) -> str:
    """Id of the incident opened by the batch of ``day`` (one decision per batch date: unique per model)."""
    return f"inc-{day.isoformat()}"


def current_incident(incidents: Iterable[Incident], day: dt.date) -> Incident | None:
    """The incident the batch of ``day`` belongs to: the one that already recorded it (a re-run), else the
    open one (at most one is open per model), else None."""
    incidents = list(incidents)
    recorded = [i for i in incidents if i.entry(day) is not None]
    if recorded:
        return recorded[-1]
    opened = [i for i in incidents if i.is_open]
    return max(opened, key=lambda i: i.opened) if opened else None


def recorded_decision(incident: Incident | None, day: dt.date) -> IncidentDecision | None:
    """The decision already recorded for ``day`` (re-runs replay it: no second entry, alert or request)."""
    if incident is None:
        return None
    entry = incident.entry(day)
    return None if entry is None else IncidentDecision.from_dict({**entry["decision"], "incident": incident.id})


def _budget(facts: Facts) -> int:
    return sum(1 for d in facts.requests if 0 < (facts.day - d).days < BUDGET_DAYS)


def _request_verdict(facts: Facts) -> tuple[bool, bool, str]:
    """(request, budget used up, why) for a batch that wants retraining."""
    if not facts.requests_enabled:
        return False, False, "the run's form switched retraining requests off"
    used = _budget(facts)
    if used >= facts.max_retrains:
        return (
            False,
            True,
            f"retrain budget used: {used} request(s) in the last {BUDGET_DAYS} days (max {facts.max_retrains})",
        )
    earlier = [d for d in facts.requests if d < facts.day]
    gap = cooldown(facts.day, max(earlier) if earlier else None, facts.cooldown_days)
    if gap.active:
        return False, False, f"{gap.reason} (minimum gap between requests)"
    return True, False, f"retraining requested ({used + 1} of {facts.max_retrains} in {BUDGET_DAYS} days)"


def _worse(value: float | None, baseline: float | None, drop: float, lower_better: bool) -> bool:
    if value is None or baseline is None or math.isnan(value) or math.isnan(baseline):
        return False
    return value - baseline > drop if lower_better else baseline - value > drop


def escalations(incident: Incident, verdict: BatchVerdict, drop: float) -> list[str]:
    """Why this batch is worse than the incident at open or its last escalation (empty: not worse)."""
    found = []
    if verdict.n_drifted > incident.n_drifted:
        found.append(f"{verdict.n_drifted} drifted features (was {incident.n_drifted})")
    new_critical = sorted(set(verdict.critical_drifted) - set(incident.critical))
    if new_critical:
        found.append(f"critical feature(s) now drifting: {', '.join(new_critical)}")
    if verdict.decayed and not incident.decayed:
        found.append(f"performance below the floor: {verdict.decay_reason}")
    elif verdict.decayed and _worse(verdict.metric_value, incident.metric_value, drop, verdict.lower_better):
        found.append(
            f"performance further down: {verdict.metric} {verdict.metric_value:.4f} (was {incident.metric_value:.4f})"
        )
    return found


def _version(number: int | None) -> str:
    return "no model" if number is None else f"v{number}"


def retraining_failed(incident: Incident, facts: Facts) -> str | None:
    """Why retraining did not end the incident, or None: a version promoted since the last request and the batch
    still drifts against its reference, a version retrained since the request was refused (the gate or a
    person said no: waiting cannot help), or the request is ``STALE_DAYS`` old with nothing promoted."""
    if not incident.requests:
        return None
    last = incident.requests[-1]
    if facts.production != last["production"]:
        now, was = (_version(v) for v in (facts.production, last["production"]))
        return f"production is {now} since the request of {last['day']} (was {was}), and the batch still shows it"
    refused = sorted(d for d in facts.refused if d >= dt.date.fromisoformat(last["day"]))
    if refused:
        return f"the version retrained after the request of {last['day']} was refused ({refused[-1].isoformat()})"
    age = (facts.day - dt.date.fromisoformat(last["day"])).days
    if age >= STALE_DAYS:
        return f"the retraining requested on {last['day']} has promoted no version in {age} days"
    return None


def decide_incident(incident: Incident | None, verdict: BatchVerdict, facts: Facts) -> IncidentDecision:
    """The incident decision of one batch (see the module's table). ``incident``: the open one, or None."""
    day = facts.day
    if incident is None or not incident.is_open:
        if not verdict.triggered:
            return IncidentDecision(NONE, False, False, False, f"no drift: {verdict.drift_reason}")
        new_id = incident_id(day)
        request, used_up, why = _request_verdict(facts)
        reason = f"opened incident {new_id}: {verdict.cause()}; {why}"
        if used_up:
            reason += ": needs a person"
        return IncidentDecision(OPEN, True, request, used_up, reason, event="opened", incident=new_id)

    silent = incident.silent(day)
    mute = f"; snoozed until {incident.snoozed_until}: not sent" if silent else ""
    if not verdict.triggered:
        if incident.decayed and verdict.decayed is None:
            why = f"updated incident {incident.id}: no drift, but no labels yet to confirm the performance recovered"
            return IncidentDecision(UPDATE, False, False, False, why, incident=incident.id)
        against = "the baseline reference" if facts.production is None else f"v{facts.production}'s reference"
        since = "" if facts.production == incident.production_at_open else " (promoted since the incident opened)"
        why = f"closed incident {incident.id}: batch {day.isoformat()} is clean against {against}{since}"
        return IncidentDecision(CLOSE, not silent, False, False, why + mute, event="closed", incident=incident.id)

    worse = escalations(incident, verdict, facts.metric_drop)
    failed = retraining_failed(incident, facts)
    request, person, notes = False, False, []
    if failed and not incident.needs_person:
        request, used_up, why = _request_verdict(facts)
        if used_up:
            person = True
            notes.append(f"retraining did not fix it ({failed}); {why}: needs a person")
        elif request:
            notes.append(f"retraining did not fix it ({failed}); {why}")
        else:
            notes.append(f"retraining did not fix it ({failed}); not requesting again: {why}")
    elif not incident.requests and not incident.needs_person:
        request, used_up, why = _request_verdict(facts)
        person = used_up
        notes.append(why + (": needs a person" if used_up else ""))
    elif incident.needs_person:
        notes.append("already escalated to a person: no automatic retraining")
    else:
        notes.append(f"retraining already requested on {incident.requests[-1]['day']}")
    if worse or person or (failed and request):
        event = "needs_person" if person and not worse else f"escalated-{day.isoformat()}"
        why = f"escalated incident {incident.id}: " + "; ".join(worse + notes)
        return IncidentDecision(ESCALATE, not silent, request, person, why + mute, event=event, incident=incident.id)
    state = " (acknowledged)" if incident.acknowledged else ""
    detail = "; ".join([verdict.cause(), *notes])
    why = f"updated incident {incident.id}{state}: still {detail}; no new alert"
    return IncidentDecision(UPDATE, False, request, False, why, incident=incident.id)


def apply_decision(
    incident: Incident | None, decision: IncidentDecision, verdict: BatchVerdict, facts: Facts, *, model: str, at: str
) -> Incident:
    """The incident after ``decision`` (a new one on open), with this batch's timeline entry. ``at``: timestamp."""
    if decision.action == NONE:
        raise ValueError("a 'none' decision changes no incident")
    day = facts.day.isoformat()
    if decision.action == OPEN or incident is None or not incident.is_open:
        incident = Incident(
            id=decision.incident or incident_id(facts.day),
            model=model,
            opened=day,
            production_at_open=facts.production,
            n_drifted=verdict.n_drifted,
            critical=sorted(verdict.critical_drifted),
            metric_value=verdict.metric_value if verdict.decayed else None,
            decayed=bool(verdict.decayed),
        )
    elif decision.action == ESCALATE:
        incident = replace(
            incident,
            n_drifted=max(incident.n_drifted, verdict.n_drifted),
            critical=sorted(set(incident.critical) | set(verdict.critical_drifted)),
            metric_value=verdict.metric_value if verdict.decayed else incident.metric_value,
            decayed=incident.decayed or bool(verdict.decayed),
        )
    if decision.request:
        incident = replace(incident, requests=[*incident.requests, {"day": day, "production": facts.production}])
    if decision.person:
        incident = replace(incident, needs_person=True)
    if decision.action == CLOSE:
        incident = replace(incident, status=CLOSED_STATUS, closed=day)
    entry = {
        "day": day,
        "at": at,
        "action": decision.action,
        "decision": {k: v for k, v in decision.to_dict().items() if k != "incident"},
        "production": facts.production,
        "n_drifted": verdict.n_drifted,
        "n_features": verdict.n_features,
        "drifted_features": list(verdict.drifted_features),
        "critical_drifted": list(verdict.critical_drifted),
        "decayed": verdict.decayed,
        "metric_value": verdict.metric_value,
    }
    timeline = sorted([*incident.timeline, entry], key=lambda e: e["day"])
    return replace(incident, timeline=timeline)


# -- what people do ------------------------------------------------------------------------------------
def acknowledge(incident: Incident, by: str, note: str, at: str) -> Incident:
    """Acknowledged: a person owns it; no further alerts except escalations and the close."""
    person = {"event": "acknowledged", "by": by, "note": note, "at": at}
    return replace(incident, acknowledged={"by": by, "note": note, "at": at}, timeline=_note(incident, person))


def snooze(incident: Incident, until: dt.date, by: str, note: str, at: str) -> Incident:
    """Snoozed: nothing is sent for batches up to and including ``until`` (the timeline still records them)."""
    person = {"event": "snoozed", "until": until.isoformat(), "by": by, "note": note, "at": at}
    return replace(incident, snoozed_until=until.isoformat(), timeline=_note(incident, person))


def _note(incident: Incident, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """People's actions go on the timeline beside the batches (``day``: the date of the latest batch)."""
    last = incident.timeline[-1]["day"] if incident.timeline else incident.opened
    return [*incident.timeline, {"day": last, "person": True, **entry}]


def describe(incidents: Sequence[Incident]) -> list[dict[str, Any]]:
    """One line of facts per incident (CLI list, UI): id, status, dates, requests, ack and snooze."""
    return [
        {
            "id": i.id,
            "status": i.status,
            "opened": i.opened,
            "closed": i.closed,
            "batches": sum(1 for e in i.timeline if not e.get("person")),
            "requests": len(i.requests),
            "needs_person": i.needs_person,
            "acknowledged_by": (i.acknowledged or {}).get("by"),
            "snoozed_until": i.snoozed_until,
            "last": next((e["decision"]["reason"] for e in reversed(i.timeline) if "decision" in e), ""),
        }
        for i in incidents
    ]
