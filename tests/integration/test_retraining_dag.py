"""Retraining end to end with dag.test(): monitoring triggers it, the registry records every candidate."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.conftest import Harness
from tests.integration.hitl import answer_when_waiting

pytestmark = pytest.mark.integration

WEEKS = [dt.date(2026, 4, 6) + dt.timedelta(weeks=i) for i in range(5)]  # Mondays; the last one drifts


def _retrain_runs(model: str) -> dict[str, dict]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == f"modelcare_retrain_{model}").all()
        return {r.run_id: dict(r.conf or {}) for r in runs}


def _monitor_weeks(h: Harness, weeks: list[dt.date]) -> None:
    for day in weeks:
        states = h.run(day)
        assert states["validate_batch"] == "success", (day, states)


def test_drift_triggers_retraining_which_registers_and_hands_off(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    h = harness
    h.seed_weeks(WEEKS, {WEEKS[-1]: Scenario.drifted()})
    _monitor_weeks(h, WEEKS[:-1])
    states = h.run(WEEKS[-1])
    assert states["request_retraining"] == "success" and states["trigger_retraining"] == "success"

    runs = _retrain_runs("customer_churn")
    run_id = f"monitoring__{WEEKS[-1].isoformat()}"
    assert run_id in runs, runs
    conf = runs[run_id]
    assert conf["drift_report"].endswith("drift.html") and "drift" in conf["reason"]
    assert conf["end_date"] == WEEKS[-1].isoformat()

    # The triggered run, executed in-process with its conf.
    when = dt.datetime.combine(WEEKS[-1], dt.time(7), tzinfo=dt.UTC)
    states = h.run_dag("retrain", when, conf)
    assert states == {
        "assemble_training_set": "success",
        "train_candidate": "success",
        "evaluate_candidate": "success",
        "register_candidate": "success",
        "alert_registration": "success",
        "route_approval": "success",
        "await_approval": "skipped",
        "hand_off": "success",
        "should_deploy": "success",
        "trigger_deployment": "success",
    }
    from include.modelcare.dev.demo import queued_run

    queued = queued_run("modelcare_deploy_customer_churn", "handoff__")
    assert queued is not None and queued[0] == "handoff__v0001" and queued[1]["version"] == "v0001", queued
    (v1,) = h.registry.versions()
    assert v1.version == 1 and v1.status == "Approved"
    meta = v1.metadata
    assert meta["trigger"]["drift_report"] == conf["drift_report"]
    assert meta["batches"] == [d.isoformat() for d in WEEKS]
    assert meta["validation_results"] == [h.config.paths.validation_result(d) for d in WEEKS]
    assert meta["holdout_days"] == [WEEKS[-1].isoformat()]
    assert len(meta["fingerprint"]) == 64 and len(meta["inputs"]) == 2 * len(WEEKS)
    assert meta["metrics"]["candidate"]["roc_auc"] >= 0.70 and meta["metrics"]["champion"] is None
    # The decision threshold is tuned on the training part and stored as a number; every guardrail held
    # (the first version: floors only), and the e-mail lists every gate metric with the threshold.
    assert 0 < meta["threshold"] < 1 and meta["threshold_choice"]["source"] == "tuned"
    assert meta["threshold_choice"]["objective"] == "balanced_accuracy"
    guardrails = {g["metric"]: g for g in meta["gate"]["guardrails"]}
    assert set(guardrails) == {"predicted_classes", "min_class_recall", "balanced_accuracy", "f1"}
    assert all(g["passed"] and g["champion"] is None for g in guardrails.values())
    assert meta["metrics"]["candidate"]["predicted_classes"] == 2.0 and meta["metrics"]["candidate"]["f1"] > 0
    mail = next(m for m in h.mails() if "new model version v0001" in str(m["Subject"]))
    html = mail.get_body(preferencelist=("html", "plain")).get_content()
    assert "candidate balanced_accuracy" in html and "decision threshold" in html
    assert "all 4 guardrails hold" in html
    # Calibrated on its holdout (issue 12): the calibrator and both thresholds are stored, the threshold served
    # is the raw one carried to the calibrated scale, and the e-mail says what was fitted.
    from include.modelcare.ml.calibration import Calibrator

    calibrator = Calibrator.from_dict(meta["calibration"])
    assert calibrator.method == "isotonic" and calibrator.rows == meta["rows"]["holdout"]
    assert meta["raw_threshold"] == meta["threshold_choice"]["value"]
    assert meta["threshold"] == calibrator.threshold(meta["raw_threshold"]) and meta["calibration_note"] is None
    assert f"isotonic on {calibrator.rows:,} holdout rows, Brier" in html
    assert meta["dag_id"] == "modelcare_retrain_customer_churn"
    assert h.store.exists(f"{h.config.paths.handoffs()}v0001.json")
    subjects = [str(m["Subject"]) for m in h.mails()]
    assert any("new model version v0001" in s for s in subjects), subjects

    # Re-running the same retraining run registers nothing new.
    states = h.run_dag("retrain", when, conf)
    assert states["register_candidate"] == "success"
    assert [v.version for v in h.registry.versions()] == [1]

    # v1 goes to production (the deployment DAG's job in a later milestone); the monitoring DAG
    # now takes its reference data from the registry's production version.
    h.registry.set_alias("production", 1, by="test", why="first deployment")
    h.run(WEEKS[-1])
    drift = h.store.read_json(h.config.paths.reports(WEEKS[-1]) + "drift.json")
    assert "/registry/" in drift["reference_uri"] and "v0001" in drift["reference_uri"]

    # Same data again (force): the candidate cannot beat the champion -> Rejected, no hand-off, alert.
    later = when + dt.timedelta(days=1)
    states = h.run_dag("retrain", later, {**conf, "force": True, "reason": "weekly"})
    assert states["register_candidate"] == "success" and states["hand_off"] == "success"
    v2 = h.registry.get(2)
    assert v2.status == "Rejected"
    assert any("champion" in reason for reason in v2.metadata["gate"]["reasons"])
    # the champion was judged on the same rows at ITS stored threshold, through ITS calibrator
    assert v2.metadata["champion_threshold"] == meta["threshold"]
    assert v2.metadata["calibration"] is not None and v2.metadata["raw_threshold"] is not None
    assert v2.metadata["gate"]["primary_passed"] is False
    assert all(g["champion"] is not None for g in v2.metadata["gate"]["guardrails"])
    assert v2.metadata["parent_version"] == 1
    assert not h.store.exists(f"{h.config.paths.handoffs()}v0002.json")
    assert any("model version rejected v0002" in str(m["Subject"]) for m in h.mails())

    # Without force, unchanged inputs are skipped as "no new data".
    states = h.run_dag("retrain", later + dt.timedelta(days=1), {**conf, "reason": "weekly"})
    assert states["assemble_training_set"] == "skipped" and states["register_candidate"] == "skipped"

    # Performance decay: features look as usual, but once labels arrive the production model's
    # roc_auc falls below performance.floor -> retraining is requested although nothing drifted.
    decay_day = WEEKS[-1] + dt.timedelta(weeks=2)
    h.seed_weeks([decay_day], {decay_day: Scenario(concept_drift=1.0)})
    states = h.run(decay_day)
    performance = h.store.read_json(h.config.paths.reports(decay_day) + "performance.json")
    assert performance["version"] == 1 and performance["decayed"] is True
    assert performance["value"] < h.config.performance.floor
    assert states["trigger_retraining"] == "success"
    request = h.store.read_json(h.config.paths.retrain_request(decay_day))
    assert request["reason"].startswith("performance decay: production v1 roc_auc")


def test_invalid_hyperparameters_fail_before_training(harness: Harness) -> None:
    h = harness
    when = dt.datetime.combine(WEEKS[-1], dt.time(9), tzinfo=dt.UTC)
    states = h.run_dag("retrain", when, {"hyperparameters": {"not_a_param": 1}})
    assert states["assemble_training_set"] == "failed"
    assert states["register_candidate"] == "upstream_failed"
    assert h.registry.versions() == []
    failure = [m for m in h.mails() if "task failed" in str(m["Subject"])]
    assert failure and "not_a_param" in failure[0].get_body(preferencelist=("html", "plain")).get_content()


@pytest.mark.timeout(400)
@pytest.mark.parametrize("option", ["Approve", "Reject"])
def test_manual_approval_in_required_actions(manual_harness: Harness, option: str) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    h = manual_harness
    weeks = WEEKS[:3]
    h.seed_weeks(weeks)
    _monitor_weeks(h, weeks)
    when = dt.datetime.combine(weeks[-1], dt.time(8), tzinfo=dt.UTC)
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=when, run_after=when)
    answer = answer_when_waiting("modelcare_retrain_churn_manual", run_id, "await_approval", option, user="ana")

    states = h.run_dag("retrain", when, {"reason": "manual approval test"})

    assert answer.error is None and answer.answered.is_set()
    assert states["await_approval"] == "success"
    (v1,) = h.registry.versions()
    history = v1.metadata["status_history"]
    assert history[0]["status"] == "PendingManualApproval"
    assert history[-1]["by"] == "ana"
    subjects = [str(m["Subject"]) for m in h.mails()]
    assert any("approval needed v0001" in s for s in subjects), subjects
    body = (
        next(m for m in h.mails() if "approval needed" in str(m["Subject"]))
        .get_body(preferencelist=("html", "plain"))
        .get_content()
    )
    assert "/required_actions" in body
    from airflow.models.hitl import HITLDetail
    from airflow.utils.session import create_session

    with create_session() as session:  # the approval request shows every gate metric and the threshold
        request = " ".join(d.body or "" for d in session.query(HITLDetail).all())
    assert "| candidate balanced_accuracy |" in request and "| decision threshold |" in request
    if option == "Approve":
        assert v1.status == "Approved" and states["hand_off"] == "success"
        assert h.store.exists(f"{h.config.paths.handoffs()}v0001.json")
    else:
        assert v1.status == "Rejected" and states["hand_off"] == "skipped"
        assert not h.store.exists(f"{h.config.paths.handoffs()}v0001.json")


@pytest.mark.parametrize(
    ("param", "value"), [("window_weeks", 1), ("hyperparameters", "C=3"), ("force", "yes"), ("reason", "")]
)
def test_bad_retraining_form_is_refused_with_the_param_named(param: str, value: object) -> None:
    import copy

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    from tests.airflow_env import DAGS

    dag = DagBag(dag_folder=str(DAGS)).dags["modelcare_retrain_customer_churn"]
    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}"):
        params[param] = value
        params.validate()


def test_sagemaker_backend_on_the_emulator_fails_plainly(sagemaker_harness: Harness) -> None:
    """The emulator accepts the training job but runs no container: the run must say so, not pretend."""
    h = sagemaker_harness
    weeks = WEEKS[:2]
    h.seed_weeks(weeks)
    _monitor_weeks(h, weeks)
    when = dt.datetime.combine(weeks[-1], dt.time(8), tzinfo=dt.UTC)
    states = h.run_dag("retrain", when, {"reason": "sagemaker backend"})

    assert states["prepare_sagemaker_job"] == "success"
    assert states["sagemaker_training_job"] == "success"  # CreateTrainingJob + DescribeTrainingJob: Completed
    assert states["collect_sagemaker_model"] == "failed"
    assert states["register_candidate"] == "upstream_failed"
    assert h.registry.versions() == []
    uploaded = h.store.list(h.config.paths.root + "/training/")
    assert any(u.endswith("sagemaker/source.tar.gz") for u in uploaded)
    assert any(u.endswith("sagemaker/train/train.parquet") for u in uploaded)
    failure = next(m for m in h.mails() if "task failed" in str(m["Subject"]))
    body = failure.get_body(preferencelist=("html", "plain")).get_content()
    assert "wrote no model" in body and "does not run their containers" in body
