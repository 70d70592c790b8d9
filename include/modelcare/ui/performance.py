"""The performance series where people look: realised beside *estimated*, with the floor.

Why one module for the Registry page and ``modelcare performance``: both show the same rows (a batch date,
the metric realised on its labels with the version that served it, rows, join rate and revision; the
estimate made before the labels; below-floor flags), the same reasons why there is no estimate, and the same
rolling-window verdict, so the page and the terminal cannot disagree. It reads nothing: it is given the
records ``performance.series.read_records`` returned and the registry's versions. Records are data from S3,
so every field is checked before use: an odd field renders as ``-`` instead of failing the page.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from include.modelcare.config.schema import ModelConfig
from include.modelcare.performance.estimate import ESTIMABLE
from include.modelcare.performance.series import decay_check, monitored_metric, score_points
from include.modelcare.policy import lower_is_better, performance_decay
from include.modelcare.registry.records import version_id
from include.modelcare.ui.escaping import esc as _e
from include.modelcare.ui.escaping import fmt as _f

REGRESSION_NOTE = "not estimated for regression"
NO_CALIBRATOR = "no estimate for {version} (registered before calibration; the next registration adds one)"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _vid(value: Any) -> str | None:
    number = _int(value)
    return version_id(number) if number is not None and number > 0 else None


def _below(metric: str, value: float | None, floor: float | None) -> bool | None:
    """Whether ``value`` is on the wrong side of the floor (None: no value or no floor)."""
    if value is None or floor is None:
        return None
    return performance_decay(metric, value, floor, lower_better=lower_is_better(metric)).decayed


def _common(record: Mapping[str, Any], metric: str, floor: float | None) -> dict[str, Any]:
    """What a realised and an estimated row share: the metric (another one is named), value, version, rows, floor."""
    value = _number(record.get("value"))
    shown = str(record.get("metric") or metric)
    return {
        "metric": shown,
        "other_metric": shown if shown != metric else None,
        "value": value,
        "version": _int(record.get("version")),
        "version_id": _vid(record.get("version")),
        "rows": _int(record.get("rows")),
        "below": _below(metric, value, floor) if shown == metric else None,
    }


def _realised(record: Mapping[str, Any], metric: str, floor: float | None) -> dict[str, Any]:
    raw_join = record.get("join")
    join: Mapping[str, Any] = raw_join if isinstance(raw_join, Mapping) else {}
    revision = _int(record.get("revision")) or 1
    previous = [p for p in record.get("previous") or [] if isinstance(p, Mapping)]
    return {
        **_common(record, metric, floor),
        "served_by": record.get("served_by"),
        "join_rate": _number(join.get("join_rate")),
        "ids_without_labels": _int(join.get("ids_without_labels")),
        "labels_without_ids": _int(join.get("labels_without_ids")),
        "revision": revision,
        "corrected": revision > 1,
        "previous_values": [_number(p.get("value")) for p in previous],
        "scored_at": record.get("scored_at"),
    }


def _estimated(record: Mapping[str, Any], metric: str, floor: float | None) -> dict[str, Any]:
    return {
        **_common(record, metric, floor),
        "method": record.get("method"),
        "note": record.get("note") or None,
        "labels_expected_by": record.get("labels_expected_by"),
    }


def series_rows(
    config: ModelConfig,
    realised: Sequence[Mapping[str, Any]],
    estimated: Sequence[Mapping[str, Any]],
    *,
    weeks: int | None = None,
) -> list[dict[str, Any]]:
    """One row per batch date, newest first: ``{"day", "realised": {...}|None, "estimated": {...}|None}``.
    ``weeks``: only batches within that many weeks of the newest one."""
    metric, floor = monitored_metric(config), config.performance.floor
    by_day: dict[str, dict[str, Any]] = {}
    for kind, records, shape in (("realised", realised, _realised), ("estimated", estimated, _estimated)):
        for record in records:
            day = str(record.get("day"))
            row = by_day.setdefault(day, {"day": day, "realised": None, "estimated": None})
            row[kind] = shape(record, metric, floor)
    rows = [by_day[d] for d in sorted(by_day, reverse=True)]
    if weeks is not None and rows:
        newest = dt.date.fromisoformat(rows[0]["day"])
        start = (newest - dt.timedelta(days=7 * weeks - 1)).isoformat()
        rows = [r for r in rows if r["day"] >= start]
    return rows


def _has_calibrator(metadata: Mapping[str, Any]) -> bool:
    from include.modelcare.ml.calibration import stored_calibrator

    try:
        return stored_calibrator(metadata) is not None
    except (KeyError, TypeError, ValueError):
        return False


def estimate_notes(
    config: ModelConfig, versions: Sequence[Any], production: int | None, rows: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Why some batches have no estimate: the task, the metric, or a version registered before calibration
    (the production version, and any version that served a shown batch without an estimate)."""
    if config.task == "regression":
        return [REGRESSION_NOTE]
    metric = monitored_metric(config)
    if metric not in ESTIMABLE:
        return [f"{metric} is not estimated (estimated: {', '.join(ESTIMABLE)})"]
    wanted = {production} if production is not None else set()
    for row in rows:
        if row["estimated"] is None and row["realised"] is not None and row["realised"]["version"] is not None:
            wanted.add(row["realised"]["version"])
    by_number = {v.version: v for v in versions}
    return [
        NO_CALIBRATOR.format(version=version_id(n))
        for n in sorted(wanted)
        if n in by_number and not _has_calibrator(by_number[n].metadata)
    ]


