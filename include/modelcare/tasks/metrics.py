"""The task bodies that publish modelcare's figures to CloudWatch: a monitoring run's batch metrics and a
finished deployment's serving version (``metrics.cloudwatch`` builds the datapoints, ``metrics.publish``
sends each exactly once).

The monitoring task runs after validate_batch, measure_drift and check_performance, also when validation
failed (``ValidationPassed`` 0 is the figure people alarm on), and reads what they left: their XComs, the
drift summary their XCom points at, or the quarantine's ``_REASON.json`` when validation failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from include.modelcare.tasks.boundary import task_boundary
from include.modelcare.tasks.context import task_setup
from include.modelcare.tasks.monitoring import CHECK_PERFORMANCE, MEASURE_DRIFT, VALIDATE_BATCH

if TYPE_CHECKING:
    import datetime as dt

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore
    from include.modelcare.tasks.context import RunInfo

log = logging.getLogger(__name__)

PUBLISH_METRICS: Final = "publish_metrics"


def _validation(config: ModelConfig, day: dt.date, store: ObjectStore, context: Mapping[str, Any]) -> Any:
    """validate_batch's summary; after a failed validation the quarantine's reason (None: no verdict at all)."""
    summary = context["ti"].xcom_pull(task_ids=VALIDATE_BATCH)
    if summary:
        return summary
    reason = config.paths.quarantine(day) + "_REASON.json"
    return store.read_json(reason) if store.exists(reason) else None


@task_boundary
def publish_metrics(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Publish the batch's figures (validation, rows, drift, realised and estimated performance) once each."""
    from include.modelcare.metrics.cloudwatch import batch_measures
    from include.modelcare.metrics.publish import batch_marker, cloudwatch_client, publish_once

    config, run, store = task_setup(model, context)
    if not config.metrics.cloudwatch:
        log.info("metrics.cloudwatch is off for %s: nothing published", config.name)
        return {"status": "disabled"}
    ti = context["ti"]
    drift = ti.xcom_pull(task_ids=MEASURE_DRIFT)
    measures = batch_measures(
        config.name,
        run.day,
        validation=_validation(config, run.day, store, context),
        drift=store.read_json(drift["report_json"]) if drift else None,  # the summary keeps every column's score
        performance=ti.xcom_pull(task_ids=CHECK_PERFORMANCE),
        top_features=config.drift.top_features,
    )
    client = cloudwatch_client(config.airflow.aws_conn_id)
    marked = [(batch_marker(config, m), m) for m in measures]
    outcome = publish_once(client, store, config.metrics.namespace, marked, by=_by(run))
    return {"status": "published", "namespace": config.metrics.namespace, **outcome.to_dict()}


def publish_serving_version(
    config: ModelConfig, store: ObjectStore, run: RunInfo, version: int, aws_conn_id: str
) -> None:
    """``ServingVersion`` of a finished deployment, once per deployment run (marker in the run's folder)."""
    if not config.metrics.cloudwatch:
        return
    from include.modelcare.metrics.cloudwatch import serving_measure
    from include.modelcare.metrics.publish import cloudwatch_client, publish_once
    from include.modelcare.tasks.deploy_common import run_folder

    measure = serving_measure(config.name, version)
    marker = f"{run_folder(config, run)}metrics/{measure.marker_name}.r{measure.revision}.json"
    publish_once(cloudwatch_client(aws_conn_id), store, config.metrics.namespace, [(marker, measure)], by=_by(run))


def _by(run: RunInfo) -> dict[str, str]:
    return {"dag_id": run.dag_id, "run_id": run.run_id}
