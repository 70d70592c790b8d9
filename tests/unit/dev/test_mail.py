"""The dev stack's SMTP sink: mail sent over SMTP lands as ``.eml`` files, read back in arrival order."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from include.modelcare.dev.devstack import DevStack
from include.modelcare.dev.mail import read_mails, save_message

pytestmark = pytest.mark.unit


def test_mail_sent_with_smtplib_lands_as_a_file(devstack: DevStack) -> None:
    subject = f"sink test {uuid.uuid4().hex}"
    msg = EmailMessage()
    msg["From"] = "modelcare@example.com"
    msg["To"] = "ml-team@example.com"
    msg["Subject"] = subject
    msg.set_content("drift détectée")
    with smtplib.SMTP("127.0.0.1", devstack.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=["ml-team@example.com", "hidden@example.com"])

    mine = [m for m in read_mails(devstack.mail_dir) if m["Subject"] == subject]
    assert len(mine) == 1
    mail = mine[0]
    assert mail["To"] == "ml-team@example.com"
    assert mail["X-Envelope-To"] == "ml-team@example.com, hidden@example.com"
    body = mail.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "drift détectée"
    assert not [p for p in devstack.mail_dir.iterdir() if p.name.endswith(".tmp")]


def test_mails_are_read_in_arrival_order(tmp_path: Path) -> None:
    for i in range(3):
        save_message(tmp_path, f"Subject: n{i}\r\n\r\nbody\r\n".encode())
    (tmp_path / ".half-written.eml.tmp").write_bytes(b"Subject: partial\r\n")
    assert [m["Subject"] for m in read_mails(tmp_path)] == ["n0", "n1", "n2"]
    assert read_mails(tmp_path / "nowhere") == []