def performance_view(
    config: ModelConfig,
    realised: Sequence[Mapping[str, Any]],
    estimated: Sequence[Mapping[str, Any]],
    versions: Sequence[Any],
    production: int | None,
    *,
    weeks: int | None = None,
) -> dict[str, Any]:
    """What the page and the CLI show: the rows, the notes, and the rolling-window verdict of the production
    version at the newest batch (``performance.series.decay_check``, what ``check_performance`` said then)."""
    rows = series_rows(config, realised, estimated, weeks=weeks)
    days = [str(r.get("day")) for r in (*realised, *estimated)]
    if days:
        try:
            window = decay_check(config, score_points(realised), dt.date.fromisoformat(max(days)), production)
        except (TypeError, ValueError) as exc:
            window = {"status": f"series not readable: {exc}", "decayed": False}
    else:
        window = {"status": "no batch scored or estimated yet", "decayed": False}
    return {
        "metric": monitored_metric(config),
        "floor": config.performance.floor,
        "lower_better": lower_is_better(monitored_metric(config)),
        "window_weeks": config.performance.window_weeks,
        "production": _vid(production),
        "window": window,
        "notes": estimate_notes(config, versions, production, rows),
        "rows": rows,
    }


# -- HTML ---------------------------------------------------------------------------------------------
STYLE = (
    ".est{font-style:italic;color:#52606d}.est-label{font-style:normal;font-size:11px;border:1px solid #9aa5b1;"
    "border-radius:3px;padding:0 3px;margin-left:4px}.below{color:#b42318;font-weight:600}"
    ".note{color:#52606d}.performance td:first-child{white-space:nowrap}"
)


def _other(cell: Mapping[str, Any]) -> str:
    """The metric a record measured when it is not the one monitored now (the config changed since)."""
    return f" ({_e(cell['other_metric'])}, not compared with the floor)" if cell["other_metric"] else ""


