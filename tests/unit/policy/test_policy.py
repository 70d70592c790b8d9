"""The pure decisions of include.modelcare.policy, at their edges (the gate's own cases: tests/unit/ml)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from include.modelcare.config.schema import TrainingConfig
from include.modelcare.errors import TrainingError
from include.modelcare.policy import (
    Cooldown,
    DecayVerdict,
    cooldown,
    gate,
    initial_status,
    lower_is_better,
    performance_decay,
    training_window,
)
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 3, 9)
DRIFT = "drift: 4/10 features drifted (share 0.40 >= 0.3); no critical feature drifted"
NO_DRIFT = "no drift: 0/10 features drifted (share 0.00 < 0.3); no critical feature drifted"
DECAYED = DecayVerdict(True, "production v1 roc_auc 0.6000 below floor 0.65")


# -- performance decay -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "decayed"),
    [(0.6499, True), (0.65, False), (0.6501, False)],
)
def test_higher_is_better_decays_strictly_below_the_floor(value: float, decayed: bool) -> None:
    verdict = performance_decay("roc_auc", value, 0.65, lower_better=False)
    assert verdict.decayed is decayed
    assert verdict.reason.startswith(f"roc_auc {value:.4f} ")
    assert ("below floor 0.65" in verdict.reason) is decayed


@pytest.mark.parametrize(
    ("value", "decayed"),
    [(10.01, True), (10.0, False), (9.99, False)],
)
def test_lower_is_better_decays_strictly_above_the_floor(value: float, decayed: bool) -> None:
    verdict = performance_decay("rmse", value, 10.0, lower_better=True)
    assert verdict.decayed is decayed
    assert verdict.reason.endswith("(lower is better)")
    assert ("above floor 10.0" in verdict.reason) is decayed


def test_direction_comes_from_the_estimators_list() -> None:
    assert lower_is_better("rmse") and lower_is_better("mae") and lower_is_better("log_loss")
    assert not lower_is_better("roc_auc") and not lower_is_better("r2") and not lower_is_better("accuracy")
    # log_loss 0.9 against a floor of 0.7: worse (higher) for a loss, fine for a score.
    assert performance_decay("log_loss", 0.9, 0.7, lower_better=lower_is_better("log_loss")).decayed
    assert not performance_decay("accuracy", 0.9, 0.7, lower_better=lower_is_better("accuracy")).decayed


def test_no_floor_or_no_number_is_never_decay() -> None:
    off = performance_decay("roc_auc", 0.01, None, lower_better=False)
    assert off == DecayVerdict(False, "roc_auc 0.0100: no performance floor set")
    nan = performance_decay("roc_auc", math.nan, 0.65, lower_better=False)
    assert not nan.decayed and "not a usable number" in nan.reason


# -- cooldown -------------------------------------------------------------------------------------------------
def test_cooldown_edges() -> None:
    assert cooldown(DAY, None, 7) == Cooldown(False, "no earlier retraining request")
    six = cooldown(DAY, DAY - dt.timedelta(days=6), 7)
    assert six.active and six.reason == "retraining was requested on 2026-03-03 (6 < 7 days cooldown)"
    seven = cooldown(DAY, DAY - dt.timedelta(days=7), 7)
    assert not seven.active and "7 >= 7 days cooldown" in seven.reason
    assert cooldown(DAY, DAY, 7).active  # requested earlier the same day
    assert not cooldown(DAY, DAY, 0).active  # cooldown switched off
    assert not cooldown(DAY, DAY - dt.timedelta(days=1), 1).active


# -- retraining decision --------------------------------------------------------------------------------------


TRAINING = TrainingConfig(window_weeks=8)


def test_window_defaults_to_the_configs_weeks_ending_on_the_run_day() -> None:
    start, end = training_window({}, TRAINING, DAY)
    assert end == DAY and start == DAY - dt.timedelta(weeks=8) + dt.timedelta(days=1)
    assert (end - start).days + 1 == 56  # both ends included


def test_window_from_the_form() -> None:
    assert training_window({"window_weeks": 2}, TRAINING, DAY) == (dt.date(2026, 2, 24), DAY)
    assert training_window({"end_date": "2026-03-01", "window_weeks": None}, TRAINING, DAY)[1] == dt.date(2026, 3, 1)
    explicit = {"start_date": "2026-01-05", "end_date": "2026-02-01", "window_weeks": 99}
    assert training_window(explicit, TRAINING, DAY) == (dt.date(2026, 1, 5), dt.date(2026, 2, 1))
    one_day = {"start_date": DAY.isoformat()}
    assert training_window(one_day, TRAINING, DAY) == (DAY, DAY)


def test_window_that_ends_before_it_starts_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match="training window starts 2026-03-10 after it ends 2026-03-09"):
        training_window({"start_date": "2026-03-10"}, TRAINING, DAY)


def test_window_is_pure() -> None:
    params = {"window_weeks": 3}
    assert training_window(params, TRAINING, DAY) == training_window(params, TRAINING, DAY)
    assert params == {"window_weeks": 3}


# -- initial status -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("passed", "approval", "status"),
    [
        (True, "auto", "Approved"),
        (True, "manual", "PendingManualApproval"),
        (False, "auto", "Rejected"),
        (False, "manual", "Rejected"),
    ],
)
def test_initial_status(passed: bool, approval: Any, status: str) -> None:
    assert initial_status(passed, approval) == status


# -- gate: with and without a champion (detailed cases in tests/unit/ml/test_evaluation.py) -------------------
def test_gate_with_and_without_champion() -> None:
    config = make_config(gate={"floor": 0.7, "min_improvement": 0.01, "guardrails": {"refuse_degenerate": False}})
    first = gate(config, {"roc_auc": 0.7}, None)  # exactly at the floor
    assert first.passed and first.champion is None and first.reasons[-1] == "first model: no champion to beat"
    assert not gate(config, {"roc_auc": 0.6999}, None).passed
    challenger = gate(config, {"roc_auc": 0.75}, {"roc_auc": 0.745})
    assert not challenger.passed and challenger.champion == 0.745
    assert gate(config, {"roc_auc": 0.755}, {"roc_auc": 0.745}).passed  # exactly min_improvement better


def test_gate_lower_is_better_with_champion() -> None:
    config = make_config(
        "Ridge", gate={"floor": 10.0, "min_improvement": 0.5, "guardrails": {"refuse_degenerate": False}}
    )
    assert gate(config, {"rmse": 10.0}, None).passed  # at the floor
    assert not gate(config, {"rmse": 10.001}, None).passed
    assert gate(config, {"rmse": 8.5}, {"rmse": 9.0}).passed
    assert not gate(config, {"rmse": 9.5}, {"rmse": 9.0}).passed  # higher error than the champion


def test_verdicts_are_frozen() -> None:
    verdict = performance_decay("roc_auc", 0.5, 0.6, lower_better=False)
    with pytest.raises(AttributeError):
        verdict.decayed = False  # type: ignore[misc]
    decision = gate(make_config(), {"roc_auc": 0.8}, None)
    with pytest.raises(AttributeError):
        decision.passed = False  # type: ignore[misc]
