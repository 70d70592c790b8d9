"""``modelcare incidents``: the commands exist with their required options (S3 work: integration tests)."""

from __future__ import annotations

import datetime as dt

import pytest

from include.modelcare.cli.main import build_parser

pytestmark = pytest.mark.unit


def test_snooze_needs_a_valid_date(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["incidents", "snooze", "inc-2026-03-09", "--model", "m", "--until", "2026-03-23"])
    assert args.until == dt.date(2026, 3, 23) and args.id == "inc-2026-03-09"
    with pytest.raises(SystemExit):
        parser.parse_args(["incidents", "snooze", "--model", "m"])
    with pytest.raises(SystemExit):
        parser.parse_args(["incidents", "snooze", "--model", "m", "--until", "next week"])
    assert "is not a date" in capsys.readouterr().err


def test_every_command_is_there() -> None:
    parser = build_parser()
    for argv in (["list"], ["show"], ["show", "inc-2026-03-09"], ["ack", "--by", "ana", "--note", "x"]):
        args = parser.parse_args(["incidents", *argv, "--model", "m"])
        assert callable(args.func)
