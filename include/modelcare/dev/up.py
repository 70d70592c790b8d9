"""``make up``: the embedded stack, the demo's history, and ``airflow standalone`` with this bundle.

Runs the demo scenario (so the Model Registry page and the DAG runs have real history), then starts
``airflow standalone`` on the same metadata DB and the same emulator, unpauses the sample model's
DAGs, prints the URL and the login, and stops everything on Ctrl-C. State lives in ``.up/``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from include.modelcare.dev.demo import MODEL, REPO
from include.modelcare.dev.demo import main as run_demo

STATE = REPO / ".up"
PORT = int(os.environ.get("MODELCARE_UP_PORT") or 8080)


class Standalone:
    """``airflow standalone`` as a child process group on ``port`` (used by ``make up`` and the browser tests)."""

    def __init__(self, port: int, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            # standalone starts its components as `airflow ...`: this virtualenv's bin first
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300) -> Standalone:
        """Start it and wait until the API answers (``RuntimeError``/``TimeoutError`` with the log's tail)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "standalone"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: stop() ends every component
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.proc.returncode}: {self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/version", timeout=3) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(2)
        self.stop()
        raise TimeoutError(f"airflow standalone did not answer within {timeout:.0f} s: {self._tail()}")

    def _tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def admin_password(self) -> str:
        """The password SimpleAuthManager generated for ``admin``."""
        home = Path(self.env["AIRFLOW_HOME"])
        return str(json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"])

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def forget_queued_runs() -> int:
    """Delete the runs other DAGs queued during the demo: the demo already ran each one with dag.test()."""
    from airflow.models.dagrun import DagRun
    from airflow.settings import Session as make_session
    from airflow.utils.state import DagRunState

    assert make_session is not None, "Airflow's ORM is not configured"
    with make_session() as session:
        queued = session.query(DagRun).filter(DagRun.state == DagRunState.QUEUED).all()
        for run in queued:
            session.delete(run)
        session.commit()
    return len(queued)


def serve_airflow(stack: Any) -> None:
    """Start ``airflow standalone`` against the running stack; block until Ctrl-C, then stop it."""
    forget_queued_runs()
    log_path = STATE / "standalone.log"
    print(f"\nstarting airflow standalone on http://localhost:{PORT} (log: {log_path}) ...", flush=True)
    airflow = Standalone(
        PORT,
        log_path,
        {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"},
    )
    try:
        airflow.start()
        for job in ("monitor", "retrain", "deploy"):
            subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "unpause", f"modelcare_{job}_{MODEL}"],
                env=airflow.env,
                capture_output=True,
                check=False,
            )
        print(f"\nAirflow UI:      http://localhost:{PORT}   (login: admin / {airflow.admin_password()})")
        print(f"Model Registry:  http://localhost:{PORT}/plugin/modelcare  (Browse -> Model Registry)")
        print(f"AWS emulator:    {stack.endpoint_url}   SMTP sink: 127.0.0.1:{stack.smtp_port} -> {stack.mail_dir}")
        print("Ctrl-C stops Airflow and the emulator.", flush=True)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())  # Airflow's imports replace the default handlers
        while airflow.proc is not None and airflow.proc.poll() is None and not stop.wait(1):
            pass
        print("\nstopping ...", flush=True)
    finally:
        airflow.stop()
    print("stopped.")


def main() -> int:
    """Demo history first, then the UI."""
    os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
    return run_demo(state=STATE, then=serve_airflow)


if __name__ == "__main__":
    sys.exit(main())
