"""The embedded default stack: AWS emulator (moto server mode) and an SMTP sink, in-process.

No cloud account and no Docker: ``DevStack`` serves S3, SNS, SQS, SageMaker, Lambda,
CloudWatch, IAM... on ``127.0.0.1`` through moto's ``ThreadedMotoServer`` and accepts
mail with aiosmtpd, saving every message as an ``.eml`` file.

    with DevStack() as stack:
        os.environ.update(stack.env())   # Airflow connections + boto3 environment
        stack.bootstrap(config)          # bucket, SNS topic and an SQS inbox for it
        ...
        read_mails(stack.mail_dir)

Caveats of moto's server mode (moto 5.2.5):

- Its state is process-global: two ``DevStack`` in one process serve the same buckets and
  topics, and entering ``moto.mock_aws()`` anywhere in the process wipes that state.
- The account is always ``123456789012``.
- ``ThreadedMotoServer.start()`` waits forever when the port is taken; ``DevStack`` reports
  the error instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Final, cast

if TYPE_CHECKING:
    import asyncio

    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
# Fixed ports for ``serve()`` so that an ``env.sh`` stays valid across restarts (0 picks free ports).
DEFAULT_AWS_PORT = 5050
DEFAULT_SMTP_PORT = 2525
FAKE_KEY = "testing"
FAKE_SECRET = "testing"  # the emulator accepts any credentials
MOTO_ACCOUNT_ID = "123456789012"

ClientFactory = Callable[[str, str], Any]
"""``(service_name, region_name) -> boto3 client``."""


# -- mail sink ------------------------------------------------------------------------------------------

_SEQUENCE = itertools.count()  # tie-breaker for messages saved within the same nanosecond


def save_message(
    mail_dir: str | Path, data: bytes, *, mail_from: str | None = None, rcpt_tos: list[str] | None = None
) -> Path:
    """Store one message as ``<mail_dir>/<time_ns>-<uuid>.eml`` atomically (temp file, then rename).

    The envelope sender and recipients are prepended as ``X-Envelope-From``/``X-Envelope-To``
    headers, so Bcc recipients stay visible.
    """
    mail_dir = Path(mail_dir)
    mail_dir.mkdir(parents=True, exist_ok=True)
    headers = b""
    if mail_from is not None:
        headers += f"X-Envelope-From: {mail_from}\r\n".encode()
    if rcpt_tos:
        headers += f"X-Envelope-To: {', '.join(rcpt_tos)}\r\n".encode()
    name = f"{time.time_ns():020d}-{next(_SEQUENCE):06d}-{uuid.uuid4().hex[:8]}.eml"
    tmp = mail_dir / f".{name}.tmp"
    tmp.write_bytes(headers + data)
    final = mail_dir / name
    os.replace(tmp, final)
    return final


class MailDirHandler:
    """aiosmtpd handler that saves every accepted message in a directory."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content if envelope.original_content is not None else envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        path = save_message(self.mail_dir, data, mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos))
        log.info("mail from %s to %s saved as %s", envelope.mail_from, ", ".join(envelope.rcpt_tos), path.name)
        return "250 Message accepted for delivery"


def mail_files(mail_dir: str | Path) -> list[Path]:
    """The saved ``.eml`` files, oldest first (names start with the arrival time in ns)."""
    directory = Path(mail_dir)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == ".eml" and not p.name.startswith("."))


def read_mails(mail_dir: str | Path) -> list[EmailMessage]:
    """Every message the sink saved, oldest first, parsed with the modern email policy."""
    parser = BytesParser(_class=EmailMessage, policy=policy.default)
    messages: list[EmailMessage] = []
    for path in mail_files(mail_dir):
        with path.open("rb") as fh:
            messages.append(parser.parse(fh))
    return messages


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


def _make_smtp_controller(handler: MailDirHandler, host: str, port: int) -> Any:
    """An aiosmtpd ``Controller`` that also works with port 0 (it learns the port the OS picked)."""
    from aiosmtpd.controller import Controller

    class _Controller(Controller):
        def _trigger_server(self) -> None:
            if self.port == 0 and self.server is not None:
                self.port = cast("asyncio.Server", self.server).sockets[0].getsockname()[1]
            super()._trigger_server()

    # auth_require_tls=False: the sink speaks plain SMTP and accepts mail without login.
    return _Controller(handler, hostname=host, port=port, auth_require_tls=False)


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
            controller = _make_smtp_controller(MailDirHandler(mail_dir), self.host, self._smtp_port_requested)
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


# -- bootstrap: the AWS resources a model needs --------------------------------------------------------


@dataclass(frozen=True)
class Bootstrapped:
    """What ``bootstrap`` made sure exists for one model."""

    model: str
    bucket: str
    topic_arn: str | None = None
    queue_url: str | None = None
    subscription_arn: str | None = None


def env_client_factory(service_name: str, region_name: str) -> Any:
    """boto3 client from the standard AWS environment (``AWS_ENDPOINT_URL`` etc.)."""
    import boto3

    return boto3.client(service_name, region_name=region_name)


