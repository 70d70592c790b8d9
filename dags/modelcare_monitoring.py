"""Monitoring DAGs, one per model config in the catalog: validate the batch, measure drift, decide.

Wiring only: every task body is one call into ``include.modelcare.tasks.monitoring`` (measure),
``include.modelcare.tasks.performance`` (late labels, the rolling window, the estimate),
``include.modelcare.tasks.monitoring_decide`` (decide and act) or ``include.modelcare.tasks.metrics``
(CloudWatch).
A broken config is skipped here and reported by ``modelcare_catalog_check.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, TriggerRule, dag, task

from include.modelcare.config.catalog import load_catalog
from include.modelcare.config.schema import DriftConfig, ModelConfig
from include.modelcare.operators.defaults import dag_kwargs
from include.modelcare.operators.params import param_from_field
from include.modelcare.tasks import metrics as mt
from include.modelcare.tasks import monitoring as m
from include.modelcare.tasks import monitoring_decide as d
from include.modelcare.tasks import performance as p

DOC = """
### Monitoring of `{name}`

{description}

For the batch of the run's date (`batch_date` in the form, else the logical date):

1. **resolve_batch** finds `{incoming}`; if missing, **report_missing_batch** alerts and the run ends.
2. **validate_batch** runs Great Expectations; a failing batch is moved to `quarantine/` with a reason
   file, the task fails (no retries) and email/SNS alerts carry the figures.
3. **measure_drift** compares the batch with the reference data (the production version's training
   sample from the registry, else the baseline) with Evidently, plus the production model's
   prediction drift, and writes the HTML report and a JSON summary under `{reports}`;
   **check_performance** scores every batch of the last {lookback} weeks whose labels landed since the
   last run (with the version that served it), decides decay on the rolling {window}-week window, and
   estimates this batch's metric before its labels (CBPE; *estimated*, it alerts but never retrains).
4. **decide** records the batch in the model's incident: drift or performance below the floor opens one
   (**alert_drift** once, **request_retraining** + **trigger_retraining** once); later batches update it
   without alerting unless it escalates (more drifted features, a critical feature, performance further
   down); a clean batch closes it (one short message). At most {budget} retraining requests in 30 days and
   {cooldown} days between two; when retraining did not end the incident and the budget is used up, the
   escalation goes to a person. Acknowledge or snooze an incident with the `modelcare_incidents` DAG or
   `modelcare incidents`.
5. **publish_metrics** sends the batch's figures to CloudWatch (namespace `{namespace}`, dimension
   `Model={name}`), also after a failed validation (`ValidationPassed` 0), once per datapoint: a re-run
   publishes nothing twice.

Drift rule: drifted when at least {share:.0%} of features drift or a critical feature
({critical}) does.
"""


TRIGGER_CONF_KEYS = ("reason", "drift_report", "request_uri", "end_date")


def monitoring_dag(config: ModelConfig) -> DAG:
    """Wire the monitoring DAG of one model."""
    name = config.name

    @dag(
        **dag_kwargs(
            config,
            "monitor",
            schedule=config.schedules.monitoring,
            description=f"Validate, drift-check and triage incoming batches of {name}",
            doc_md=DOC.format(
                name=name,
                description=config.description,
                incoming=config.paths.incoming(dt.date(2000, 1, 1)).replace("2000-01-01", "YYYY-MM-DD"),
                reports=config.paths.reports(dt.date(2000, 1, 1)).replace("2000-01-01", "YYYY-MM-DD"),
                cooldown=config.drift.retrain_cooldown_days,
                budget=config.incidents.max_retrains_per_30_days,
                share=config.drift.drift_share,
                critical=", ".join(config.drift.critical_features) or "none",
                namespace=config.metrics.namespace,
                lookback=config.performance.label_lookback_weeks,
                window=config.performance.window_weeks,
            ),
        ),
        params={
            "batch_date": Param(
                None,
                type=["null", "string"],
                format="date",
                title="Batch date",
                description="The dt=YYYY-MM-DD partition to check. Empty: the run's logical date.",
            ),
            "reference_uri": param_from_field(
                DriftConfig,
                "reference_uri",
                default=None,
                title="Reference data",
                description="Override the reference data (s3:// URI or absolute path). Empty: the model's baseline.",
            ),
            "request_retraining": Param(True, type="boolean", title="Request retraining on drift"),
            "send_alerts": Param(True, type="boolean", title="Send email/SNS alerts"),
        },
    )
    def monitor() -> None:
        @task.branch(task_id=m.RESOLVE_BATCH)
        def resolve_batch(**context: Any) -> str:
            return m.resolve_batch(name, context)

        @task(task_id=m.REPORT_MISSING_BATCH)
        def report_missing_batch(**context: Any) -> dict[str, Any]:
            return m.report_missing_batch(name, context)

        @task(task_id=m.VALIDATE_BATCH)
        def validate_batch(**context: Any) -> dict[str, Any]:
            return m.validate_batch(name, context)

        @task(task_id=m.MEASURE_DRIFT)
        def measure_drift(**context: Any) -> dict[str, Any]:
            return m.measure_drift(name, context)

        @task(task_id=m.CHECK_PERFORMANCE)
        def check_performance(**context: Any) -> dict[str, Any]:
            return p.check_performance(name, context)

        # Also after a failed validation (ValidationPassed 0), not when the batch is missing (all skipped).
        @task(task_id=mt.PUBLISH_METRICS, trigger_rule=TriggerRule.NONE_SKIPPED)
        def publish_metrics(**context: Any) -> dict[str, Any]:
            return mt.publish_metrics(name, context)

        @task.branch(task_id=m.DECIDE)
        def decide(**context: Any) -> list[str]:
            return d.decide(name, context)

        @task(task_id=m.ALERT_DRIFT)
        def alert_drift(**context: Any) -> dict[str, str]:
            return d.alert_drift(name, context)

        @task(task_id=m.REQUEST_RETRAINING)
        def request_retraining(**context: Any) -> dict[str, Any]:
            return d.request_retraining(name, context)

        @task(task_id=m.NO_RETRAINING)
        def no_retraining(**context: Any) -> dict[str, Any]:
            return d.no_retraining(name, context)

        branch = resolve_batch()
        branch >> report_missing_batch()
        validated = branch >> validate_batch()
        measured = [measure_drift(), check_performance()]
        decided = validated >> measured >> decide()
        [validated, *measured] >> publish_metrics()
        decided >> [alert_drift(), no_retraining()]
        requested = decided >> request_retraining()

        xcom = "ti.xcom_pull(task_ids='" + m.REQUEST_RETRAINING + "')"
        requested >> TriggerDagRunOperator(
            task_id=m.TRIGGER_RETRAINING,
            trigger_dag_id=d.retrain_dag_id(name),
            trigger_run_id="{{ " + xcom + "['retrain_run_id'] }}",
            conf={key: "{{ " + xcom + f"['conf']['{key}'] }}}}" for key in TRIGGER_CONF_KEYS},
            skip_when_already_exists=True,
        )

    return monitor()


for _config in load_catalog().models.values():
    globals()[f"modelcare_monitor_{_config.name}"] = monitoring_dag(_config)
