"""``make up``: what it would start, checked without starting Airflow (loopback by default, no log servers)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.modelcare.dev import standalone
from include.modelcare.dev.up import (
    LOOPBACK,
    Standalone,
    exposure_warning,
    is_loopback,
    parse_args,
    standalone_command,
    standalone_env,
    url_host,
)

pytestmark = pytest.mark.unit


def test_the_api_server_binds_loopback_by_default_whatever_the_callers_environment_says() -> None:
    env = standalone_env(8080, base={"PATH": "/usr/bin", "AIRFLOW__API__HOST": "0.0.0.0", "OTHER": "kept"})
    assert env["AIRFLOW__API__HOST"] == LOOPBACK == "127.0.0.1"
    assert env["AIRFLOW__API__PORT"] == "8080"
    assert env["AIRFLOW__API__BASE_URL"] == "http://localhost:8080"
    assert env["OTHER"] == "kept"
    assert env["PATH"] == f"{Path(sys.executable).parent}:/usr/bin"


def test_the_host_option_changes_the_bind_address_and_extra_env_wins() -> None:
    every = standalone_env(8081, "0.0.0.0", base={}, extra_env={"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"})
    assert every["AIRFLOW__API__HOST"] == "0.0.0.0"
    assert every["AIRFLOW__API__BASE_URL"] == "http://localhost:8081"
    assert every["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "INFO"
    lan = standalone_env(8081, "192.168.1.20", base={})
    assert lan["AIRFLOW__API__BASE_URL"] == "http://192.168.1.20:8081"
    assert parse_args([]).host == LOOPBACK
    assert parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"


def test_standalone_uses_that_environment_and_the_launcher_without_log_servers(tmp_path: Path) -> None:
    airflow = Standalone(8082, tmp_path / "standalone.log", {"X": "1"})
    assert airflow.env["AIRFLOW__API__HOST"] == LOOPBACK
    assert airflow.env["X"] == "1"
    assert airflow.url == "http://127.0.0.1:8082"
    assert Standalone(8082, tmp_path / "s.log", host="::1").url == "http://[::1]:8082"
    assert standalone_command() == [sys.executable, "-m", "include.modelcare.dev.standalone"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("myhost.example.com", False),
    ],
)
def test_a_warning_is_printed_unless_the_host_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    warning = exposure_warning(host, 8080)
    if loopback:
        assert warning is None
    else:
        assert warning is not None and warning.startswith("WARNING:") and "admin login" in warning


def test_url_host_reaches_a_wildcard_bind_through_loopback() -> None:
    assert url_host("0.0.0.0") == url_host("::") == "127.0.0.1"
    assert url_host("10.0.0.5") == "10.0.0.5"


def test_the_scheduler_and_triggerer_run_without_their_log_servers() -> None:
    assert standalone.without_log_server(["scheduler"]) == ["scheduler", "--skip-serve-logs"]
    assert standalone.without_log_server(["triggerer"]) == ["triggerer", "--skip-serve-logs"]
    assert standalone.without_log_server(["api-server"]) == ["api-server"]
    assert standalone.without_log_server(["dag-processor"]) == ["dag-processor"]
    assert standalone.without_log_server(["scheduler", "--skip-serve-logs"]) == ["scheduler", "--skip-serve-logs"]


@pytest.fixture
def standalone_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from airflow.cli.commands import standalone_command as module

    monkeypatch.setattr(module, "SubCommand", module.SubCommand)  # restored after the test
    yield module


def test_the_installed_airflow_builds_its_components_through_the_patched_class(standalone_module: Any) -> None:
    """The seam dev/standalone.py relies on: StandaloneCommand.run makes every component with this global."""
    import inspect

    assert "SubCommand(" in inspect.getsource(standalone_module.StandaloneCommand.run)
    standalone.install()
    standalone.install()  # idempotent: one flag, not two
    scheduler = standalone_module.SubCommand(None, name="scheduler", command=["scheduler"], env={})
    api = standalone_module.SubCommand(None, name="api-server", command=["api-server"], env={})
    assert scheduler.command == ["scheduler", "--skip-serve-logs"]
    assert api.command == ["api-server"]


def test_airflow_accepts_the_flag_on_both_components() -> None:
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    for component in standalone.SKIP_SERVE_LOGS:
        assert parser.parse_args([component, "--skip-serve-logs"]).skip_serve_logs is True