def parse_sns_arn(arn: str) -> tuple[str, str, str]:
    """``arn:aws:sns:<region>:<account>:<name>`` -> ``(region, account, name)``."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not all(parts[3:]):
        raise ValueError(f"not an SNS topic ARN: {arn}")
    return parts[3], parts[4], parts[5]


def inbox_queue_name(topic_name: str) -> str:
    """Name of the SQS queue subscribed to a topic by ``bootstrap`` (SQS names: at most 80 chars)."""
    return f"{topic_name[:70]}-inbox"


def create_bucket(s3: Any, bucket: str) -> None:
    """Create a bucket in us-east-1 unless it exists."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)


def bootstrap(config: ModelConfig, client_factory: ClientFactory | None = None) -> Bootstrapped:
    """Create the model's bucket and, with ``alerts.sns_topic_arn``, the topic plus an SQS inbox subscribed to it.

    Idempotent: running it twice leaves the same resources (one bucket, one topic, one queue, one
    subscription). ``client_factory(service, region)`` defaults to the AWS environment.
    """
    factory = client_factory or env_client_factory
    bucket = config.data.bucket
    create_bucket(factory("s3", DEFAULT_REGION), bucket)
    log.info("%s: bucket s3://%s ready", config.name, bucket)
    bootstrap_deploy_targets(config, factory)

    arn = config.alerts.sns_topic_arn
    if not arn:
        return Bootstrapped(model=config.name, bucket=bucket)
    region, account, topic_name = parse_sns_arn(arn)
    if topic_name.endswith(".fifo"):
        raise ValueError(f"{config.name}: FIFO topics are not supported by the dev stack ({arn})")
    sns = factory("sns", region)
    sqs = factory("sqs", region)
    topic_arn = sns.create_topic(Name=topic_name)["TopicArn"]
    if topic_arn != arn:
        log.warning(
            "%s: the emulator created %s, not %s (it always uses account %s); alerts to the configured ARN will fail",
            config.name,
            topic_arn,
            arn,
            MOTO_ACCOUNT_ID,
        )
    queue_url = sqs.create_queue(QueueName=inbox_queue_name(topic_name))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    existing = [
        s["SubscriptionArn"]
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for s in page.get("Subscriptions", [])
        if s.get("Protocol") == "sqs" and s.get("Endpoint") == queue_arn
    ]
    subscription_arn = (
        existing[0]
        if existing
        else sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    )
    log.info("%s: topic %s delivers to %s (account %s)", config.name, topic_arn, queue_url, account)
    return Bootstrapped(
        model=config.name, bucket=bucket, topic_arn=topic_arn, queue_url=queue_url, subscription_arn=subscription_arn
    )


LAMBDA_ROLE: Final = "modelcare-lambda-execution"


def bootstrap_deploy_targets(config: ModelConfig, factory: ClientFactory) -> None:
    """What infrastructure code makes in a real account: the deploy alarms (state OK) and the Lambda function.

    The function gets the zip of ``modelcare make-lambda-zip`` and no model yet (the deployment DAG sets
    the model variables); existing resources are left alone.
    """
    deploy = config.deploy
    if deploy is None:
        return
    cloudwatch = factory("cloudwatch", DEFAULT_REGION)
    for alarm in deploy.alarms:
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/SageMaker" if deploy.target == "sagemaker" else "AWS/Lambda",
            MetricName="Invocation5XXErrors" if deploy.target == "sagemaker" else "Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    if deploy.lambda_ is None:
        return
    from include.modelcare.serving.package import LAMBDA_HANDLER, build_lambda_zip

    lam = factory("lambda", DEFAULT_REGION)
    with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=deploy.lambda_.function_name)
        return
    iam = factory("iam", DEFAULT_REGION)
    try:
        role = iam.get_role(RoleName=LAMBDA_ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = iam.create_role(RoleName=LAMBDA_ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    lam.create_function(
        FunctionName=deploy.lambda_.function_name,
        Runtime="python3.11",
        Role=role,
        Handler=LAMBDA_HANDLER,
        Code={"ZipFile": build_lambda_zip()},
        Timeout=60,
        MemorySize=1024,
        Description=f"modelcare serving function of {config.name}",
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=deploy.lambda_.function_name)
    log.info("%s: Lambda function %s created (no model yet)", config.name, deploy.lambda_.function_name)


def read_sns_messages(
    queue_url: str, sqs_client: Any = None, *, region_name: str | None = None
) -> list[dict[str, Any]]:
    """Drain an SQS inbox and return the SNS notifications it held, oldest first.

    Each item is the SNS envelope (``Subject``, ``Message``, ``TopicArn``, ``Timestamp``, ...);
    ``Subject`` is None when the publisher gave none. A raw (non-envelope) body comes back as
    ``{"Subject": None, "Message": body}``.
    """
    if sqs_client is None:
        sqs_client = env_client_factory("sqs", region_name or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs_client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            break
        for item in batch:
            messages.append(_sns_envelope(item["Body"]))
        sqs_client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    messages.sort(key=lambda m: m.get("Timestamp") or "")  # stable: ties keep the order received
    return messages


def _sns_envelope(body: str) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("Type") == "Notification":
        parsed.setdefault("Subject", None)
        return parsed
    return {"Subject": None, "Message": body}


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
