"""The Model Registry page's reads and HTML on an in-memory store: bad objects become warnings, links stay safe.

One bad object (a ``dt=`` folder that is not a date, a corrupt drift summary, an unreadable
``metadata.json``) is left out and named in a warning row; every other model, version and report
is still served. The routes run through FastAPI's TestClient with Airflow's ``get_user`` overridden.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.registry.deployments import DeploymentHistory
from include.modelcare.registry.reader import RegistryReader
from include.modelcare.ui import app as ui
from include.modelcare.ui.pages import _is_web_url
from tests.unit.registry.memory import MemoryStore, metadata, put_version

pytestmark = pytest.mark.unit

DAY, LATER = dt.date(2026, 3, 2), dt.date(2026, 3, 9)
REPORT_HTML = b"<html><script>/* evidently */</script></html>"


@pytest.fixture
def config() -> ModelConfig:
    return get_model_config("customer_churn")


def _healthy(config: ModelConfig) -> tuple[MemoryStore, RegistryReader]:
    """v0001 Approved (production, a javascript: run_url), v0002 Pending (an https run_url), a clean report."""
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    metrics = {"candidate": {"roc_auc": 0.81}, "champion": {"roc_auc": 0.79}}
    put_version(
        store,
        reader,
        1,
        metadata(1, dag_id="retrain", run_id="run-one", run_url="javascript:alert(1)", metrics=metrics),
    )
    put_version(
        store,
        reader,
        2,
        metadata(
            2,
            "PendingManualApproval",
            dag_id="retrain",
            run_id="run-two",
            run_url="https://airflow.example/dags/retrain/runs/run-two",
            parent_version=1,
        ),
    )
    store.put(
        reader.alias_uri("production"),
        {"alias": "production", "version": 1, "updated_at": "2026-03-01", "updated_by": "test", "history": []},
    )
    store.put(f"{config.paths.reports(DAY)}drift.json", {"drift_detected": False, "share_drifted": 0.1})
    store.put(f"{config.paths.reports(DAY)}drift.html", REPORT_HTML)
    return store, reader


@pytest.fixture
def healthy(config: ModelConfig) -> tuple[MemoryStore, RegistryReader]:
    return _healthy(config)


@pytest.fixture
def broken(config: ModelConfig) -> tuple[MemoryStore, RegistryReader, dict[str, str]]:
    """The healthy registry plus one bad object of each kind; returns their keys."""
    store, reader = _healthy(config)
    root = config.paths.root
    keys = {
        "folder": f"{root}/reports/dt=garbage/",
        "report": f"{config.paths.reports(LATER)}drift.json",
        "share": f"{config.paths.reports(dt.date(2026, 3, 16))}drift.json",
        "metadata": put_version(store, reader, 3, b'{"version": 3, "status": "Rejec'),
        "quarantine": f"{root}/quarantine/dt=2026-13-01/",
        "deployment": f"{DeploymentHistory(config, store).prefix}20260301T000000--run.json",  # type: ignore[arg-type]
    }
    store.put(keys["folder"] + "drift.json", {"drift_detected": True})
    store.put(keys["report"], b"{truncated")
    store.put(keys["share"], {"drift_detected": True, "share_drifted": "lots"})
    store.put(keys["quarantine"] + "part-000.parquet", b"rows")
    store.put(keys["deployment"], b"[not a record")
    return store, reader, keys


def _state(config: ModelConfig, store: MemoryStore) -> ui.ModelState:
    return ui.read_model(config, store, RegistryReader)


def test_read_model_skips_each_bad_object_and_names_it(
    config: ModelConfig, broken: tuple[MemoryStore, RegistryReader, dict[str, str]]
) -> None:
    store, _, keys = broken
    state = _state(config, store)

    assert [v.version for v in state.versions] == [1, 2]
    assert [r["day"] for r in state.reports] == [DAY.isoformat()]
    assert state.quarantined == [] and state.deployments == []
    assert state.production is not None and state.production.version == 1
    reasons = {w.key: w.reason for w in state.warnings}
    assert set(reasons) == {
        keys["metadata"],
        keys["folder"],
        keys["quarantine"],
        keys["report"],
        keys["share"],
        DeploymentHistory(config, store).prefix,  # type: ignore[arg-type]
    }
    assert reasons[keys["folder"]] == "folder name dt='garbage' is not a date (dt=YYYY-MM-DD); skipped"
    assert reasons[keys["report"]].startswith("not valid JSON (")
    assert reasons[keys["share"]] == "share_drifted is not a number"
    assert reasons[keys["metadata"]].startswith("not valid JSON (")


def test_summary_and_detail_carry_the_warnings(
    config: ModelConfig, broken: tuple[MemoryStore, RegistryReader, dict[str, str]]
) -> None:
    store, _, keys = broken
    state = _state(config, store)
    row = ui.summary(state)
    assert row["production"] == "v0001" and row["pending_approvals"] == ["v0002"] and row["versions"] == 2
    assert row["monitoring"] == {"verdict": "no drift", "day": DAY.isoformat()}
    assert {"key": keys["folder"], "reason": "folder name dt='garbage' is not a date (dt=YYYY-MM-DD); skipped"} in row[
        "warnings"
    ]
    detail = ui.detail(state)
    assert [v["version"] for v in detail["version_table"]] == ["v0002", "v0001"]
    assert detail["warnings"] == row["warnings"] and len(detail["warnings"]) == 6


def test_overview_and_model_page_show_a_warning_row_per_bad_object(
    config: ModelConfig, broken: tuple[MemoryStore, RegistryReader, dict[str, str]]
) -> None:
    store, _, keys = broken
    state = _state(config, store)
    healthy_row = ui.summary(_state(config, _healthy(config)[0]))
    overview = ui.overview_html(
        [ui.summary(state), healthy_row | {"model": "other_model"}], "http://x/required_actions"
    )
    assert "other_model" in overview and overview.count("<tr class='warning'>") == 6
    assert f"warning: {keys['metadata']}: not valid JSON" in overview
    page = ui.model_html(ui.detail(state))
    assert "<h2>Warnings</h2>" in page and page.count("<tr class='warning'>") == 6
    assert f"warning: {keys['folder']}: folder name dt=&#x27;garbage&#x27; is not a date" in page
    assert "v0001" in page and "v0002" in page and f"/reports/{DAY.isoformat()}/drift" in page


def test_a_healthy_model_has_no_warnings(config: ModelConfig, healthy: tuple[MemoryStore, RegistryReader]) -> None:
    state = _state(config, healthy[0])
    assert state.warnings == [] and ui.summary(state)["warnings"] == []
    assert "Warnings" not in ui.model_html(ui.detail(state))


def test_odd_metadata_fields_render_instead_of_failing(config: ModelConfig) -> None:
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    put_version(
        store,
        reader,
        1,
        metadata(1, metrics=["not", "a", "dict"], parent_version="v0000", training_window="last week"),
    )
    data = ui.detail(_state(config, store))
    assert data["version_table"][0]["metric"] is None and data["version_table"][0]["champion"] is None
    assert "v0001" in ui.model_html(data)


# -- links and headers (defect 1) ----------------------------------------------------------------------
def test_only_web_urls_become_links(config: ModelConfig, healthy: tuple[MemoryStore, RegistryReader]) -> None:
    page = ui.model_html(ui.detail(_state(config, healthy[0])))
    assert "javascript:" not in page
    assert "<td>run-one</td>" in page  # the javascript: run_url is plain text, no href
    assert "<a href='https://airflow.example/dags/retrain/runs/run-two' target='_top'>run-two</a>" in page
    assert [_is_web_url(u) for u in ("https://a", "HTTP://a", "javascript:alert(1)", " https://a", None, 3)] == [
        True,
        True,
        False,
        False,
        False,
        False,
    ]


@pytest.fixture
def client(config: ModelConfig, broken: tuple[MemoryStore, RegistryReader, dict[str, str]]) -> Iterator[Any]:
    """The app on the broken registry plus a healthy second model, as an authenticated user."""
    from tests.airflow_env import configure_airflow

    configure_airflow()  # before airflow is imported: a throw-away AIRFLOW_HOME
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    store, _, _ = broken
    other = config.model_copy(update={"name": "other_model"})
    stores = {config.name: store, other.name: _healthy(other)[0]}
    index = ui.RegistryIndex(store_factory=lambda c: stores[c.name], registry_factory=RegistryReader, ttl=0)
    index.models = lambda: {config.name: config, other.name: other}  # type: ignore[method-assign]
    app = ui.create_app(index)
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="viewer", role="viewer")
    with TestClient(app) as test_client:
        yield test_client


def test_routes_serve_the_healthy_rest_with_warnings(
    client: Any, config: ModelConfig, broken: tuple[MemoryStore, RegistryReader, dict[str, str]]
) -> None:
    keys = broken[2]
    response = client.get("/api/models")
    assert response.status_code == 200
    rows = {r["model"]: r for r in response.json()}
    assert set(rows) == {"customer_churn", "other_model"} and rows["other_model"]["warnings"] == []
    assert keys["metadata"] in [w["key"] for w in rows["customer_churn"]["warnings"]]
    model = client.get("/api/models/customer_churn")
    assert model.status_code == 200 and len(model.json()["warnings"]) == 6
    for path in ("/", "/models/customer_churn", "/models/other_model"):
        page = client.get(path)
        assert page.status_code == 200, path
    assert "warning: " in client.get("/").text


def test_drift_report_is_served_sandboxed(client: Any) -> None:
    response = client.get(f"/models/customer_churn/reports/{DAY.isoformat()}/drift")
    assert response.status_code == 200 and response.content == REPORT_HTML
    assert response.headers["Content-Security-Policy"] == "sandbox allow-scripts"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get("/models/customer_churn")
    assert "sandbox='allow-scripts'" in page.text
    # The registry's own pages run no script: a value that slipped through escaping could not run either.
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert client.get("/models/customer_churn/reports/garbage/drift").status_code == 404


def test_routes_need_the_user(config: ModelConfig, healthy: tuple[MemoryStore, RegistryReader]) -> None:
    """Without the override, Airflow's ``get_user`` refuses a request without a token."""
    from tests.airflow_env import configure_airflow

    configure_airflow()
    from fastapi.testclient import TestClient

    index = ui.RegistryIndex(store_factory=lambda c: healthy[0], registry_factory=RegistryReader, ttl=0)
    index.models = lambda: {config.name: config}  # type: ignore[method-assign]
    with TestClient(ui.create_app(index)) as test_client:
        assert test_client.get("/api/models").status_code == 401


