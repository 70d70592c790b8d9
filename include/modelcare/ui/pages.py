"""HTML of the Model Registry page (``app`` serves it): the overview of all models and one model's page.

Everything taken from the registry, reports or configs is escaped; links are only built from
http(s) URLs; data-derived documents (drift reports) are framed sandboxed and served with
``DATA_HTML_HEADERS``. Objects the reads skipped (``ModelState.warnings``) get a warning row
naming the key, so a bad object is visible without hiding the rest.
"""

from __future__ import annotations

from typing import Any

from include.modelcare.ui.escaping import esc as _e
from include.modelcare.ui.escaping import fmt as _fmt
from include.modelcare.ui.performance import STYLE as PERFORMANCE_STYLE
from include.modelcare.ui.performance import performance_html

PREFIX = "/modelcare"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:16px;color:#1f2933}table{border-collapse:collapse;margin:8px 0 20px}
th,td{border-bottom:1px solid #d9e2ec;padding:4px 10px;text-align:left;font-size:14px}th{background:#f0f4f8}
.Approved{color:#0b7a3e}.Rejected{color:#b42318}.PendingManualApproval{color:#b54708}.drift{color:#b42318}
h1{font-size:22px}h2{font-size:18px;margin-top:24px}a{color:#1d4ed8}
iframe{width:100%;height:640px;border:1px solid #d9e2ec}.warning td{color:#b54708;background:#fffaeb}
"""
_STYLE += PERFORMANCE_STYLE


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _warning_rows(warnings: list[dict[str, Any]], columns: int) -> str:
    """One row per skipped object: ``warning: <key>: <reason>``."""
    return "".join(
        f"<tr class='warning'><td colspan='{columns}'>warning: {_e(w.get('key'))}: {_e(w.get('reason'))}</td></tr>"
        for w in warnings
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
        lines.append(_warning_rows(row.get("warnings") or [], 6))
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


def _warnings_table(warnings: list[dict[str, Any]]) -> str:
    if not warnings:
        return ""
    return (
        f"<h2>Warnings</h2><p>{len(warnings)} object(s) could not be read and are left out of this page.</p>"
        f"<table>{_warning_rows(warnings, 1)}</table>"
    )


def model_html(data: dict[str, Any]) -> str:
    """The per-model page."""
    name = data["model"]
    parts = [
        f"<p><a href='{PREFIX}/'>&larr; all models</a></p><h1>{_e(name)}</h1>",
        f"<p>production: <b>{_e(data['production'])}</b> ({_e(data['metric'])} {_fmt(data['production_metric'])}); "
        f"last monitoring: {_e(data['monitoring']['verdict'])} ({_e(data['monitoring']['day'])})</p>",
        _warnings_table(data.get("warnings") or []),
        incidents_html(data.get("incidents") or []),
        performance_html(data["performance"]) if data.get("performance") else "",
        "<h2>Versions</h2><table><tr><th>version</th><th>status</th><th>"
        f"{_e(data['metric'])}</th><th>champion at registration</th><th>training window</th><th>created</th>"
        "<th>created by</th></tr>",
    ]
    for row in data["version_table"]:
        window = row["training_window"] if isinstance(row["training_window"], dict) else {}
        by = row["created_by"]
        url = by["url"] if _is_web_url(by.get("url")) else None
        link = f"<a href='{_e(url)}' target='_top'>{_e(by['run_id'])}</a>" if url else _e(by["run_id"])
        parts.append(
            f"<tr><td>{_e(row['version'])}</td><td class='{_e(row['status'])}'>{_e(row['status'])}</td>"
            f"<td>{_fmt(row['metric'])}</td><td>{_e(row['champion'])} {_fmt(row['champion_metric'])}</td>"
            f"<td>{_e(window.get('start'))} .. {_e(window.get('end'))}</td><td>{_e(row['created_at'])}</td>"
            f"<td>{link}</td></tr>"
        )
    parts.append("</table>")
    parts += [_gate_table(row) for row in data["version_table"][:GATE_TABLES] if row.get("gate")]
    parts.append(
        "<h2>Deployments</h2><table><tr><th>when</th><th>version</th><th>target</th>"
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


def incidents_html(incidents: list[dict[str, Any]]) -> str:
    """Every incident (newest first) with its timeline: each batch's decision and what people did."""
    if not incidents:
        return "<h2>Incidents</h2><p>none</p>"
    parts = ["<h2>Incidents</h2>"]
    for inc in incidents:
        state = [str(inc.get("status"))]
        if inc.get("acknowledged"):
            state.append(f"acknowledged by {inc['acknowledged'].get('by')}")
        if inc.get("snoozed_until"):
            state.append(f"snoozed until {inc['snoozed_until']}")
        if inc.get("needs_person"):
            state.append("needs a person")
        span = f"{inc.get('opened')} .. {inc.get('closed') or 'now'}"
        parts.append(
            f"<h3>{_e(inc.get('id'))}: {_e(', '.join(state))}</h3><p>{_e(span)}; "
            f"{len(inc.get('requests') or [])} retraining request(s)</p>"
            "<table><tr><th>batch</th><th>action</th><th>alert</th><th>retraining</th><th>why</th></tr>"
        )
        for entry in inc.get("timeline") or []:
            if entry.get("person"):
                until = f" until {entry['until']}" if entry.get("until") else ""
                parts.append(
                    f"<tr><td>{_e(entry.get('at'))}</td><td>{_e(entry.get('event'))}{_e(until)}</td><td></td>"
                    f"<td></td><td>{_e(entry.get('by'))}: {_e(entry.get('note') or '-')}</td></tr>"
                )
                continue
            decision = entry.get("decision") or {}
            retrain = "requested" if decision.get("request") else ("a person" if decision.get("person") else "-")
            parts.append(
                f"<tr><td>{_e(entry.get('day'))}</td><td>{_e(entry.get('action'))}</td>"
                f"<td>{'yes' if decision.get('alert') else '-'}</td><td>{_e(retrain)}</td>"
                f"<td>{_e(decision.get('reason'))}</td></tr>"
            )
        parts.append("</table>")
    return "".join(parts)


GATE_TABLES = 5
"""Versions (newest first) whose gate metrics the model page lists."""


def _gate_table(row: dict[str, Any]) -> str:
    """One version's gate: every gate metric beside the champion's, measured on the same holdout rows."""
    from include.modelcare.ml.threshold import threshold_text

    verdict = {None: "not recorded", True: "passed", False: "failed"}[row.get("gate_passed")]
    champion = row.get("champion")
    against = f"champion {_e(champion)}" if champion else "no champion (floors only)"
    days = ", ".join(map(str, row.get("holdout_days") or [])) or "-"
    threshold = _e(threshold_text(row.get("threshold")))
    if champion:
        threshold += f" (champion {_e(threshold_text(row.get('champion_threshold')))})"
    lines = [
        f"<h2>Gate of {_e(row['version'])}: {verdict}</h2>",
        f"<p>against {against}, on the same holdout rows ({_e(days)}); decision threshold {threshold}</p>",
        "<table><tr><th>metric</th><th>candidate</th><th>champion</th><th>rule</th><th>held</th></tr>",
    ]
    for gate in row["gate"]:
        held = {None: "", True: "yes", False: "NO"}[gate["passed"]]
        css = " class='Rejected'" if gate["passed"] is False else ""
        name = _e(gate["metric"]) + (" (primary)" if gate["primary"] else "")
        lines.append(
            f"<tr{css}><td>{name}</td><td>{_fmt(gate['candidate'])}</td><td>{_fmt(gate['champion'])}</td>"
            f"<td>{_e(gate['rule'] or '-')}</td><td>{held}</td></tr>"
        )
    lines.append("</table>")
    if row.get("gate_reasons"):
        lines.append(f"<p>{_e('; '.join(map(str, row['gate_reasons'])))}</p>")
    return "".join(lines)


PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
"""CSP of the registry's own pages: they run no script at all (tables and inline SVG rendered on the server;
every data-derived string escaped), so a value that slipped through escaping still could not run."""
DATA_HTML_HEADERS = {"Content-Security-Policy": "sandbox allow-scripts", "X-Content-Type-Options": "nosniff"}
"""Headers of every response whose bytes come from data: a sandbox CSP gives the document an opaque origin."""


def _is_web_url(value: object) -> bool:
    """Only http(s) URLs from metadata become links (a ``javascript:`` URL stays text)."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))
