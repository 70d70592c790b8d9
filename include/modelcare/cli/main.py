"""``modelcare`` command line: check configs, validate a batch, measure drift, run the dev stack.

Works without Airflow: local paths and s3:// URIs (boto3 with the standard AWS environment,
e.g. ``AWS_ENDPOINT_URL`` for the embedded stack). Bad input ends with one line on stderr and
exit code 2; ``validate`` exits 1 for an invalid batch, ``drift`` 1 when drift is detected
only with ``--fail-on-drift``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from include.modelcare.cli.args import add_model_args, model_config
from include.modelcare.cli.incidents import add_incident_commands
from include.modelcare.cli.performance import add_performance_command
from include.modelcare.cli.registry import add_registry_commands
from include.modelcare.config.catalog import config_files, load_model_config, models_dir
from include.modelcare.errors import ConfigError, ModelcareError

EXIT_OK, EXIT_FINDING, EXIT_ERROR = 0, 1, 2


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate config files (default: the whole catalog): the schema, then the timetables and the
    estimator's hyperparameters (the checks DAG parsing is too light for)."""
    from include.modelcare.tasks.catalog import deep_problems

    paths = [Path(p) for p in args.paths] or config_files()
    if not paths:
        raise ConfigError(f"{models_dir()}: no model configs (*.yaml) found")
    failures = 0
    for path in paths:
        try:
            config = load_model_config(path)
        except ConfigError as exc:
            failures += 1
            print(f"INVALID {exc}")
            continue
        problems = deep_problems(config)
        if problems:
            failures += 1
            print(f"INVALID {path}: " + "; ".join(problems))
        else:
            print(f"ok      {path}: {config.name} ({config.task}, {len(config.data.features.all)} features)")
    return EXIT_FINDING if failures else EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate one batch against the model's rules."""
    from include.modelcare.quality.validation import validate_frame
    from include.modelcare.storage.tables import guess_format, read_table

    config = model_config(args)
    frame = read_table(args.data, guess_format(args.data, config.data.format))
    reference = read_table(args.reference, guess_format(args.reference, config.data.format)) if args.reference else None
    result = validate_frame(frame, config, reference)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(("VALID   " if result.success else "INVALID ") + result.headline())
        for check in result.failed:
            print(f"  failed: {check.description}")
    return EXIT_OK if result.success else EXIT_FINDING


def cmd_drift(args: argparse.Namespace) -> int:
    """Drift of a current batch against reference data; optionally write the HTML report."""
    from include.modelcare.quality.drift import compute_drift, report_html
    from include.modelcare.storage.objects import ObjectStore, is_s3
    from include.modelcare.storage.tables import guess_format, read_table

    config = model_config(args)
    store = ObjectStore()
    current = read_table(args.current, guess_format(args.current, config.data.format), store)
    reference = read_table(args.reference, guess_format(args.reference, config.data.format), store)
    result, snapshot = compute_drift(current, reference, config.data.features, config.drift, name=config.name)
    payload: dict[str, Any] = result.to_dict()
    if args.report:
        target = args.report
        if not target.endswith(".html"):
            target = (target.rstrip("/") + "/" if is_s3(target) else str(Path(target)) + "/") + "drift.html"
        store.write_bytes(target, report_html(snapshot), content_type="text/html")
        payload["report_html"] = target
    if args.json:
        print(json.dumps(payload, indent=2))
    else:
        verdict = "DRIFT   " if result.drift_detected else "no drift"
        print(f"{verdict} {result.reason}")
        for col in result.top_features(config.drift.top_features):
            flag = "drifted" if col.drifted else "ok"
            print(f"  {col.name:<24} {col.method:<18} score={col.score:.4g} threshold={col.threshold:.4g} {flag}")
        if args.report:
            print(f"report: {payload['report_html']}")
    return EXIT_FINDING if (args.fail_on_drift and result.drift_detected) else EXIT_OK


def cmd_devstack(args: argparse.Namespace) -> int:
    """Run the embedded AWS emulator and SMTP sink in the foreground."""
    from include.modelcare.dev.devstack import serve

    return serve(host=args.host, aws_port=args.port, smtp_port=args.smtp_port, state_dir=Path(args.state_dir))


