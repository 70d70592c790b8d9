"""Alerts by email and SNS through Airflow's notifiers, sent at most once per model, date and kind.

``SmtpNotifier`` and ``SnsNotifier`` do the sending. What they do not do is
deduplicate: a cleared and re-run task would alert again. Each channel
therefore claims a marker object in S3 (conditional create) *after* it sent,
and a channel whose marker exists is skipped. That is at-least-once per
channel: a crash between sending and marking can repeat one message, but an
alert is never lost to a half-done attempt.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow.sdk import BaseNotifier

from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.storage.objects import ObjectStore, hook_s3_client

log = logging.getLogger(__name__)

KINDS = ("validation_failed", "missing_batch", "drift", "task_failed")


@dataclass(frozen=True)
class Alert:
    """One alert: what happened to which model on which date, with the figures and where to look."""

    model: str
    day: dt.date
    kind: str
    summary: str
    figures: dict[str, Any] = field(default_factory=dict)
    report_uri: str | None = None
    run_url: str | None = None
    marker: str | None = None  # de-duplication key when ``kind`` may repeat on one day (default: kind)
    incident: str | None = None
    """The incident the alert belongs to: then ``marker`` (``<incident id>.<event>``) de-duplicates across days."""

    @property
    def subject(self) -> str:
        titles = {
            "validation_failed": "batch failed validation",
            "missing_batch": "no batch arrived",
            "drift": "drift detected",
            "drift_escalated": "drift incident escalated",
            "needs_person": "retraining did not fix it; needs a person",
            "incident_closed": "drift incident closed",
            "estimated_decay": "estimated performance below floor",
            "task_failed": "task failed",
            "registered": "new model version",
            "rejected": "model version rejected",
            "approval_needed": "approval needed",
            "deployed": "deployed",
            "deploy_failed": "deployment failed and rolled back",
            "deploy_error": "deployment failed",
            "config_problem": "model config problem",
        }
        kind, _, detail = self.kind.partition(".")
        title = titles.get(kind, kind)
        if detail and kind != "task_failed":
            title = f"{title} {detail}"
        return f"[modelcare] {self.model} {self.day.isoformat()}: {title}"

    def text(self) -> str:
        lines = [self.subject, "", self.summary, ""]
        lines += [f"- {key}: {value}" for key, value in self.figures.items()]
        if self.report_uri:
            lines.append(f"Details: {self.report_uri}")
        if self.run_url:
            lines.append(f"Airflow run: {self.run_url}")
        return "\n".join(lines)

    def html(self) -> str:
        rows = "".join(
            f"<tr><th align='left'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.figures.items()
        )
        parts = [f"<h3>{html.escape(self.subject)}</h3>", f"<p>{html.escape(self.summary)}</p>"]
        if rows:
            parts.append(f"<table>{rows}</table>")
        if self.report_uri:
            parts.append(f"<p>Details: <code>{html.escape(self.report_uri)}</code></p>")
        if self.run_url:
            url = html.escape(self.run_url)
            parts.append(f"<p>Airflow run: <a href='{url}'>{url}</a></p>")
        return "\n".join(parts)

    def as_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["day"] = self.day.isoformat()
        payload["subject"] = self.subject
        return payload


def _wanted(config: ModelConfig, kind: str) -> bool:
    switches = {
        "validation_failed": config.alerts.on_validation_failure,
        "missing_batch": config.alerts.on_missing_batch,
        "drift": config.alerts.on_drift,
        "drift_escalated": config.alerts.on_drift,
        "needs_person": config.alerts.on_drift,
        "incident_closed": config.alerts.on_drift,
        "estimated_decay": config.alerts.on_estimated_decay,
        "task_failed": config.alerts.on_task_failure,
    }
    return switches.get(kind.split(".", 1)[0], True)


def send_alert(alert: Alert, config: ModelConfig, store: ObjectStore, context: Mapping[str, Any]) -> dict[str, str]:
    """Send an alert on every configured channel not yet sent for (model, day, kind), or for (incident, event)
    when the alert belongs to an incident: one alert per incident event, whatever the day of the re-run.

    Returns ``{channel: "sent" | "already sent" | "disabled"}``.
    """
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    outcome: dict[str, str] = {}
    if not _wanted(config, alert.kind):
        log.info("alerts of kind %s are switched off for %s", alert.kind, config.name)
        return {"email": "disabled", "sns": "disabled"}
    channels: dict[str, BaseNotifier] = {}
    if config.alerts.emails:
        channels["email"] = SmtpNotifier(
            to=config.alerts.emails,
            from_email=config.alerts.from_email,
            subject=alert.subject,
            html_content=alert.html(),
            smtp_conn_id=config.airflow.smtp_conn_id,
        )
    if config.alerts.sns_topic_arn:
        channels["sns"] = SnsNotifier(
            target_arn=config.alerts.sns_topic_arn,
            message=alert.text(),
            subject=alert.subject[:99],  # SNS subjects are limited to 100 characters
            aws_conn_id=config.airflow.aws_conn_id,
        )
    if alert.incident:
        marker_base = config.paths.incident_alert_marker(alert.marker or f"{alert.incident}.{alert.kind}")
    else:
        marker_base = config.paths.alert_marker(alert.day, alert.marker or alert.kind)
    for channel, notifier in channels.items():
        marker = marker_base.replace(".json", f".{channel}.json")
        if store.exists(marker):
            outcome[channel] = "already sent"
            log.info("%s alert %s for %s %s already sent (%s)", channel, alert.kind, alert.model, alert.day, marker)
            continue
        # notify() directly: the content is final, so no Jinja rendering of user text.
        notifier.notify(dict(context))  # type: ignore[arg-type]
        store.create_exclusive(
            marker, json.dumps(alert.as_json(), default=str).encode(), content_type="application/json"
        )
        outcome[channel] = "sent"
        log.info("sent %s alert %s for %s %s", channel, alert.kind, alert.model, alert.day)
    return outcome


class TaskFailureAlert(BaseNotifier):
    """Task-level ``on_failure_callback``: alerts by email and SNS, naming the task and the error.

    A task that raised ``ValidationFailed`` sends a ``validation_failed`` alert with the figures;
    a failed deployment step (``DeploymentError``) none, because ``roll_back`` alerts with its outcome;
    any other failure a ``task_failed.<task_id>`` alert.
    """

    template_fields = ()

    def __init__(self, model_name: str) -> None:
        super().__init__()
        self.model_name = model_name

    def notify(self, context: Any) -> None:
        from include.modelcare.errors import DeploymentError, ValidationFailed
        from include.modelcare.tasks.context import RunInfo

        if _find_cause(context.get("exception"), DeploymentError) is not None:
            log.info("deployment step failed: the roll_back task sends the alert, with the rollback's outcome")
            return
        config = get_model_config(self.model_name)
        run = RunInfo.from_context(context, config.schedules.timezone)
        error = context.get("exception")
        ti = context.get("ti") or context.get("task_instance")
        task_id = getattr(ti, "task_id", "unknown")
        validation = _find_cause(error, ValidationFailed)
        if validation is not None:
            summary = validation.summary
            alert = Alert(
                model=config.name,
                day=run.day,
                kind="validation_failed",
                summary=str(validation),
                figures={
                    k: summary[k] for k in ("rows", "failed_checks", "total_checks", "quarantine") if k in summary
                },
                report_uri=str(summary.get("result_uri") or "") or None,
                run_url=run.run_url,
            )
        else:
            alert = Alert(
                model=config.name,
                day=run.day,
                kind=f"task_failed.{task_id}",
                summary=f"Task {task_id} failed: {str(error).splitlines()[0] if error else 'unknown error'}",
                figures={"dag_id": run.dag_id, "run_id": run.run_id, "try_number": getattr(ti, "try_number", "?")},
                run_url=getattr(ti, "log_url", None) or run.run_url,
            )
        store = ObjectStore(hook_s3_client(config.airflow.aws_conn_id))
        send_alert(alert, config, store, context)


class IncidentActionAlert(BaseNotifier):
    """Failure callback of ``modelcare_incidents`` (one DAG for every model): the failure alert of the model
    the form named, as ``TaskFailureAlert`` sends it."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        model = str((context.get("params") or {}).get("model") or "")
        if not model:
            log.warning("incident action failed without a model in the form: no model to alert")
            return
        TaskFailureAlert(model).notify(context)


class CatalogCheckAlert(BaseNotifier):
    """Failure callback of ``modelcare_catalog_check``: one ``config_problem`` alert per model whose config
    failed a deep check, to that model's own recipients (the catalog has no recipients of its own)."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        import datetime as dt

        from include.modelcare.errors import ConfigProblems

        problems = _find_cause(context.get("exception"), ConfigProblems)
        if problems is None:
            log.warning("catalog check failed without a config problem: Airflow's retries apply, no model alert")
            return
        ti = context.get("ti") or context.get("task_instance")
        for model, lines in problems.problems.items():
            config = get_model_config(model)
            alert = Alert(
                model=model,
                day=dt.datetime.now(dt.UTC).date(),
                kind="config_problem",
                summary=f"The config of {model} fails a check: " + "; ".join(lines),
                figures={"problems": len(lines)},
                run_url=getattr(ti, "log_url", None),
            )
            send_alert(alert, config, ObjectStore(hook_s3_client(config.airflow.aws_conn_id)), context)


def _find_cause(error: BaseException | None, kind: type[BaseException]) -> Any:
    """The first exception of ``kind`` in the chain (the error itself, its cause or context)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, kind):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None
