"""The monitoring DAG end to end with dag.test(): real GX, Evidently, S3 (emulator), SMTP sink, SNS->SQS."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

CLEAN_DAY = dt.date(2026, 3, 2)
DRIFT_DAY = dt.date(2026, 3, 9)
FAULTY_DAY = dt.date(2026, 3, 16)
MISSING_DAY = dt.date(2026, 3, 23)


def _subjects(h: Harness) -> list[str]:
    return [str(m["Subject"]) for m in h.mails()]


def test_clean_week_passes_without_retraining(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    harness.seed(CLEAN_DAY, Scenario.clean())
    states = harness.run(CLEAN_DAY)

    assert states["validate_batch"] == "success"
    assert states["measure_drift"] == "success"
    assert states["no_retraining"] == "success"
    assert states["request_retraining"] == "skipped"
    assert states["alert_drift"] == "skipped"
    assert states["report_missing_batch"] == "skipped"
    paths = harness.config.paths
    validation = harness.store.read_json(paths.validation_result(CLEAN_DAY))
    assert validation["success"] is True and validation["rows"] == 1500
    drift = harness.store.read_json(paths.reports(CLEAN_DAY) + "drift.json")
    assert drift["drift_detected"] is False
    # The measured share has its own name; the former key is still written for readers of old reports.
    assert 0 <= drift["share_drifted"] < harness.config.drift.drift_share
    assert drift["drift_share"] == drift["share_drifted"]
    assert harness.store.read_bytes(paths.reports(CLEAN_DAY) + "drift.html").lstrip().lower().startswith(b"<")
    assert not harness.store.exists(paths.retrain_request(CLEAN_DAY))
    assert harness.mails() == [] and harness.sns() == []


def test_drifted_week_requests_retraining_and_alerts_once(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    harness.seed(DRIFT_DAY, Scenario.drifted())
    states = harness.run(DRIFT_DAY)

    assert states["measure_drift"] == "success"
    assert states["alert_drift"] == "success"
    assert states["request_retraining"] == "success"
    assert states["no_retraining"] == "skipped"
    paths = harness.config.paths
    drift = harness.store.read_json(paths.reports(DRIFT_DAY) + "drift.json")
    assert drift["drift_detected"] is True
    assert drift["columns"]["monthly_charges"]["drifted"] is True
    request = harness.store.read_json(paths.retrain_request(DRIFT_DAY))
    assert request["drift_report"] == paths.reports(DRIFT_DAY) + "drift.html"
    assert request["requested_by"]["dag_id"] == "modelcare_monitor_customer_churn"

    mails = harness.mails()
    assert len(mails) == 1
    assert "drift detected" in str(mails[0]["Subject"]) and "2026-03-09" in str(mails[0]["Subject"])
    body = mails[0].get_body(preferencelist=("html", "plain")).get_content()
    assert "monthly_charges" in body and "drift.html" in body and "/dags/modelcare_monitor_customer_churn/runs/" in body
    assert "share_drifted" in body and f"{drift['share_drifted']:.0%} ({drift['n_drifted']} of" in body
    messages = harness.sns()
    assert len(messages) == 1
    assert "drift detected" in messages[0]["Subject"] and "monthly_charges" in messages[0]["Message"]

    # Re-running the same date rewrites the same report, sends nothing again, requests nothing new.
    first_request = harness.store.read_bytes(paths.retrain_request(DRIFT_DAY))
    states = harness.run(DRIFT_DAY)
    assert states["request_retraining"] == "success"
    assert harness.store.read_bytes(paths.retrain_request(DRIFT_DAY)) == first_request
    assert len(harness.mails()) == 1
    assert harness.sns() == []

    # Drift again three days later is the same incident: a timeline entry, no second retraining request,
    # and no new alert unless it escalated (more drifted features than at open).
    later = DRIFT_DAY + dt.timedelta(days=3)
    harness.seed(later, Scenario.drifted())
    states = harness.run(later)
    assert states["request_retraining"] == "skipped" and states["no_retraining"] == "success"
    assert not harness.store.exists(paths.retrain_request(later))
    incident = harness.store.read_json(paths.incident("inc-2026-03-09"))
    assert [e["day"] for e in incident["timeline"]] == ["2026-03-09", "2026-03-12"]
    escalated = incident["timeline"][-1]["action"] == "escalate"
    assert states["alert_drift"] == ("success" if escalated else "skipped")
    assert len(harness.mails()) == 1 + escalated


def test_faulty_batch_is_quarantined_and_alerted(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    harness.seed(FAULTY_DAY, Scenario.faulty())
    states = harness.run(FAULTY_DAY)

    assert states["validate_batch"] == "failed"
    assert states["measure_drift"] == "upstream_failed"
    assert states["request_retraining"] in {"upstream_failed", "skipped"}
    paths = harness.config.paths
    assert harness.store.list(paths.incoming(FAULTY_DAY)) == []
    quarantined = harness.store.list(paths.quarantine(FAULTY_DAY))
    assert any(u.endswith(".parquet") for u in quarantined)
    reason = harness.store.read_json(paths.quarantine(FAULTY_DAY) + "_REASON.json")
    assert reason["success"] is False and reason["failed_checks"] >= 1 and reason["rows"] > 0
    result = harness.store.read_json(reason["result_uri"])
    assert result["success"] is False
    assert not harness.store.exists(paths.reports(FAULTY_DAY) + "drift.json")

    mails = harness.mails()
    assert len(mails) == 1 and "failed validation" in str(mails[0]["Subject"])
    body = mails[0].get_body(preferencelist=("html", "plain")).get_content()
    assert "quarantine" in body and str(reason["failed_checks"]) in body
    assert len(harness.sns()) == 1

    # A re-run finds the quarantined batch, fails the same way, and does not alert again.
    states = harness.run(FAULTY_DAY)
    assert states["validate_batch"] == "failed"
    assert len(harness.mails()) == 1 and harness.sns() == []
    assert json.loads(harness.store.read_bytes(paths.quarantine(FAULTY_DAY) + "_REASON.json")) == reason


def test_missing_batch_is_reported_not_crashed(harness: Harness) -> None:
    states = harness.run(MISSING_DAY)

    assert states["resolve_batch"] == "success"
    assert states["report_missing_batch"] == "success"
    assert states["validate_batch"] == "skipped"
    mails = harness.mails()
    assert len(mails) == 1 and "no batch arrived" in str(mails[0]["Subject"])
    assert "incoming/dt=2026-03-23" in mails[0].get_body(preferencelist=("html", "plain")).get_content()


def test_manual_form_picks_the_batch_date_and_can_silence_alerts(harness: Harness) -> None:
    from include.modelcare.dev.simulate import Scenario

    harness.seed(DRIFT_DAY, Scenario.drifted())
    # Logical date elsewhere; the form's batch_date decides which partition is checked.
    states = harness.run(dt.date(2026, 6, 1), conf={"batch_date": DRIFT_DAY.isoformat(), "send_alerts": False})
    assert states["alert_drift"] == "success" and states["request_retraining"] == "success"
    assert harness.store.exists(harness.config.paths.retrain_request(DRIFT_DAY))
    assert harness.mails() == [] and harness.sns() == []


@pytest.mark.parametrize(
    ("param", "value"),
    [("reference_uri", "ftp://nope"), ("batch_date", "last tuesday"), ("request_retraining", "maybe")],
)
def test_bad_form_value_is_rejected_with_the_param_named(param: str, value: str) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    from tests.airflow_env import DAGS

    dag = DagBag(dag_folder=str(DAGS)).dags["modelcare_monitor_customer_churn"]
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}"):
        params = copy.deepcopy(dag.params)
        params[param] = value
        params.validate()


def test_broken_config_in_the_catalog_does_not_stop_the_good_model() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow_env import DAGS

    bag = DagBag(dag_folder=str(DAGS))
    assert "modelcare_monitor_customer_churn" in bag.dag_ids
    (message,) = bag.import_errors.values()
    assert "broken_model.yaml" in message and "data.id_column" in message


UNREADABLE_DAY = dt.date(2026, 3, 30)


def _unreadable(kind: str, good: bytes) -> tuple[str, bytes]:
    """(file name, bytes) of a batch that cannot be read as the model's parquet."""
    import io

    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(good))
    if kind == "zero rows":
        buffer = io.BytesIO()
        frame.head(0).to_parquet(buffer, index=False)
        return "part-000.parquet", buffer.getvalue()
    if kind == "truncated parquet":
        return "part-000.parquet", good[: len(good) // 2]
    if kind == "random bytes":
        return "part-000.parquet", bytes(range(256)) * 64
    if kind == "csv named parquet":
        return "part-000.parquet", frame.to_csv(sep=";", index=False).encode()
    return "part-000.csv", frame.to_csv(index=False).encode()  # a CSV in a parquet model's partition


@pytest.mark.parametrize("kind", ["zero rows", "random bytes", "csv in a parquet partition"])
def test_an_unreadable_batch_is_quarantined_with_its_reason_not_retried(harness: Harness, kind: str) -> None:
    from include.modelcare.dev.simulate import Scenario

    harness.seed(UNREADABLE_DAY, Scenario.clean())
    paths = harness.config.paths
    [good] = [u for u in harness.store.list(paths.incoming(UNREADABLE_DAY)) if u.endswith(".parquet")]
    name, data = _unreadable(kind, harness.store.read_bytes(good))
    harness.store.delete(good)
    harness.store.write_bytes(paths.incoming(UNREADABLE_DAY) + name, data)

    states = harness.run(UNREADABLE_DAY)

    assert states["validate_batch"] == "failed", states  # failed at once: no up_for_retry
    assert states["report_missing_batch"] == "skipped", "a batch in the wrong format is not a missing batch"
    assert harness.store.list(paths.incoming(UNREADABLE_DAY)) == []
    reason = harness.store.read_json(paths.quarantine(UNREADABLE_DAY) + "_REASON.json")
    assert reason["success"] is False and reason["rows"] == 0
    assert reason["headline"].startswith("unreadable batch: "), reason["headline"]
    assert harness.store.exists(paths.quarantine(UNREADABLE_DAY) + name)
    mails = harness.mails()
    assert len(mails) == 1 and "failed validation" in str(mails[0]["Subject"])
    assert "unreadable batch" in mails[0].get_body(preferencelist=("html", "plain")).get_content()


def test_files_added_after_validation_are_not_used(harness: Harness) -> None:
    """validation.json lists the files (key + ETag) it validated; drift and retraining read exactly those."""
    from include.modelcare.dev.simulate import Scenario

    harness.seed(CLEAN_DAY, Scenario.clean())
    paths = harness.config.paths
    states = harness.run(CLEAN_DAY)
    assert states["measure_drift"] == "success"
    validation = harness.store.read_json(paths.validation_result(CLEAN_DAY))
    assert [f["uri"].rsplit("/", 1)[-1] for f in validation["files"]] == ["part-000.parquet"]
    assert all(f["etag"] and f["bytes"] > 0 for f in validation["files"])

    from include.modelcare.errors import DataError
    from include.modelcare.tasks.monitoring import validated_batch

    late = paths.incoming(CLEAN_DAY) + "part-001.parquet"
    harness.store.copy(validation["files"][0]["uri"], late)
    assert len(validated_batch(harness.config, CLEAN_DAY, harness.store)) == validation["rows"]
    harness.store.write_bytes(validation["files"][0]["uri"], b"PAR1 replaced after validation")
    with pytest.raises(DataError, match="changed after it was validated"):
        validated_batch(harness.config, CLEAN_DAY, harness.store)
