"""The Model Registry page inside the Airflow UI: a FastAPI app mounted by ``plugins/modelcare_registry.py``.

Every route depends on Airflow's authenticated user (``get_user``: the UI's ``_token`` cookie or a
Bearer token), so a request without a valid token gets 401. The page only reads: approving,
rejecting and deploying happen in Airflow (Required Actions, the deployment DAG's form) or through
the registry CLI, which record who did it.

Reads are cached per model and refreshed in the background once older than
``MODELCARE_UI_CACHE_SECONDS`` (default 30 s; 0 reads on every request): the overview of many models
must not list and read every registry object on each request.
"""

from __future__ import annotations

import html
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from include.modelcare.config.catalog import load_catalog
from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataNotFound, ModelcareError
from include.modelcare.quality.drift import share_drifted_of

log = logging.getLogger(__name__)

PREFIX = "/modelcare"


def cache_seconds() -> float:
    """How long a model's state is reused (``MODELCARE_UI_CACHE_SECONDS``, default 30)."""
    return float(os.environ.get("MODELCARE_UI_CACHE_SECONDS") or 30)


@dataclass
class ModelState:
    """What the page shows of one model, read at ``read_at``."""

    config: ModelConfig
    versions: list[Any]
    aliases: dict[str, Any]
    deployments: list[dict[str, Any]]
    reports: list[dict[str, Any]]  # drift.json of the latest batches, newest first
    quarantined: list[str]  # dates of quarantined batches, newest first
    read_at: float = field(default_factory=time.monotonic)

    @property
    def production(self) -> Any | None:
        alias = self.aliases.get("production")
        if alias is None:
            return None
        return next((v for v in self.versions if v.version == alias.version), None)

    @property
    def pending(self) -> list[Any]:
        return [v for v in self.versions if v.status == "PendingManualApproval"]


def _dates(store: Any, prefix: str) -> list[str]:
    try:
        keys = store.list(prefix)
    except DataNotFound:
        return []
    found = {k.split("/dt=", 1)[1][:10] for k in keys if "/dt=" in k}
    return sorted(found, reverse=True)


def read_model(config: ModelConfig, store: Any, registry_factory: Callable[[ModelConfig, Any], Any]) -> ModelState:
    """Everything the page shows of one model (a LIST per area plus the latest documents)."""
    from include.modelcare.registry.deployments import DeploymentHistory

    registry = registry_factory(config, store)
    paths = config.paths
    reports = []
    for day in _dates(store, f"{paths.root}/reports/")[:12]:
        try:
            reports.append(store.read_json(f"{paths.reports(_day(day))}drift.json") | {"day": day})
        except DataNotFound:
            continue
    return ModelState(
        config=config,
        versions=registry.versions(),
        aliases=registry.aliases(),
        deployments=DeploymentHistory(config, store).entries(limit=50),
        reports=reports,
        quarantined=_dates(store, f"{paths.root}/quarantine/"),
    )


def _day(text: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text)


class RegistryIndex:
    """Per-model states with a time-to-live; one lock per model so concurrent requests read once."""

    def __init__(
        self,
        store_factory: Callable[[ModelConfig], Any],
        registry_factory: Callable[[ModelConfig, Any], Any],
        ttl: float | None = None,
    ) -> None:
        self.store_factory = store_factory
        self.registry_factory = registry_factory
        self.ttl = ttl
        self._states: dict[str, ModelState] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def models(self) -> dict[str, ModelConfig]:
        return load_catalog().models

    def state(self, name: str) -> ModelState:
        """The model's state: read on first use; afterwards served from the cache and refreshed in the
        background once older than the TTL (stale-while-revalidate), so a page never waits for S3 twice."""
        config = self.models().get(name)
        if config is None:
            raise KeyError(name)
        cached = self._states.get(name)
        if cached is None:
            return self._read(name, config)
        ttl = self.ttl if self.ttl is not None else cache_seconds()
        if ttl <= 0:
            return self._read(name, config)
        if time.monotonic() - cached.read_at >= ttl:
            with self._guard:
                lock = self._locks.setdefault(name, threading.Lock())
            if not lock.locked():
                threading.Thread(target=self._read, args=(name, config), daemon=True).start()
        return cached

    def _read(self, name: str, config: ModelConfig) -> ModelState:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            state = read_model(config, self.store_factory(config), self.registry_factory)
            self._states[name] = state
            return state

    def states(self) -> list[ModelState]:
        from concurrent.futures import ThreadPoolExecutor

        names = sorted(self.models())
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(self.state, names))


