"""The body of ``modelcare_catalog_check.py``: turn broken model configs into one DAG import error.

Airflow shows a DAG file's import error in the 'DAG Import Errors' banner, which is where a person
editing ``include/models/`` looks. The DAG files that build the models' DAGs skip broken configs (one
bad file never takes the other models down), so the errors are raised here, by a file of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.modelcare.config.catalog import load_catalog
from include.modelcare.errors import ConfigError
from include.modelcare.tasks.boundary import task_boundary

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig


def check_catalog() -> None:
    """Raise ``ConfigError`` listing every invalid model config (file and field); nothing when all load."""
    errors = load_catalog().errors
    if errors:
        raise ConfigError(
            f"{len(errors)} invalid model config(s); their DAGs are not built:\n" + "\n".join(sorted(errors.values()))
        )


def deep_problems(config: ModelConfig) -> list[str]:
    """Checks too heavy for DAG parsing (house rule 2), as ``field: message`` lines; empty when all pass.

    - ``schedules.*``: built as the timetable Airflow builds from the string (``CronTriggerTimetable``,
      Airflow 3's default for cron strings) and validated by it, in the model's timezone;
    - ``training.params``: checked against the estimator's signature and a fit on synthetic rows
      (``ml.training.validate_params``, which imports scikit-learn).
    """
    from airflow.sdk import CronTriggerTimetable

    from include.modelcare.errors import InvalidHyperparameters
    from include.modelcare.ml.training import validate_params

    problems = []
    for field, expression in (
        ("schedules.monitoring", config.schedules.monitoring),
        ("schedules.retraining", config.schedules.retraining),
    ):
        if expression is None or expression in ("@once", "@continuous"):
            continue
        try:
            CronTriggerTimetable(expression, timezone=config.schedules.timezone).validate()
        except Exception as exc:  # AirflowTimetableInvalid, or a timezone the timetable refuses
            problems.append(f"{field}: {expression!r}: {exc}")
    try:
        validate_params(config)
    except InvalidHyperparameters as exc:
        problems.append(f"training.params: {exc}")
    return problems


@task_boundary
def check_models() -> dict[str, int]:
    """Run ``deep_problems`` for every valid model; ``ConfigError`` naming file and field for each problem."""
    from include.modelcare.config.catalog import config_files, load_model_config
    from include.modelcare.errors import ConfigProblems

    problems: dict[str, list[str]] = {}
    checked = 0
    for path in config_files():
        try:
            config = load_model_config(path)
        except ConfigError:
            continue  # reported at parse time by check_catalog (the DAG import error banner)
        checked += 1
        found = deep_problems(config)
        if found:
            problems[config.name] = [f"{path}: {line}" for line in found]
    if problems:
        lines = [line for found in problems.values() for line in found]
        raise ConfigProblems(f"{len(lines)} model config problem(s):\n" + "\n".join(lines), problems=problems)
    return {"models": checked, "problems": 0}
