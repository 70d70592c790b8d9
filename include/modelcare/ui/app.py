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

import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from include.modelcare.config.catalog import load_catalog
from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataError, DataNotFound, ModelcareError
from include.modelcare.performance.series import ESTIMATED, REALISED, read_records
from include.modelcare.quality.drift import share_drifted_of
from include.modelcare.registry.reader import Problem, json_object
from include.modelcare.ui.pages import DATA_HTML_HEADERS, PAGE_CSP, PREFIX, model_html, overview_html
from include.modelcare.ui.performance import performance_view

__all__ = [  # PREFIX (where the plugin mounts the app) and the pages are re-exported
    "DATA_HTML_HEADERS",
    "PREFIX",
    "ModelState",
    "RegistryIndex",
    "create_app",
    "default_index",
    "detail",
    "model_html",
    "overview_html",
    "read_model",
    "summary",
    "version_row",
]

log = logging.getLogger(__name__)

REPORTS_SHOWN = 12  # newest drift reports read per model
_DATE_FOLDER = re.compile(r"/dt=([^/]*)/")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_T = TypeVar("_T")


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
    warnings: list[Problem] = field(default_factory=list)  # objects skipped because they could not be used
    incidents: list[dict[str, Any]] = field(default_factory=list)  # incidents.policy.Incident dicts, oldest first
    realised: list[dict[str, Any]] = field(default_factory=list)  # performance records, oldest batch first
    estimated: list[dict[str, Any]] = field(default_factory=list)
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


def _dates(store: Any, prefix: str, problems: list[Problem]) -> list[str]:
    """The ``dt=YYYY-MM-DD`` folders under ``prefix``, newest first; any other ``dt=`` folder is a problem."""
    try:
        keys = store.list(prefix)
    except DataNotFound:
        return []
    found: set[str] = set()
    bad: dict[str, str] = {}
    for key in keys:
        match = _DATE_FOLDER.search(key, len(prefix) - 1)
        if match is None:
            continue
        text = match.group(1)
        if _is_date(text):
            found.add(text)
        else:
            bad.setdefault(key[: match.end()], text)
    for folder, text in sorted(bad.items()):
        problems.append(Problem(folder, f"folder name dt={text!r} is not a date (dt=YYYY-MM-DD); skipped"))
    return sorted(found, reverse=True)


def _is_date(text: str) -> bool:
    if not _ISO_DATE.match(text):
        return False
    try:
        _day(text)
    except ValueError:
        return False
    return True


def _report(store: Any, uri: str, day: str) -> dict[str, Any] | None:
    """One drift summary (None when the batch has none); ``ValueError`` with the reason when unusable."""
    try:
        doc = json_object(store.read_bytes(uri))
    except DataNotFound:
        return None
    try:
        share_drifted_of(doc)
    except (TypeError, ValueError):
        raise ValueError("share_drifted is not a number") from None
    return doc | {"day": day}


def _tolerant(problems: list[Problem], key: str, read: Callable[[], _T], default: _T) -> _T:
    """``read()``, or ``default`` and a problem naming ``key`` when the data it reads is unusable."""
    try:
        return read()
    except (DataError, KeyError, TypeError, ValueError) as exc:
        problems.append(Problem(key, str(exc).removeprefix(f"{key}: ")))
        return default


def read_model(config: ModelConfig, store: Any, registry_factory: Callable[[ModelConfig, Any], Any]) -> ModelState:
    """Everything the page shows of one model (a LIST per area plus the latest documents).

    Tolerant: an unusable object (corrupt JSON, a ``dt=`` folder that is not a date, an unreadable
    ``metadata.json``) is left out and named in ``warnings``; the rest is still shown.
    """
    from include.modelcare.registry.deployments import DeploymentHistory

    registry = registry_factory(config, store)
    paths = config.paths
    problems: list[Problem] = []
    versions, version_problems = registry.scan()
    problems.extend(version_problems)
    reports = []
    for day in _dates(store, f"{paths.root}/reports/", problems)[:REPORTS_SHOWN]:
        uri = f"{paths.reports(_day(day))}drift.json"
        report = _tolerant(problems, uri, functools.partial(_report, store, uri, day), None)
        if report is not None:
            reports.append(report)
    history = DeploymentHistory(config, store)
    state = ModelState(
        config=config,
        versions=versions,
        aliases=_tolerant(problems, registry.aliases_prefix, registry.aliases, {}),
        deployments=_tolerant(problems, history.prefix, lambda: history.entries(limit=50), []),
        reports=reports,
        quarantined=_dates(store, f"{paths.root}/quarantine/", problems),
        warnings=problems,
        incidents=_tolerant(problems, paths.incidents(), functools.partial(_incidents, config, store), []),
        realised=_tolerant(problems, paths.performance(), functools.partial(read_records, config, store, REALISED), []),
        estimated=_tolerant(
            problems, paths.performance(), functools.partial(read_records, config, store, ESTIMATED), []
        ),
    )
    for problem in state.warnings:
        log.warning("%s: registry page skipped %s: %s", config.name, problem.key, problem.reason)
    return state


def _incidents(config: ModelConfig, store: Any) -> list[dict[str, Any]]:
    from include.modelcare.incidents.store import load_incidents

    return [incident.to_dict() for incident in load_incidents(config, store)]


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
def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _metric(record: Any, metric: str) -> float | None:
    return _number(record.metrics.get(metric))


def _champion_metric(record: Any, metric: str) -> float | None:
    return _number(record.champion_metrics.get(metric))


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
        "warnings": [{"key": w.key, "reason": w.reason} for w in state.warnings],
    }


def version_row(record: Any, metric: str) -> dict[str, Any]:
    """One version-table row."""
    from include.modelcare.guardrails import gate_rows
    from include.modelcare.ml.threshold import stored_threshold
    from include.modelcare.registry.records import version_id

    meta = record.metadata
    gate = meta.get("gate") if isinstance(meta.get("gate"), dict) else None
    return {
        "version": record.version_id,
        "status": record.status,
        "metric": _metric(record, metric),
        "champion_metric": _champion_metric(record, metric),
        # every gate metric beside the champion's on the same holdout rows, and both decision thresholds
        "gate": gate_rows(record.metrics, record.champion_metrics, gate),
        "gate_passed": None if gate is None else bool(gate.get("passed")),
        "gate_reasons": [str(r) for r in gate.get("reasons") or []]
        if gate and isinstance(gate.get("reasons"), list)
        else [],
        "threshold": stored_threshold(meta),
        "champion_threshold": stored_threshold({"threshold": meta.get("champion_threshold")}),
        "holdout_days": meta.get("holdout_days"),
        "champion": version_id(parent) if isinstance(parent := meta.get("parent_version"), int) and parent else None,
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
        "incidents": list(reversed(state.incidents)),
        "performance": performance_view(
            state.config,
            state.realised,
            state.estimated,
            state.versions,
            state.aliases["production"].version if "production" in state.aliases else None,
        ),
    }


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
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)  # the drift report sets its own
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
