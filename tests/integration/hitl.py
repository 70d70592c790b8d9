"""Answer a human-in-the-loop task from a background thread, as Airflow's API would (tests only).

``dag.test()`` waits forever on an approval task (the timeout is applied by the scheduler), so a
test answers it the way the Required Actions page does: record the response on the HITLDetail row
and resume the task instance with ``handle_event_submit``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Answer:
    """The outcome of an answering thread."""

    answered: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def answer_when_waiting(
    dag_id: str, run_id: str, task_id: str, option: str, *, user: str = "reviewer", timeout: float = 180
) -> Answer:
    """Start a thread that answers ``task_id`` of this run with ``option`` once it waits for input."""
    answer = Answer()

    def _answer() -> None:
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.sdk import timezone
        from airflow.triggers.base import TriggerEvent
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select

        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                with create_session() as session:
                    ti = session.scalar(
                        select(TaskInstance).where(
                            TaskInstance.dag_id == dag_id,
                            TaskInstance.run_id == run_id,
                            TaskInstance.task_id == task_id,
                        )
                    )
                    # Answer only once the task is parked in awaiting_input: answering while it is still
                    # running races its own state change and leaves dag.test() waiting forever.
                    waiting = ti is not None and ti.state == TaskInstanceState.AWAITING_INPUT
                    detail = session.get(HITLDetail, ti.id) if waiting and ti is not None else None
                    if ti is not None and detail is not None and detail.responded_at is None:
                        detail.chosen_options = [option]
                        detail.responded_at = timezone.utcnow()
                        detail.responded_by = {"id": user, "name": user}
                        session.flush()
                        handle_event_submit(
                            TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
                        )
                        session.commit()
                        answer.answered.set()
                        _watch_until_finished(dag_id, run_id, task_id, deadline)
                        return
                time.sleep(0.5)
            raise TimeoutError(f"{dag_id}/{run_id}/{task_id} never waited for input within {timeout}s")
        except BaseException as exc:  # reported to the test, never swallowed
            answer.error = exc
            _fail_waiting_task(dag_id, run_id, task_id)

    threading.Thread(target=_answer, name=f"answer-{task_id}", daemon=True).start()
    return answer


def _fail_waiting_task(dag_id: str, run_id: str, task_id: str) -> None:
    """Fail the waiting task so dag.test() returns instead of waiting forever."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
            .values(state=TaskInstanceState.FAILED)
        )
        session.commit()


def _watch_until_finished(dag_id: str, run_id: str, task_id: str, deadline: float) -> None:
    """After answering, fail the task if it has not finished by the deadline (never hang a test)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    finished = {TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED}
    while time.monotonic() < deadline:
        with create_session() as session:
            state = session.scalar(
                select(TaskInstance.state).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
                )
            )
        if state in finished:
            return
        time.sleep(0.5)
    _fail_waiting_task(dag_id, run_id, task_id)
    raise TimeoutError(f"{dag_id}/{run_id}/{task_id} did not finish after it was answered")
