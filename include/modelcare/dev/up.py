"""``make up``: the embedded stack, the demo's history, and ``airflow standalone`` with this bundle.

Runs the demo scenario (so the Model Registry page and the DAG runs have real history), then starts
``airflow standalone`` on the same metadata DB and the same emulator, unpauses the sample model's
DAGs, prints the URL and the login, and stops everything on Ctrl-C. State lives in ``.up/``.

It listens on 127.0.0.1 only: the API server (``[api] host``, Airflow's default is 0.0.0.0) and no
log servers at all (see ``dev/standalone.py``), since whoever reaches the UI can log in with the
printed password or read the logs. ``--host 0.0.0.0`` (``make up HOST=0.0.0.0``) opens the UI to
the network, with a warning.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from include.modelcare.dev.demo import MODEL, REPO
from include.modelcare.dev.demo import main as run_demo

STATE = REPO / ".up"
PORT = int(os.environ.get("MODELCARE_UP_PORT") or 8080)
LOOPBACK = "127.0.0.1"
_WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1): not reachable from another machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to ``host`` (bracketed if IPv6)."""
    if host in _WILDCARDS:
        return LOOPBACK
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def exposure_warning(host: str, port: int) -> str | None:
    """The warning to print when ``host`` is not loopback (None when it is)."""
    if is_loopback(host):
        return None
    where = "every interface" if host in _WILDCARDS else host
    return (
        f"WARNING: Airflow will listen on {where}, port {port}: anyone who can reach this machine can open the UI "
        "and the API, and the admin login make up prints gives full control. Use --host 127.0.0.1 unless "
        "this network is trusted."
    )


def standalone_env(
    port: int,
    host: str = LOOPBACK,
    base: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of ``airflow standalone``: ``base`` (default ``os.environ``), then ours, then ``extra_env``.

    ``AIRFLOW__API__HOST`` is always ours (a stray 0.0.0.0 in the caller's environment does not
    open the UI); the log servers are off rather than bound (``dev/standalone.py``).
    """
    public = "localhost" if host in _WILDCARDS or is_loopback(host) else url_host(host)
    base = os.environ if base is None else base
    return {
        **base,
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://{public}:{port}",
        # standalone starts its components as `airflow ...`: this virtualenv's bin first
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}",
        **(extra_env or {}),
    }


def standalone_command() -> list[str]:
    """``airflow standalone`` whose scheduler and triggerer serve no logs (``dev/standalone.py``)."""
    return [sys.executable, "-m", "include.modelcare.dev.standalone"]


class Standalone:
    """``airflow standalone`` as a child process group on ``host:port`` (used by ``make up`` and the browser tests)."""

    def __init__(
        self, port: int, log_path: Path, extra_env: dict[str, str] | None = None, host: str = LOOPBACK
    ) -> None:
        self.port = port
        self.host = host
        self.url = f"http://{url_host(host)}:{port}"
        self.log_path = log_path
        self.env = standalone_env(port, host, extra_env=extra_env)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300) -> Standalone:
        """Start it and wait until the API answers (``RuntimeError``/``TimeoutError`` with the log's tail)."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                standalone_command(),
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


def serve_airflow(stack: Any, host: str = LOOPBACK) -> None:
    """Start ``airflow standalone`` against the running stack; block until Ctrl-C, then stop it."""
    forget_queued_runs()
    log_path = STATE / "standalone.log"
    airflow = Standalone(
        PORT,
        log_path,
        {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"},
        host=host,
    )
    public = airflow.env["AIRFLOW__API__BASE_URL"]
    print(f"\nstarting airflow standalone on {public} (log: {log_path}) ...", flush=True)
    warning = exposure_warning(host, PORT)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        airflow.start()
        for job in ("monitor", "retrain", "deploy"):
            subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "unpause", f"modelcare_{job}_{MODEL}"],
                env=airflow.env,
                capture_output=True,
                check=False,
            )
        print(f"\nAirflow UI:      {public}   (login: admin / {airflow.admin_password()})")
        print(f"Model Registry:  {public}/plugin/modelcare  (Browse -> Model Registry)")
        print(f"AWS emulator:    {stack.endpoint_url}   SMTP sink: 127.0.0.1:{stack.smtp_port} -> {stack.mail_dir}")
        if warning:
            print(warning, file=sys.stderr)
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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``--host``: the address the API server binds (default 127.0.0.1, this machine only)."""
    parser = argparse.ArgumentParser(
        prog="make up", description="The demo's history, then airflow standalone with this bundle; Ctrl-C stops it."
    )
    parser.add_argument(
        "--host",
        default=LOOPBACK,
        help="address the Airflow API server listens on (default %(default)s; 0.0.0.0 = every interface, with a "
        "warning: the UI's admin password is printed)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Demo history first, then the UI."""
    args = parse_args(argv)
    os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
    return run_demo(state=STATE, then=functools.partial(serve_airflow, host=args.host))


if __name__ == "__main__":
    sys.exit(main())
