"""The monitoring DAG's decide-and-act task bodies: the incident decision, its alert, the retraining request.

Why a module of its own: the measuring tasks (``tasks.monitoring``) produce verdicts; what to do with them
is the incident policy (``incidents.policy``), kept and replayed by ``incidents.store``. ``decide``
records the batch in the model's incident (open, update, escalate, close) and branches on the decision;
``alert_drift`` sends the incident's alert, de-duplicated on the incident and its event;
``request_retraining`` writes the request. A re-run of the same date replays the recorded decision, so it
adds no second timeline entry, alert or request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from include.modelcare.config.schema import ModelConfig
from include.modelcare.incidents.policy import Facts, IncidentDecision, batch_verdict
from include.modelcare.incidents.store import record_batch
from include.modelcare.operators.alerts import Alert
from include.modelcare.operators.defaults import dag_id
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.tasks.boundary import task_boundary
from include.modelcare.tasks.context import task_setup
from include.modelcare.tasks.monitoring import (
    ALERT_DRIFT,
    CHECK_PERFORMANCE,
    DECIDE,
    MEASURE_DRIFT,
    NO_RETRAINING,
    REQUEST_RETRAINING,
    send_unless_silenced,
)

log = logging.getLogger(__name__)

# The alert kind of each incident event (subjects and on/off switches: ``operators.alerts``).
EVENT_KINDS = {"opened": "drift", "needs_person": "needs_person", "closed": "incident_closed"}


def request_days(config: ModelConfig, day: dt.date, store: ObjectStore) -> list[dt.date]:
    """Days of the model's retraining requests strictly before ``day`` (from the request records)."""
    days = []
    for uri in store.list(config.paths.retrain_requests()):
        name = uri.rsplit("/", 1)[-1]
        if name.startswith("dt=") and name.endswith(".json"):
            try:
                days.append(dt.date.fromisoformat(name[3:-5]))
            except ValueError:
                continue
    return sorted(d for d in days if d < day)


def refused_days(config: ModelConfig, store: ObjectStore) -> tuple[dt.date, ...]:
    """Registration dates of the model's Rejected versions (what retraining produced and was refused)."""
    from include.modelcare.registry.factory import open_registry
    from include.modelcare.registry.records import REJECTED

    versions = open_registry(config, store).versions()
    return tuple(dt.date.fromisoformat(v.created_at[:10]) for v in versions if v.status == REJECTED)


def production_version(drift: Mapping[str, Any], performance: Mapping[str, Any] | None) -> int | None:
    """The production version the batch was measured against (None: no production model yet)."""
    for source in (drift.get("prediction_drift"), performance):
        if source and source.get("version") is not None:
            return int(source["version"])
    return None


@task_boundary
def decide(model: str, context: Mapping[str, Any]) -> list[str]:
    """Branch: record the batch in the model's incident and follow the decision (``incidents.policy``).

    Alert when the incident opens, escalates or closes (unless snoozed); request retraining when it says so.
    """
    config, run, store = task_setup(model, context)
    drift = context["ti"].xcom_pull(task_ids=MEASURE_DRIFT)
    performance = context["ti"].xcom_pull(task_ids=CHECK_PERFORMANCE)
    verdict = batch_verdict(drift, performance, config.performance.metric or config.primary_metric)
    facts = Facts(
        day=run.day,
        production=production_version(drift, performance),
        requests=tuple(request_days(config, run.day, store)),
        cooldown_days=config.drift.retrain_cooldown_days,
        max_retrains=config.incidents.max_retrains_per_30_days,
        metric_drop=config.incidents.escalate_metric_drop,
        requests_enabled=bool(run.params.get("request_retraining", True)),
        refused=refused_days(config, store),
    )
    _, decision = record_batch(config, store, verdict, facts)
    pushed = {**decision.to_dict(), "retrain": decision.request, "why": decision.reason, "cause": verdict.cause()}
    context["ti"].xcom_push(key="decision", value=pushed)
    log.info("%s %s: %s", config.name, run.day, decision.reason)
    branches = [ALERT_DRIFT] if decision.alert else []
    branches.append(REQUEST_RETRAINING if decision.request else NO_RETRAINING)
    return branches


@task_boundary
def alert_drift(model: str, context: Mapping[str, Any]) -> dict[str, str]:
    """The incident's alert (opened, escalated, needs a person, closed), sent once per incident and event."""
    config, run, store = task_setup(model, context)
    drift = context["ti"].xcom_pull(task_ids=MEASURE_DRIFT)
    performance = context["ti"].xcom_pull(task_ids=CHECK_PERFORMANCE)
    raw = context["ti"].xcom_pull(task_ids=DECIDE, key="decision") or {}
    decision = IncidentDecision.from_dict(raw) if raw.get("action") else None
    event = (decision.event if decision else None) or "opened"
    incident = decision.incident if decision else None
    why = raw.get("why") or drift["reason"]
    kind = EVENT_KINDS.get(event, "drift_escalated")
    figures: dict[str, Any] = {"incident": incident or "-"}
    if event != "closed":  # the close is one short message
        share = f"{drift['share_drifted']:.0%} ({drift['n_drifted']} of {drift['n_features']} features)"
        figures.update(
            {
                "share_drifted": share,
                "top_drifted_features": ", ".join(drift["top_features"]) or "-",
                "critical_drifted": ", ".join(drift["critical_drifted"]) or "-",
                "prediction_drift": _describe_prediction_drift(drift.get("prediction_drift")),
                "retraining": "requested" if raw.get("retrain") else ("a person" if raw.get("person") else "not now"),
                **performance_figures(config, performance),
            }
        )
    alert = Alert(
        model=config.name,
        day=run.day,
        kind=kind,
        summary=why,
        figures=figures,
        report_uri=drift["report_html"],
        run_url=run.run_url,
        marker=f"{incident}.{event}" if incident else None,
        incident=incident,
    )
    return send_unless_silenced(alert, config, store, context, run)


