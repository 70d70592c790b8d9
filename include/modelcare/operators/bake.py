"""``BakeOperator``: watch the alarms for the bake period without holding a worker slot.

No provider operator watches CloudWatch alarms for a while and then succeeds, so this one is ours: it
checks (``tasks.deploy_steps.bake_check``, which reads the alarms and bake time from the run's plan),
then defers to the triggerer with a ``DateTimeTrigger`` until the next check, and resumes. Between
checks the task occupies no worker slot.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import BaseOperator


class BakeOperator(BaseOperator):
    """Succeed after ``bake_seconds`` with no configured alarm in ALARM; fail as soon as one fires."""

    ui_color = "#f5d76e"

    def __init__(self, *, model_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name

    def execute(self, context: Any) -> dict[str, Any]:
        return self._check(context)

    def resume(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Called by Airflow when the trigger fires."""
        return self._check(context)

    def _check(self, context: Any) -> dict[str, Any]:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        from include.modelcare.tasks.deploy_steps import bake_check

        status = bake_check(self.model_name, context)
        if status["done"]:
            return status
        self.defer(
            trigger=DateTimeTrigger(moment=dt.datetime.fromisoformat(status["next_check"])),
            method_name="resume",
        )
        raise AssertionError("defer() does not return")  # pragma: no cover
