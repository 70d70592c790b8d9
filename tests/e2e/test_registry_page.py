"""What a person sees: log in to `airflow standalone`, open Browse -> Model Registry, click through to a model
and its drift report, in headless Debian Chromium. Screenshots go to tests/e2e/screenshots/."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.e2e.conftest import SCREENSHOTS, AirflowUI
from tests.integration.conftest import Harness

pytestmark = pytest.mark.e2e

DAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def history(harness_session: Harness) -> Harness:
    """Two versions (one pending approval), production on v1, one monitored batch with its drift report."""
    from include.modelcare.dev.simulate import Scenario, register_simulated_version

    h = harness_session
    h.reset()
    v1 = register_simulated_version(h.registry, h.config, seed=1)
    register_simulated_version(h.registry, h.config, seed=2, status="PendingManualApproval")
    h.seed(DAY, Scenario.clean())
    h.run(DAY)
    h.registry.set_alias("production", v1.version, by="e2e", why="first deployment")
    return h


def _log_in(page: Any, ui: AirflowUI) -> None:
    page.goto(ui.url + "/")
    page.wait_for_selector("input[name=username]", timeout=60_000)
    page.fill("input[name=username]", ui.username)
    page.fill("input[name=password]", ui.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url and "login" not in url, timeout=60_000)


def test_a_person_browses_the_registry(history: Harness, airflow_ui: AirflowUI, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    _log_in(page, airflow_ui)

    # Browse -> Model Registry: the plugin's page inside the Airflow UI (an iframe under /plugin/modelcare).
    page.goto(airflow_ui.url + "/plugin/modelcare")
    frame = page.frame_locator("iframe").first
    expect(frame.get_by_role("heading", name="Model Registry")).to_be_visible(timeout=60_000)
    row = frame.get_by_role("row").filter(has_text="customer_churn")
    expect(row).to_contain_text("v0001")  # production
    expect(row).to_contain_text("v0002 PendingManualApproval")  # last retrain
    expect(row).to_contain_text("no drift (2026-03-02)")
    expect(frame.get_by_role("link", name="Required Actions")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "1-overview.png"), full_page=True)

    frame.get_by_role("link", name="customer_churn").click()
    expect(frame.get_by_role("heading", name="customer_churn")).to_be_visible()
    expect(frame.get_by_role("heading", name="Versions")).to_be_visible()
    expect(frame.get_by_role("cell", name="PendingManualApproval")).to_be_visible()
    expect(frame.get_by_text("first deployment")).to_be_visible()  # alias history, with who and why
    expect(frame.get_by_role("img", name="drift share per batch")).to_be_visible()
    expect(frame.locator("iframe[title='drift report 2026-03-02']")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "2-model.png"), full_page=True)

    report = context.new_page()
    report.goto(f"{airflow_ui.url}/modelcare/models/customer_churn/reports/2026-03-02/drift")
    expect(report.locator("body")).to_contain_text("Drift", timeout=30_000)
    report.screenshot(path=str(SCREENSHOTS / "3-drift-report.png"))
    context.close()


def test_the_page_refuses_a_browser_that_is_not_logged_in(airflow_ui: AirflowUI, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    response = page.goto(f"{airflow_ui.url}/modelcare/")
    assert response is not None and response.status == 401
    assert "Not authenticated" in page.content()
    context.close()
