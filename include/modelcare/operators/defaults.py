"""What every generated modelcare DAG shares: ids, schedule window, owner, retries, tags, failure alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from include.modelcare.config.schema import ModelConfig
from include.modelcare.operators.alerts import TaskFailureAlert

JOB_TAGS = {"monitor": "monitoring", "retrain": "retraining", "deploy": "deployment"}


def dag_id(job: str, model: str) -> str:
    """``modelcare_<job>_<model>``, e.g. modelcare_monitor_customer_churn."""
    return f"modelcare_{job}_{model}"


def dag_kwargs(config: ModelConfig, job: str, *, schedule: str | None, description: str, doc_md: str) -> dict[str, Any]:
    """Keyword arguments of ``@dag`` for one model's job (no catch-up, one active run, task-level alerts)."""
    start = dt.datetime.combine(config.schedules.start_date, dt.time(), tzinfo=ZoneInfo(config.schedules.timezone))
    return {
        "dag_id": dag_id(job, config.name),
        "description": description,
        "schedule": schedule,
        "start_date": start,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["modelcare", JOB_TAGS[job], config.name, *config.airflow.tags],
        "doc_md": doc_md,
        "default_args": {
            "owner": config.airflow.owner,
            "retries": config.airflow.retries,
            "retry_delay": dt.timedelta(minutes=config.airflow.retry_delay_minutes),
            # Task-level, not DAG-level: a DAG-level notifier crashes under dag.test() (apache/airflow#64649).
            "on_failure_callback": [TaskFailureAlert(config.name)],
        },
    }


CATALOG_OWNER = "ml-platform"
"""Owner of the DAGs that serve the whole catalog (not one model): the catalog check, incident actions."""


def catalog_dag_kwargs(
    dag_id: str,
    *,
    schedule: str | None,
    description: str,
    doc_md: str,
    tag: str,
    on_failure: Any,
    retry_delay: dt.timedelta,
) -> dict[str, Any]:
    """Keyword arguments of ``@dag`` for a catalog-wide DAG: the same house rules as the per-model ones
    (no catch-up, one active run, an owner, retries, a task-level failure alert)."""
    return {
        "dag_id": dag_id,
        "description": description,
        "schedule": schedule,
        "start_date": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["modelcare", tag],
        "doc_md": doc_md,
        "default_args": {
            "owner": CATALOG_OWNER,
            "retries": 1,
            "retry_delay": retry_delay,
            # Task-level, not DAG-level: a DAG-level notifier crashes under dag.test() (apache/airflow#64649).
            "on_failure_callback": [on_failure],
        },
    }
