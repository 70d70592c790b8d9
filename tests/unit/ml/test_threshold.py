"""The decision threshold (ml.threshold): tuned on training data, fixed from the config, or none."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from include.modelcare.dev.simulate import generate_batch
from include.modelcare.ml.evaluation import evaluate
from include.modelcare.ml.threshold import choose_threshold, stored_threshold
from include.modelcare.ml.training import fit
from include.modelcare.policy import gate
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit


def imbalanced(n: int, seed: int) -> Any:
    """Churn at ~6%: no customer's churn probability reaches 0.5, so ``predict`` (0.5) never says churn."""
    import numpy as np

    frame = generate_batch(n, seed=seed)
    rng = np.random.default_rng(seed)
    risk = 0.01 + 0.07 * (frame["contract"] == "month_to_month") + 0.04 * (frame["support_calls"] >= 3)
    frame["churned"] = (rng.random(n) < risk).astype("int64")
    return frame


@pytest.fixture(scope="module")
def problem() -> tuple[Any, Any, Any, Any]:
    config = make_config(gate={"floor": None, "min_improvement": 0.0})
    train, holdout = imbalanced(3000, seed=1), imbalanced(1500, seed=2)
    model, _ = fit(config, {}, train)
    return config, model, train, holdout


def test_tuned_threshold_predicts_both_classes_where_half_predicts_one(problem: tuple[Any, ...]) -> None:
    config, model, train, holdout = problem
    half = evaluate(model, holdout, config)
    assert half["predicted_classes"] == 1.0 and half["f1"] == 0.0  # 0.5: never churn
    assert not gate(config, half, None, classes=2).passed  # the guardrails refuse it

    choice = choose_threshold(config, {}, train)
    assert choice.source == "tuned" and choice.objective == "balanced_accuracy"
    assert choice.value is not None and 0.01 < choice.value < 0.5
    assert choice.cv_score is not None and choice.cv_score > 0.55
    tuned = evaluate(model, holdout, config, threshold=choice.value)
    assert tuned["predicted_classes"] == 2.0 and tuned["f1"] > 0.1 and tuned["min_class_recall"] > 0
    assert tuned["balanced_accuracy"] > half["balanced_accuracy"] + 0.05
    assert tuned["roc_auc"] == half["roc_auc"]
    assert gate(config, tuned, None, classes=2).passed


def test_the_tuning_is_deterministic_and_uses_training_rows_only(problem: tuple[Any, ...]) -> None:
    config, _, train, _ = problem
    assert choose_threshold(config, {}, train) == choose_threshold(config, {}, train)


def test_f1_objective(problem: tuple[Any, ...]) -> None:
    _, _, train, _ = problem
    config = make_config(threshold_objective="f1")
    choice = choose_threshold(config, {}, train)
    assert choice.objective == "f1" and choice.value is not None and 0 < choice.value < 0.5


def test_fixed_threshold_from_the_config(problem: tuple[Any, ...]) -> None:
    _, _, train, _ = problem
    choice = choose_threshold(make_config(threshold=0.3), {}, train)
    assert (choice.value, choice.source) == (0.3, "config")
    with pytest.raises(ValidationError, match="must be 'tuned' or a number between 0 and 1"):
        make_config(threshold=1.5)


def test_no_threshold_for_regression_or_multiclass(problem: tuple[Any, ...]) -> None:
    import numpy as np

    _, _, train, _ = problem
    ridge = make_config("Ridge")
    assert choose_threshold(ridge, {}, generate_batch(200, seed=3)).value is None
    three = train.assign(churned=np.arange(len(train)) % 3)
    choice = choose_threshold(make_config(), {}, three)
    assert choice.value is None and "3 classes: argmax" in choice.note


def test_stored_threshold_reads_only_a_usable_number() -> None:
    assert stored_threshold({"threshold": 0.31}) == 0.31
    for metadata in (None, {}, {"threshold": None}, {"threshold": True}, {"threshold": 1.2}, {"threshold": "0.3"}):
        assert stored_threshold(metadata) is None
