"""Progress lines for long dev runs (``make demo``, ``make up``): a silent terminal looks like a hang.

Why: the demo runs every DAG with ``dag.test()``, whose task logs go to ``.demo/dag-runs.log``, so
a step (the first retraining, a deployment with its bake) can print nothing for minutes on a busy
machine. ``Progress`` writes the demo's own step lines and, whenever ``every`` seconds pass without
one, a heartbeat naming the step and the task running now (told by an Airflow task listener, see
``task_listener``), so the terminal shows a line at least every ``every`` seconds.

It writes to its own duplicate of the terminal's stdout taken at start, so its lines reach the
terminal while the demo sends fd 1/2 to the task log. Each finished task's seconds are kept in
``tasks`` (the demo writes them to ``.demo/task-seconds.tsv``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True)
class TaskTime:
    """One task run the listener saw: which DAG and task, how it ended, and its wall seconds."""

    dag_id: str
    task_id: str
    state: str
    seconds: float


class Progress:
    """Step lines plus a heartbeat after ``every`` seconds of silence (``with Progress() as p:``)."""

    def __init__(
        self,
        *,
        every: float = HEARTBEAT_SECONDS,
        fd: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every = every
        self.tasks: list[TaskTime] = []
        self.runs: list[tuple[str, str, float]] = []  # dag_id, logical date, wall seconds
        self._source_fd = sys.stdout.fileno() if fd is None else fd
        self._fd: int | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        now = clock()
        self._step, self._step_started, self._last = "starting", now, now
        self._task: tuple[str, float] | None = None

    def __enter__(self) -> Progress:
        sys.stdout.flush()
        self._fd = os.dup(self._source_fd)
        self._thread = threading.Thread(target=self._beat_loop, name="demo-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the heartbeat (the summary that follows is the demo's own output)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- what the demo says ---------------------------------------------------------------------------

    def step(self, line: str) -> None:
        """Print ``line`` and make it the step the heartbeat names (its text without indent and ``...``)."""
        with self._lock:
            self._step = line.strip().removesuffix("...").strip()
            self._step_started = self._clock()
            self._write(line)

    def note(self, line: str) -> None:
        """Print ``line`` (progress inside the current step) and restart the silence count."""
        with self._lock:
            self._write(line)

    def run_done(self, dag_id: str, when: str, seconds: float, what: str, ran: int) -> None:
        """A DAG run ended: note it (``week 2/8 (...) monitored: done in 12 s (9 tasks ran)``) and keep its time."""
        self.runs.append((dag_id, when, seconds))
        self.note(f"    {what}: done in {seconds:.0f} s ({ran} tasks ran)")

    def write_seconds(self, path: Path) -> None:
        """Every task's wall seconds, then every run's (task ``-``): where the time went."""
        rows = [f"{t.dag_id}\t{t.task_id}\t{t.state}\t{t.seconds:.2f}" for t in self.tasks]
        rows += [f"{dag_id}\t-\t{when}\t{seconds:.2f}" for dag_id, when, seconds in self.runs]
        path.write_text("dag_id\ttask_id\tstate_or_run\tseconds\n" + "".join(row + "\n" for row in rows))

    # -- what the task listener says ------------------------------------------------------------------

    def task_started(self, dag_id: str, task_id: str) -> None:
        with self._lock:
            self._task = (task_id, self._clock())

    def task_finished(self, dag_id: str, task_id: str, state: str) -> None:
        with self._lock:
            started = self._task[1] if self._task is not None and self._task[0] == task_id else None
            self._task = None
            if started is not None:
                self.tasks.append(TaskTime(dag_id, task_id, state, self._clock() - started))

    # -- the heartbeat --------------------------------------------------------------------------------

    def beat(self) -> bool:
        """Print the heartbeat if ``every`` seconds passed without a line; True if it printed."""
        with self._lock:
            now = self._clock()
            if now - self._last < self.every:
                return False
            running = f"; {self._task[0]} running {now - self._task[1]:.0f} s" if self._task is not None else ""
            self._write(f"    ... still {self._step} ({now - self._step_started:.0f} s{running})")
            return True

    def _beat_loop(self) -> None:
        while not self._stop.wait(min(1.0, self.every / 4)):
            self.beat()

    def _write(self, line: str) -> None:  # the caller holds the lock
        self._last = self._clock()
        data = (line + "\n").encode()
        if self._fd is None:  # not entered: plain stdout
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            return
        while data:
            data = data[os.write(self._fd, data) :]


@contextlib.contextmanager
def task_listener(progress: Progress) -> Iterator[None]:
    """Tell ``progress`` which task ``dag.test()`` runs, through Airflow's task-instance listener hooks.

    ``dag.test()`` runs each task in this process, and the task runner calls the listeners registered
    with the Task SDK's listener manager when a task starts and ends; the listener only records names
    and times (it never touches the task or the DB).
    """
    from airflow.listeners import hookimpl
    from airflow.sdk.listener import get_listener_manager

    class _Listener:
        @hookimpl
        def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
            progress.task_started(task_instance.dag_id, task_instance.task_id)

        @hookimpl
        def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
            progress.task_finished(task_instance.dag_id, task_instance.task_id, "success")

        @hookimpl
        def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
            progress.task_finished(task_instance.dag_id, task_instance.task_id, "failed")

        @hookimpl
        def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
            progress.task_finished(task_instance.dag_id, task_instance.task_id, "skipped")

    manager = get_listener_manager()
    listener = _Listener()
    manager.add_listener(listener)
    try:
        yield
    finally:
        manager.pm.unregister(listener)
