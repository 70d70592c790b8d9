"""``modelcare registry ...``: list, show, approve, reject, set-alias, history.

Wire into the main CLI with ``add_registry_commands(sub)``; standalone:
``python -m include.modelcare.cli.registry registry list --model customer_churn``.
Errors are ``ModelcareError`` subclasses (one line on stderr, exit 2 in the main CLI).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from include.modelcare.cli.args import add_model_args, model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import ModelcareError, RegistryStateError
from include.modelcare.registry.factory import open_registry
from include.modelcare.registry.reader import Problem
from include.modelcare.registry.records import ANY, AliasRecord, VersionRecord, parse_version, version_id
from include.modelcare.registry.store import ModelRegistry

EXIT_OK, EXIT_ERROR = 0, 2


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _actor(args: argparse.Namespace) -> str:
    return args.by or os.environ.get("USER") or "cli"


def _created_by(record: VersionRecord) -> str:
    meta = record.metadata
    if meta.get("dag_id") and meta.get("run_id"):
        return f"{meta['dag_id']}/{meta['run_id']}"
    return str(record.run_key or meta.get("registered_by") or "-")


def _metric(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.4f}"


def _aliases_by_version(registry: ModelRegistry) -> dict[int, list[str]]:
    by_version: dict[int, list[str]] = {}
    for name, alias in registry.aliases().items():
        by_version.setdefault(alias.version, []).append(name)
    return by_version


def _summary(record: VersionRecord, metric: str, aliases: list[str]) -> dict[str, Any]:
    return {
        "version": record.version,
        "version_id": record.version_id,
        "status": record.status,
        "metric": metric,
        "candidate": record.metrics.get(metric),
        "champion": record.champion_metrics.get(metric),
        "created_at": record.created_at,
        "created_by": _created_by(record),
        "aliases": aliases,
        "uri": record.uri,
    }


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        _out("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _alias_dict(alias: AliasRecord) -> dict[str, Any]:
    return {
        "alias": alias.name,
        "version": alias.version,
        "version_id": version_id(alias.version),
        "updated_at": alias.updated_at,
        "updated_by": alias.updated_by,
        "reason": alias.reason,
        "history": alias.history,
    }


def _warn(problems: list[Problem]) -> None:
    for problem in problems:
        sys.stderr.write(f"warning: {problem.key}: {problem.reason}\n")


def cmd_list(args: argparse.Namespace) -> int:
    """Table of visible versions; an unreadable version's metadata is a warning on stderr, not an error."""
    config = model_config(args)
    registry = open_registry(config, via="environment")
    aliases = _aliases_by_version(registry)
    metric = config.primary_metric
    records, problems = registry.scan()
    _warn(problems)
    rows = [_summary(r, metric, aliases.get(r.version, [])) for r in records]
    if args.json:
        _out(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        _out(f"{config.name}: no versions in {registry.versions_prefix}")
        return EXIT_OK
    table = [["VERSION", "STATUS", metric.upper(), "CHAMPION", "CREATED_AT", "CREATED_BY", "ALIASES"]]
    table += [
        [
            r["version_id"],
            r["status"],
            _metric(r["candidate"]),
            _metric(r["champion"]),
            r["created_at"],
            r["created_by"],
            ",".join(r["aliases"]) or "-",
        ]
        for r in rows
    ]
    _table(table)
    return EXIT_OK


def _print_record(record: VersionRecord, config: ModelConfig, aliases: list[str]) -> None:
    metric = config.primary_metric
    _out(f"{config.name} {record.version_id}  {record.status}")
    _out(f"  created    {record.created_at} by {_created_by(record)}")
    _out(f"  uri        {record.uri}")
    candidate, champion = _metric(record.metrics.get(metric)), _metric(record.champion_metrics.get(metric))
    _out(f"  {metric:<10} candidate {candidate}, champion {champion}")
    _print_gate(record)
    _out(f"  aliases    {', '.join(aliases) or '-'}")
    if record.model_package_arn:
        _out(f"  sagemaker  {record.model_package_arn}")
    _out("  status history:")
    for entry in record.metadata.get("status_history", []):
        _out(f"    {entry.get('at')}  {entry.get('status')!s:<22} {entry.get('by')}: {entry.get('why')}")
    _out("  artifacts:")
    for name, entry in sorted(record.artifacts.items()):
        _out(f"    {name:<20} {entry.get('bytes')!s:>10} bytes  sha256 {entry.get('sha256')}")


def _print_gate(record: VersionRecord) -> None:
    """Every gate metric beside the champion's (measured on the same holdout rows), with its rule and thresholds."""
    from include.modelcare.guardrails import gate_rows
    from include.modelcare.ml.threshold import stored_threshold, threshold_text

    meta = record.metadata
    gate = meta.get("gate") if isinstance(meta.get("gate"), dict) else None
    rows = gate_rows(record.metrics, record.champion_metrics, gate)
    if not rows:
        return
    verdict = "-" if gate is None else ("passed" if gate.get("passed") else "FAILED")
    parent = meta.get("parent_version")
    against = f"champion v{parent:04d}" if isinstance(parent, int) and parent else "no champion"
    holdout = ", ".join(map(str, meta.get("holdout_days") or [])) or "-"
    _out(f"  gate       {verdict} against {against}, holdout {holdout}")
    theirs = stored_threshold({"threshold": meta.get("champion_threshold")})
    beside = f", champion {threshold_text(theirs)}" if record.champion_metrics else ""
    _out(f"  threshold  {threshold_text(stored_threshold(meta))}{beside}")
    table = [["    METRIC", "CANDIDATE", "CHAMPION", "RULE", "HELD"]]
    for row in rows:
        held = {None: "", True: "yes", False: "NO"}[row["passed"]]
        name = f"    {row['metric']}{' *' if row['primary'] else ''}"
        table.append([name, _metric(row["candidate"]), _metric(row["champion"]), row["rule"] or "-", held])
    _table(table)
    if gate and gate.get("reasons"):
        _out(f"  gate says  {'; '.join(map(str, gate['reasons']))}")


def cmd_show(args: argparse.Namespace) -> int:
    """One version's metadata.

    The reference resolves exactly as the deployment DAG resolves it (strict ``get``), so ``show
    latest-approved`` names what a deployment would use; another version's unreadable metadata does
    not matter, the asked-for version's is an error naming its key.
    """
    config = model_config(args)
    registry = open_registry(config, via="environment")
    record = registry.get(args.ref)
    aliases = _aliases_by_version(registry).get(record.version, [])
    if args.json:
        _out(json.dumps({**record.metadata, "uri": record.uri, "aliases": aliases}, indent=2, sort_keys=True))
    else:
        _print_record(record, config, aliases)
    return EXIT_OK


def _cmd_status(args: argparse.Namespace, status: str) -> int:
    config = model_config(args)
    registry = open_registry(config, via="environment")
    record = registry.set_status(args.ref, status, by=_actor(args), why=args.why, force=args.force)
    if args.json:
        _out(json.dumps({**record.metadata, "uri": record.uri}, indent=2, sort_keys=True))
    else:
        last = record.metadata.get("status_history", [{}])[-1]
        _out(f"{config.name} {record.version_id}: {record.status} (by {last.get('by')}: {last.get('why')})")
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a version."""
    return _cmd_status(args, "Approved")


def cmd_reject(args: argparse.Namespace) -> int:
    """Reject (or revoke) a version."""
    return _cmd_status(args, "Rejected")


def _expected(value: str | None) -> object:
    if value is None:
        return ANY
    if value.strip().lower() in {"none", "unset"}:
        return None
    number = parse_version(value)
    if number is None:
        raise RegistryStateError(f"--expected: {value!r} is not a version (3, v0003) or 'none'")
    return number


def cmd_set_alias(args: argparse.Namespace) -> int:
    """Move an alias by compare-and-swap."""
    config = model_config(args)
    registry = open_registry(config, via="environment")
    alias = registry.set_alias(
        args.name, args.ref, by=_actor(args), why=args.why, expected=_expected(args.expected), force=args.force
    )
    if args.json:
        _out(json.dumps(_alias_dict(alias), indent=2))
    else:
        previous = alias.history[-1].get("previous") if alias.history else None
        was = version_id(previous) if isinstance(previous, int) else "unset"
        target = version_id(alias.version)
        _out(f"{config.name}: {alias.name} -> {target} (was {was}; by {alias.updated_by}: {alias.reason})")
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    """Every move of an alias."""
    config = model_config(args)
    registry = open_registry(config, via="environment")
    history = registry.alias_history(args.name)
    if args.json:
        _out(json.dumps(history, indent=2))
        return EXIT_OK
    if not history:
        _out(f"{config.name}: alias {args.name!r} was never set")
        return EXIT_OK
    table = [["AT", "VERSION", "PREVIOUS", "BY", "WHY"]]
    for move in history:
        previous = move.get("previous")
        table.append(
            [
                str(move.get("at")),
                version_id(int(move["version"])) + (" (forced)" if move.get("forced") else ""),
                version_id(previous) if isinstance(previous, int) else "-",
                str(move.get("by")),
                str(move.get("why")),
            ]
        )
    _table(table)
    return EXIT_OK


def _change(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", help="who does it (default: $USER, else 'cli')")
    parser.add_argument("--why", required=True, help="reason, kept in the history")
    parser.add_argument("--force", action="store_true", help="allow what is refused otherwise")


def add_registry_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``registry {list,show,approve,reject,set-alias,history}`` to a subparsers object."""
    registry = subparsers.add_parser("registry", help="inspect and manage the model registry")
    sub = registry.add_subparsers(dest="registry_command", required=True)

    p = sub.add_parser("list", help="visible versions: status, primary metric, creator, aliases")
    add_model_args(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="one version's metadata")
    p.add_argument("ref", help="3, v0003, latest, latest-approved or an alias")
    add_model_args(p)
    p.set_defaults(func=cmd_show)

    for name, func, text in (
        ("approve", cmd_approve, "approve a version (PendingManualApproval -> Approved; Rejected needs --force)"),
        ("reject", cmd_reject, "reject a version, or revoke an approved one"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("ref", help="3, v0003, latest, latest-approved or an alias")
        add_model_args(p)
        _change(p)
        p.set_defaults(func=func)

    p = sub.add_parser("set-alias", help="point an alias (e.g. production) at an approved version")
    p.add_argument("name", help="alias name")
    p.add_argument("ref", help="3, v0003, latest, latest-approved or another alias")
    add_model_args(p)
    _change(p)
    p.add_argument("--expected", help="only move if the alias points at this version now ('none': only if unset)")
    p.set_defaults(func=cmd_set_alias)

    p = sub.add_parser("history", help="every move of an alias")
    p.add_argument("name", help="alias name")
    add_model_args(p)
    p.set_defaults(func=cmd_history)
    return registry


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (the main ``modelcare`` CLI wires the same commands)."""
    parser = argparse.ArgumentParser(prog="modelcare")
    sub = parser.add_subparsers(dest="command", required=True)
    add_registry_commands(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ModelcareError as exc:
        sys.stderr.write(f"modelcare: error: {exc}\n")
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
