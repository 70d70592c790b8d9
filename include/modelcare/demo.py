"""``make demo``: monitor -> retrain -> register for the sample model, through Airflow, on the embedded AWS stack.

Starts the AWS emulator and the SMTP sink on 127.0.0.1, seeds six weekly batches of
``customer_churn`` (week 4 faulty, week 6 drifted), monitors weeks 1-3 and trains the first model
(v1, put in production), monitors weeks 4-6 with ``dag.test()``, runs the retraining the drifted week
triggered (v2 judged against v1) and prints what happened, read back from S3, the registry, the
mail sink and the SNS topic's SQS inbox. Everything it writes stays under ``.demo/``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / ".demo"
MODEL = "customer_churn"


def _configure_airflow() -> None:
    """A private Airflow home for the demo (set before airflow is imported)."""
    home = STATE / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _mondays(last: dt.date, n: int) -> list[dt.date]:
    last = last - dt.timedelta(days=last.weekday())
    return [last - dt.timedelta(weeks=i) for i in reversed(range(n))]


@contextlib.contextmanager
def _output_to(log_path: Path) -> Iterator[None]:
    """Send everything written to fd 1/2 (Airflow's task logs, tracebacks of failed tasks) to a file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _run(dag: Any, when: dt.datetime, conf: dict[str, Any] | None = None) -> dict[str, str]:
    with _output_to(STATE / "dag-runs.log"):
        dr = dag.test(logical_date=when, run_after=when, run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    return {t: states[t] for t in dag.task_ids if t in states}


def _describe_week(config: Any, store: Any, day: dt.date, states: dict[str, str], label: str) -> list[str]:
    paths = config.paths
    ran = ", ".join(f"{t}={s}" for t, s in states.items() if s != "skipped")
    lines = [f"{day.isoformat()}  {label:<8} tasks: {ran}"]
    if states.get("report_missing_batch") == "success":
        lines.append(f"    batch: MISSING at {paths.incoming(day)} (alerted)")
        return lines
    if states.get("validate_batch") == "failed":
        reason = store.read_json(paths.quarantine(day) + "_REASON.json")
        lines.append(f"    validation: FAILED - {reason['headline']}")
        lines.append(f"    quarantined at {reason['quarantine']} (reason: {reason['quarantine']}_REASON.json)")
        lines.append("    drift and retraining: not run (nothing downstream consumes a quarantined batch)")
        return lines
    validation = store.read_json(paths.validation_result(day))
    checks = validation.get("checks", [])
    lines.append(f"    validation: passed ({len(checks)} checks on {validation['rows']:,} rows)")
    drift = store.read_json(paths.reports(day) + "drift.json")
    lines.append(f"    {'DRIFT' if drift['drift_detected'] else 'drift'}: {drift['reason']}")
    for name in drift["top_features"]:  # drifted features, most drifted first
        col = drift["columns"][name]
        lines.append(
            f"      {name:<18} {col['method']:<18} score {col['score']:.3g} (threshold {col['threshold']:.3g})"
        )
    local = STATE / "reports" / day.isoformat() / "drift.html"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(store.read_bytes(drift["report_html"]))
    lines.append(f"    report: {drift['report_html']}  (copy: {local.relative_to(REPO)})")
    prediction = drift.get("prediction_drift")
    if prediction:
        state = "DRIFTED" if prediction["drifted"] else "stable"
        lines.append(
            f"    prediction drift (production v{prediction['version']}): {state}, "
            f"mean score {prediction['mean_reference']:.3f} -> {prediction['mean_current']:.3f}"
        )
    if states.get("trigger_retraining") == "success":
        lines.append(f"    retraining: TRIGGERED (request {paths.retrain_request(day)})")
    else:
        lines.append("    retraining: not needed")
    return lines


def _describe_version(record: Any, metric: str) -> str:
    meta = record.metadata
    candidate = meta["metrics"]["candidate"][metric]
    champion = (meta["metrics"].get("champion") or {}).get(metric)
    beside = f"champion v{meta['parent_version']:04d} {champion:.4f}" if champion is not None else "no champion yet"
    return (
        f"{record.version_id} {record.status}: {metric} {candidate:.4f} ({beside}); "
        f"trained on {meta['rows']['train']:,} rows of {', '.join(meta['batches'])}; "
        f"gate: {'; '.join(meta['gate']['reasons'])}"
    )


def _triggered_retraining(dag_id: str) -> tuple[str, dict[str, Any]] | None:
    """The retraining run the monitoring DAG queued (run id and conf), read from Airflow's DB."""
    from airflow import settings
    from airflow.models.dagrun import DagRun

    make_session = settings.Session
    assert make_session is not None, "Airflow's ORM is not configured"
    with make_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id, DagRun.run_id.startswith("monitoring__"))
            .order_by(DagRun.id.desc())
            .first()
        )
        return (run.run_id, dict(run.conf or {})) if run is not None else None


