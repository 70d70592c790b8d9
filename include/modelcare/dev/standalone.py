"""``airflow standalone`` without its two log servers, which listen on every interface.

Airflow 3.3.2's ``serve_logs`` binds ``host=""`` (all interfaces; no setting changes it) on
``[logging] worker_log_server_port`` (8793, started by the scheduler for LocalExecutor) and
``[logging] trigger_log_server_port`` (8794, started by the triggerer). They exist so that an API
server on another machine can read a worker's log files. Under standalone every component shares
``$AIRFLOW_HOME/logs``, which the API server reads directly, so ``make up`` runs the scheduler and
the triggerer with their own ``--skip-serve-logs`` flag instead. (While a task runs, its log view
lists "Could not read served logs" among the sources and shows the local file.)

Run as ``python -m include.modelcare.dev.standalone``: the same as ``airflow standalone``
otherwise (Airflow's own CLI entry point runs it, after one class is swapped).
"""

from __future__ import annotations

import sys
from typing import Any

SKIP_SERVE_LOGS = ("scheduler", "triggerer")  # the standalone components that start a log server


def without_log_server(command: list[str]) -> list[str]:
    """An ``airflow`` sub-command line, with ``--skip-serve-logs`` for those that would serve logs."""
    if command[:1] and command[0] in SKIP_SERVE_LOGS and "--skip-serve-logs" not in command:
        return [*command, "--skip-serve-logs"]
    return command


def install() -> None:
    """Make ``StandaloneCommand`` start its components through ``without_log_server``.

    ``StandaloneCommand.run`` builds each component as ``SubCommand(parent, name, command, env)``
    from this module global, so replacing it is the one seam (checked by tests/unit/dev/test_up.py).
    """
    from airflow.cli.commands import standalone_command

    original = standalone_command.SubCommand
    if getattr(original, "modelcare_without_log_server", False):
        return

    class SubCommand(original):  # type: ignore[misc,valid-type]
        modelcare_without_log_server = True

        def __init__(self, parent: Any, name: str, command: list[str], env: dict[str, str]) -> None:
            super().__init__(parent, name, without_log_server(command), env)

    standalone_command.SubCommand = SubCommand  # type: ignore[misc]


def main() -> None:
    """``airflow standalone`` through Airflow's CLI, after ``install``."""
    install()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "standalone"]
    airflow_main()


if __name__ == "__main__":
    main()
