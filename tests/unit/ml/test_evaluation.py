"""Holdout metrics (ml.evaluation) and the champion/challenger gate (policy.gate)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.modelcare.config.schema import ModelConfig
from include.modelcare.dev.simulate import generate_batch
from include.modelcare.errors import TrainingError
from include.modelcare.ml.calibration import Calibrator, fit_calibrator
from include.modelcare.ml.estimators import METRICS
from include.modelcare.ml.evaluation import evaluate, positive_scores
from include.modelcare.ml.training import features_and_target, fit
from include.modelcare.policy import GateDecision, gate
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"


def gate_config(estimator: str = "LogisticRegression", **gate_settings: Any) -> ModelConfig:
    """The sample churn config with this estimator and gate; guardrails off unless given (these tests are
    about the primary-metric rule; the guardrails' own are in tests/unit/policy/test_guardrails.py)."""
    gate_settings.setdefault("guardrails", {"refuse_degenerate": False})
    return make_config(estimator, gate=gate_settings)


@pytest.fixture(scope="module")
def churn_model() -> tuple[ModelConfig, Any, Any]:
    config = gate_config()
    model, _ = fit(config, {}, generate_batch(800, seed=21))
    return config, model, generate_batch(400, seed=22, id_offset=800)


# -- evaluate ------------------------------------------------------------------------------------------
def test_classification_metrics_are_plain_floats(churn_model: tuple[ModelConfig, Any, Any]) -> None:
    config, model, holdout = churn_model
    metrics = evaluate(model, holdout, config)
    assert list(metrics) == list(METRICS["classification"])
    assert all(type(v) is float and math.isfinite(v) for v in metrics.values())
    assert 0.7 < metrics["roc_auc"] <= 1 and 0 < metrics["accuracy"] <= 1 and 0 <= metrics["f1"] <= 1
    assert metrics["log_loss"] > 0
    assert metrics["predicted_classes"] == 2.0 and 0 < metrics["min_class_recall"] <= 1
    assert 0.5 < metrics["balanced_accuracy"] <= 1
    json.dumps(metrics)


def test_threshold_decides_the_classes_not_the_scores(churn_model: tuple[ModelConfig, Any, Any]) -> None:
    config, model, holdout = churn_model
    default = evaluate(model, holdout, config)
    low = evaluate(model, holdout, config, threshold=0.05)  # nearly everyone positive
    high = evaluate(model, holdout, config, threshold=0.999)  # nobody positive
    assert low["roc_auc"] == default["roc_auc"] == high["roc_auc"]  # scores do not depend on it
    assert low["log_loss"] == default["log_loss"]
    assert high["predicted_classes"] == 1.0 and high["f1"] == 0.0 and high["min_class_recall"] == 0.0
    assert high["balanced_accuracy"] == 0.5
    assert low["predicted_classes"] == 2.0 and low["f1"] > 0


def test_single_class_holdout_is_a_clear_error(churn_model: tuple[ModelConfig, Any, Any]) -> None:
    config, model, holdout = churn_model
    with pytest.raises(TrainingError) as err:
        evaluate(model, holdout[holdout["churned"] == 0], config)
    assert "the holdout has a single class (churned=0," in str(err.value)
    assert "roc_auc and log_loss are undefined" in str(err.value)


def test_holdout_labels_the_model_never_saw(churn_model: tuple[ModelConfig, Any, Any]) -> None:
    config, model, holdout = churn_model
    odd = holdout.assign(churned=holdout["churned"].where(holdout.index % 5 != 0, 2))
    with pytest.raises(TrainingError, match=r"holdout label\(s\) 2 were not in training"):
        evaluate(model, odd, config)
    with pytest.raises(TrainingError, match="the holdout is empty"):
        evaluate(model, holdout.head(0), config)


def test_multiclass_metrics() -> None:
    raw = yaml.safe_load(SAMPLE.read_text())
    raw["training"] = {"estimator": "LogisticRegression", "min_rows": 10}
    raw.pop("performance", None)
    raw["data"]["target"] = "plan"  # three classes
    raw["data"]["features"]["categorical"].remove("plan")
    raw["validation"] = {}
    config = ModelConfig.model_validate(raw)
    model, _ = fit(config, {}, generate_batch(600, seed=5))
    metrics = evaluate(model, generate_batch(300, seed=6), config)
    assert metrics["roc_auc"] > 0.8 and metrics["log_loss"] > 0
    squash = Calibrator(x=(0.0, 1.0), y=(0.2, 0.3))  # binary only: more classes ignore a calibrator
    assert evaluate(model, generate_batch(300, seed=6), config, calibrator=squash) == metrics


def test_regression_metrics() -> None:
    config = gate_config("Ridge")
    model, _ = fit(config, {}, generate_batch(600, seed=7))
    metrics = evaluate(model, generate_batch(300, seed=8), config)
    assert list(metrics) == [m for m in METRICS["regression"] if m != "rmse_skill"]  # needs the training mean
    assert all(type(v) is float for v in metrics.values())
    assert 0 < metrics["mae"] <= metrics["rmse"] and 0.5 < metrics["r2"] <= 1
    train_mean = float(generate_batch(600, seed=7)["monthly_charges"].mean())
    skilled = evaluate(model, generate_batch(300, seed=8), config, train_mean=train_mean)
    assert list(skilled) == list(METRICS["regression"])
    assert 0.5 < skilled["rmse_skill"] <= 1


# -- evaluate through a calibrator ------------------------------------------------------------------------
def _calibrated(churn_model: tuple[ModelConfig, Any, Any]) -> tuple[Any, Any, Calibrator]:
    config, model, holdout = churn_model
    x, y = features_and_target(config, holdout)
    return x, y, fit_calibrator(positive_scores(model, x), (y == model.classes_[1]).to_numpy())


def test_positive_scores_are_the_served_scores(churn_model: tuple[ModelConfig, Any, Any]) -> None:
    import numpy as np

    model = churn_model[1]
    x, _, calibrator = _calibrated(churn_model)
    raw = positive_scores(model, x)
    assert np.array_equal(raw, model.predict_proba(x)[:, 1])
    assert np.array_equal(positive_scores(model, x, calibrator), calibrator.apply(raw))
    regression, _ = fit(gate_config("Ridge"), {}, generate_batch(200, seed=3))
    with pytest.raises(TrainingError, match="need a binary classifier"):
        positive_scores(regression, x)


def test_a_calibrator_is_applied_before_the_threshold_and_the_scores(
    churn_model: tuple[ModelConfig, Any, Any],
) -> None:
    import numpy as np
    from sklearn import metrics as skm

    config, model, holdout = churn_model
    x, y, calibrator = _calibrated(churn_model)
    raw_threshold = 0.35
    threshold = calibrator.threshold(raw_threshold)
    scored = evaluate(model, holdout, config, threshold=threshold, calibrator=calibrator)
    calibrated = calibrator.apply(model.predict_proba(x)[:, 1])
    predicted = (calibrated >= threshold).astype(int)
    assert scored["roc_auc"] == pytest.approx(skm.roc_auc_score(y, calibrated))
    assert scored["log_loss"] == pytest.approx(skm.log_loss(y, np.column_stack([1 - calibrated, calibrated])))
    assert scored["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted))
    assert scored["f1"] == pytest.approx(skm.f1_score(y, predicted))
    raw = evaluate(model, holdout, config, threshold=raw_threshold)
    assert scored["log_loss"] < raw["log_loss"]  # fitted on these very rows: better calibrated
    # no threshold: the raw 0.5 of predict, carried to the calibrated scale
    plain = evaluate(model, holdout, config, calibrator=calibrator)
    assert plain == evaluate(model, holdout, config, threshold=calibrator.threshold(None), calibrator=calibrator)


def test_an_identity_calibrator_changes_nothing(churn_model: tuple[ModelConfig, Any, Any]) -> None:
    config, model, holdout = churn_model
    identity = Calibrator(x=(0.0, 1.0), y=(0.0, 1.0))
    with_it = evaluate(model, holdout, config, threshold=0.4, calibrator=identity)
    # the identity map plus the 1e-6 tie-break slope (ml.calibration.TIEBREAK)
    assert with_it == pytest.approx(evaluate(model, holdout, config, threshold=0.4), abs=1e-6)


def test_regression_ignores_a_calibrator() -> None:
    config = gate_config("Ridge")
    model, _ = fit(config, {}, generate_batch(300, seed=7))
    holdout = generate_batch(200, seed=8)
    squash = Calibrator(x=(0.0, 1.0), y=(0.2, 0.3))
    assert evaluate(model, holdout, config, calibrator=squash) == evaluate(model, holdout, config)


# -- gate -------------------------------------------------------------------------------------------------
def test_candidate_beats_champion() -> None:
    config = gate_config(primary_metric="roc_auc", floor=0.7, min_improvement=0.01)
    decision = gate(config, {"roc_auc": 0.812, "accuracy": 0.7}, {"roc_auc": 0.790})
    assert decision.passed is True
    assert decision.reasons == [
        "roc_auc 0.812 reaches the floor 0.700",
        "roc_auc 0.812 beats champion 0.790 by 0.022 (>= 0.010)",
    ]
    assert (decision.candidate, decision.champion, decision.floor) == (0.812, 0.790, 0.7)


def test_floor_not_reached_fails_even_when_beating_the_champion() -> None:
    config = gate_config(floor=0.75, min_improvement=0.01)
    decision = gate(config, {"roc_auc": 0.74}, {"roc_auc": 0.70})
    assert decision.passed is False
    assert decision.reasons[0] == "roc_auc 0.740 is below the floor 0.750"
    assert decision.reasons[1].startswith("roc_auc 0.740 beats champion 0.700 by 0.040")


@pytest.mark.parametrize(
    ("candidate", "champion", "reason"),
    [
        (0.795, 0.790, "roc_auc 0.795 improves on champion 0.790 by only 0.005 (needs >= 0.010)"),
        (0.790, 0.790, "roc_auc 0.790 ties champion 0.790 (needs >= 0.010)"),
        (0.780, 0.790, "roc_auc 0.780 is worse than champion 0.790 by 0.010 (needs >= 0.010)"),
    ],
)
def test_not_enough_improvement(candidate: float, champion: float, reason: str) -> None:
    decision = gate(gate_config(min_improvement=0.01), {"roc_auc": candidate}, {"roc_auc": champion})
    assert decision.passed is False
    assert decision.reasons == [reason]


def test_improvement_exactly_at_the_threshold_passes_despite_float_noise() -> None:
    decision = gate(gate_config(min_improvement=0.01), {"roc_auc": 0.81}, {"roc_auc": 0.80})  # 0.81-0.80 < 0.01
    assert decision.passed is True


def test_lower_is_better_metric() -> None:
    config = gate_config("Ridge", floor=10.0, min_improvement=0.5)
    assert config.primary_metric == "rmse"
    better = gate(config, {"rmse": 8.0}, {"rmse": 9.0})
    assert better.passed and better.lower_is_better
    assert better.reasons == [
        "rmse 8.000 reaches the floor 10.000 (lower is better)",
        "rmse 8.000 beats champion 9.000 by 1.000 (>= 0.500) (lower is better)",
    ]
    worse = gate(config, {"rmse": 8.8}, {"rmse": 9.0})
    assert not worse.passed
    assert worse.reasons[1] == "rmse 8.800 improves on champion 9.000 by only 0.200 (needs >= 0.500) (lower is better)"
    above_floor = gate(config, {"rmse": 11.0}, None)
    assert not above_floor.passed
    assert above_floor.reasons[0] == "rmse 11.000 is above the floor 10.000 (lower is better)"
    log_loss = gate(
        gate_config(primary_metric="log_loss", min_improvement=0.01), {"log_loss": 0.40}, {"log_loss": 0.45}
    )
    assert log_loss.passed and log_loss.lower_is_better


def test_first_model_needs_only_the_floor() -> None:
    config = gate_config(floor=0.7)
    first = gate(config, {"roc_auc": 0.71}, None)
    assert first.passed and first.champion is None
    assert first.reasons == ["roc_auc 0.710 reaches the floor 0.700", "first model: no champion to beat"]
    assert not gate(config, {"roc_auc": 0.69}, None).passed
    no_floor = gate(gate_config(), {"roc_auc": 0.51}, None)
    assert no_floor.passed and no_floor.reasons == ["first model: no champion to beat"]


def test_unusable_numbers_fail_closed() -> None:
    config = gate_config()
    assert not gate(config, {"roc_auc": float("nan")}, None).passed
    missing = gate(config, {"roc_auc": 0.9}, {"accuracy": 0.8})
    assert not missing.passed and "the champion has no usable roc_auc" in missing.reasons[0]
    with pytest.raises(TrainingError, match="candidate metrics have no roc_auc"):
        gate(config, {"accuracy": 0.9}, None)


def test_decision_to_dict_is_json_ready() -> None:
    decision = gate(gate_config(floor=0.7), {"roc_auc": 0.8}, {"roc_auc": 0.75})
    as_dict = decision.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert set(as_dict) == {
        "passed",
        "reasons",
        "primary_metric",
        "candidate",
        "champion",
        "floor",
        "min_improvement",
        "lower_is_better",
        "primary_passed",
        "guardrails",
    }
    assert GateDecision(**as_dict) == decision
