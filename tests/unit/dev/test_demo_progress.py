"""``make demo`` progress: step lines, a heartbeat after silence naming the step and task, and task timings."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.modelcare.dev.progress import Progress, TaskTime

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture
def out(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "terminal.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    yield path, fd
    os.close(fd)


def test_a_heartbeat_names_the_step_and_the_running_task_after_silence(out: tuple[Path, int]) -> None:
    path, fd = out
    clock = Clock()
    progress = Progress(every=10, fd=fd, clock=clock)
    progress._fd = os.dup(fd)  # entered without the thread: beats are driven by hand
    progress.step("  monitoring weeks 1-3 and training the first model ...")
    clock.now += 9
    assert not progress.beat()  # 9 s of silence: nothing yet
    progress.task_started("modelcare_monitor_m", "measure_drift")
    clock.now += 3
    assert progress.beat()
    clock.now += 4
    assert not progress.beat()  # the heartbeat itself restarts the count
    progress.task_finished("modelcare_monitor_m", "measure_drift", "success")
    progress.run_done("modelcare_monitor_m", "2026-10-12T06:00:00+00:00", 16.4, "week 1/8 (2026-10-12) monitored", 7)
    clock.now += 10
    assert progress.beat()
    progress.close()
    assert _lines(path) == [
        "  monitoring weeks 1-3 and training the first model ...",
        "    ... still monitoring weeks 1-3 and training the first model (12 s; measure_drift running 3 s)",
        "    week 1/8 (2026-10-12) monitored: done in 16 s (7 tasks ran)",
        "    ... still monitoring weeks 1-3 and training the first model (26 s)",
    ]
    assert progress.tasks == [TaskTime("modelcare_monitor_m", "measure_drift", "success", 7.0)]


def test_the_heartbeat_thread_writes_to_the_terminal_it_started_on(out: tuple[Path, int], tmp_path: Path) -> None:
    """fd 1 may be sent to the task log meanwhile: the progress keeps its own copy of the terminal."""
    path, fd = out
    with Progress(every=0.2, fd=fd) as progress:
        progress.step("  deploying v0001 ...")
        log = os.open(tmp_path / "log.txt", os.O_WRONLY | os.O_CREAT)
        os.dup2(log, fd)  # what the demo's _output_to does to fd 1
        os.close(log)
        deadline = time.monotonic() + 10
        while len(_lines(path)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = _lines(path)
    assert lines[0] == "  deploying v0001 ..."
    assert len(lines) >= 3 and all(line.startswith("    ... still deploying v0001 (") for line in lines[1:])
    assert (tmp_path / "log.txt").read_text() == ""
    progress.close()  # closing twice is fine


def test_task_and_run_seconds_are_written_as_a_table(tmp_path: Path) -> None:
    clock = Clock()
    progress = Progress(clock=clock)
    progress.task_started("modelcare_retrain_m", "train_candidate")
    clock.now += 5.25
    progress.task_finished("modelcare_retrain_m", "train_candidate", "success")
    progress.task_finished("modelcare_retrain_m", "never_started", "skipped")  # no start seen: no time
    progress.runs.append(("modelcare_retrain_m", "2026-10-26T07:00:00+00:00", 16.0))
    progress.write_seconds(tmp_path / "task-seconds.tsv")
    assert _lines(tmp_path / "task-seconds.tsv") == [
        "dag_id\ttask_id\tstate_or_run\tseconds",
        "modelcare_retrain_m\ttrain_candidate\tsuccess\t5.25",
        "modelcare_retrain_m\t-\t2026-10-26T07:00:00+00:00\t16.00",
    ]
