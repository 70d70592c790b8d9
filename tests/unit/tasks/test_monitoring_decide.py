"""The drift e-mail's figures (``alert_drift``): the drift figures as before, plus "performance (realised)" (the
latest realised value, its batch, version and rolling window) and "performance (estimated)" (this batch's
estimate, labelled as estimated, or why there is none), from ``check_performance``'s XCom.

Without Airflow: ``task_setup`` is a fixed config, run and in-memory store; the alert is captured instead of
sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.operators.alerts import Alert
from include.modelcare.tasks import monitoring, monitoring_decide
from include.modelcare.tasks.context import RunInfo
from tests.unit.configs import make_config
from tests.unit.registry.memory import MemoryStore
from tests.unit.tasks.test_monitoring_retraining_boundary import FakeTI
from tests.unit.ui.records import estimated

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 30)
DRIFT = {
    "drift_detected": True,
    "reason": "drift: 4/10 features drifted",
    "share_drifted": 0.4,
    "n_drifted": 4,
    "n_features": 10,
    "top_features": ["tenure", "contract"],
    "critical_drifted": [],
    "prediction_drift": None,
    "report_html": "s3://b/reports/dt=2026-03-30/drift.html",
}
WINDOW = {"text": "4 weeks 2026-03-03..2026-03-30 (2 labelled batches, 2,000 rows)"}
MEASURED = {
    "status": "measured",
    "metric": "roc_auc",
    "floor": 0.7,
    "value": 0.6712,
    "rows": 2000,
    "window": WINDOW,
    "decayed": True,
    "reason": "production v2 roc_auc 0.6712 below floor 0.7 over 4 weeks ...",
    "version": 2,
    "scored": [],
    "latest_realised": {"day": "2026-03-16", "value": 0.62, "version": 2},
    "estimate": estimated(DAY, 0.64, 2),
    "estimate_warning": {"warn": True, "below": True, "reason": "estimated roc_auc 0.640 below floor 0.7"},
}


@pytest.fixture
def config() -> ModelConfig:
    """The sample churn config with a floor of 0.70 on roc_auc."""
    base = make_config()
    return base.model_copy(update={"performance": base.performance.model_copy(update={"floor": 0.7})})


def _figures(
    monkeypatch: pytest.MonkeyPatch, config: ModelConfig, performance: Any, store: MemoryStore | None = None
) -> dict[str, Any]:
    sent: list[Alert] = []
    run = RunInfo(dag_id="modelcare_test", run_id="manual__1", day=DAY, params={})
    monkeypatch.setattr(monitoring_decide, "task_setup", lambda model, context: (config, run, store or MemoryStore()))
    monkeypatch.setattr(monitoring_decide, "send_unless_silenced", lambda alert, *a: sent.append(alert))
    decision = {
        "action": "open",
        "alert": True,
        "request": True,
        "person": False,
        "reason": "opened incident inc-2026-03-30: drift",
        "incident": "inc-2026-03-30",
        "event": "opened",
        "retrain": True,
    }
    ti = FakeTI(
        {
            (monitoring.MEASURE_DRIFT, None): DRIFT,
            (monitoring.CHECK_PERFORMANCE, None): performance,
            (monitoring.DECIDE, "decision"): decision,
        }
    )
    monitoring_decide.alert_drift(config.name, {"ti": ti})
    (alert,) = sent
    return alert.figures


def test_the_email_carries_the_latest_realised_and_the_estimate(
    monkeypatch: pytest.MonkeyPatch, config: ModelConfig
) -> None:
    figures = _figures(monkeypatch, config, MEASURED)
    assert figures["share_drifted"] == "40% (4 of 10 features)"  # the existing figures stay
    assert figures["top_drifted_features"] == "tenure, contract" and figures["retraining"] == "requested"
    assert figures["performance (realised)"] == (
        "roc_auc 0.6200 on the labels of 2026-03-16 (v2); rolling window 0.6712 over "
        "4 weeks 2026-03-03..2026-03-30 (2 labelled batches, 2,000 rows), below the floor (floor 0.7)"
    )
    assert figures["performance (estimated)"] == (
        "estimated, not measured: roc_auc 0.6400 for this batch (CBPE on v2's calibrated probabilities, 1,020 rows, "
        "no labels yet; labels expected by 2026-04-20): estimated roc_auc 0.640 below floor 0.7"
    )


def test_why_there_is_no_estimate_or_no_realised_value(monkeypatch: pytest.MonkeyPatch, config: ModelConfig) -> None:
    waiting = {
        **MEASURED,
        "status": "no labelled batch of v2 in 2026-03-03..2026-03-30 yet",
        "latest_realised": {"day": "2026-02-02", "value": 0.75, "version": 1},
        "estimate": estimated(DAY, None, 2, note="only 12 rows: too few to estimate"),
        "estimate_warning": {"warn": False, "below": False, "reason": "estimated roc_auc: none"},
    }
    figures = _figures(monkeypatch, config, waiting)
    assert figures["performance (realised)"] == (
        "roc_auc 0.7500 on the labels of 2026-02-02 (v1); no labelled batch of v2 in 2026-03-03..2026-03-30 yet "
        "(floor 0.7)"
    )
    assert figures["performance (estimated)"] == "no estimate: only 12 rows: too few to estimate"

    # check_performance records an estimate (or why not) whenever there is a production version
    nothing = {**waiting, "latest_realised": None, "estimate": None}
    figures = _figures(monkeypatch, config, nothing)
    assert figures["performance (realised)"] == "none yet (no labelled batch of v2 in 2026-03-03..2026-03-30 yet)"
    assert figures["performance (estimated)"] == "no estimate recorded"

    no_model = {"status": "no production model yet", "metric": "roc_auc", "decayed": False, "version": None}
    figures = _figures(monkeypatch, config, no_model)
    assert figures["performance (realised)"] == "none yet (no production model yet)"
    assert figures["performance (estimated)"] == "no estimate: no production model yet"
    figures = _figures(monkeypatch, config, None)
    assert (
        figures["performance (realised)"]
        == figures["performance (estimated)"]
        == ("- (check_performance returned nothing)")
    )


def test_regression_says_nothing_is_estimated(monkeypatch: pytest.MonkeyPatch) -> None:
    note = "regression: nothing is estimated (no labels, no number)"
    regression = {**MEASURED, "estimate": estimated(DAY, None, 2, note=note), "metric": "rmse"}
    figures = _figures(monkeypatch, make_config("Ridge"), regression)
    assert figures["performance (estimated)"] == f"no estimate: {note}"
    assert figures["performance (realised)"].startswith("rmse 0.6200 on the labels of 2026-03-16 (v2)")