# -- JSON views ---------------------------------------------------------------------------------------
def _metric(record: Any, metric: str) -> float | None:
    value = (record.metadata.get("metrics", {}).get("candidate") or {}).get(metric)
    return float(value) if isinstance(value, int | float) else None


def _champion_metric(record: Any, metric: str) -> float | None:
    value = (record.metadata.get("metrics", {}).get("champion") or {}).get(metric)
    return float(value) if isinstance(value, int | float) else None


def summary(state: ModelState) -> dict[str, Any]:
    """One overview row."""
    metric = state.config.primary_metric
    production = state.production
    latest = state.versions[-1] if state.versions else None
    report = state.reports[0] if state.reports else None
    verdict, verdict_day = "no batch monitored yet", None
    if report is not None:
        verdict = "drift" if report.get("drift_detected") else "no drift"
        verdict_day = report["day"]
    if state.quarantined and (verdict_day is None or state.quarantined[0] > verdict_day):
        verdict, verdict_day = "batch quarantined (failed validation)", state.quarantined[0]
    return {
        "model": state.config.name,
        "production": production.version_id if production else None,
        "metric": metric,
        "production_metric": _metric(production, metric) if production else None,
        "monitoring": {"verdict": verdict, "day": verdict_day},
        "last_retrain": {"version": latest.version_id, "status": latest.status, "at": latest.created_at}
        if latest
        else None,
        "pending_approvals": [v.version_id for v in state.pending],
        "versions": len(state.versions),
    }


def version_row(record: Any, metric: str) -> dict[str, Any]:
    """One version-table row."""
    meta = record.metadata
    return {
        "version": record.version_id,
        "status": record.status,
        "metric": _metric(record, metric),
        "champion_metric": _champion_metric(record, metric),
        "champion": f"v{meta['parent_version']:04d}" if meta.get("parent_version") else None,
        "training_window": meta.get("training_window"),
        "created_at": record.created_at,
        "created_by": {"dag_id": meta.get("dag_id"), "run_id": meta.get("run_id"), "url": meta.get("run_url")},
    }


def detail(state: ModelState) -> dict[str, Any]:
    """The per-model page's data."""
    metric = state.config.primary_metric
    return {
        **summary(state),
        "version_table": [version_row(v, metric) for v in reversed(state.versions)],
        "aliases": {name: list(a.history) for name, a in state.aliases.items()},
        "deployments": state.deployments,
        "drift_trend": [
            {"day": r["day"], "share_drifted": share_drifted_of(r), "drift": r.get("drift_detected")}
            for r in reversed(state.reports)
        ],
        "metric_trend": [
            {"version": v.version_id, "value": _metric(v, metric), "at": v.created_at} for v in state.versions
        ],
        "latest_report": state.reports[0]["day"] if state.reports else None,
        "quarantined": state.quarantined[:10],
    }