def _describe_prediction_drift(prediction: Mapping[str, Any] | None) -> str:
    if not prediction:
        return "- (no production model)"
    state = "drifted" if prediction["drifted"] else "stable"
    return (
        f"{state}: v{prediction['version']} mean {prediction['mean_reference']:.3f} -> "
        f"{prediction['mean_current']:.3f} ({prediction['method']} {prediction['score']:.3g}, "
        f"threshold {prediction['threshold']:.3g})"
    )


def performance_figures(config: ModelConfig, performance: Mapping[str, Any] | None) -> dict[str, str]:
    """The alert's two performance lines: the latest realised value (its batch, version and the rolling
    window), and this batch's *estimate*, labelled as such, or why there is none (``check_performance``'s XCom)."""
    if not performance:
        missing = "- (check_performance returned nothing)"
        return {"performance (realised)": missing, "performance (estimated)": missing}
    metric = performance.get("metric") or config.performance.metric or config.primary_metric
    latest = performance.get("latest_realised")
    raw_window = performance.get("window")
    window: Mapping[str, Any] = raw_window if isinstance(raw_window, Mapping) else {}
    if latest and isinstance(latest.get("value"), int | float):
        realised = f"{metric} {latest['value']:.4f} on the labels of {latest.get('day')} (v{latest.get('version')})"
        if performance.get("status") == "measured" and isinstance(performance.get("value"), int | float):
            verdict = "below the floor" if performance.get("decayed") else "within the floor"
            realised += f"; rolling window {performance['value']:.4f} over {window.get('text')}, {verdict}"
        else:
            realised += f"; {performance.get('status') or 'no rolling window'}"
        realised += f" (floor {config.performance.floor})"
    else:
        realised = f"none yet ({performance.get('status') or 'no labels scored'})"
    return {
        "performance (realised)": realised,
        "performance (estimated)": _describe_estimate(performance),
    }


def _describe_estimate(performance: Mapping[str, Any]) -> str:
    """This batch's estimate (CBPE, before labels), or why there is none: regression, no production model,
    a version registered before calibration."""
    estimate = performance.get("estimate")
    if estimate and isinstance(estimate.get("value"), int | float):
        rows = estimate.get("rows")
        text = (
            f"estimated, not measured: {estimate.get('metric') or 'metric'} {estimate['value']:.4f} for this batch "
            f"(CBPE on v{estimate.get('version')}'s calibrated probabilities, "
            f"{f'{rows:,}' if isinstance(rows, int) else '-'} rows, no labels yet"
        )
        if estimate.get("labels_expected_by"):
            text += f"; labels expected by {estimate['labels_expected_by']}"
        warning = performance.get("estimate_warning") or {}
        return text + (f"): {warning['reason']}" if warning.get("below") and warning.get("reason") else ")")
    if estimate:
        return f"no estimate: {estimate.get('note') or 'not estimated'}"
    # check_performance records an estimate (or why there is none) whenever there is a production version
    return "no estimate: no production model yet" if performance.get("version") is None else "no estimate recorded"


def retrain_dag_id(model: str) -> str:
    """The retraining DAG of a model."""
    return dag_id("retrain", model)


@task_boundary
def request_retraining(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Record the retraining request for this batch date (once: a re-run finds it and does not add another).

    The record says why, names the incident, links the drift report and names the run that asked; the next
    task triggers the retraining DAG with it.
    """
    config, run, store = task_setup(model, context)
    drift = context["ti"].xcom_pull(task_ids=MEASURE_DRIFT)
    decision = context["ti"].xcom_pull(task_ids=DECIDE, key="decision") or {}
    uri = config.paths.retrain_request(run.day)
    request = {
        "model": config.name,
        "day": run.day.isoformat(),
        "reason": decision.get("cause") or decision.get("why") or drift["reason"],
        "incident": decision.get("incident"),
        "decision": decision.get("why"),
        "drift_report": drift["report_html"],
        "drift_summary": drift["report_json"],
        "top_features": drift["top_features"],
        "requested_by": {"dag_id": run.dag_id, "run_id": run.run_id, "url": run.run_url},
        "retrain_dag_id": retrain_dag_id(config.name),
        "requested_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    created = store.create_exclusive(uri, json.dumps(request, indent=2).encode(), content_type="application/json")
    if not created:
        log.info("retraining of %s for %s was already requested (%s): not requesting again", config.name, run.day, uri)
        request = store.read_json(uri)
    else:
        log.info("retraining requested for %s (%s): %s", config.name, request["reason"], uri)
    reason = f"{request['incident']}: {request['reason']}" if request.get("incident") else request["reason"]
    return {
        "request_uri": uri,
        "new_request": created,
        "retrain_dag_id": request["retrain_dag_id"],
        # One retraining run per batch date: a re-run finds it and does not trigger another.
        "retrain_run_id": f"monitoring__{run.day.isoformat()}",
        "conf": {
            "reason": f"monitoring {run.day.isoformat()}: {reason}"[:500],
            "drift_report": request["drift_report"],
            "request_uri": uri,
            "end_date": run.day.isoformat(),
        },
    }


@task_boundary
def no_retraining(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The branch taken when nothing needs retraining; says why in the log and XCom."""
    decision = context["ti"].xcom_pull(task_ids=DECIDE, key="decision") or {}
    log.info("%s: no retraining: %s", model, decision.get("why", "-"))
    return dict(decision)