def _realised_cell(cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return "<td>-</td>"
    text = _e(_f(cell["value"])) + _other(cell)
    css = ""
    if cell["below"]:
        css, text = " class='below'", text + " below floor"
    if cell["corrected"]:
        was = ", ".join(_f(v) for v in cell["previous_values"]) or "-"
        text += f"<br><small>corrected: revision {_e(cell['revision'])} (was {_e(was)})</small>"
    return f"<td{css}>{text}</td>"


def _estimated_cell(cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return "<td>-</td>"
    label = "<span class='est-label'>est.</span>"
    if cell["value"] is None:
        return f"<td class='est'>not estimated: {_e(cell['note'] or cell['method'])}</td>"
    by = f" by {_e(cell['version_id'])}" if cell["version_id"] else ""
    expected = f"; labels expected by {_e(cell['labels_expected_by'])}" if cell["labels_expected_by"] else ""
    title = f"estimated{by} (CBPE, {_e(cell['rows'])} rows{expected})"
    css = "est below" if cell["below"] else "est"
    flag = " below floor" if cell["below"] else ""
    return f"<td class='{css}' title='{title}'><i>{_e(_f(cell['value']))}</i>{label}{flag}{_other(cell)}</td>"


def _join_text(cell: Mapping[str, Any] | None) -> str:
    if cell is None or cell["join_rate"] is None:
        return "-"
    text = f"{cell['join_rate']:.0%}"
    missing = [
        f"{n:,} {what}"
        for n, what in (
            (cell["ids_without_labels"], "ids without labels"),
            (cell["labels_without_ids"], "labels without ids"),
        )
        if n
    ]
    return text + (f" ({', '.join(missing)})" if missing else "")


def performance_html(view: Mapping[str, Any]) -> str:
    """The model page's Performance section: the verdict, why there is no estimate, a sparkline, the table."""
    metric, floor = view["metric"], view["floor"]
    window = view["window"]
    verdict = window.get("reason") or window.get("status")
    css = " class='below'" if window.get("decayed") else ""
    parts = [
        "<h2>Performance</h2>",
        f"<p>{_e(metric)} per batch: realised on its labels (scored with the version that served it) and "
        f"<span class='est'>estimated</span><span class='est-label'>est.</span> before they land (CBPE, from the "
        f"model's calibrated probabilities); floor {_e(floor)}.</p>",
        f"<p{css}>rolling window ({_e(view['window_weeks'])} weeks, production {_e(view['production'])}): "
        f"{_e(verdict)}</p>",
    ]
    parts += [f"<p class='note'>{_e(note)}</p>" for note in view["notes"]]
    rows = view["rows"]
    if not rows:
        parts.append("<p>no batch scored or estimated yet</p>")
        return "".join(parts)
    parts.append(sparkline(rows, floor, metric))
    parts.append(
        f"<table class='performance'><tr><th>batch</th><th>realised {_e(metric)}</th><th>version</th><th>rows</th>"
        f"<th>join rate</th><th>estimated {_e(metric)}</th><th>floor</th></tr>"
    )
    for row in rows:
        real = row["realised"] or {}
        count = real.get("rows")
        parts.append(
            f"<tr><td>{_e(row['day'])}</td>{_realised_cell(row['realised'])}<td>{_e(real.get('version_id'))}</td>"
            f"<td>{_e(None if count is None else f'{count:,}')}</td><td>{_e(_join_text(row['realised']))}</td>"
            f"{_estimated_cell(row['estimated'])}<td>{_e(floor)}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def sparkline(rows: Sequence[Mapping[str, Any]], floor: float | None, metric: str) -> str:
    """Both series over the batch dates (realised solid, estimated dashed) and the floor: an inline SVG, no
    JavaScript, no external assets. The x axis is the date, so a gap in the labels shows as a gap."""
    series = {
        kind: [(r["day"], r[kind]["value"]) for r in reversed(rows) if r[kind] and r[kind]["value"] is not None]
        for kind in ("realised", "estimated")
    }
    values = [v for points in series.values() for _, v in points] + ([floor] if floor is not None else [])
    days = [dt.date.fromisoformat(d) for points in series.values() for d, _ in points]
    if not days:
        return ""
    width, height, pad = 420, 120, 16
    first, span_days = min(days), max((max(days) - min(days)).days, 1)
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0

    def x(day: str) -> float:
        return pad + (dt.date.fromisoformat(day) - first).days / span_days * (width - 2 * pad)

    def y(value: float) -> float:
        return height - pad - (value - lo) / span * (height - 2 * pad)

    styles = {"realised": ("#1d4ed8", "", "#1d4ed8"), "estimated": ("#b54708", " stroke-dasharray='5 4'", "white")}
    shapes = []
    if floor is not None:
        shapes.append(
            f"<line x1='{pad}' x2='{width - pad}' y1='{y(floor):.1f}' y2='{y(floor):.1f}' stroke='#b42318' "
            f"stroke-width='1'><title>floor {_e(floor)}</title></line>"
        )
    for kind, points in series.items():
        colour, dash, fill = styles[kind]
        path = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points)
        shapes.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2'{dash} points='{path}'/>")
        shapes += [
            f"<circle cx='{x(d):.1f}' cy='{y(v):.1f}' r='3' stroke='{colour}' fill='{fill}'>"
            f"<title>{_e(d)}: {kind} {v:.3f}</title></circle>"
            for d, v in points
        ]
    label = f"{metric}: realised and estimated per batch"
    return (
        f"<figure><figcaption>{_e(label)} (realised solid, estimated dashed, floor red; {lo:.3f} to {hi:.3f})"
        f"</figcaption><svg role='img' aria-label='{_e(label)}' width='{width}' height='{height}'>"
        f"{''.join(shapes)}</svg></figure>"
    )
