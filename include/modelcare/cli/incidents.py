"""``modelcare incidents ...``: list, show, ack, snooze --until DATE.

The same changes as the ``modelcare_incidents`` DAG's form (``tasks.incidents.apply_action``), from a
terminal: S3 through the standard AWS environment. Errors are ``ModelcareError`` subclasses (one line on
stderr, exit 2 in the main CLI).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any

from include.modelcare.cli.args import add_model_args, model_config
from include.modelcare.incidents.policy import Incident, describe
from include.modelcare.incidents.store import load_incident, load_incidents
from include.modelcare.storage.objects import ObjectStore

EXIT_OK = 0


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _state(incident: Incident) -> str:
    parts = [incident.status]
    if incident.acknowledged:
        parts.append(f"acknowledged by {incident.acknowledged['by']}")
    if incident.snoozed_until:
        parts.append(f"snoozed until {incident.snoozed_until}")
    if incident.needs_person:
        parts.append("needs a person")
    return ", ".join(parts)


def cmd_list(args: argparse.Namespace) -> int:
    """Every incident of the model, newest first."""
    config = model_config(args)
    incidents = list(reversed(load_incidents(config, ObjectStore())))
    if args.json:
        _out(json.dumps(describe(incidents), indent=2))
        return EXIT_OK
    if not incidents:
        _out(f"{config.name}: no incidents")
        return EXIT_OK
    for row, incident in zip(describe(incidents), incidents, strict=True):
        span = f"{row['opened']} .. {row['closed'] or 'now'}"
        _out(f"{row['id']}  {span:<24}  {row['batches']} batch(es), {row['requests']} request(s)  [{_state(incident)}]")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    """One incident and its timeline."""
    config = model_config(args)
    incident = load_incident(config, ObjectStore(), args.id)
    if args.json:
        _out(json.dumps(incident.to_dict(), indent=2, default=str))
        return EXIT_OK
    _out(f"{incident.id} ({config.name}): {_state(incident)}; opened {incident.opened}")
    for entry in incident.timeline:
        if entry.get("person"):
            extra = f" until {entry['until']}" if entry.get("until") else ""
            _out(f"  {entry['at'][:10]}  {entry['event']}{extra} by {entry['by']}: {entry.get('note') or '-'}")
            continue
        decision = entry["decision"]
        flags = [f for f, on in (("alert", decision["alert"]), ("request", decision["request"])) if on]
        flags += ["person"] if decision["person"] else []
        _out(f"  {entry['day']}  {entry['action']:<8} [{', '.join(flags) or '-'}] {decision['reason']}")
    return EXIT_OK


def _change(args: argparse.Namespace, action: str, until: dt.date | None) -> int:
    from include.modelcare.tasks.incidents import apply_action

    config = model_config(args)
    by = args.by or os.environ.get("USER") or "cli"
    changed = apply_action(
        config, ObjectStore(), action=action, incident=args.id, by=by, note=args.note or "", until=until
    )
    if args.json:
        _out(json.dumps(changed.to_dict(), indent=2, default=str))
    else:
        _out(f"{changed.id}: {_state(changed)}")
    return EXIT_OK


def cmd_ack(args: argparse.Namespace) -> int:
    return _change(args, "acknowledge", None)


def cmd_snooze(args: argparse.Namespace) -> int:
    return _change(args, "snooze", args.until)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_incident_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``incidents {list,show,ack,snooze}`` to a subparsers object."""
    incidents = subparsers.add_parser("incidents", help="a model's drift incidents: list, show, ack, snooze")
    sub = incidents.add_subparsers(dest="incidents_command", required=True)

    p = sub.add_parser("list", help="every incident, newest first")
    add_model_args(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="one incident with its timeline")
    p.add_argument("id", nargs="?", help="incident id (inc-YYYY-MM-DD; default: the open one)")
    add_model_args(p)
    p.set_defaults(func=cmd_show)

    for name, func, text in (
        ("ack", cmd_ack, "acknowledge: no further alerts except escalations and the close"),
        ("snooze", cmd_snooze, "snooze: nothing is sent for batches up to --until (inclusive)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("id", nargs="?", help="incident id (inc-YYYY-MM-DD; default: the open one)")
        add_model_args(p)
        p.add_argument("--by", help="who (default: $USER, else 'cli')")
        p.add_argument("--note", help="why, kept on the timeline")
        if name == "snooze":
            p.add_argument("--until", type=_date, required=True, help="last batch date to keep quiet (YYYY-MM-DD)")
        p.set_defaults(func=func)
    return incidents
