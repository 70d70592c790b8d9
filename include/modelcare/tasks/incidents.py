"""Task body of the ``modelcare_incidents`` DAG: acknowledge or snooze a model's incident from a form.

Why a DAG: people live in the Airflow UI; a small manually-triggered DAG with a form lets them
acknowledge or snooze an incident without running monitoring just to do it. The CLI
(``modelcare incidents``) makes the same change through the same function, ``apply_action``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import ConfigError
from include.modelcare.incidents.policy import Incident, acknowledge, snooze
from include.modelcare.incidents.store import change_incident
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.tasks.boundary import task_boundary
from include.modelcare.tasks.context import parse_day, task_setup

log = logging.getLogger(__name__)

ACTIONS = ("acknowledge", "snooze")
APPLY = "apply_incident_action"


def apply_action(
    config: ModelConfig,
    store: ObjectStore,
    *,
    action: str,
    incident: str | None,
    by: str,
    note: str = "",
    until: dt.date | None = None,
) -> Incident:
    """Acknowledge or snooze (until ``until``, inclusive) one incident (``incident``: id, empty: the open one)."""
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if action == "acknowledge":
        changed = change_incident(config, store, incident, lambda i: acknowledge(i, by, note, at))
    elif action == "snooze":
        if until is None:
            raise ConfigError("snooze needs a date: until when (YYYY-MM-DD, inclusive)")
        day = until
        changed = change_incident(config, store, incident, lambda i: snooze(i, day, by, note, at))
    else:
        raise ConfigError(f"unknown incident action {action!r} (one of: {', '.join(ACTIONS)})")
    log.info("%s: %s %s by %s", config.name, action, changed.id, by)
    return changed


@task_boundary
def apply_incident_action(context: Mapping[str, Any]) -> dict[str, Any]:
    """The form's action on the form's model and incident; returns the incident's new state (small)."""
    params = dict(context.get("params") or {})
    config, _, store = task_setup(str(params["model"]), context)
    dag_run = context.get("dag_run")
    by = str(params.get("by") or getattr(dag_run, "triggering_user_name", None) or "airflow-ui")
    until = parse_day(params["until"]) if params.get("until") else None
    changed = apply_action(
        config,
        store,
        action=str(params["action"]),
        incident=str(params.get("incident") or "") or None,
        by=by,
        note=str(params.get("note") or ""),
        until=until,
    )
    return {
        "model": config.name,
        "incident": changed.id,
        "status": changed.status,
        "acknowledged": changed.acknowledged,
        "snoozed_until": changed.snoozed_until,
    }
