"""The monitoring DAG's task bodies: one function per task, each idempotent for its batch date.

Tasks exchange small dicts of references (URIs, counts, verdicts) through XCom,
never DataFrames. The data work itself lives in ``validation``, ``drift`` and
``data``; this module reads and writes S3, decides, and alerts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from include.modelcare.alerts import Alert, send_alert
from include.modelcare.config import ModelConfig, get_model_config
from include.modelcare.errors import DataNotFound, ValidationFailed
from include.modelcare.runinfo import RunInfo
from include.modelcare.storage import ObjectStore, hook_s3_client

log = logging.getLogger(__name__)

# Task ids, shared by the DAG file (wiring) and the branch functions here (decisions).
RESOLVE_BATCH = "resolve_batch"
REPORT_MISSING_BATCH = "report_missing_batch"
VALIDATE_BATCH = "validate_batch"
MEASURE_DRIFT = "measure_drift"
DECIDE = "decide"
ALERT_DRIFT = "alert_drift"
REQUEST_RETRAINING = "request_retraining"
NO_RETRAINING = "no_retraining"


class BatchRejected(ValidationFailed, AirflowFailException):
    """Validation failure raised inside Airflow: fails the task at once, without retries.

    Retrying cannot make a bad batch good; the batch is already quarantined and the failure
    callback sends the alert.
    """


def _setup(model: str, context: Mapping[str, Any]) -> tuple[ModelConfig, RunInfo, ObjectStore]:
    config = get_model_config(model)
    run = RunInfo.from_context(context, config.schedules.timezone)
    store = ObjectStore(hook_s3_client(config.airflow.aws_conn_id))
    return config, run, store


def reference_uri(config: ModelConfig, run: RunInfo) -> str:
    """Reference data for drift and derived validation rules: the form's override or the configured baseline."""
    return str(run.params.get("reference_uri") or config.paths.baseline_reference())


# -- 1. find the batch -------------------------------------------------------------------------
def locate_batch(config: ModelConfig, day: dt.date, store: ObjectStore) -> dict[str, Any]:
    """Where the batch of ``day`` is: incoming (``found``), already ``quarantined``, or ``missing``."""
    from include.modelcare.data import data_files

    incoming = config.paths.incoming(day)
    files = data_files(store, incoming, config.data.format)
    if files:
        return {"day": day.isoformat(), "status": "found", "uri": incoming, "files": files}
    quarantine = config.paths.quarantine(day)
    if data_files(store, quarantine, config.data.format):
        return {"day": day.isoformat(), "status": "quarantined", "uri": quarantine, "files": []}
    return {"day": day.isoformat(), "status": "missing", "uri": incoming, "files": []}


def resolve_batch(model: str, context: Mapping[str, Any]) -> str:
    """Branch: validate the batch when there is one, otherwise report it missing."""
    config, run, store = _setup(model, context)
    located = locate_batch(config, run.day, store)
    ti = context["ti"]
    ti.xcom_push(key="batch", value=located)
    log.info("batch of %s for %s: %s at %s", config.name, run.day, located["status"], located["uri"])
    return REPORT_MISSING_BATCH if located["status"] == "missing" else VALIDATE_BATCH