def cmd_config_reference(args: argparse.Namespace) -> int:
    """Print the config reference (or write it into a README between its markers)."""
    from include.modelcare.config.reference import markdown, render_into

    if args.write:
        changed = render_into(Path(args.write))
        print(f"{args.write}: {'updated' if changed else 'already up to date'}")
    else:
        print(markdown())
    return EXIT_OK


def cmd_make_lambda_zip(args: argparse.Namespace) -> int:
    """Build the Lambda function's deployment zip (byte-reproducible) from this checkout."""
    import hashlib

    from include.modelcare.serving.package import LAMBDA_HANDLER, build_lambda_zip

    data = build_lambda_zip()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"{out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"handler: {LAMBDA_HANDLER}; runtime python3.11; add scikit-learn, skops, numpy, pandas as a layer")
    return EXIT_OK


def cmd_seed(args: argparse.Namespace) -> int:
    """Write simulated weekly batches of the sample model into its bucket."""
    import datetime as dt

    from include.modelcare.dev.simulate import Scenario, seed_model
    from include.modelcare.storage.objects import ObjectStore

    config = model_config(args)
    end = dt.date.fromisoformat(args.end)
    weeks = [end - dt.timedelta(weeks=i) for i in reversed(range(args.weeks))]
    presets = {"clean": Scenario.clean(), "drifted": Scenario.drifted(), "faulty": Scenario.faulty()}
    written = seed_model(ObjectStore(), config, weeks, {weeks[-1]: presets[args.last]}, rows_per_batch=args.rows)
    print(json.dumps(written, indent=2, default=str))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelcare", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-config", help="validate model config files")
    p.add_argument("paths", nargs="*", help="config files (default: the whole catalog)")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("validate", help="validate a batch (exit 0 valid, 1 invalid, 2 error)")
    add_model_args(p)
    p.add_argument("--data", required=True, help="batch file, directory, or s3:// URI/prefix")
    p.add_argument("--reference", help="reference data to derive ranges and value sets from")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("drift", help="measure drift of a batch against reference data")
    add_model_args(p)
    p.add_argument("--current", required=True, help="current batch (file, directory or s3:// URI)")
    p.add_argument("--reference", required=True, help="reference data (file, directory or s3:// URI)")
    p.add_argument("--report", help="write the HTML report to this directory, .html file or s3:// prefix")
    p.add_argument("--fail-on-drift", action="store_true", help="exit 1 when drift is detected")
    p.set_defaults(func=cmd_drift)

    p = sub.add_parser("devstack", help="run the embedded AWS emulator + SMTP sink on 127.0.0.1")
    p.add_argument("--port", type=int, default=5050, help="AWS emulator port (default 5050)")
    p.add_argument("--smtp-port", type=int, default=2525, help="SMTP sink port (default 2525)")
    p.add_argument("--state-dir", default=".devstack", help="where mails and the env file go")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 inside a container)")
    p.set_defaults(func=cmd_devstack)

    p = sub.add_parser("config-reference", help="print the model config reference (from the pydantic schema)")
    p.add_argument("--write", metavar="README", help="write it into this file between its markers")
    p.set_defaults(func=cmd_config_reference)

    p = sub.add_parser("make-lambda-zip", help="build the serving Lambda function's deployment zip")
    p.add_argument("--out", default="dist/modelcare-lambda.zip", help="where to write the zip")
    p.set_defaults(func=cmd_make_lambda_zip)

    p = sub.add_parser("seed", help="write simulated weekly batches of a model into its bucket")
    add_model_args(p)
    p.add_argument("--weeks", type=int, default=6)
    p.add_argument("--end", required=True, help="date of the last batch (YYYY-MM-DD)")
    p.add_argument("--last", choices=["clean", "drifted", "faulty"], default="drifted")
    p.add_argument("--rows", type=int, default=2000)
    p.set_defaults(func=cmd_seed)

    add_registry_commands(sub)
    add_incident_commands(sub)
    add_performance_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``modelcare`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except ModelcareError as exc:
        print(f"modelcare: error: {exc}", file=sys.stderr)
    except Exception as exc:  # one line, never a traceback, for anything unexpected
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"modelcare: error: {type(exc).__name__}: {first}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
