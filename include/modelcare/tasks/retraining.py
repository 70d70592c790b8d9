"""The retraining DAG's task bodies: train, evaluate, gate, register, approve, hand off.

The training set (step 1) is ``tasks.training_set``; the decisions (window, gate, initial status) are
``policy``. Each task is idempotent for its run: the training folder is keyed by the run, and the
registry returns the existing version when the same run registers again. Every task body goes
through ``task_boundary``: a domain error (``TrainingError``, ``InvalidHyperparameters``,
``DataNotFound``...) fails the task without retries; S3, network or API trouble is retried.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataNotFound, TrainingError
from include.modelcare.operators.alerts import Alert, send_alert
from include.modelcare.operators.defaults import dag_id
from include.modelcare.policy import initial_status
from include.modelcare.registry.factory import open_registry
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.tasks.boundary import task_boundary
from include.modelcare.tasks.context import RunInfo, task_setup
from include.modelcare.tasks.training_set import (
    BATCH_DAY,
    code_version,
    hyperparameters,
    run_key,
    run_slug,
    split_holdout,
)

log = logging.getLogger(__name__)

ASSEMBLE = "assemble_training_set"
TRAIN = "train_candidate"
PREPARE_SAGEMAKER = "prepare_sagemaker_job"
SAGEMAKER_TRAIN = "sagemaker_training_job"
COLLECT_SAGEMAKER = "collect_sagemaker_model"
EVALUATE = "evaluate_candidate"
REGISTER = "register_candidate"
ROUTE_APPROVAL = "route_approval"
AWAIT_APPROVAL = "await_approval"
HAND_OFF = "hand_off"
SHOULD_DEPLOY = "should_deploy"
TRIGGER_DEPLOYMENT = "trigger_deployment"


def deploy_dag_id(model: str) -> str:
    """The deployment DAG of a model."""
    return dag_id("deploy", model)


# -- 2. train --------------------------------------------------------------------------------------
def _training_part(
    model: str, context: Mapping[str, Any]
) -> tuple[ModelConfig, RunInfo, ObjectStore, dict[str, Any], tuple[Any, Any]]:
    """Config, run, store, checked hyperparameters, and the (train, holdout) split of the run's data set."""
    from include.modelcare.storage.tables import read_table

    config, run, store = task_setup(model, context)
    assembled = context["ti"].xcom_pull(task_ids=ASSEMBLE)
    dataset = read_table(assembled["dataset_uri"], "parquet", store)
    return config, run, store, hyperparameters(config, run), split_holdout(config, dataset)


