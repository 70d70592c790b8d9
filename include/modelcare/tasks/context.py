"""What a task needs to know about its Airflow run, read once from the task context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore


def airflow_base_url() -> str:
    """The Airflow UI's base URL from ``[api] base_url`` (default http://localhost:8080)."""
    try:
        from airflow.configuration import conf

        return str(conf.get("api", "base_url", fallback="http://localhost:8080")).rstrip("/")
    except Exception:  # outside an Airflow installation
        return "http://localhost:8080"


def run_url(dag_id: str, run_id: str) -> str:
    """Link to a DAG run in the Airflow 3 UI."""
    return f"{airflow_base_url()}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def parse_day(value: str | dt.date | dt.datetime) -> dt.date:
    """A batch date from 'YYYY-MM-DD', a date or a datetime; ValueError with the bad value otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValueError(f"batch date {value!r} is not a date (expected YYYY-MM-DD)") from None


@dataclass(frozen=True)
class RunInfo:
    """Identity of the run (for links, lineage and idempotency keys) and the batch date it covers."""

    dag_id: str
    run_id: str
    day: dt.date
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def run_url(self) -> str:
        return run_url(self.dag_id, self.run_id)

    @classmethod
    def from_context(cls, context: Mapping[str, Any], timezone: str = "UTC") -> RunInfo:
        """Batch date = the ``batch_date`` param when given, else the logical date (or run_after) in ``timezone``."""
        from zoneinfo import ZoneInfo

        params = dict(context.get("params") or {})
        dag_run = context.get("dag_run")
        dag = context.get("dag")
        dag_id = getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", "unknown")
        run_id = str(context.get("run_id") or getattr(dag_run, "run_id", "unknown"))
        when = params.get("batch_date") or context.get("logical_date") or getattr(dag_run, "run_after", None)
        if when is None:
            when = dt.datetime.now(dt.UTC)
        if isinstance(when, dt.datetime) and when.tzinfo is not None:
            when = when.astimezone(ZoneInfo(timezone))
        return cls(dag_id=str(dag_id), run_id=run_id, day=parse_day(when), params=params)


def task_setup(model: str, context: Mapping[str, Any]) -> tuple[ModelConfig, RunInfo, ObjectStore]:
    """What every task body starts with: the model's config, its run, and S3 through the Airflow connection."""
    from include.modelcare.config.catalog import get_model_config
    from include.modelcare.storage.objects import ObjectStore, hook_s3_client

    config = get_model_config(model)
    run = RunInfo.from_context(context, config.schedules.timezone)
    return config, run, ObjectStore(hook_s3_client(config.airflow.aws_conn_id))
