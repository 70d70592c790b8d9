"""The model catalog's own checks, in two places a person editing ``include/models/`` looks.

1. At parse time, broken configs (schema, cron syntax, floors outside a metric's range, unsafe prefixes,
   duplicate keys) become this file's DAG import error: the 'DAG Import Errors' banner names file and
   field. The broken models get no DAGs at all; the other models' DAGs are built regardless.
2. ``modelcare_catalog_check`` (daily, or triggered by hand after an edit) runs what is too heavy for
   parsing: each schedule as the timetable Airflow builds, and each model's hyperparameters against its
   estimator (scikit-learn). It fails listing file and field of every problem.

Wiring only: the bodies are ``include.modelcare.tasks.catalog``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import dag, task

from include.modelcare.operators.alerts import CatalogCheckAlert
from include.modelcare.operators.defaults import catalog_dag_kwargs
from include.modelcare.tasks.catalog import check_catalog, check_models

check_catalog()

DOC = """
### Model catalog check

Runs the checks that DAG parsing is too light for, for every model config in the catalog:
each `schedules.*` built as Airflow's `CronTriggerTimetable` in the model's timezone, and
`training.params` checked against the estimator's signature and a fit on synthetic rows.
The same checks run in `modelcare check-config`. Broken files (schema errors) are reported
as this file's DAG import error instead, and get no DAGs.
"""


@dag(
    **catalog_dag_kwargs(
        "modelcare_catalog_check",
        schedule="@daily",
        description="Deep checks of every model config (timetables, hyperparameters)",
        doc_md=DOC,
        tag="catalog",
        on_failure=CatalogCheckAlert(),
        retry_delay=dt.timedelta(minutes=5),
    )
)
def modelcare_catalog_check() -> None:
    @task
    def check_model_configs(**context: Any) -> dict[str, int]:
        return check_models()

    check_model_configs()


modelcare_catalog_check()
