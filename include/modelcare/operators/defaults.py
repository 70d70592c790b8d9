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
