"""The dev stack's SMTP sink: every accepted message becomes one ``.eml`` file in a directory.

Airflow's SMTP notifier sends to it like to any mail server; tests and the demo read the messages
back with ``read_mails``. Nothing is ever relayed.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import uuid
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

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


def make_smtp_controller(handler: MailDirHandler, host: str, port: int) -> Any:
    """An aiosmtpd ``Controller`` that also works with port 0 (it learns the port the OS picked)."""
    from aiosmtpd.controller import Controller

    class _Controller(Controller):
        def _trigger_server(self) -> None:
            if self.port == 0 and self.server is not None:
                self.port = cast("asyncio.Server", self.server).sockets[0].getsockname()[1]
            super()._trigger_server()

    # auth_require_tls=False: the sink speaks plain SMTP and accepts mail without login.
    return _Controller(handler, hostname=host, port=port, auth_require_tls=False)
