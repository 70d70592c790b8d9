"""Acknowledge or snooze a model's incident from a form, so nobody runs monitoring just to snooze.

One DAG for every model (a ``model`` drop-down), not one per model: a person looking for "snooze" finds one
entry in the DAG list, and the DAG list does not grow by a form per model. Manually triggered only.
Wiring only: the task body is ``include.modelcare.tasks.incidents``; the CLI equivalent is
``modelcare incidents ack|snooze``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Param, dag, task

from include.modelcare.config.catalog import load_catalog
from include.modelcare.operators.alerts import IncidentActionAlert
from include.modelcare.operators.defaults import catalog_dag_kwargs
from include.modelcare.tasks import incidents as i

DOC = """
### Incidents: acknowledge or snooze

Monitoring opens an incident when a model's batch drifts or its performance decays: one alert, one
retraining request. Later batches update it without alerting unless it escalates; a clean batch closes it.

Trigger this DAG with the form:

- **acknowledge**: a person owns the incident; no further alerts except escalations and the close.
- **snooze** until a date (inclusive): nothing is sent for batches up to that date; the timeline still
  records them, and retraining requests follow the policy as usual.

Leave *incident* empty for the model's open incident. The incident and its timeline are on the model's
Registry page and in `modelcare incidents show`.
"""

_MODELS = sorted(load_catalog().models)

if _MODELS:

    @dag(
        **catalog_dag_kwargs(
            "modelcare_incidents",
            schedule=None,
            description="Acknowledge or snooze a model's drift incident (manual, with a form)",
            doc_md=DOC,
            tag="incidents",
            on_failure=IncidentActionAlert(),
            retry_delay=dt.timedelta(minutes=1),
        ),
        params={
            "model": Param(_MODELS[0], type="string", enum=_MODELS, title="Model"),
            "incident": Param(
                "", type="string", title="Incident", description="Incident id (inc-YYYY-MM-DD). Empty: the open one."
            ),
            "action": Param("acknowledge", type="string", enum=list(i.ACTIONS), title="Action"),
            "until": Param(
                None,
                type=["null", "string"],
                format="date",
                title="Snooze until",
                description="Snooze only: nothing is sent for batches up to this date (inclusive).",
            ),
            "note": Param("", type="string", title="Note", description="Why (kept on the incident's timeline)."),
            "by": Param("", type="string", title="Who", description="Empty: the user who triggered the run."),
        },
    )
    def modelcare_incidents() -> None:
        @task(task_id=i.APPLY)
        def apply_incident_action(**context: Any) -> dict[str, Any]:
            return i.apply_incident_action(context)

        apply_incident_action()

    modelcare_incidents()
