"""The embedded default stack: AWS emulator (moto server mode) and an SMTP sink, in-process.

No cloud account and no Docker: ``DevStack`` serves S3, SNS, SQS, SageMaker, Lambda,
CloudWatch, IAM... on ``127.0.0.1`` through moto's ``ThreadedMotoServer`` and accepts
mail with aiosmtpd, saving every message as an ``.eml`` file (``mail``). ``bootstrap`` makes a
model's resources on it; ``serve`` is ``modelcare devstack``.

    with DevStack() as stack:
        os.environ.update(stack.env())   # Airflow connections + boto3 environment
        stack.bootstrap(config)          # bucket, SNS topic and an SQS inbox for it
        ...
        read_mails(stack.mail_dir)       # include.modelcare.dev.mail

Caveats of moto's server mode (moto 5.2.5):

- Its state is process-global: two ``DevStack`` in one process serve the same buckets and
  topics, and entering ``moto.mock_aws()`` anywhere in the process wipes that state.
- The account is always ``123456789012``.
- ``ThreadedMotoServer.start()`` waits forever when the port is taken; ``DevStack`` reports
  the error instead.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from include.modelcare.dev.bootstrap import DEFAULT_REGION, Bootstrapped, bootstrap
from include.modelcare.dev.mail import MailDirHandler, make_smtp_controller

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
# Fixed ports for ``serve()`` so that an ``env.sh`` stays valid across restarts (0 picks free ports).
DEFAULT_AWS_PORT = 5050
DEFAULT_SMTP_PORT = 2525
FAKE_KEY = "testing"
FAKE_SECRET = "testing"  # the emulator accepts any credentials


# -- the stack -------------------------------------------------------------------------------------------


def _make_moto_server(host: str, port: int) -> Any:
    """A ``ThreadedMotoServer`` whose ``start()`` raises when the server cannot bind (instead of hanging)."""
    from moto.server import ThreadedMotoServer

    class _MotoServer(ThreadedMotoServer):
        startup_error: BaseException | None = None

        def _server_entry(self) -> None:
            try:
                super()._server_entry()
            except BaseException as exc:  # werkzeug calls sys.exit(1) when the port is taken
                if self._server is None:
                    self.startup_error = exc
                    self._server_ready_event.set()
                else:
                    raise

        def start(self) -> None:
            super().start()
            if self.startup_error is not None:
                self._thread = None
                raise OSError(f"AWS emulator cannot listen on {host}:{port}: {self.startup_error!r} (port in use?)")

    return _MotoServer(ip_address=host, port=port, verbose=False)


class DevStack:
    """AWS emulator + SMTP sink on ``127.0.0.1``; a context manager (``start()``/``stop()`` also work)."""

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        aws_port: int = 0,
        smtp_port: int = 0,
        mail_dir: str | Path | None = None,
        quiet: bool = True,
    ) -> None:
        self.host = host
        self._aws_port_requested = aws_port
        self._smtp_port_requested = smtp_port
        self._mail_dir = Path(mail_dir) if mail_dir is not None else None
        self._quiet = quiet
        self._moto: Any = None
        self._smtp: Any = None
        self._aws_port: int | None = None
        self._smtp_port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> DevStack:
        """Start both servers (idempotent)."""
        if self.running:
            return self
        made_mail_dir = self._mail_dir is None
        if self._mail_dir is None:
            self._mail_dir = Path(tempfile.mkdtemp(prefix="modelcare-mail-"))
        self._mail_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_servers(self._mail_dir)
        except BaseException:
            if made_mail_dir:  # nothing was delivered: do not leave an empty temp dir behind
                shutil.rmtree(self._mail_dir, ignore_errors=True)
                self._mail_dir = None
            raise
        log.info(
            "dev stack up: AWS emulator %s, SMTP sink %s:%d -> %s",
            self.endpoint_url,
            self.host,
            self.smtp_port,
            self._mail_dir,
        )
        return self

    def _start_servers(self, mail_dir: Path) -> None:
        if self._quiet:
            # moto logs every request through werkzeug's logger, aiosmtpd every SMTP command through "mail.log".
            for noisy in ("werkzeug", "mail.log"):
                logging.getLogger(noisy).setLevel(logging.WARNING)

        moto_server = _make_moto_server(self.host, self._aws_port_requested)
        moto_server.start()
        self._moto = moto_server
        self._aws_port = int(moto_server.get_host_and_port()[1])
        from include.modelcare.dev import emulator

        emulator.install(f"http://{self.host}:{self._aws_port}")  # UpdateEndpoint, InvokeEndpoint, Lambda Invoke
        try:
            controller = make_smtp_controller(MailDirHandler(mail_dir), self.host, self._smtp_port_requested)
            controller.start()
        except BaseException:
            self._stop_moto()
            raise
        self._smtp = controller
        self._smtp_port = int(controller.port)

    def stop(self) -> None:
        """Stop both servers (idempotent)."""
        was_running = self._moto is not None or self._smtp is not None
        if self._smtp is not None:
            try:
                self._smtp.stop()
            finally:
                self._smtp = None
        self._stop_moto()
        if was_running:
            log.info("dev stack stopped")

    def _stop_moto(self) -> None:
        server = self._moto
        if server is None:
            return
        self._moto = None
        server.stop()
        inner = getattr(server, "_server", None)
        if inner is not None:  # ThreadedMotoServer.stop() leaves the listening socket open
            inner.server_close()

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- where it listens ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._moto is not None and self._smtp is not None

    def _require_running(self) -> None:
        if not self.running:
            raise RuntimeError("the dev stack is not running (call start() or use it as a context manager)")

    @property
    def aws_port(self) -> int:
        self._require_running()
        assert self._aws_port is not None
        return self._aws_port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the AWS emulator (every service on one port)."""
        return f"http://{self.host}:{self.aws_port}"

    @property
    def smtp_port(self) -> int:
        self._require_running()
        assert self._smtp_port is not None
        return self._smtp_port

    @property
    def mail_dir(self) -> Path:
        """Where the SMTP sink saves messages (one ``.eml`` file each)."""
        if self._mail_dir is None:
            raise RuntimeError("the dev stack has no mail directory until it starts")
        return self._mail_dir

    # -- configuration for clients -------------------------------------------------------------------
    def aws_connection(self) -> dict[str, Any]:
        """The Airflow ``aws`` connection (JSON form) pointing at the emulator."""
        return {
            "conn_type": "aws",
            "login": FAKE_KEY,
            "password": FAKE_SECRET,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": DEFAULT_REGION},
        }

    def smtp_connection(self, from_email: str = "modelcare@localhost") -> dict[str, Any]:
        """The Airflow ``smtp`` connection (JSON form): plain SMTP, no SSL, no STARTTLS, no login.

        The smtp provider reads ``disable_ssl``/``disable_tls`` with ``bool()``, so they must be JSON
        booleans (the string ``"false"`` would count as true); no login/password means no AUTH.
        """
        return {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.smtp_port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": from_email,
                "timeout": 10,
                "retry_limit": 1,
            },
        }

    def env(self) -> dict[str, str]:
        """Environment variables that point Airflow (connections) and boto3 at this stack."""
        return {
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(self.aws_connection()),
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(self.smtp_connection()),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
        }

    def client(self, service_name: str, region_name: str = DEFAULT_REGION) -> Any:
        """A boto3 client for one service of the emulator (independent of the process environment)."""
        import boto3

        return boto3.client(
            service_name,
            endpoint_url=self.endpoint_url,
            region_name=region_name,
            aws_access_key_id=FAKE_KEY,
            aws_secret_access_key=FAKE_SECRET,
        )

    def bootstrap(self, config: ModelConfig) -> Bootstrapped:
        """``bootstrap(config)`` against this stack."""
        return bootstrap(config, self.client)


