"""Evaluation on the out-of-time holdout: the task's metrics of a fitted pipeline.

Compare a candidate with the champion on the *same* holdout (evaluate both models), not with the
metrics the champion had when it was trained: those came from another period. The comparison itself,
the champion/challenger gate, is a decision: ``policy.gate``.

A binary classifier is scored as it is served: its positive-class scores through the version's calibrator
(``ml.calibration``, when it has one), then its threshold on that calibrated scale (``positive_scores``
is the one place that computes them, for the gate and for the performance estimate alike).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import TrainingError

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.ml.calibration import Calibrator

log = logging.getLogger(__name__)


def evaluate(
    model: Any,
    holdout: pd.DataFrame,
    config: ModelConfig,
    *,
    threshold: float | None = None,
    train_mean: float | None = None,
    calibrator: Calibrator | None = None,
) -> dict[str, float]:
    """The task's metrics (``estimators.METRIC_TABLE``) of a fitted pipeline on a labelled holdout, as floats.

    Classification: roc_auc and log_loss from ``predict_proba``; accuracy, f1, balanced_accuracy,
    min_class_recall and predicted_classes from the predicted classes. Binary (the second class of
    ``model.classes_`` is positive): a row is positive when its positive-class score is ``>= threshold``
    (the version's decision threshold, ``ml.threshold``); ``threshold`` None is the estimator's own
    ``predict`` (0.5). With a ``calibrator`` (binary only) the score is the calibrated one: roc_auc and
    log_loss read it, ``threshold`` is on the calibrated scale (None: the raw 0.5 carried over,
    ``Calibrator.threshold``). More classes: argmax, one-vs-rest AUC and macro F1, no calibrator.
    Regression: rmse, mae, r2, and rmse_skill when ``train_mean`` (the training target's mean) is given.
    ``TrainingError`` for an empty or single-class holdout, or labels the model never saw.
    """
    import numpy as np
    from sklearn import metrics

    from include.modelcare.ml.training import features_and_target

    x, y = features_and_target(config, holdout)
    if len(y) == 0:
        raise TrainingError(f"{config.name}: the holdout is empty")
    if config.task == "regression":
        predicted = model.predict(x)
        rmse = float(np.sqrt(metrics.mean_squared_error(y, predicted)))
        result = {
            "rmse": rmse,
            "mae": float(metrics.mean_absolute_error(y, predicted)),
            "r2": float(metrics.r2_score(y, predicted)),
        }
        if train_mean is not None:
            result["rmse_skill"] = rmse_skill(rmse, y.to_numpy(dtype="float64"), train_mean)
    else:
        result = _classification(model, x, y, config, threshold=threshold, calibrator=calibrator)
    calibrated = calibrator is not None and config.task == "classification" and len(model.classes_) == 2
    log.info(
        "%s: holdout metrics on %d rows%s%s: %s",
        config.name,
        len(y),
        " (calibrated)" if calibrated else "",
        "" if threshold is None else f" at threshold {threshold:.4f}",
        ", ".join(f"{k}={v:.4f}" for k, v in result.items()),
    )
    return result


def rmse_skill(rmse: float, y: Any, train_mean: float) -> float:
    """1 - rmse / rmse of predicting ``train_mean`` for every row: 0 is no better than the mean, 1 is exact.

    Why the training mean and not r2's holdout mean: the mean a model could have learnt is the training one;
    after a level shift even a good model can have r2 < 0 while it still beats the training mean.
    """
    import numpy as np

    baseline = float(np.sqrt(np.mean((np.asarray(y, dtype="float64") - train_mean) ** 2)))
    if baseline == 0:
        return 1.0 if rmse == 0 else -math.inf
    return 1.0 - rmse / baseline


def positive_scores(model: Any, x: pd.DataFrame, calibrator: Calibrator | None = None) -> Any:
    """The positive-class probability of each row of a binary classifier (the second of ``model.classes_``),
    through ``calibrator`` when given: what the version serves as its ``scores``. A numpy array.

    ``TrainingError`` for a model that is not a binary classifier (no calibrated scores exist for it).
    """
    import numpy as np

    classes = getattr(model, "classes_", ())
    if not hasattr(model, "predict_proba") or len(classes) != 2:
        raise TrainingError(f"positive-class scores need a binary classifier; this model has {len(classes)} classes")
    raw = np.asarray(model.predict_proba(x))[:, 1]
    return raw if calibrator is None else calibrator.apply(raw)


def predict_classes(model: Any, proba: Any, x: pd.DataFrame, threshold: float | None) -> Any:
    """Predicted classes: binary with a threshold, positive when the positive-class score is ``>= threshold``
    (as scikit-learn's ``TunedThresholdClassifierCV`` decides); otherwise the estimator's ``predict``."""
    import numpy as np

    classes = np.asarray(model.classes_)
    if threshold is None or len(classes) != 2:
        return model.predict(x)
    return classes[(np.asarray(proba)[:, 1] >= threshold).astype(int)]


def _classification(
    model: Any,
    x: pd.DataFrame,
    y: pd.Series,
    config: ModelConfig,
    *,
    threshold: float | None,
    calibrator: Calibrator | None,
) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics

    present = sorted(y.unique().tolist(), key=str)
    if len(present) < 2:
        raise TrainingError(
            f"{config.name}: the holdout has a single class ({config.data.target}={present[0]!r}, {len(y)} rows); "
            "roc_auc and log_loss are undefined: widen the holdout"
        )
    classes = list(model.classes_)
    unseen = [c for c in present if c not in classes]
    if unseen:
        raise TrainingError(
            f"{config.name}: holdout label(s) {', '.join(map(repr, unseen))} were not in training "
            f"(model classes: {', '.join(map(repr, classes))})"
        )
    if len(classes) == 2:
        scores = positive_scores(model, x, calibrator)
        proba = np.column_stack([1.0 - scores, scores])
        if calibrator is not None and threshold is None:
            threshold = calibrator.threshold(None)  # predict's 0.5, on the calibrated scale
    else:
        proba = model.predict_proba(x)
    predicted = predict_classes(model, proba, x, threshold)
    if len(classes) == 2:
        auc = metrics.roc_auc_score(y, proba[:, 1])
        f1 = metrics.f1_score(y, predicted, pos_label=classes[1], zero_division=0.0)
    else:
        auc = metrics.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        f1 = metrics.f1_score(y, predicted, average="macro", labels=classes, zero_division=0.0)
    # Recall of each class with enough support: a class the model never finds is a degenerate model.
    support = y.value_counts(normalize=True)
    min_support = config.training.gate.guardrails.min_class_support
    supported = [c for c in present if support[c] >= min_support] or present
    recalls = metrics.recall_score(y, predicted, labels=supported, average=None, zero_division=0.0)
    return {
        "roc_auc": float(auc),
        "accuracy": float(metrics.accuracy_score(y, predicted)),
        "f1": float(f1),
        "log_loss": float(metrics.log_loss(y, proba, labels=classes)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y, predicted)),
        "min_class_recall": float(np.min(recalls)),
        "predicted_classes": float(len(set(np.asarray(predicted).tolist()))),
    }
