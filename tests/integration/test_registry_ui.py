"""The Model Registry page through Airflow's own API app: auth, content, bad input, speed of the overview."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api() -> Iterator[Any]:
    """Airflow's API server app (core), with this repo's plugins mounted, and an admin token."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    app = create_app(apps="core")
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    with TestClient(app) as client:
        client.headers["X-Test-Token"] = token
        yield client


def _get(api: Any, path: str, *, auth: bool = True) -> Any:
    headers = {"Authorization": f"Bearer {api.headers['X-Test-Token']}"} if auth else {}
    return api.get(path, headers=headers)


@pytest.fixture
def seeded(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    import datetime as dt

    from include.modelcare.dev.simulate import Scenario, register_simulated_version

    h = harness
    v1 = register_simulated_version(h.registry, h.config, seed=1)
    register_simulated_version(h.registry, h.config, seed=2, status="PendingManualApproval")
    day = dt.date(2026, 3, 2)
    h.seed(day, Scenario.clean())
    h.run(day)  # monitoring (against the baseline reference) writes the drift report the page embeds
    h.registry.set_alias("production", v1.version, by="test", why="first deployment")
    monkeypatch.setenv("MODELCARE_UI_CACHE_SECONDS", "0")  # each test reads what it seeded
    return h


def test_every_route_needs_a_valid_token(api: Any) -> None:
    for path in ("/modelcare/", "/modelcare/api/models", "/modelcare/models/customer_churn"):
        assert _get(api, path, auth=False).status_code == 401, path
        bad = api.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code in {401, 403}, path


def test_unknown_model_version_and_report_are_404_with_a_message(api: Any, seeded: Harness) -> None:
    response = _get(api, "/modelcare/api/models/no_such_model")
    assert response.status_code == 404 and "unknown model 'no_such_model'" in response.json()["detail"]
    response = _get(api, "/modelcare/api/models/customer_churn/versions/v0099")
    assert response.status_code == 404 and "unknown version 'v0099' (known: v0001, v0002)" in response.json()["detail"]
    response = _get(api, "/modelcare/models/customer_churn/reports/yesterday/drift")
    assert response.status_code == 404 and "not a date" in response.json()["detail"]
    response = _get(api, "/modelcare/models/customer_churn/reports/2020-01-01/drift")
    assert response.status_code == 404 and "no drift report for 2020-01-01" in response.json()["detail"]


def test_overview_and_model_page_show_the_registry(api: Any, seeded: Harness) -> None:
    rows = {r["model"]: r for r in _get(api, "/modelcare/api/models").json()}
    row = rows["customer_churn"]
    assert row["production"] == "v0001" and row["pending_approvals"] == ["v0002"]
    assert row["monitoring"] == {"verdict": "no drift", "day": "2026-03-02"}
    page = _get(api, "/modelcare/").text
    assert "customer_churn" in page and "Required Actions" in page and "v0002" in page
    model = _get(api, "/modelcare/models/customer_churn").text
    assert "Versions" in model and "PendingManualApproval" in model and "first deployment" in model
    assert "drift share per batch" in model and "/modelcare/models/customer_churn/reports/2026-03-02/drift" in model
    report = _get(api, "/modelcare/models/customer_churn/reports/2026-03-02/drift")
    assert report.status_code == 200 and "<html" in report.text.lower()
    version = _get(api, "/modelcare/api/models/customer_churn/versions/v1").json()
    assert version["status"] == "Approved" and version["metadata"]["features"]["numerical"]


def test_model_page_shows_the_performance_series(api: Any, seeded: Harness) -> None:
    """Records in the S3 format (realised, estimated) on the emulator: the Performance section, estimates marked,
    the floor, below-floor flags; the JSON API carries the same rows."""
    import datetime as dt

    from tests.unit.ui.records import estimated, realised

    h = seeded
    day, later = dt.date(2026, 3, 2), dt.date(2026, 3, 9)
    h.store.write_json(h.config.paths.realised(day), realised(day, 0.66, 1))
    h.store.write_json(h.config.paths.estimated(day), estimated(day, 0.71, 1))
    h.store.write_json(h.config.paths.estimated(later), estimated(later, 0.64, 1, version_id="<b>v1</b>"))
    page = _get(api, "/modelcare/models/customer_churn").text
    section = page[page.index("<h2>Performance</h2>") : page.index("<h2>Versions</h2>")]
    assert "<td class='below'>0.6600 below floor</td><td>v0001</td><td>1,000</td>" in section
    assert "<i>0.7100</i><span class='est-label'>est.</span></td>" in section
    assert "<i>0.6400</i><span class='est-label'>est.</span> below floor" in section
    assert "stroke-dasharray" in section and "<title>floor 0.7</title>" in section and "<b>" not in section
    rows = _get(api, "/modelcare/api/models/customer_churn").json()["performance"]["rows"]
    assert [(r["day"], r["realised"] and r["realised"]["value"]) for r in rows] == [
        ("2026-03-09", None),
        ("2026-03-02", 0.66),
    ]


def test_bad_objects_are_warnings_and_the_rest_is_served(api: Any, seeded: Harness) -> None:
    """A ``dt=`` folder that is not a date and a corrupt old metadata.json: 200s with a warning naming each."""
    h = seeded
    garbage = f"{h.config.paths.root}/reports/dt=garbage/"
    h.store.write_bytes(garbage + "drift.json", b'{"drift_detected": true}')
    corrupt = h.registry.object_uri(3, "metadata.json")
    h.store.write_bytes(corrupt, b'{"version": 3, "status": "Rejected", "crea')

    response = _get(api, "/modelcare/api/models")
    assert response.status_code == 200
    row = {r["model"]: r for r in response.json()}["customer_churn"]
    assert row["production"] == "v0001" and row["versions"] == 2
    assert row["monitoring"] == {"verdict": "no drift", "day": "2026-03-02"}
    assert {w["key"] for w in row["warnings"]} == {garbage, corrupt}
    for path in ("/modelcare/", "/modelcare/models/customer_churn", "/modelcare/api/models/customer_churn"):
        assert _get(api, path).status_code == 200, path
    page = _get(api, "/modelcare/models/customer_churn").text
    assert f"warning: {corrupt}: not valid JSON" in page and "PendingManualApproval" in page
    assert f"warning: {garbage}: " in _get(api, "/modelcare/").text


def test_overview_of_many_models_is_served_from_the_cache(harness: Harness) -> None:
    """50 models: the first read fills the cache, later overviews read nothing from S3."""
    from include.modelcare.registry.factory import open_registry
    from include.modelcare.ui import app as ui

    configs = {f"m{i:02d}": harness.config.model_copy(update={"name": f"m{i:02d}"}) for i in range(50)}
    index = ui.RegistryIndex(store_factory=lambda c: harness.store, registry_factory=open_registry, ttl=60)
    index.models = lambda: configs  # type: ignore[method-assign]
    cold = time.perf_counter()
    rows = [ui.summary(s) for s in index.states()]
    cold = time.perf_counter() - cold
    warm = time.perf_counter()
    html = ui.overview_html([ui.summary(s) for s in index.states()], "http://x/required_actions")
    warm = time.perf_counter() - warm
    assert len(rows) == 50 and html.count("<tr>") == 51
    index.ttl = 0.001  # expired: served from the cache at once while a background refresh reads S3
    stale = time.perf_counter()
    ui.overview_html([ui.summary(s) for s in index.states()], "http://x/required_actions")
    stale = time.perf_counter() - stale
    print(f"overview of 50 models: cold {cold:.2f} s, cached {warm * 1000:.1f} ms, expired {stale * 1000:.1f} ms")
