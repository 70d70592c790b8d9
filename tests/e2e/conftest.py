"""Browser tests: Debian's Chromium driven by Playwright against a real `airflow standalone`."""

from __future__ import annotations

import os
import socket
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401  # the integration fixtures, shared
    MODELS_DIR,
    airflow_db,
    harness,
    harness_session,
    integration_catalog,
)


@pytest.fixture(scope="module", autouse=True)
def e2e_catalog() -> Iterator[None]:
    """The integration catalog for this module's module-scoped fixtures and airflow standalone; restored after."""
    saved = os.environ.get("MODELCARE_MODELS_DIR")
    os.environ["MODELCARE_MODELS_DIR"] = str(MODELS_DIR)
    yield
    if saved is None:
        os.environ.pop("MODELCARE_MODELS_DIR", None)
    else:
        os.environ["MODELCARE_MODELS_DIR"] = saved


CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def chromium_or_skip() -> Path:
    """Debian's Chromium (``make test`` installs it); a loud skip where it cannot be installed."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = (
        "BROWSER TESTS SKIPPED: /usr/bin/chromium is missing and could not be installed "
        "(run `make browser` as root on Debian: apt-get install chromium)"
    )
    warnings.warn(message, stacklevel=1)
    sys.stderr.write(f"\n{'!' * 100}\n{message}\n{'!' * 100}\n")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowUI:
    url: str
    username: str
    password: str


@pytest.fixture(scope="module")
def airflow_ui(airflow_db: None, devstack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowUI]:  # noqa: F811
    """`airflow standalone` on a free port, on the test session's metadata DB and dev stack."""
    from include.modelcare.dev.up import Standalone

    chromium_or_skip()
    log = tmp_path_factory.mktemp("standalone") / "standalone.log"
    airflow = Standalone(
        _free_port(), log, {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "MODELCARE_UI_CACHE_SECONDS": "0"}
    )
    try:
        airflow.start(timeout=240)
        yield AirflowUI(url=airflow.url, username="admin", password=airflow.admin_password())
    finally:
        airflow.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()
