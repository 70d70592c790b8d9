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
HOSTILE_DAY = dt.date(2026, 2, 23)
# A category value that closes Evidently's <script> block and runs a same-origin API call with the viewer's
# session. No double quotes and no spaces: it must survive JSON encoding and an unquoted HTML attribute.
PAYLOAD = (
    "</script><img src=x onerror=fetch('/api/v2/dags').then(function(r){return(r.json())})"
    ".then(function(j){document.documentElement.setAttribute('data-xss','read:'+j.total_entries)})"
    ".catch(function(e){document.documentElement.setAttribute('data-xss','blocked')})>"
)


def _plant(h: Harness, day: dt.date, column: str, share: float) -> None:
    """Overwrite ``column`` in ``share`` of the batch's rows with the payload (passes values_mostly 0.99)."""
    from include.modelcare.storage.tables import read_table, write_table

    [uri] = [u for u in h.store.list(h.config.paths.incoming(day)) if u.endswith(".parquet")]
    frame = read_table(uri, "parquet", h.store)
    frame.loc[frame.index[: max(1, int(len(frame) * share))], column] = PAYLOAD
    write_table(frame, uri, "parquet", h.store)


@pytest.fixture(scope="module")
def history(harness_session: Harness) -> Harness:
    """Two versions (one pending approval), production on v1, one monitored batch with its drift report."""
    from include.modelcare.dev.simulate import Scenario, register_simulated_version

    h = harness_session
    h.reset()
    v1 = register_simulated_version(h.registry, h.config, seed=1)
    register_simulated_version(h.registry, h.config, seed=2, status="PendingManualApproval")
    h.seed(HOSTILE_DAY, Scenario.clean())
    _plant(h, HOSTILE_DAY, "region", 0.005)
    h.run(HOSTILE_DAY)
    h.seed(DAY, Scenario.clean())
    h.run(DAY)
    h.registry.set_alias("production", v1.version, by="e2e", why="first deployment")
    _performance(h, v1.version)
    return h


def _performance(h: Harness, version: int) -> None:
    """A realised score of the hostile week and a failed estimate of the last one whose note is the payload
    (records are data: the page must show it as text)."""
    from tests.unit.ui.records import estimated, realised

    h.store.write_json(h.config.paths.realised(HOSTILE_DAY), realised(HOSTILE_DAY, 0.66, version))
    h.store.write_json(h.config.paths.estimated(DAY), estimated(DAY, None, version, note=PAYLOAD))


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
    expect(frame.get_by_role("heading", name="Performance")).to_be_visible()  # realised and estimated, the floor
    expect(frame.get_by_role("img", name="roc_auc: realised and estimated per batch")).to_be_visible()
    expect(frame.get_by_role("cell", name="0.6600 below floor")).to_be_visible()
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


def test_a_report_cannot_act_with_the_viewers_session(history: Harness, airflow_ui: AirflowUI, browser: Any) -> None:
    """Stored XSS through batch data: the report is served sandboxed (opaque origin), so the planted script runs
    but its same-origin API call with the viewer's session fails; the page frames reports with sandbox too."""
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    _log_in(page, airflow_ui)
    url = f"{airflow_ui.url}/modelcare/models/customer_churn/reports/{HOSTILE_DAY.isoformat()}/drift"
    response = page.goto(url)
    assert response is not None and response.status == 200
    assert "onerror=fetch('/api/v2/dags')" in response.text(), "the payload did not reach the report"
    page.wait_for_function("document.documentElement.hasAttribute('data-xss')", timeout=30_000)
    outcome = page.evaluate("document.documentElement.getAttribute('data-xss')")
    print(f"injected script's fetch('/api/v2/dags') with the viewer's session: {outcome}")
    assert outcome == "blocked", f"the planted script read the Airflow API as the viewer: {outcome}"
    assert "sandbox" in (response.headers.get("content-security-policy") or "")
    assert response.headers.get("x-content-type-options") == "nosniff"

    page.goto(f"{airflow_ui.url}/modelcare/models/customer_churn")
    frame = page.locator("iframe[title^='drift report']").first
    expect(frame).to_have_attribute("sandbox", "allow-scripts")
    # the same payload as an estimate's note in the Performance section: shown as text, never run
    expect(page.get_by_text("not estimated: </script><img src=x onerror=")).to_be_visible()
    page.wait_for_timeout(1000)
    assert page.evaluate("document.documentElement.getAttribute('data-xss')") is None
    context.close()
