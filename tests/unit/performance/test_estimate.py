"""CBPE (include.modelcare.performance.estimate) against the realised metric on calibrated simulated data."""

from __future__ import annotations

from typing import Any

import pytest

from include.modelcare.performance.estimate import (
    ESTIMABLE,
    estimate_metric,
    estimate_metrics,
    expected_confusion,
    expected_roc_auc,
)

pytestmark = pytest.mark.unit


def _calibrated(seed: int, n: int = 20_000) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 4.0, n)
    return p, rng.random(n) < p  # the truth drawn from the probabilities: calibrated by construction


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimates_match_the_realised_metrics_when_probabilities_are_calibrated(seed: int) -> None:
    from sklearn import metrics

    p, y = _calibrated(seed)
    yhat = p >= 0.3
    est = estimate_metrics(p, yhat)
    assert est["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, p), abs=0.01)
    assert est["accuracy"] == pytest.approx(metrics.accuracy_score(y, yhat), abs=0.01)
    assert est["f1"] == pytest.approx(metrics.f1_score(y, yhat), abs=0.015)
    assert est["balanced_accuracy"] == pytest.approx(metrics.balanced_accuracy_score(y, yhat), abs=0.01)
    recalls = metrics.recall_score(y, yhat, average=None)
    assert est["min_class_recall"] == pytest.approx(min(recalls), abs=0.015)


def test_ties_are_one_point_of_the_curve() -> None:
    import numpy as np

    p = np.array([0.2, 0.2, 0.2, 0.8, 0.8])
    # expected AUC with ties counted half, by hand: positives' mass above negatives' mass
    assert expected_roc_auc(p) == pytest.approx(expected_roc_auc(np.sort(p)[::-1]))
    assert expected_roc_auc(np.full(10, 0.5)) == pytest.approx(0.5)


def test_expected_confusion_adds_up_to_the_rows() -> None:
    import numpy as np

    p = np.array([0.1, 0.9, 0.5, 0.3])
    tp, fp, fn, tn = expected_confusion(p, p >= 0.5)
    assert tp + fp + fn + tn == pytest.approx(4)
    assert tp == pytest.approx(1.4) and fp == pytest.approx(0.6)
    with pytest.raises(ValueError, match="probabilities for"):
        expected_confusion(p, p[:2] > 0)


def test_what_is_not_estimated_says_why() -> None:
    import numpy as np

    p, _ = _calibrated(0, 100)
    assert estimate_metric("log_loss", p, p > 0.5).value is None
    assert "not estimated" in estimate_metric("log_loss", p, p > 0.5).note
    empty = estimate_metric("roc_auc", np.array([]), np.array([], dtype=bool))
    assert empty.value is None and empty.note == "empty batch"
    none_positive = estimate_metric("roc_auc", np.zeros(5), np.zeros(5, dtype=bool))
    assert none_positive.value is None and "undefined" in none_positive.note
    assert set(ESTIMABLE) <= set(estimate_metrics(p, p > 0.5))
