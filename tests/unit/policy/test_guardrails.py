"""The gate's guardrails (include.modelcare.guardrails via policy.gate): each default at its boundary,
the first version (floors only), a maximum drop against the champion, and the refusal's wording."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from include.modelcare.guardrails import guardrails
from include.modelcare.policy import gate
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

HEALTHY = {
    "roc_auc": 0.80,
    "accuracy": 0.75,
    "f1": 0.45,
    "log_loss": 0.45,
    "balanced_accuracy": 0.72,
    "min_class_recall": 0.60,
    "predicted_classes": 2.0,
}


def config(**guardrails_settings: Any) -> Any:
    return make_config(gate={"floor": 0.55, "min_improvement": 0.005, "guardrails": guardrails_settings})


def metrics(**changes: float) -> dict[str, float]:
    return {**HEALTHY, **changes}


def failed(decision: Any) -> list[str]:
    return [g["metric"] for g in decision.guardrails if not g["passed"]]


def test_a_healthy_first_model_passes_every_default() -> None:
    decision = gate(config(), metrics(), None, classes=2)
    assert decision.passed, decision.reasons
    assert [g["metric"] for g in decision.guardrails] == [
        "predicted_classes",
        "min_class_recall",
        "balanced_accuracy",
        "f1",
    ]
    assert decision.reasons[-1] == "all 4 guardrails hold"


@pytest.mark.parametrize(
    ("metric", "refused", "accepted"),
    [
        ("predicted_classes", 1.0, 2.0),  # one predicted class on the holdout
        ("min_class_recall", 0.0, 0.001),  # a supported class with recall 0
        ("balanced_accuracy", 0.52, 0.5201),  # chance 0.5 + margin 0.02 is refused, just above passes
        ("f1", 0.0, 0.001),  # binary F1 of 0
    ],
)
def test_each_default_at_its_boundary(metric: str, refused: float, accepted: float) -> None:
    bad = gate(config(), metrics(**{metric: refused}), None, classes=2)
    assert not bad.passed and failed(bad) == [metric]
    assert gate(config(), metrics(**{metric: accepted}), None, classes=2).passed


def test_chance_level_follows_the_number_of_classes() -> None:
    rules = {r.metric: r for r in guardrails(config(chance_margin=0.05), classes=4)}
    assert rules["balanced_accuracy"].bound == pytest.approx(0.30)
    assert "f1" not in rules  # binary only: multi-class F1 is macro, min_class_recall covers it


def test_the_demo_v2_case_is_refused_naming_both_values() -> None:
    """roc_auc above the floor and the champion, but F1 0: the gate that read one metric approved it."""
    champion = metrics(roc_auc=0.43, f1=0.1623, balanced_accuracy=0.47, min_class_recall=0.2)
    candidate = metrics(roc_auc=0.581, f1=0.0, balanced_accuracy=0.5, min_class_recall=0.0, predicted_classes=1.0)
    decision = gate(config(), candidate, champion, classes=2)
    assert not decision.passed
    assert failed(decision) == ["predicted_classes", "min_class_recall", "balanced_accuracy", "f1"]
    refusal = decision.reasons[-1]
    assert refusal.startswith("guardrail(s) failed: ")
    assert "f1 0.000 is not better than 0.000 (champion 0.162): never right about the positive class" in refusal
    assert "balanced_accuracy 0.500 is not better than 0.520 (champion 0.470)" in refusal
    assert decision.reasons[1].startswith("roc_auc 0.581 beats champion 0.430")  # the primary rule is unchanged


def test_missing_guardrail_metric_fails_closed() -> None:
    partial = {"roc_auc": 0.8}
    decision = gate(config(), partial, None)
    assert not decision.passed
    assert "f1 of the candidate is not measured" in decision.reasons[-1]


def test_guardrails_can_be_switched_off() -> None:
    decision = gate(config(refuse_degenerate=False), {"roc_auc": 0.8}, None)
    assert decision.passed and decision.guardrails == []


def test_configured_floor_first_version_and_max_drop_with_a_champion() -> None:
    settings = config(metrics={"f1": {"floor": 0.40, "max_drop": 0.02}, "log_loss": {"max_drop": 0.05}})
    # first version: floors only (no champion to drop from)
    first = gate(settings, metrics(f1=0.40), None, classes=2)
    assert first.passed, first.reasons
    drop = next(g for g in first.guardrails if g["kind"] == "max_drop" and g["metric"] == "f1")
    assert drop["passed"] and "no champion, max drop 0.020 not applied" in drop["reason"]
    assert not gate(settings, metrics(f1=0.3999), None, classes=2).passed
    # with a champion: at most 0.02 worse (boundary included)
    champion = metrics(roc_auc=0.70, f1=0.47)
    assert gate(settings, metrics(f1=0.45), champion, classes=2).passed
    worse = gate(settings, metrics(f1=0.4499), champion, classes=2)
    assert not worse.passed and failed(worse) == ["f1"]
    assert "f1 0.450 vs champion 0.470: drop 0.020 exceeds max 0.020" in worse.reasons[-1]
    # lower-is-better: a rise is a drop
    lossy = gate(settings, metrics(log_loss=0.51), metrics(roc_auc=0.7, log_loss=0.45), classes=2)
    assert not lossy.passed and failed(lossy) == ["log_loss"]


def test_regression_refuses_no_better_than_the_training_mean() -> None:
    ridge = make_config("Ridge", gate={"floor": None, "min_improvement": 0.0})
    assert not gate(ridge, {"rmse": 10.0, "rmse_skill": 0.0}, None).passed
    assert gate(ridge, {"rmse": 9.9, "rmse_skill": 0.01}, None).passed
    assert not gate(ridge, {"rmse": 9.9}, None).passed  # rmse_skill not measured: refused


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"metrics": {"nope": {"floor": 0.1}}}, "unknown metric 'nope'"),
        ({"metrics": {"f1": {"floor": 1.5}}}, "guardrails.metrics.f1.floor: 1.5 is outside f1's range [0, 1]"),
        ({"metrics": {"f1": {}}}, "set floor and/or max_drop"),
        ({"metrics": {"rmse": {"floor": 3.0}}}, "'rmse' is not a classification metric"),
        ({"metrics": {"f1": {"max_drop": -0.1}}}, "greater than or equal to 0"),
    ],
)
def test_check_config_validates_guardrails_against_the_metric_table(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config(**settings)