# -- gate metrics (issue 11) ------------------------------------------------------------------------------
def test_model_page_shows_every_gate_metric_beside_the_champions(config: ModelConfig) -> None:
    from include.modelcare.policy import gate

    candidate = {
        "roc_auc": 0.81,
        "accuracy": 0.74,
        "f1": 0.0,
        "log_loss": 0.41,
        "balanced_accuracy": 0.5,
        "min_class_recall": 0.0,
        "predicted_classes": 1.0,
    }
    champion = {**candidate, "roc_auc": 0.79, "f1": 0.1623, "balanced_accuracy": 0.56, "min_class_recall": 0.3}
    decision = gate(config, candidate, champion, classes=2).to_dict()
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    put_version(store, reader, 1, metadata(1, metrics={"candidate": champion}, threshold=0.28))
    doc = metadata(
        2,
        "Rejected",
        metrics={"candidate": candidate, "champion": champion},
        gate=decision,
        parent_version=1,
        holdout_days=["2026-03-02"],
        threshold=0.31,
        champion_threshold=0.28,
    )
    put_version(store, reader, 2, doc)
    data = ui.detail(_state(config, store))
    row = data["version_table"][0]
    assert row["version"] == "v0002" and row["gate_passed"] is False and row["threshold"] == 0.31
    by_metric = {g["metric"]: g for g in row["gate"]}
    assert by_metric["f1"]["candidate"] == 0.0 and by_metric["f1"]["champion"] == 0.1623
    assert by_metric["f1"]["passed"] is False and by_metric["accuracy"]["passed"] is None
    page = ui.model_html(data)
    assert "<h2>Gate of v0002: failed</h2>" in page
    assert "decision threshold 0.3100 (champion 0.2800)" in page
    assert "<tr class='Rejected'><td>f1</td><td>0.0000</td><td>0.1623</td><td>&gt; 0.000</td><td>NO</td></tr>" in page
    assert "guardrail(s) failed: " in page and "<h2>Gate of v0001: not recorded</h2>" in page


def test_odd_gate_metadata_renders_instead_of_failing(config: ModelConfig) -> None:
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    odd = {"guardrails": ["x", {"metric": "nope"}, {"metric": "f1", "bound": "high"}], "reasons": [1, None]}
    put_version(store, reader, 1, metadata(1, metrics={"candidate": {"f1": 0.2, "roc_auc": "?"}}, gate=odd))
    page = ui.model_html(ui.detail(_state(config, store)))
    assert "<h2>Gate of v0001: failed</h2>" in page and "<td>f1</td><td>0.2000</td>" in page
