"""The single error boundary: domain errors fail without retries (message kept, cause kept), the rest retries."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.modelcare.errors import DataError, ModelcareError, ValidationFailed
from include.modelcare.tasks.boundary import TaskFailed, boundary, task_boundary

pytestmark = pytest.mark.unit


def test_a_domain_error_fails_the_task_with_its_message_and_cause() -> None:
    notes: list[str] = []
    error = ValidationFailed("batch 2026-03-02 failed: 2 of 34 checks", summary={"rows": 10})
    with pytest.raises(TaskFailed) as raised, boundary("validate_batch", note=notes.append):
        raise error
    assert isinstance(raised.value, AirflowFailException)  # Airflow: fail now, no retries
    assert str(raised.value) == "validate_batch: batch 2026-03-02 failed: 2 of 34 checks"
    assert raised.value.__cause__ is error
    assert notes == [str(raised.value)]


def test_an_infrastructure_error_propagates_unchanged_for_airflows_retries() -> None:
    notes: list[str] = []
    with pytest.raises(ConnectionResetError), boundary("measure_drift", note=notes.append):
        raise ConnectionResetError("peer reset")
    assert notes == []


def test_extra_domain_types_count_as_final_for_that_step() -> None:
    with (
        pytest.raises(TaskFailed, match="deploy_endpoint: refused"),
        boundary("deploy_endpoint", domain=(LookupError,)),
    ):
        raise LookupError("refused")


@pytest.mark.parametrize("control", [AirflowSkipException("nothing new"), AirflowFailException("final")])
def test_airflow_control_flow_passes_through(control: Exception) -> None:
    with pytest.raises(type(control)) as raised, boundary("step"):
        raise control
    assert raised.value is control


def test_the_decorator_names_the_step_after_the_function() -> None:
    @task_boundary
    def assemble_training_set(rows: int) -> int:
        if rows < 2:
            raise DataError(f"{rows} batch(es); need at least 2")
        return rows

    assert assemble_training_set(3) == 3
    with pytest.raises(TaskFailed, match=r"^assemble_training_set: 1 batch\(es\); need at least 2$"):
        assemble_training_set(1)
    assert assemble_training_set.__name__ == "assemble_training_set"
    assert issubclass(DataError, ModelcareError)
