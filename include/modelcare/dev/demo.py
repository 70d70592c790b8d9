"""``make demo``: monitor, retrain, register, deploy the sample model through Airflow on the embedded AWS stack.

Starts the AWS emulator and the SMTP sink on 127.0.0.1, seeds eight weekly batches of ``customer_churn``
(week 4 faulty; from week 6 the customers and their churn behaviour change), monitors weeks 1-3 and
trains the first model (v1, deployed), then monitors weeks 4-8 with ``dag.test()``, running each
retraining the monitoring DAG queues right after its week. A retraining at the change has the new
behaviour only in its holdout week, so its candidate cannot beat v1 there and the gate (floor, champion,
guardrails) refuses it; the person the refusal reaches forces one retraining on the latest weeks, whose
candidate beats v1 on the new holdout on every guardrail and is deployed (first against a firing alarm:
rollback). The summary is read back from S3, the registry, the mail sink and the SNS topic's SQS inbox.
Everything it writes stays under ``.demo/``. While it runs, a line reaches the terminal at least every 10 s
(``include.modelcare.dev.progress``: each run's end, else which step and task are running);
``.demo/task-seconds.tsv`` has every task's wall seconds.
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from include.modelcare.dev.boto_cache import shared_botocore_loader
from include.modelcare.dev.progress import Progress, task_listener

REPO = Path(__file__).resolve().parents[3]
STATE = REPO / ".demo"
MODEL = "customer_churn"
DEMO_WINDOW_WEEKS = 4
DEMO_BAKE_MINUTES = 0.05


def configure_airflow(home: Path) -> None:
    """A private Airflow home at ``home`` (set before airflow is imported); also used by the benchmarks."""
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


_PARAM_DEFAULTS: dict[str, dict[str, Any]] = {}
PROGRESS = Progress()  # main() replaces it with a running one (heartbeat on)


def _run(dag: Any, when: dt.datetime, conf: dict[str, Any] | None = None, *, what: str = "") -> dict[str, str]:
    # dag.test() leaves a run's conf in the DAG object's params: every run starts from the form's defaults.
    defaults = _PARAM_DEFAULTS.setdefault(dag.dag_id, {k: dag.params[k] for k in dag.params})
    began = time.perf_counter()
    with _output_to(STATE / "dag-runs.log"):
        dr = dag.test(logical_date=when, run_after=when, run_conf={**defaults, **(conf or {})})
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    ran = sum(1 for t in dag.task_ids if states.get(t) not in (None, "skipped"))
    PROGRESS.run_done(dag.dag_id, when.isoformat(), time.perf_counter() - began, what or dag.dag_id, ran)
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
    from include.modelcare.incidents.store import batch_decision

    decision = batch_decision(config, store, day)  # what the incident policy did with this batch, and why
    if decision is not None:
        alert = f"alert sent ({decision.event})" if decision.alert else "no alert"
        lines.append(f"    incident {decision.incident}: {decision.action.upper()}, {alert} - {decision.reason}")
        if decision.person:
            lines.append("    escalated to a person: retraining is not requested again")
    if states.get("trigger_retraining") == "success":
        lines.append(f"    retraining: TRIGGERED (request {paths.retrain_request(day)})")
    elif decision is not None and decision.request:
        lines.append(f"    retraining: requested (request {paths.retrain_request(day)})")
    elif decision is not None:
        lines.append(f"    retraining: not requested (incident {decision.incident}: see why above)")
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


def _describe_gate(record: Any) -> list[str]:
    """The gate's metrics beside the champion's on the same holdout, the rules and the thresholds."""
    from include.modelcare.guardrails import gate_rows
    from include.modelcare.ml.threshold import stored_threshold, threshold_text

    meta = record.metadata
    rows = gate_rows(record.metrics, record.champion_metrics, meta.get("gate"))
    champion_threshold = stored_threshold({"threshold": meta.get("champion_threshold")})
    theirs = f" (champion {threshold_text(champion_threshold)})" if record.champion_metrics else ""
    raw = stored_threshold({"threshold": meta.get("raw_threshold")})
    tuned = (
        f" calibrated (raw {threshold_text(raw)}, tuned on the training part)"
        if raw
        else ", tuned on the training part"
    )
    lines = [f"      decision threshold {threshold_text(stored_threshold(meta))}{tuned}{theirs}"]
    for row in rows:
        if not row["rule"]:
            continue
        champion = f" (champion {row['champion']:.4f})" if row["champion"] is not None else ""
        held = "holds" if row["passed"] else "FAILED"
        lines.append(f"      {row['metric']:<18} {row['candidate']:.4f}{champion}  [{row['rule']}: {held}]")
    return lines


def queued_run(dag_id: str, prefix: str) -> tuple[str, dict[str, Any]] | None:
    """The newest run another DAG queued for ``dag_id`` (run id and conf), read from Airflow's DB.

    ``dag.test()`` cannot pick up a queued run: the demo runs the same DAG with that run's conf
    in-process, under its own run id (a scheduler would run the queued run itself).
    """
    from airflow.models.dagrun import DagRun
    from airflow.settings import Session as make_session

    assert make_session is not None, "Airflow's ORM is not configured"
    with make_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == dag_id, DagRun.run_id.startswith(prefix))
            .order_by(DagRun.id.desc())
            .first()
        )
        return (run.run_id, dict(run.conf or {})) if run is not None else None


def _demo_catalog() -> Path:
    """The sample config with demo settings, in the demo's own catalog (the repo's file stays as it is).

    A 4-week window lets the retrained model learn the changed relation within the demo's 8 weeks. The
    gate keeps the shipped floor and the default guardrails: the simulated new behaviour is learnable, so
    a model trained on it beats the old one on the new holdout on every guardrail, or the gate says why not.
    """
    import yaml

    raw = yaml.safe_load((REPO / "include" / "models" / f"{MODEL}.yaml").read_text())
    raw["training"]["window_weeks"] = DEMO_WINDOW_WEEKS
    # Usage shifts up with the changed customers: a physical bound instead of the range derived from v1's data.
    raw["validation"]["columns"]["data_usage_gb"] = {"min": 0, "max": 1000}
    catalog = STATE / "models"
    catalog.mkdir(parents=True, exist_ok=True)
    (catalog / f"{MODEL}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return catalog


def _live_versions(config: Any, stack: Any) -> str:
    """Which registry version each target serves now, read from the emulated endpoint and alias."""
    from include.modelcare.deploy.targets.lambda_alias import LambdaAlias
    from include.modelcare.deploy.targets.sagemaker import SageMakerEndpoint

    endpoint = SageMakerEndpoint.from_config(config, stack.client("sagemaker")).live()
    function = LambdaAlias.from_config(config, stack.client("lambda")).live()
    return f"SageMaker endpoint serves {_v(endpoint.version)}, Lambda alias serves {_v(function.version)}"


def _v(version: int | None) -> str:
    return f"v{version:04d}" if version is not None else "nothing"


def _describe_deployment(history: Any, states: dict[str, str]) -> list[str]:
    latest = history.entries(limit=1)
    ran = ", ".join(f"{t}={s}" for t, s in states.items() if s != "skipped")
    if not latest:
        return [f"    no deployment recorded; tasks: {ran}"]
    entry = latest[0]
    line = (
        f"    {entry['version_id']} -> {entry['target']} ({entry['strategy']}): {entry['outcome'].upper()}, "
        f"previous {_v(entry['previous_version'])}, by {entry['by']}"
    )
    lines = [line]
    if entry.get("failure"):
        lines.append(f"      failure: {entry['failure']}")
        lines.append(f"      rollback: {entry['rollback']}")
    lines.append(f"      tasks: {ran}")
    return lines


def main(state: Path | None = None, then: Callable[[Any], None] | None = None) -> int:
    """Run the demo and print its summary; ``then(stack)`` runs before the stack stops (``make up``)."""
    global STATE, PROGRESS  # noqa: PLW0603  # helpers write under the state folder; `make up` uses its own
    STATE = state or STATE
    started = time.perf_counter()
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    configure_airflow(STATE / "airflow")
    os.environ["MODELCARE_MODELS_DIR"] = str(_demo_catalog())

    from include.modelcare.config.catalog import get_model_config
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.dev.simulate import Scenario, seed_model
    from include.modelcare.registry.deployments import DeploymentHistory
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

    print("modelcare demo: customer_churn on the embedded AWS stack (no cloud account)", flush=True)
    with Progress() as progress, contextlib.ExitStack() as later:
        # Airflow's DB is created in a child process while the stack starts and the batches are seeded.
        migrate = subprocess.Popen(
            [sys.executable, "-m", "airflow", "db", "migrate"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        later.callback(migrate.kill)  # an early failure leaves no child behind (a no-op once it has ended)
        later.enter_context(shared_botocore_loader())  # each hook's session parses no service JSON again
        stack = later.enter_context(DevStack(mail_dir=STATE / "mail"))
        PROGRESS = progress
        os.environ.update(stack.env())
        config = get_model_config(MODEL)
        assert config.deploy is not None
        inbox = stack.bootstrap(config)
        store = ObjectStore(stack.client("s3"))
        progress.note(f"  AWS emulator {stack.endpoint_url}, SMTP sink 127.0.0.1:{stack.smtp_port} -> {stack.mail_dir}")
        progress.note(
            f"  demo settings: training window {DEMO_WINDOW_WEEKS} weeks, data_usage_gb 0-1000, "
            f"bake {DEMO_BAKE_MINUTES * 60:.0f} s; gate as shipped (floor {config.training.gate.floor}, guardrails) "
            f"(catalog {(STATE / 'models').relative_to(REPO)})"
        )

        weeks = _mondays(dt.date.today(), 8)
        changed = Scenario(covariate_shift=0.6, categorical_shift=0.5, concept_drift=1.0)
        scenarios = {weeks[3]: Scenario.faulty(), **{day: changed for day in weeks[5:]}}
        progress.step(f"  seeding {len(weeks)} weekly batches and their labels ...")
        seed_model(store, config, weeks, scenarios)
        progress.note(
            f"  seeded {len(weeks)} weekly batches {weeks[0]} .. {weeks[-1]} "
            "(week 4 faulty; weeks 6-8: customers and their churn behaviour changed)"
        )

        progress.step("  creating Airflow's metadata DB and parsing the DAGs ...")
        output = migrate.communicate()[0]
        if migrate.returncode:
            raise subprocess.CalledProcessError(migrate.returncode, migrate.args, output)
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(REPO / "dags"))
        with _output_to(STATE / "dag-runs.log"):  # the listener manager loads the plugins: their warnings
            later.enter_context(task_listener(progress))
        if bag.import_errors:
            print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
            return 1
        monitor = bag.dags[f"modelcare_monitor_{MODEL}"]
        retrain = bag.dags[f"modelcare_retrain_{MODEL}"]
        deploy = bag.dags[f"modelcare_deploy_{MODEL}"]
        registry = ModelRegistry(config, store)
        history = DeploymentHistory(config, store)
        metric = config.primary_metric
        fast = {"bake_minutes": DEMO_BAKE_MINUTES}
        default_target = config.deploy.target
        deploy_seconds: dict[str, list[float]] = {"sagemaker": [], "lambda": []}

        def deploy_run(when: dt.datetime, conf: dict[str, Any]) -> dict[str, str]:
            began = time.perf_counter()
            target = conf.get("target") or default_target
            states = _run(deploy, when, {**fast, **conf}, what=f"deployment to {target}")
            deploy_seconds[target].append(time.perf_counter() - began)
            return states

        summary: list[str] = []
        progress.step(f"  monitoring weeks 1-3 and training the first model ({retrain.dag_id}) ...")
        for index, day in enumerate(weeks[:3]):
            _run(monitor, _at(day, 6), what=f"week {index + 1}/{len(weeks)} ({day}) monitored")
        initial_conf = {"reason": "initial model", "end_date": weeks[2].isoformat()}
        initial = _run(retrain, _at(weeks[2], 7), initial_conf, what="first model trained and registered")
        first = registry.get("latest")
        summary.append(f"initial model: {_describe_version(first, metric)}")
        summary += _describe_gate(first)
        summary.append(f"    tasks: {', '.join(f'{t}={s}' for t, s in initial.items() if s != 'skipped')}")

        progress.step(f"  deploying {first.version_id} ({deploy.dag_id}) to SageMaker and Lambda ...")
        queued = queued_run(deploy.dag_id, "handoff__")
        summary.append(
            f"deployment of {first.version_id}, queued by the retraining DAG as {queued[0] if queued else '-'}:"
        )
        summary += _describe_deployment(history, deploy_run(_at(weeks[2], 8), queued[1] if queued else {}))
        states = deploy_run(
            _at(weeks[2], 9),
            {"version": first.version_id, "target": "lambda", "reason": "serve on Lambda too", "requested_by": "demo"},
        )
        summary += _describe_deployment(history, states)
        summary.append(f"    {_live_versions(config, stack)}")

        queued_retrainings = 0
        for index, label in ((3, "faulty"), (4, "clean"), (5, "changed"), (6, "changed"), (7, "changed")):
            day = weeks[index]
            progress.step(f"  running {monitor.dag_id} for {day} ...")
            states = _run(monitor, _at(day, 6), what=f"week {index + 1}/{len(weeks)} ({day}) monitored")
            summary += _describe_week(config, store, day, states, label)
            triggered = queued_run(retrain.dag_id, f"monitoring__{day.isoformat()}")
            if triggered is not None:  # a scheduler would run the queued run at once: so does the demo
                queued_retrainings += 1
                run_id, conf = triggered
                progress.step(f"  running the retraining the monitoring DAG queued ({run_id}) with its conf ...")
                title = f"retraining queued as {run_id}, executed with its conf by dag.test()"
                summary += _retraining(retrain, _at(day, 7), conf, registry, metric=metric, title=title)
        if not queued_retrainings:
            print("the monitoring DAG queued no retraining; see .demo/dag-runs.log", file=sys.stderr)
            return 1

        second = registry.get("latest")
        if second.status == "Rejected" and second.version > first.version:
            # The person the refusal went to: a retraining at the change had the new behaviour only in its
            # holdout; with three weeks of it now, they force one retraining on the latest weeks.
            conf = {
                "reason": f"forced by a person after the gate refused {second.version_id}: retrain on the latest weeks"
            }
            progress.step(f"  a person forces one retraining on the latest weeks ({retrain.dag_id}) ...")
            title = f"retraining forced by a person on {weeks[7]} (the gate refused {second.version_id})"
            summary += _retraining(retrain, _at(weeks[7], 7), conf, registry, metric=metric, title=title)
            second = registry.get("latest")
        handoff = queued_run(deploy.dag_id, "handoff__")
        if second.status == "Rejected":  # the gate refused it: nothing is deployed, and the summary says why
            summary.append(
                f"    {second.version_id} REFUSED by the gate: not deployed; production stays "
                f"{_v(_production(registry))} and the next step is a person's (see the reasons above)"
            )
            _print_summary(summary, stack, inbox, deploy_seconds, started)
            if then is not None:
                then(stack)
            return 0
        if second.status != "Approved" or handoff is None or handoff[1].get("version") != second.version_id:
            print(f"{second.version_id} was not handed to deployment; see the summary so far:", file=sys.stderr)
            print("\n".join(summary), file=sys.stderr)
            return 1

        progress.step(f"  deploying {second.version_id}: first with an alarm firing (rollback), then for real ...")
        alarm = config.deploy.alarms[0]
        cloudwatch = stack.client("cloudwatch")
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="demo: 5XX errors after the shift")
        summary.append(f"deployment of {second.version_id} (queued as {handoff[0]}) while alarm {alarm} fires:")
        summary += _describe_deployment(history, deploy_run(_at(weeks[7], 8), handoff[1]))
        summary.append(f"    {_live_versions(config, stack)}; production alias: {_v(_production(registry))}")
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="demo: incident resolved")
        summary.append(f"deployment of {second.version_id} again after the alarm cleared:")
        summary += _describe_deployment(history, deploy_run(_at(weeks[7], 9), handoff[1]))
        states = deploy_run(
            _at(weeks[7], 10),
            {
                "version": second.version_id,
                "target": "lambda",
                "strategy": "canary",
                "reason": "serve on Lambda too",
                "requested_by": "demo",
            },
        )
        summary += _describe_deployment(history, states)
        summary.append(f"    {_live_versions(config, stack)}; production alias: {_v(_production(registry))}")

        from include.modelcare.cli.main import main as cli_main

        summary.append("\n$ modelcare registry list --model customer_churn")
        with contextlib.redirect_stdout(io.StringIO()) as listing:
            cli_main(["registry", "list", "--model", MODEL])
        summary += listing.getvalue().rstrip().splitlines()

        _print_summary(summary, stack, inbox, deploy_seconds, started)
        if then is not None:
            then(stack)
    return 0


def _retraining(
    dag: Any, when: dt.datetime, conf: dict[str, Any], registry: Any, *, metric: str, title: str
) -> list[str]:
    """Run the retraining DAG with ``conf``; the lines saying what it registered and what the gate decided."""
    states = _run(dag, when, conf, what="retraining")
    record = registry.get("latest")
    return [
        title,
        f"    reason: {conf.get('reason', '-')}",
        f"    tasks: {', '.join(f'{t}={s}' for t, s in states.items() if s != 'skipped')}",
        f"    registered {_describe_version(record, metric)}",
        *_describe_gate(record),
    ]


def _print_summary(
    summary: list[str], stack: Any, inbox: Any, deploy_seconds: dict[str, list[float]], started: float
) -> None:
    from include.modelcare.dev import emulator
    from include.modelcare.dev.bootstrap import read_sns_messages
    from include.modelcare.dev.mail import read_mails

    PROGRESS.close()  # the heartbeat stops: what follows is the summary
    PROGRESS.write_seconds(STATE / "task-seconds.tsv")
    served = sorted({c["call"] for c in emulator.STATE.invocations})
    mails = read_mails(stack.mail_dir)
    sns = read_sns_messages(inbox.queue_url, stack.client("sqs")) if inbox.queue_url else []

    print("\n=== modelcare demo summary ===")
    print("\n".join(summary))
    print(f"\nalerts: {len(mails)} email(s) in {STATE.relative_to(REPO)}/mail, {len(sns)} SNS message(s)")
    for mail in mails:
        print(f"  email to {mail['To']}: {mail['Subject']}")
    for message in sns:
        print(f"  SNS: {message.get('Subject')}")
    print(
        f"\nserved by modelcare's emulator extension (not by moto, not by AWS): {', '.join(served)} "
        f"({len(emulator.STATE.invocations)} calls)"
    )
    for target, seconds in deploy_seconds.items():
        if seconds:
            print(f"deployment wall time, {target}: {', '.join(f'{s:.1f}' for s in seconds)} s (dag.test, incl. bake)")
    print(f"Airflow task logs of these runs: {(STATE / 'dag-runs.log').relative_to(REPO)}")
    print(f"\nwall time: {time.perf_counter() - started:.1f} s")


def _production(registry: Any) -> int | None:
    alias = registry.alias("production")
    return alias.version if alias is not None else None


if __name__ == "__main__":
    sys.exit(main())
