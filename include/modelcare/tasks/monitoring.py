"""The monitoring DAG's task bodies: one function per task, each idempotent for its batch date.

Tasks exchange small dicts of references (URIs, counts, verdicts) through XCom,
never DataFrames. The data work itself lives in ``quality.validation`` and ``quality.drift``,
the decisions in ``policy``; this module reads and writes S3 and calls them. What to do with the
verdicts (the incident decision, alerts, retraining requests) is ``tasks.monitoring_decide``.
Every task body goes through ``task_boundary``: a domain error (a bad batch, missing
reference data) fails the task without retries, S3 or network trouble is retried.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any, NoReturn

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataError, DataNotFound, ValidationFailed
from include.modelcare.operators.alerts import Alert, send_alert
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.tasks.boundary import task_boundary
from include.modelcare.tasks.context import RunInfo, task_setup

log = logging.getLogger(__name__)

# Task ids, shared by the DAG file (wiring) and the branch functions here (decisions).
RESOLVE_BATCH = "resolve_batch"
REPORT_MISSING_BATCH = "report_missing_batch"
VALIDATE_BATCH = "validate_batch"
MEASURE_DRIFT = "measure_drift"
CHECK_PERFORMANCE = "check_performance"
DECIDE = "decide"
ALERT_DRIFT = "alert_drift"
REQUEST_RETRAINING = "request_retraining"
TRIGGER_RETRAINING = "trigger_retraining"
NO_RETRAINING = "no_retraining"


def load_reference(config: ModelConfig, run: RunInfo, store: ObjectStore) -> tuple[Any, str]:
    """Reference data for drift and derived validation rules, and where it came from.

    In order: the form's ``reference_uri``; the training sample of the registry's ``production``
    version (sha256 verified); the configured baseline. Raises ``DataNotFound`` when none exists.
    """
    from include.modelcare.storage.tables import guess_format, read_table

    override = run.params.get("reference_uri")
    if override:
        return read_table(override, guess_format(override, config.data.format), store), str(override)
    from include.modelcare.registry.factory import open_registry

    registry = open_registry(config, store)
    production = registry.alias("production")
    if production is not None:
        record = registry.get(production.version)
        return registry.load_reference(production.version), f"{record.uri}reference.parquet ({record.version_id})"
    uri = config.paths.baseline_reference()
    return read_table(uri, guess_format(uri, config.data.format), store), uri


# -- 1. find the batch -------------------------------------------------------------------------
def locate_batch(config: ModelConfig, day: dt.date, store: ObjectStore) -> dict[str, Any]:
    """Where the batch of ``day`` is: incoming (``found``, or ``wrong_format`` when its files are not the
    model's format), already ``quarantined``, or ``missing``."""
    from include.modelcare.storage.tables import data_files, other_files

    incoming = config.paths.incoming(day)
    files = data_files(store, incoming, config.data.format)
    if files:
        return {"day": day.isoformat(), "status": "found", "uri": incoming, "files": files}
    others = other_files(store, incoming, config.data.format)
    if others:  # a batch did arrive, in the wrong format: an invalid batch, not a missing one
        return {"day": day.isoformat(), "status": "wrong_format", "uri": incoming, "files": others}
    quarantine = config.paths.quarantine(day)
    if store.exists(quarantine + "_REASON.json"):
        return {"day": day.isoformat(), "status": "quarantined", "uri": quarantine, "files": []}
    return {"day": day.isoformat(), "status": "missing", "uri": incoming, "files": []}


@task_boundary
def resolve_batch(model: str, context: Mapping[str, Any]) -> str:
    """Branch: validate the batch when there is one, otherwise report it missing."""
    config, run, store = task_setup(model, context)
    located = locate_batch(config, run.day, store)
    ti = context["ti"]
    ti.xcom_push(key="batch", value=located)
    log.info("batch of %s for %s: %s at %s", config.name, run.day, located["status"], located["uri"])
    return REPORT_MISSING_BATCH if located["status"] == "missing" else VALIDATE_BATCH


@task_boundary
def report_missing_batch(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Alert that no batch arrived (the run succeeds: nothing to check is not a crash)."""
    config, run, store = task_setup(model, context)
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
    sent = send_unless_silenced(alert, config, store, context, run)
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


@task_boundary
def validate_batch(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the batch with Great Expectations; store the result beside it; quarantine on failure.

    Raises ``ValidationFailed`` (through the boundary: no retries, since retrying cannot make a bad
    batch good) so the task shows red in the grid; the failure callback finds it in the cause chain
    and alerts with the figures.
    """
    from include.modelcare.quality.validation import validate_frame
    from include.modelcare.storage.tables import read_files

    config, run, store = task_setup(model, context)
    located = context["ti"].xcom_pull(task_ids=RESOLVE_BATCH, key="batch")
    if located["status"] == "quarantined":
        reason = store.read_json(config.paths.quarantine(run.day) + "_REASON.json")
        raise ValidationFailed(reason["message"], summary=reason)

    batch = {"batch_uri": located["uri"]}
    ids = {"model": config.name, "day": run.day.isoformat(), "dag_id": run.dag_id, "run_id": run.run_id, **batch}
    if located["status"] == "wrong_format":
        names = ", ".join(u.rsplit("/", 1)[-1] for u in located["files"])
        headline = f"unreadable batch: {names} not {config.data.format} (the model reads {config.data.format} files)"
        _reject(config, run, store, {**batch, "success": False, "rows": 0, "headline": headline}, ids)
    try:
        # Text features as pandas categories: validation and drift read codes, not 1M Python strings (issue 13)
        frame, files = read_files(
            located["files"], config.data.format, store, categories=config.data.features.categorical
        )
    except DataError as exc:  # zero rows, truncated or random bytes, another format under the right name
        headline = f"unreadable batch: {exc}"
        _reject(config, run, store, {**batch, "success": False, "rows": 0, "headline": headline}, ids)
    reference = _read_reference(config, run, store)
    result = validate_frame(frame, config, reference)
    summary = {
        **batch,
        "success": result.success,
        "rows": result.rows,
        "failed_checks": len(result.failed),
        "total_checks": len(result.checks),
        "headline": result.headline(),
    }
    payload = {**ids, **result.to_dict(), "files": files}
    if not result.success:
        _reject(config, run, store, summary, payload)
    result_uri = config.paths.validation_result(run.day)
    store.write_json(result_uri, payload)
    log.info("%s %s: %s (result at %s)", config.name, run.day, result.headline(), result_uri)
    return {**summary, "result_uri": result_uri}


def _reject(
    config: ModelConfig, run: RunInfo, store: ObjectStore, summary: dict[str, Any], payload: dict[str, Any]
) -> NoReturn:
    """Quarantine the batch with its result and ``_REASON.json``, then raise ``ValidationFailed``.

    The result goes with the batch into quarantine, so nothing under incoming/ claims a validated batch;
    the failure alert finds the ``ValidationFailed`` in the cause chain and sends the figures.
    """
    quarantine = config.paths.quarantine(run.day)
    reason = {**summary, "result_uri": quarantine + "_modelcare/validation.json", "quarantine": quarantine}
    reason["message"] = (
        f"{config.name} batch {run.day.isoformat()} failed validation: {summary['headline']}. "
        f"Quarantined at {quarantine}; full result at {reason['result_uri']}"
    )
    store.write_json(config.paths.validation_result(run.day), {**payload, **summary})
    quarantine_batch(config, run.day, store, reason)
    raise ValidationFailed(reason["message"], summary=reason)


def validated_batch(
    config: ModelConfig, day: dt.date, store: ObjectStore, columns: list[str] | None = None, *, categories: bool = False
) -> Any:
    """The batch exactly as validated: the files its validation result lists, each unchanged since
    (``DataError`` otherwise). Files added to the folder after validation are not part of it.
    ``columns``: read only these (drift reads the features alone); ``categories``: text features as pandas
    categories (for statistics; a model must get ``storage.tables.plain_text`` of it)."""
    from include.modelcare.storage.tables import concat_frames, parse_bytes, read_validated, validated_files

    result = store.read_json(config.paths.validation_result(day))
    files = validated_files(result, store, config.paths.incoming(day), config.data.format)
    text = config.data.features.categorical if categories else []
    frames = [
        parse_bytes(raw, config.data.format, uri, columns=columns, categories=text)
        for uri, raw in read_validated(files, store)
    ]
    return concat_frames(frames, text)


def _read_reference(config: ModelConfig, run: RunInfo, store: ObjectStore) -> Any:
    try:
        return load_reference(config, run, store)[0]
    except DataNotFound as exc:
        if run.params.get("reference_uri"):
            raise
        log.warning("no reference data (%s): validation uses config rules only", exc)
        return None


# -- 3. drift ----------------------------------------------------------------------------------------
@task_boundary
def measure_drift(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Drift of the batch against the reference; HTML report and JSON summary to the reports prefix."""
    from include.modelcare.quality.drift import compute_drift, report_html

    config, run, store = task_setup(model, context)
    located = context["ti"].xcom_pull(task_ids=RESOLVE_BATCH, key="batch")
    reference, ref_uri = load_reference(config, run, store)
    current = validated_batch(config, run.day, store, columns=config.data.features.all, categories=True)
    result, snapshot = compute_drift(current, reference, config.data.features, config.drift, name=config.name)
    prediction = prediction_drift(config, store, reference, current)

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
        "prediction_drift": prediction,
        "dag_id": run.dag_id,
        "run_id": run.run_id,
    }
    store.write_json(json_uri, summary)
    log.info("%s %s: %s (report %s)", config.name, run.day, result.reason, html_uri)
    return {
        "drift_detected": result.drift_detected,
        "share_drifted": result.share_drifted,
        "n_drifted": result.n_drifted,
        "n_features": result.n_features,
        "top_features": [c.name for c in result.top_features(config.drift.top_features) if c.drifted],
        "critical_drifted": result.critical_drifted,
        "reason": result.reason,
        "prediction_drift": prediction,
        "report_html": html_uri,
        "report_json": json_uri,
    }


def production_model(config: ModelConfig, store: ObjectStore) -> tuple[Any, int] | None:
    """The registry's ``production`` model (sha256 verified) and its version, or None."""
    from include.modelcare.registry.factory import open_registry

    registry = open_registry(config, store)
    production = registry.alias("production")
    if production is None:
        return None
    return registry.load_model(production.version), production.version


def _scores(model: Any, frame: Any, config: ModelConfig) -> Any:
    from include.modelcare.storage.tables import plain_text

    features = plain_text(frame[config.data.features.all], config.data.features.categorical)
    if config.task == "classification":
        return model.predict_proba(features)[:, -1]
    return model.predict(features)


def prediction_drift(config: ModelConfig, store: ObjectStore, reference: Any, current: Any) -> dict[str, Any] | None:
    """Drift of the production model's predictions (reference vs batch), tested like a numeric feature.

    Reported beside feature drift (summary, alert); the dataset verdict stays the documented feature rule.
    The one ``prediction`` column is tested by the model's drift rule (it is no critical feature).
    """
    import pandas as pd

    from include.modelcare.config.schema import Features
    from include.modelcare.quality.drift import drift_verdict

    loaded = production_model(config, store)
    if loaded is None:
        return None
    model, version = loaded
    ref = pd.DataFrame({"prediction": _scores(model, reference, config)})
    cur = pd.DataFrame({"prediction": _scores(model, current, config)})
    result = drift_verdict(cur, ref, Features(numerical=["prediction"]), config.drift, name=config.name)  # no report
    column = result.columns["prediction"]
    return {
        "version": version,
        "method": column.method,
        "score": column.score,
        "threshold": column.threshold,
        "drifted": column.drifted,
        "mean_reference": float(ref["prediction"].mean()),
        "mean_current": float(cur["prediction"].mean()),
    }


# -- 3b. performance (late labels, rolling window, estimate): ``tasks.performance`` ------------------------


# -- 4. decide and 5. act: ``tasks.monitoring_decide`` (the incident decision, its alert, the request) --------
def send_unless_silenced(
    alert: Alert, config: ModelConfig, store: ObjectStore, context: Mapping[str, Any], run: RunInfo
) -> dict[str, str]:
    """Send ``alert`` unless the run's form switched alerts off (``send_alerts``)."""
    if not run.params.get("send_alerts", True):
        log.info("alerts switched off in the run's form: not sending %s", alert.kind)
        return {"email": "disabled", "sns": "disabled"}
    return send_alert(alert, config, store, context)