@task_boundary
def train_candidate(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Fit the configured pipeline on the training part (local backend); store it with skops."""
    from include.modelcare.ml.serialization import dump_model
    from include.modelcare.ml.training import fit

    config, run, store, params, (train, holdout) = _training_part(model, context)
    pipeline, seconds = fit(config, params, train)
    folder = config.paths.training_run(run_slug(run))
    store.write_bytes(folder + "model.skops", dump_model(pipeline))
    log.info("%s: trained %s on %d rows in %.2f s", config.name, config.training.estimator, len(train), seconds)
    return {
        "model_uri": folder + "model.skops",
        "backend": "local",
        "estimator": config.training.estimator,
        "params": params,
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "fit_seconds": round(seconds, 3),
    }


@task_boundary
def prepare_sagemaker_job(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Upload the training part and the source tarball; return the CreateTrainingJob request."""
    from include.modelcare.ml.training import build_source_tarball, sagemaker_training_config
    from include.modelcare.storage.tables import to_bytes

    config, run, store, params, (train, _) = _training_part(model, context)
    folder = config.paths.training_run(run_slug(run))
    store.write_bytes(folder + "sagemaker/train/train.parquet", to_bytes(train, "parquet"))
    store.write_bytes(folder + "sagemaker/source.tar.gz", build_source_tarball())
    job_name = re.sub(r"[^A-Za-z0-9-]", "-", f"{config.name}-{run_slug(run)}")[:63].strip("-")
    return sagemaker_training_config(
        config,
        job_name=job_name,
        train_uri=folder + "sagemaker/train/",
        output_uri=folder + "sagemaker/output/",
        code_uri=folder + "sagemaker/source.tar.gz",
        params=params,
    )


@task_boundary
def collect_sagemaker_model(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Take model.skops out of the job's model.tar.gz into the run's training folder."""
    import io
    import tarfile

    config, run, store = task_setup(model, context)
    request = context["ti"].xcom_pull(task_ids=PREPARE_SAGEMAKER)
    job = request["TrainingJobName"]
    artifact = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job}/output/model.tar.gz"
    try:
        raw = store.read_bytes(artifact)
    except DataNotFound:
        # A domain error (final, not retried): waiting cannot produce an artifact a finished job did not write.
        raise TrainingError(
            f"training job {job} reported Completed but wrote no model at {artifact} "
            "(the embedded AWS emulator accepts training jobs but does not run their containers)"
        ) from None
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        member = tar.extractfile("model.skops")
        if member is None:
            raise TrainingError(f"{artifact} holds no model.skops")
        folder = config.paths.training_run(run_slug(run))
        store.write_bytes(folder + "model.skops", member.read())
    assembled = context["ti"].xcom_pull(task_ids=ASSEMBLE)
    return {
        "model_uri": folder + "model.skops",
        "backend": "sagemaker",
        "training_job": job,
        "estimator": config.training.estimator,
        "params": hyperparameters(config, run),
        "train_rows": None,
        "holdout_rows": None,
        "dataset_rows": assembled["rows"],
    }


# -- 3. evaluate and gate ----------------------------------------------------------------------------
@task_boundary
def evaluate_candidate(model: str, context: Mapping[str, Any], train_task: str) -> dict[str, Any]:
    """Decision threshold (tuned on the training part), the calibrator (fitted on the holdout,
    ``tasks.retraining_calibration``), then the metrics of the candidate as it will be served and of the
    production model (champion, with ITS stored calibrator and threshold) on the same holdout; the gate."""
    from include.modelcare.ml.evaluation import evaluate
    from include.modelcare.ml.serialization import load_model
    from include.modelcare.ml.threshold import choose_threshold
    from include.modelcare.policy import gate
    from include.modelcare.storage.tables import read_table
    from include.modelcare.tasks.retraining_calibration import calibrate_candidate, score_champion

    config, run, store = task_setup(model, context)
    assembled = context["ti"].xcom_pull(task_ids=ASSEMBLE)
    trained = context["ti"].xcom_pull(task_ids=train_task)
    dataset = read_table(assembled["dataset_uri"], "parquet", store)
    train, holdout = split_holdout(config, dataset)
    threshold = choose_threshold(config, trained["params"], train)
    target = config.data.target
    train_mean = float(train[target].mean()) if config.task == "regression" else None
    candidate = load_model(store.read_bytes(trained["model_uri"]))
    folder = config.paths.training_run(run_slug(run))
    calibration = calibrate_candidate(config, candidate, holdout, threshold.value, store=store, folder=folder)
    candidate_metrics = evaluate(  # as it will be served: calibrated scores, the calibrated threshold
        candidate,
        holdout,
        config,
        threshold=calibration.threshold,
        train_mean=train_mean,
        calibrator=calibration.calibrator,
    )

    champion = score_champion(config, open_registry(config, store), holdout, train_mean=train_mean)
    classes = int(holdout[target].nunique()) if config.task == "classification" else None
    decision = gate(config, candidate_metrics, champion["champion"], classes=classes)  # logs its verdict
    return {
        "candidate": candidate_metrics,
        **champion,  # champion (metrics), champion_version, champion_threshold, champion_calibrated
        "threshold": threshold.to_dict(),
        "served_threshold": calibration.threshold,
        "calibration": calibration.summary,
        "calibration_note": calibration.note,
        "holdout_days": sorted(holdout[BATCH_DAY].unique().tolist()),
        "holdout_rows": len(holdout),
        "gate": decision.to_dict(),
    }


def gate_figures(evaluated: Mapping[str, Any]) -> dict[str, str]:
    """Every gate metric of the candidate beside the champion's (same holdout rows), the rule it had to meet,
    both decision thresholds and the calibration: what the registration e-mail and the approval request show."""
    from include.modelcare.guardrails import gate_rows
    from include.modelcare.ml.threshold import threshold_text
    from include.modelcare.tasks.retraining_calibration import calibration_figure

    figures: dict[str, str] = {}
    for row in gate_rows(evaluated["candidate"], evaluated.get("champion"), evaluated.get("gate")):
        beside = f" (champion {row['champion']:.4f})" if row["champion"] is not None else ""
        verdict = {None: "", True: ": holds", False: ": FAILED"}[row["passed"]]
        rule = f" [{row['rule']}{verdict}]" if row["rule"] else ""
        figures[f"candidate {row['metric']}"] = f"{row['candidate']:.4f}{beside}{rule}"
    raw = (evaluated.get("threshold") or {}).get("value")
    mine = evaluated.get("served_threshold", raw)
    theirs = evaluated.get("champion_threshold")
    if mine is not None or theirs is not None:
        beside = f" (champion {threshold_text(theirs)})" if evaluated.get("champion") else ""
        scale = f" calibrated (raw {threshold_text(raw)})" if evaluated.get("calibration") else ""
        figures["decision threshold"] = f"{threshold_text(mine)}{scale}{beside}"
    calibration = calibration_figure(evaluated)
    if calibration is not None:
        figures["calibration"] = calibration
    rows = evaluated.get("holdout_rows")
    days = ", ".join(map(str, evaluated.get("holdout_days") or []))
    figures["holdout"] = f"{rows:,} rows of {days}" if rows else days
    return figures


# -- 4. register --------------------------------------------------------------------------------------
@task_boundary
def register_candidate(model: str, context: Mapping[str, Any], train_task: str) -> dict[str, Any]:
    """Register the candidate (also a rejected one, for the audit trail) with metadata and lineage; a
    calibrated one with its calibrator and both thresholds (``threshold`` calibrated, ``raw_threshold``)."""
    from include.modelcare.storage.tables import read_table
    from include.modelcare.tasks.retraining_calibration import registered_calibration

    config, run, store = task_setup(model, context)
    ti = context["ti"]
    assembled = ti.xcom_pull(task_ids=ASSEMBLE)
    trained = ti.xcom_pull(task_ids=train_task)
    evaluated = ti.xcom_pull(task_ids=EVALUATE)
    manifest = store.read_json(assembled["manifest_uri"])
    dataset = read_table(assembled["dataset_uri"], "parquet", store)
    columns = [config.data.id_column, *config.data.features.all, config.data.target]
    reference = dataset[columns].sample(
        n=min(config.training.reference_rows, len(dataset)), random_state=config.training.seed
    )
    gate_result = evaluated["gate"]
    status = initial_status(gate_result["passed"], config.training.approval)
    metadata = {
        "model": config.name,
        "task": config.task,
        "features": {"numerical": config.data.features.numerical, "categorical": config.data.features.categorical},
        "target": config.data.target,
        "id_column": config.data.id_column,
        "estimator": trained["estimator"],
        "params": trained["params"],
        "backend": trained["backend"],
        "training_window": assembled["window"],
        "batches": assembled["batches"],
        "validation_results": manifest["validation_results"],
        "inputs": manifest["inputs"],
        "fingerprint": assembled["fingerprint"],
        "rows": {
            "dataset": assembled["rows"],
            "train": trained.get("train_rows"),
            "holdout": trained.get("holdout_rows"),
        },
        "holdout_days": evaluated["holdout_days"],
        "metrics": {"candidate": evaluated["candidate"], "champion": evaluated["champion"]},
        **registered_calibration(evaluated, store),  # threshold, raw_threshold, calibration, calibration_note
        "threshold_choice": evaluated.get("threshold"),
        "champion_threshold": evaluated.get("champion_threshold"),
        "primary_metric": config.primary_metric,
        "gate": gate_result,
        "parent_version": evaluated["champion_version"],
        "trigger": {
            "reason": run.params.get("reason") or "schedule",
            "drift_report": run.params.get("drift_report"),
            "request_uri": run.params.get("request_uri"),
        },
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "run_url": run.run_url,
        "code_version": code_version(),
        "fit_seconds": trained.get("fit_seconds"),
    }
    approval = "gate" if status == "Rejected" else config.training.approval
    record = open_registry(config, store).register(
        model_bytes=store.read_bytes(trained["model_uri"]),
        reference=reference,
        metadata=metadata,
        status=status,
        reasons=gate_result["reasons"] + ([f"approval: {approval}"] if status != "Rejected" else []),
        run_key=run_key(run),
        actor=f"airflow:{run.dag_id}",
    )
    log.info("%s: registered %s as %s", config.name, record.version_id, record.status)
    return {"version": record.version, "version_id": record.version_id, "status": record.status, "uri": record.uri}


@task_boundary
def route_approval(model: str, context: Mapping[str, Any]) -> str:
    """Branch: wait for a person when the version is pending, else go straight to the hand-off."""
    registered = context["ti"].xcom_pull(task_ids=REGISTER)
    return AWAIT_APPROVAL if registered["status"] == "PendingManualApproval" else HAND_OFF


@task_boundary
def record_approval(model: str, context: Mapping[str, Any], chosen: str, responded_by: str | None) -> str:
    """Write a person's answer (Approve/Reject in Airflow's Required Actions) into the registry."""
    config, run, store = task_setup(model, context)
    registered = context["ti"].xcom_pull(task_ids=REGISTER)
    registry = open_registry(config, store)
    who = responded_by or "unknown"
    why = f"answered in Airflow Required Actions ({run.dag_id}/{run.run_id})"
    if chosen == "Approve":
        record = registry.approve(registered["version"], by=who, why=why)
    else:
        record = registry.reject(registered["version"], by=who, why=why)
    log.info("%s %s is now %s (by %s)", config.name, record.version_id, record.status, who)
    return str(record.status)


# -- 5. hand off and alert -----------------------------------------------------------------------------
@task_boundary
def hand_off(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Hand an approved version to deployment (when auto_deploy); record the hand-off plainly."""
    config, run, store = task_setup(model, context)
    registered = context["ti"].xcom_pull(task_ids=REGISTER)
    record = open_registry(config, store).get(registered["version"])
    auto_deploy = run.params.get("auto_deploy")
    auto_deploy = config.training.auto_deploy if auto_deploy is None else bool(auto_deploy)
    outcome: dict[str, Any] = {
        "version": record.version,
        "version_id": record.version_id,
        "status": record.status,
        "deploy": False,
    }
    if record.status != "Approved":
        outcome["handoff"] = f"none: {record.version_id} is {record.status}"
    elif not auto_deploy:
        outcome["handoff"] = "none: auto_deploy is off (deploy by hand)"
    elif config.deploy is None:
        outcome["handoff"] = "none: the config has no deploy section"
    else:
        uri = f"{config.paths.handoffs()}{record.version_id}.json"
        payload = {
            "model": config.name,
            "version": record.version,
            "deploy_dag_id": deploy_dag_id(config.name),
            "conf": deployment_conf(record.version_id, run),
            "requested_by": {"dag_id": run.dag_id, "run_id": run.run_id, "url": run.run_url},
        }
        store.create_exclusive(uri, json.dumps(payload, indent=2).encode(), content_type="application/json")
        outcome.update(handoff=uri, deploy=True, conf=payload["conf"])
    log.info("%s %s: hand-off: %s", config.name, record.version_id, outcome["handoff"])
    return outcome


def deployment_conf(version_id: str, run: RunInfo) -> dict[str, Any]:
    """The deployment DAG's conf for a version handed off by this run."""
    return {
        "version": version_id,
        "reason": f"approved by retraining ({run.params.get('reason') or 'schedule'})",
        "requested_by": f"airflow:{run.dag_id}",
    }


def should_deploy(context: Mapping[str, Any]) -> bool:
    """Short-circuit: trigger the deployment DAG only when the hand-off says so."""
    return bool((context["ti"].xcom_pull(task_ids=HAND_OFF) or {}).get("deploy"))


@task_boundary
def alert_registration(model: str, context: Mapping[str, Any]) -> dict[str, str]:
    """Email + SNS: registered vN with its metrics beside the champion's, or rejected with the reasons."""
    config, run, store = task_setup(model, context)
    ti = context["ti"]
    registered = ti.xcom_pull(task_ids=REGISTER)
    evaluated = ti.xcom_pull(task_ids=EVALUATE)
    metric = config.primary_metric
    figures: dict[str, Any] = dict(gate_figures(evaluated))
    figures["champion"] = (
        f"v{evaluated['champion_version']:04d}" if evaluated["champion_version"] else "none (first model)"
    )
    figures["status"] = registered["status"]
    verb = {"Rejected": "rejected", "PendingManualApproval": "registered, waiting for approval"}.get(
        registered["status"], "registered and approved"
    )
    alert = Alert(
        model=config.name,
        day=run.day,
        kind=f"{'rejected' if registered['status'] == 'Rejected' else 'registered'}.{registered['version_id']}",
        summary=f"{config.name} {registered['version_id']} {verb}: {'; '.join(evaluated['gate']['reasons'])} "
        f"(primary metric {metric})",
        figures=figures,
        report_uri=registered["uri"],
        run_url=run.run_url,
    )
    return send_alert(alert, config, store, context)


def approval_body(model: str, context: Mapping[str, Any], intro: str) -> str:
    """The approval request's text: ``intro``, the gate's verdict, and every gate metric beside the champion's."""
    ti = context["ti"]
    registered = ti.xcom_pull(task_ids=REGISTER) or {}
    evaluated = ti.xcom_pull(task_ids=EVALUATE) or {}
    if not evaluated:
        return intro
    champion = evaluated.get("champion_version")
    rows = [f"| {name} | {value} |" for name, value in gate_figures(evaluated).items()]
    return "\n".join(
        [
            intro,
            "",
            f"**{registered.get('version_id', 'candidate')}** against "
            f"{f'champion v{champion:04d}' if champion else 'no champion (first model)'}, same holdout rows:",
            "",
            "| metric | value |",
            "|---|---|",
            *rows,
            "",
            "Gate: " + "; ".join(evaluated["gate"]["reasons"]),
        ]
    )


def approval_needed_alert(model: str, context: Mapping[str, Any], link: str) -> dict[str, str]:
    """Email + SNS with the link to Airflow's Required Actions page."""
    config, run, store = task_setup(model, context)
    registered = context["ti"].xcom_pull(task_ids=REGISTER)
    alert = Alert(
        model=config.name,
        day=run.day,
        kind=f"approval_needed.{registered['version_id']}",
        summary=f"{config.name} {registered['version_id']} passed the gate and waits for approval: {link}",
        figures={"approve or reject": link, "timeout_hours": config.training.approval_timeout_hours},
        report_uri=registered["uri"],
        run_url=run.run_url,
    )
    return send_alert(alert, config, store, context)
