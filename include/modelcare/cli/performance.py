"""``modelcare performance <model> [--weeks N] [--json]``: the performance series from a terminal.

The same rows, notes and rolling-window verdict as the Registry page's Performance section
(``ui.performance.performance_view``): per batch the metric realised on its labels (with the version that
served it, rows, join rate, corrections) beside the estimate made before they landed, marked *est.*, and
the floor. The verdict is ``performance.series.decay_check`` of the production version over the rolling
window ending at the newest batch: what ``check_performance`` decided then. S3 through the standard AWS
environment; errors are ``ModelcareError`` subclasses (one line on stderr, exit 2 in the main CLI).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from include.modelcare.cli.args import model_config
from include.modelcare.errors import ConfigError
from include.modelcare.registry.factory import open_registry
from include.modelcare.storage.objects import ObjectStore

EXIT_OK = 0


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _store() -> ObjectStore:
    """S3 through the standard AWS environment (tests replace it)."""
    return ObjectStore()


def _value(cell: Mapping[str, Any] | None, *, estimated: bool = False) -> str:
    if cell is None:
        return "-"
    if cell["value"] is None:
        return "not estimated" if estimated else "-"
    text = f"{cell['value']:.4f}" + (" est." if estimated else "")
    return text + ("*" if not estimated and cell["corrected"] else "")


def _flag(row: Mapping[str, Any], floor: float | None) -> str:
    if floor is None:
        return "no floor"
    below = [kind for kind in ("realised", "estimated") if row[kind] and row[kind]["below"]]
    if "realised" in below:
        return "BELOW (realised)"
    return "below (est.)" if below else "ok"


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        _out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_view(name: str, view: Mapping[str, Any]) -> None:
    """The series table, the corrections, why there is no estimate, and the window's verdict."""
    metric, floor = view["metric"], view["floor"]
    _out(f"{name}: {metric} per batch, realised on labels and est. (estimated, CBPE) before they land; floor {floor}")
    rows = view["rows"]
    if rows:
        table = [["DAY", "REALISED", "VERSION", "ROWS", "JOIN", "ESTIMATED", "FLOOR"]]
        for row in rows:
            real = row["realised"]
            join = real["join_rate"] if real else None
            table.append(
                [
                    row["day"],
                    _value(real),
                    (real["version_id"] if real else None) or "-",
                    f"{real['rows']:,}" if real and real["rows"] is not None else "-",
                    "-" if join is None else f"{join:.0%}",
                    _value(row["estimated"], estimated=True),
                    _flag(row, floor),
                ]
            )
        _table(table)
        for row in rows:
            real, est = row["realised"], row["estimated"]
            if real and real["corrected"]:
                was = ", ".join("-" if v is None else f"{v:.4f}" for v in real["previous_values"]) or "-"
                _out(f"* {row['day']}: corrected labels, revision {real['revision']} (was {was})")
            if est and est["value"] is None and est["note"]:
                _out(f"  {row['day']}: not estimated: {est['note']}")
    else:
        _out("  no batch scored or estimated yet")
    for note in view["notes"]:
        _out(f"note: {note}")
    window = view["window"]
    verdict = "DECAYED" if window.get("decayed") else ("ok" if window.get("status") == "measured" else "-")
    _out(
        f"window ({view['window_weeks']} weeks, production {view['production'] or '-'}): {verdict}: "
        f"{window.get('reason') or window.get('status')}"
    )


def cmd_performance(args: argparse.Namespace) -> int:
    """Print the model's performance series and the rolling-window verdict of its production version."""
    from include.modelcare.performance.series import ESTIMATED, REALISED, read_records
    from include.modelcare.ui.performance import performance_view

    if not (args.model or args.config):
        raise ConfigError("performance: name a model (modelcare performance customer_churn) or give --config")
    config = model_config(args)
    store = _store()
    registry = open_registry(config, store, via="environment")
    versions, problems = registry.scan()
    for problem in problems:
        sys.stderr.write(f"warning: {problem.key}: {problem.reason}\n")
    production = registry.alias("production")
    weeks = args.weeks or config.performance.label_lookback_weeks
    view = performance_view(
        config,
        read_records(config, store, REALISED),
        read_records(config, store, ESTIMATED),
        versions,
        production.version if production else None,
        weeks=weeks,
    )
    if args.json:
        _out(json.dumps({"model": config.name, "weeks": weeks, **view}, indent=2, default=str))
    else:
        print_view(config.name, view)
    return EXIT_OK


def _weeks(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of weeks")
    return value


def add_performance_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``performance <model> [--config PATH] [--weeks N] [--json]`` to a subparsers object."""
    p = subparsers.add_parser(
        "performance", help="a model's performance series: realised and estimated per batch, the floor, the window"
    )
    p.add_argument("model", nargs="?", help="model name in the catalog ($MODELCARE_MODELS_DIR or include/models)")
    p.add_argument("--config", help="path of a model config YAML (instead of a name)")
    p.add_argument("--weeks", type=_weeks, help="weeks of batches to show (default: performance.label_lookback_weeks)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=cmd_performance)
    return p