# -- HTML ------------------------------------------------------------------------------------------------
_STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;color:#1f2933}table{border-collapse:collapse;margin:8px 0 20px}
th,td{border-bottom:1px solid #d9e2ec;padding:4px 10px;text-align:left;font-size:14px}th{background:#f0f4f8}
.Approved{color:#0b7a3e}.Rejected{color:#b42318}.PendingManualApproval{color:#b54708}.drift{color:#b42318}
h1{font-size:22px}h2{font-size:18px;margin-top:24px}a{color:#1d4ed8}
iframe{width:100%;height:640px;border:1px solid #d9e2ec}
"""


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def overview_html(rows: list[dict[str, Any]], required_actions_url: str) -> str:
    """The overview table of all models."""
    lines = [
        "<h1>Model Registry</h1>",
        "<table><tr><th>model</th><th>production</th><th>metric</th><th>last monitoring</th>"
        "<th>last retrain</th><th>pending approvals</th></tr>",
    ]
    for row in rows:
        name = row["model"]
        retrain = row["last_retrain"]
        pending = row["pending_approvals"]
        pending_html = (
            f"{_e(', '.join(pending))} (<a href='{_e(required_actions_url)}' target='_top'>Required Actions</a>)"
            if pending
            else "none"
        )
        monitoring = row["monitoring"]
        css = "drift" if monitoring["verdict"] != "no drift" and monitoring["day"] else ""
        lines.append(
            f"<tr><td><a href='{PREFIX}/models/{_e(name)}'>{_e(name)}</a></td>"
            f"<td>{_e(row['production'])}</td>"
            f"<td>{_e(row['metric'])} {_fmt(row['production_metric'])}</td>"
            f"<td class='{css}'>{_e(monitoring['verdict'])} ({_e(monitoring['day'])})</td>"
            f"<td>{_e(retrain['version']) + ' ' + _e(retrain['status']) if retrain else '-'}</td>"
            f"<td>{pending_html}</td></tr>"
        )
    lines.append("</table>")
    return _page("Model Registry", "".join(lines))


def _svg_line(points: list[tuple[str, float | None]], label: str) -> str:
    """A small inline SVG line chart (no JavaScript, no external assets)."""
    values = [(x, y) for x, y in points if y is not None]
    if len(values) < 1:
        return f"<p>{_e(label)}: no data yet</p>"
    width, height, pad = 420, 120, 24
    lo, hi = min(y for _, y in values), max(y for _, y in values)
    span = (hi - lo) or 1.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    coords = [(pad + i * step, height - pad - (y - lo) / span * (height - 2 * pad)) for i, (_, y) in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3'><title>{_e(name)}: {v:.3f}</title></circle>"
        for (x, y), (name, v) in zip(coords, values, strict=True)
    )
    return (
        f"<figure><figcaption>{_e(label)} ({_e(values[0][0])} .. {_e(values[-1][0])}: "
        f"{lo:.3f} to {hi:.3f})</figcaption><svg role='img' aria-label='{_e(label)}' width='{width}' height='{height}'>"
        f"<polyline fill='none' stroke='#1d4ed8' stroke-width='2' points='{path}'/>{dots}</svg></figure>"
    )


def model_html(data: dict[str, Any]) -> str:
    """The per-model page."""
    name = data["model"]
    parts = [
        f"<p><a href='{PREFIX}/'>&larr; all models</a></p><h1>{_e(name)}</h1>",
        f"<p>production: <b>{_e(data['production'])}</b> ({_e(data['metric'])} {_fmt(data['production_metric'])}); "
        f"last monitoring: {_e(data['monitoring']['verdict'])} ({_e(data['monitoring']['day'])})</p>",
        "<h2>Versions</h2><table><tr><th>version</th><th>status</th><th>"
        f"{_e(data['metric'])}</th><th>champion at registration</th><th>training window</th><th>created</th>"
        "<th>created by</th></tr>",
    ]
    for row in data["version_table"]:
        window = row["training_window"] or {}
        by = row["created_by"]
        url = by["url"] if _is_web_url(by.get("url")) else None
        link = f"<a href='{_e(url)}' target='_top'>{_e(by['run_id'])}</a>" if url else _e(by["run_id"])
        parts.append(
            f"<tr><td>{_e(row['version'])}</td><td class='{_e(row['status'])}'>{_e(row['status'])}</td>"
            f"<td>{_fmt(row['metric'])}</td><td>{_e(row['champion'])} {_fmt(row['champion_metric'])}</td>"
            f"<td>{_e(window.get('start'))} .. {_e(window.get('end'))}</td><td>{_e(row['created_at'])}</td>"
            f"<td>{link}</td></tr>"
        )
    parts.append(
        "</table><h2>Deployments</h2><table><tr><th>when</th><th>version</th><th>target</th>"
        "<th>outcome</th><th>previous</th><th>by</th><th>why / rollback</th></tr>"
    )
    for entry in data["deployments"]:
        previous = entry.get("previous_version")
        why = entry.get("failure") or entry.get("reason")
        if entry.get("rollback"):
            why = f"{why}; {entry['rollback']}"
        parts.append(
            f"<tr><td>{_e(entry.get('finished_at'))}</td><td>{_e(entry.get('version_id'))}</td>"
            f"<td>{_e(entry.get('target'))}</td><td>{_e(entry.get('outcome'))}</td>"
            f"<td>{_e(f'v{previous:04d}' if previous else None)}</td><td>{_e(entry.get('by'))}</td>"
            f"<td>{_e(why)}</td></tr>"
        )
    parts.append(
        "</table><h2>Alias history</h2><table><tr><th>alias</th><th>at</th><th>version</th>"
        "<th>previous</th><th>by</th><th>why</th></tr>"
    )
    for alias, moves in data["aliases"].items():
        for move in reversed(moves):
            parts.append(
                f"<tr><td>{_e(alias)}</td><td>{_e(move.get('at'))}</td><td>{_e(move.get('version'))}</td>"
                f"<td>{_e(move.get('previous'))}</td><td>{_e(move.get('by'))}</td><td>{_e(move.get('why'))}</td></tr>"
            )
    parts.append("</table><h2>Trends</h2>")
    parts.append(_svg_line([(p["day"], p["share_drifted"]) for p in data["drift_trend"]], "drift share per batch"))
    parts.append(_svg_line([(p["version"], p["value"]) for p in data["metric_trend"]], f"{data['metric']} per version"))
    if data["latest_report"]:
        day = data["latest_report"]
        parts.append(
            f"<h2>Latest drift report ({_e(day)})</h2>"
            f"<iframe title='drift report {_e(day)}' sandbox='allow-scripts' "
            f"src='{PREFIX}/models/{_e(name)}/reports/{_e(day)}/drift'></iframe>"
        )
    if data["quarantined"]:
        parts.append(f"<h2>Quarantined batches</h2><p>{_e(', '.join(data['quarantined']))}</p>")
    return _page(f"{name} - Model Registry", "".join(parts))


DATA_HTML_HEADERS = {"Content-Security-Policy": "sandbox allow-scripts", "X-Content-Type-Options": "nosniff"}
"""Headers of every response whose bytes come from data: a sandbox CSP gives the document an opaque origin."""


def _is_web_url(value: object) -> bool:
    """Only http(s) URLs from metadata become links (a ``javascript:`` URL stays text)."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


# -- the app -----------------------------------------------------------------------------------------------
def create_app(index: RegistryIndex | None = None) -> Any:
    """The FastAPI app; every route needs Airflow's authenticated user."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import HTMLResponse

    index = index or default_index()
    app = FastAPI(title="modelcare Model Registry", dependencies=[Depends(get_user)])

    @app.middleware("http")
    async def no_sniffing(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    def state_or_404(name: str) -> ModelState:
        try:
            return index.state(name)
        except KeyError:
            raise HTTPException(status_code=404, detail=f"unknown model {name!r}") from None

    @app.get("/api/models")
    def api_models() -> list[dict[str, Any]]:
        return [summary(s) for s in index.states()]

    @app.get("/api/models/{name}")
    def api_model(name: str) -> dict[str, Any]:
        return detail(state_or_404(name))

    @app.get("/api/models/{name}/versions/{ref}")
    def api_version(name: str, ref: str) -> dict[str, Any]:
        state = state_or_404(name)
        from include.modelcare.registry.records import parse_version

        number = parse_version(ref)
        record = next((v for v in state.versions if v.version == number), None)
        if record is None:
            known = ", ".join(v.version_id for v in state.versions) or "none"
            raise HTTPException(status_code=404, detail=f"{name}: unknown version {ref!r} (known: {known})")
        return {**version_row(record, state.config.primary_metric), "metadata": record.metadata}

    @app.get("/", response_class=HTMLResponse)
    def overview() -> str:
        from include.modelcare.tasks.context import airflow_base_url

        return overview_html([summary(s) for s in index.states()], f"{airflow_base_url()}/required_actions")

    @app.get("/models/{name}", response_class=HTMLResponse)
    def model_page(name: str) -> str:
        return model_html(detail(state_or_404(name)))

    @app.get("/models/{name}/reports/{day}/drift", response_class=HTMLResponse)
    def drift_report(name: str, day: str) -> HTMLResponse:
        state = state_or_404(name)
        try:
            report_day = _day(day)
        except ValueError:
            raise HTTPException(status_code=404, detail=f"not a date: {day!r} (YYYY-MM-DD)") from None
        store = index.store_factory(state.config)
        try:
            report = store.read_bytes(f"{state.config.paths.reports(report_day)}drift.html")
        except (DataNotFound, ModelcareError):
            raise HTTPException(status_code=404, detail=f"{name}: no drift report for {day}") from None
        # The report's bytes come from batch data (Evidently embeds column values in a <script> block
        # without escaping "</script>"), so it runs in an opaque origin: its own scripts work, the viewer's
        # cookies and same-origin calls to Airflow's API do not.
        return HTMLResponse(report, headers=DATA_HTML_HEADERS)

    return app


def default_index() -> RegistryIndex:
    """Registry reads through each model's Airflow AWS connection."""
    from include.modelcare.registry.factory import open_registry
    from include.modelcare.storage.objects import ObjectStore, hook_s3_client

    return RegistryIndex(
        store_factory=lambda config: ObjectStore(hook_s3_client(config.airflow.aws_conn_id)),
        registry_factory=open_registry,
    )