def main() -> int:
    """Run the demo and print its summary."""
    started = time.perf_counter()
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    _configure_airflow()

    from include.modelcare.config import get_model_config
    from include.modelcare.devstack import DevStack, read_mails, read_sns_messages
    from include.modelcare.registry import ModelRegistry
    from include.modelcare.simulate import Scenario, seed_model
    from include.modelcare.storage import ObjectStore

    print("modelcare demo: monitoring customer_churn on the embedded AWS stack (no cloud account)")
    with DevStack(mail_dir=STATE / "mail") as stack:
        os.environ.update(stack.env())
        config = get_model_config(MODEL)
        inbox = stack.bootstrap(config)
        store = ObjectStore(stack.client("s3"))
        print(f"  AWS emulator {stack.endpoint_url}, SMTP sink 127.0.0.1:{stack.smtp_port} -> {stack.mail_dir}")

        weeks = _mondays(dt.date.today(), 6)
        scenarios = {weeks[3]: Scenario.faulty(), weeks[5]: Scenario.drifted()}
        seed_model(store, config, weeks, scenarios)
        print(f"  seeded {len(weeks)} weekly batches {weeks[0]} .. {weeks[-1]} (week 4 faulty, week 6 drifted)")

        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(REPO / "dags"))
        if bag.import_errors:
            print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
            return 1
        monitor = bag.dags[f"modelcare_monitor_{MODEL}"]
        retrain = bag.dags[f"modelcare_retrain_{MODEL}"]
        registry = ModelRegistry(config, store)
        metric = config.primary_metric

        summary: list[str] = []
        print(f"  monitoring the first three weeks and training the first model ({retrain.dag_id}) ...", flush=True)
        for day in weeks[:3]:
            _run(monitor, _at(day, 6))
        initial = _run(retrain, _at(weeks[2], 7), {"reason": "initial model", "end_date": weeks[2].isoformat()})
        first = registry.get("latest")
        summary.append(f"initial model: {_describe_version(first, metric)}")
        summary.append(f"    tasks: {', '.join(f'{t}={s}' for t, s in initial.items() if s != 'skipped')}")
        if first.status == "Approved":
            # The deployment DAG arrives with the next milestone; until then the demo moves the alias itself.
            registry.set_alias(
                "production", first.version, by="demo", why="initial deployment (stand-in for deploy DAG)"
            )
            summary.append(
                f"    production -> {first.version_id} (set by the demo: the deployment DAG is not built yet)"
            )

        for day, label in ((weeks[3], "faulty"), (weeks[4], "clean"), (weeks[5], "drifted")):
            print(f"  running {monitor.dag_id} for {day} ...", flush=True)
            states = _run(monitor, _at(day, 6))
            summary += _describe_week(config, store, day, states, label)

        triggered = _triggered_retraining(retrain.dag_id)
        if triggered is not None:
            run_id, conf = triggered
            # dag.test() cannot pick up a queued run: it runs the same DAG with the queued run's conf
            # in-process, under its own run id (a scheduler would run the queued run itself).
            print(f"  running the retraining the monitoring DAG queued ({run_id}) with its conf ...", flush=True)
            states = _run(retrain, _at(weeks[5], 7), conf)
            summary.append(f"retraining queued as {run_id}, executed with its conf by dag.test()")
            summary.append(f"    reason: {conf.get('reason', '-')}")
            summary.append(f"    tasks: {', '.join(f'{t}={s}' for t, s in states.items() if s != 'skipped')}")
            latest = registry.get("latest")
            summary.append(f"    registered {_describe_version(latest, metric)}")
            handoff = f"{config.paths.handoffs()}{latest.version_id}.json"
            summary.append(
                f"    hand-off to deployment: {handoff}"
                if store.exists(handoff)
                else "    hand-off to deployment: none"
            )

        from include.modelcare.cli import main as cli_main

        summary.append("\n$ modelcare registry list --model customer_churn")
        with contextlib.redirect_stdout(io.StringIO()) as listing:
            cli_main(["registry", "list", "--model", MODEL])
        summary += listing.getvalue().rstrip().splitlines()

        mails = read_mails(stack.mail_dir)
        sns = read_sns_messages(inbox.queue_url, stack.client("sqs")) if inbox.queue_url else []

    print("\n=== modelcare demo summary ===")
    print("\n".join(summary))
    print(f"\nalerts: {len(mails)} email(s) in {STATE.relative_to(REPO)}/mail, {len(sns)} SNS message(s)")
    for mail in mails:
        print(f"  email to {mail['To']}: {mail['Subject']}")
    for message in sns:
        print(f"  SNS: {message.get('Subject')}")
    print(f"Airflow task logs of these runs: {(STATE / 'dag-runs.log').relative_to(REPO)}")
    print(f"\nwall time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