# -- CLI entry point ---------------------------------------------------------------------------------


def iter_env_lines(env: dict[str, str]) -> Iterator[str]:
    """``export KEY='value'`` lines for an environment mapping."""
    for key, value in env.items():
        yield f"export {key}={shlex.quote(value)}"


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    """Write ``export KEY='value'`` lines (shell-quoted) atomically; ``source`` it in another shell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# modelcare dev stack, written {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}"]
    lines += list(iter_env_lines(env))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


@dataclass
class _StopSignals:
    """Turn SIGINT/SIGTERM into an event while serving (main thread only), then restore the handlers."""

    event: threading.Event

    def __post_init__(self) -> None:
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping the dev stack", signal.Signals(signum).name)
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _port_free(host: str, port: int) -> bool:
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def serve(
    *,
    host: str = DEFAULT_HOST,
    aws_port: int = DEFAULT_AWS_PORT,
    smtp_port: int = DEFAULT_SMTP_PORT,
    state_dir: str | Path = ".devstack",
    models_dir: Path | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Start the stack, bootstrap every model of the catalog, write ``<state_dir>/env.sh``, block until stopped.

    Stops on Ctrl-C / SIGTERM (or when ``stop_event`` is set). Returns an exit code.
    """
    from include.modelcare.config.catalog import load_catalog

    state = Path(state_dir)
    for what, port in (("AWS emulator", aws_port), ("SMTP sink", smtp_port)):
        if not _port_free(host, port):
            log.error("%s: port %s:%d is in use (another dev stack?); pick another port or 0", what, host, port)
            return 1
    stop = stop_event or threading.Event()
    with (
        _StopSignals(stop),
        DevStack(host=host, aws_port=aws_port, smtp_port=smtp_port, mail_dir=state / "mail") as stack,
    ):
        catalog = load_catalog(models_dir)
        for path, error in catalog.errors.items():
            log.warning("not bootstrapped (invalid config) %s: %s", path, error)
        done = [stack.bootstrap(config) for config in catalog.models.values()]
        env = stack.env()
        env_file = write_env_file(state / "env.sh", env)
        print(f"# modelcare dev stack: AWS emulator {stack.endpoint_url}, SMTP sink {host}:{stack.smtp_port}")  # noqa: T201
        print(f"# mail is saved in {stack.mail_dir}/ (one .eml per message)")  # noqa: T201
        for item in done:
            inbox = f", SNS {item.topic_arn} -> SQS {item.queue_url}" if item.queue_url else ""
            print(f"# model {item.model}: s3://{item.bucket}{inbox}")  # noqa: T201
        print(f"# these exports are in {env_file} (source it in another shell):")  # noqa: T201
        for line in iter_env_lines(env):
            print(line)  # noqa: T201
        print("# press Ctrl-C to stop", flush=True)  # noqa: T201
        while not stop.wait(0.5):
            pass
    return 0
