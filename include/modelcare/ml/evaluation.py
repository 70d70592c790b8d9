"""Evaluation on the out-of-time holdout: the task's metrics of a fitted pipeline.

Compare a candidate with the champion on the *same* holdout (evaluate both models), not with the
metrics the champion had when it was trained: those came from another period. The comparison itself,
the champion/challenger gate, is a decision: ``policy.gate``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import TrainingError

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)


def evaluate(model: Any, holdout: pd.DataFrame, config: ModelConfig) -> dict[str, float]:
    """The task's metrics (``estimators.METRICS``) of a fitted pipeline on a labelled holdout, as floats.

    Classification: roc_auc, accuracy, f1, log_loss from ``predict_proba`` (binary: the second class of
    ``model.classes_`` is positive; more classes: one-vs-rest AUC and macro F1). Regression: rmse, mae, r2.
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
        result = {
            "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted))),
            "mae": float(metrics.mean_absolute_error(y, predicted)),
            "r2": float(metrics.r2_score(y, predicted)),
        }
    else:
        result = _classification(model, x, y, config)
    log.info(
        "%s: holdout metrics on %d rows: %s",
        config.name,
        len(y),
        ", ".join(f"{k}={v:.4f}" for k, v in result.items()),
    )
    return result


def _classification(model: Any, x: pd.DataFrame, y: pd.Series, config: ModelConfig) -> dict[str, float]:
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
    proba = model.predict_proba(x)
    predicted = model.predict(x)
    if len(classes) == 2:
        auc = metrics.roc_auc_score(y, proba[:, 1])
        f1 = metrics.f1_score(y, predicted, pos_label=classes[1])
    else:
        auc = metrics.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        f1 = metrics.f1_score(y, predicted, average="macro", labels=classes)
    return {
        "roc_auc": float(auc),
        "accuracy": float(metrics.accuracy_score(y, predicted)),
        "f1": float(f1),
        "log_loss": float(metrics.log_loss(y, proba, labels=classes)),
    }