def report_missing_batch(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Alert that no batch arrived (the run succeeds: nothing to check is not a crash)."""
    config, run, store = _setup(model, context)
    expected = config.paths.incoming(run.day)
    log.warning("no %s batch for %s at %s", config.data.format, run.day, expected)
    alert = Alert(
        model=config.name,
        day=run.day,
        kind="missing_batch",
        summary=f"No {config.data.format} batch found for {run.day.isoformat()} at {expected}.",
        figures={"expected_at": expected},
        run_url=run.run_url,
    )
    sent = _send(alert, config, store, context, run)
    return {"day": run.day.isoformat(), "expected_at": expected, "alerts": sent}


# -- 2. validate ---------------------------------------------------------------------------------
def quarantine_batch(config: ModelConfig, day: dt.date, store: ObjectStore, reason: dict[str, Any]) -> str:
    """Move the batch under ``quarantine/`` with a reason file; returns the quarantine prefix.

    Copy everything first, write the reason, then delete the originals: a crash in between
    leaves the batch in both places (the re-run finishes the move), never in neither.
    """
    source = config.paths.incoming(day)
    target = config.paths.quarantine(day)
    objects = store.list(source)
    for uri in objects:
        store.copy(uri, target + uri[len(source) :])
    store.write_json(target + "_REASON.json", reason)
    for uri in objects:
        store.delete(uri)
    log.warning("quarantined %d object(s) of %s %s under %s", len(objects), config.name, day, target)
    return target


def validate_batch(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the batch with Great Expectations; store the result beside it; quarantine on failure.

    Raises a no-retry ``ValidationFailed`` so the task shows red in the grid and the failure
    callback alerts with the figures.
    """
    from include.modelcare.data import read_table
    from include.modelcare.validation import validate_frame

    config, run, store = _setup(model, context)
    located = context["ti"].xcom_pull(task_ids=RESOLVE_BATCH, key="batch")
    if located["status"] == "quarantined":
        reason = store.read_json(config.paths.quarantine(run.day) + "_REASON.json")
        raise BatchRejected(reason["message"], summary=reason)

    reference = _read_reference(config, run, store)
    frame = read_table(located["uri"], config.data.format, store)
    result = validate_frame(frame, config, reference)
    result_uri = config.paths.validation_result(run.day)
    payload = {
        "model": config.name,
        "day": run.day.isoformat(),
        "batch_uri": located["uri"],
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        **result.to_dict(),
    }
    summary = {
        "success": result.success,
        "rows": result.rows,
        "failed_checks": len(result.failed),
        "total_checks": len(result.checks),
        "headline": result.headline(),
        "batch_uri": located["uri"],
    }
    if result.success:
        store.write_json(result_uri, payload)
        log.info("%s %s: %s (result at %s)", config.name, run.day, result.headline(), result_uri)
        return {**summary, "result_uri": result_uri}

    quarantine = config.paths.quarantine(run.day)
    # The result goes with the batch into quarantine, so nothing under incoming/ claims a validated batch.
    summary = {**summary, "result_uri": quarantine + "_modelcare/validation.json", "quarantine": quarantine}
    message = (
        f"{config.name} batch {run.day.isoformat()} failed validation: {result.headline()}. "
        f"Quarantined at {quarantine}; full result at {summary['result_uri']}"
    )
    summary["message"] = message
    store.write_json(config.paths.validation_result(run.day), payload)
    quarantine_batch(config, run.day, store, summary)
    raise BatchRejected(message, summary=summary)


def _read_reference(config: ModelConfig, run: RunInfo, store: ObjectStore) -> Any:
    from include.modelcare.data import guess_format, read_table

    uri = reference_uri(config, run)
    try:
        return read_table(uri, guess_format(uri, config.data.format), store)
    except DataNotFound:
        if run.params.get("reference_uri"):
            raise
        log.warning("no reference data at %s: validation uses config rules only", uri)
        return None


# -- 3. drift ----------------------------------------------------------------------------------------
def measure_drift(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Drift of the batch against the reference; HTML report and JSON summary to the reports prefix."""
    from include.modelcare.data import guess_format, read_table
    from include.modelcare.drift import compute_drift, report_html

    config, run, store = _setup(model, context)
    located = context["ti"].xcom_pull(task_ids=RESOLVE_BATCH, key="batch")
    ref_uri = reference_uri(config, run)
    reference = read_table(ref_uri, guess_format(ref_uri, config.data.format), store)
    current = read_table(located["uri"], config.data.format, store)
    result, snapshot = compute_drift(current, reference, config)

    reports = config.paths.reports(run.day)
    html_uri, json_uri = reports + "drift.html", reports + "drift.json"
    store.write_bytes(html_uri, report_html(snapshot), content_type="text/html")
    summary = {
        **result.to_dict(),
        "model": config.name,
        "day": run.day.isoformat(),
        "reference_uri": ref_uri,
        "current_uri": located["uri"],
        "report_html": html_uri,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
    }
    store.write_json(json_uri, summary)
    log.info("%s %s: %s (report %s)", config.name, run.day, result.reason, html_uri)
    return {
        "drift_detected": result.drift_detected,
        "drift_share": result.drift_share,
        "n_drifted": result.n_drifted,
        "n_features": result.n_features,
        "top_features": [c.name for c in result.top_features(config.drift.top_features) if c.drifted],
        "critical_drifted": result.critical_drifted,
        "reason": result.reason,
        "report_html": html_uri,
        "report_json": json_uri,
    }


# -- 4. decide -----------------------------------------------------------------------------------------
def last_request_before(config: ModelConfig, day: dt.date, store: ObjectStore) -> dt.date | None:
    """Date of the latest retraining request strictly before ``day`` (from the request records)."""
    days = []
    for uri in store.list(config.paths.retrain_requests()):
        name = uri.rsplit("/", 1)[-1]
        if name.startswith("dt=") and name.endswith(".json"):
            try:
                days.append(dt.date.fromisoformat(name[3:-5]))
            except ValueError:
                continue
    earlier = [d for d in days if d < day]
    return max(earlier) if earlier else None


def retraining_decision(
    config: ModelConfig, day: dt.date, drift: Mapping[str, Any], store: ObjectStore
) -> dict[str, Any]:
    """Whether to request retraining for this batch, and why (cooldown keeps one episode to one request)."""
    if not drift["drift_detected"]:
        return {"retrain": False, "why": f"no drift: {drift['reason']}"}
    previous = last_request_before(config, day, store)
    cooldown = config.drift.retrain_cooldown_days
    if previous is not None and (day - previous).days < cooldown:
        return {
            "retrain": False,
            "why": f"drift, but retraining was requested on {previous.isoformat()} "
            f"({(day - previous).days} < {cooldown} days cooldown)",
        }
    return {"retrain": True, "why": f"drift: {drift['reason']}"}


def decide(model: str, context: Mapping[str, Any]) -> list[str]:
    """Branch: alert on drift, and request retraining unless cooling down or switched off in the form."""
    config, run, store = _setup(model, context)
    drift = context["ti"].xcom_pull(task_ids=MEASURE_DRIFT)
    decision = retraining_decision(config, run.day, drift, store)
    if decision["retrain"] and not run.params.get("request_retraining", True):
        decision = {"retrain": False, "why": "drift, but the run's form switched retraining requests off"}
    context["ti"].xcom_push(key="decision", value=decision)
    log.info("%s %s: %s", config.name, run.day, decision["why"])
    branches = [ALERT_DRIFT] if drift["drift_detected"] else []
    branches.append(REQUEST_RETRAINING if decision["retrain"] else NO_RETRAINING)
    return branches


# -- 5. act ----------------------------------------------------------------------------------------------
def alert_drift(model: str, context: Mapping[str, Any]) -> dict[str, str]:
    """Email and SNS alert naming the drifted features, the share, the report and the run."""
    config, run, store = _setup(model, context)
    drift = context["ti"].xcom_pull(task_ids=MEASURE_DRIFT)
    decision = context["ti"].xcom_pull(task_ids=DECIDE, key="decision") or {}
    alert = Alert(
        model=config.name,
        day=run.day,
        kind="drift",
        summary=drift["reason"],
        figures={
            "drift_share": f"{drift['drift_share']:.0%} ({drift['n_drifted']} of {drift['n_features']} features)",
            "top_drifted_features": ", ".join(drift["top_features"]) or "-",
            "critical_drifted": ", ".join(drift["critical_drifted"]) or "-",
            "retraining": decision.get("why", "-"),
        },
        report_uri=drift["report_html"],
        run_url=run.run_url,
    )
    return _send(alert, config, store, context, run)


def retrain_dag_id(model: str) -> str:
    """The retraining DAG of a model."""
    return f"modelcare_retrain_{model}"


def request_retraining(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Record the retraining request for this batch date (once: a re-run finds it and does not add another).

    The record is the hand-off to the retraining DAG: it says why, links the drift report and names
    the run that asked.
    """
    config, run, store = _setup(model, context)
    drift = context["ti"].xcom_pull(task_ids=MEASURE_DRIFT)
    decision = context["ti"].xcom_pull(task_ids=DECIDE, key="decision") or {}
    uri = config.paths.retrain_request(run.day)
    request = {
        "model": config.name,
        "day": run.day.isoformat(),
        "reason": decision.get("why") or drift["reason"],
        "drift_report": drift["report_html"],
        "drift_summary": drift["report_json"],
        "top_features": drift["top_features"],
        "requested_by": {"dag_id": run.dag_id, "run_id": run.run_id, "url": run.run_url},
        "retrain_dag_id": retrain_dag_id(config.name),
        "requested_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    import json

    created = store.create_exclusive(uri, json.dumps(request, indent=2).encode(), content_type="application/json")
    if not created:
        log.info("retraining of %s for %s was already requested (%s): not requesting again", config.name, run.day, uri)
    else:
        log.info(
            "retraining requested for %s (%s); the retraining DAG %s is not part of this bundle yet, "
            "so the request record %s is the hand-off",
            config.name,
            request["reason"],
            request["retrain_dag_id"],
            uri,
        )
    return {"request_uri": uri, "new_request": created, "retrain_dag_id": request["retrain_dag_id"], "triggered": False}


def no_retraining(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The branch taken when nothing needs retraining; says why in the log and XCom."""
    decision = context["ti"].xcom_pull(task_ids=DECIDE, key="decision") or {}
    log.info("%s: no retraining: %s", model, decision.get("why", "-"))
    return decision


def _send(
    alert: Alert, config: ModelConfig, store: ObjectStore, context: Mapping[str, Any], run: RunInfo
) -> dict[str, str]:
    if not run.params.get("send_alerts", True):
        log.info("alerts switched off in the run's form: not sending %s", alert.kind)
        return {"email": "disabled", "sns": "disabled"}
    return send_alert(alert, config, store, context)
