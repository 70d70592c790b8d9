"""Confidence-based performance estimation (CBPE): a binary classifier's metric on a batch without labels.

Why write it here: NannyML's CBPE is the reference implementation, but ``nannyml`` 0.13.1 cannot be
installed beside our pins: it requires ``s3fs``, whose ``aiobotocore`` pins ``botocore < 1.43.118`` (we pin
1.44.5), plus ``plotly < 6`` and ``lightgbm < 4.6`` (see FACTS). The method is a few lines of numpy.

The method (NannyML's CBPE, Kirkpatrick et al.): with calibrated probabilities ``p`` of the positive class
(``ml.calibration``) and the served decisions ``yhat``, each row is a positive with probability ``p``, so the
expected confusion matrix is ``TP = sum(p * yhat)``, ``FP = sum((1 - p) * yhat)``, ``FN = sum(p * (1 - yhat))``,
``TN = sum((1 - p) * (1 - yhat))``; accuracy, F1, balanced accuracy and the lowest class recall follow from it.
ROC AUC: the expected true and false positive rates at every distinct score, integrated by the trapezoid rule.

What it can and cannot see: it is right when the model's probabilities stay calibrated on the new batch, i.e.
under covariate shift (the inputs move, P(y | x) does not). A concept change (the same inputs now mean
something else) leaves the probabilities unchanged, so the estimate does not move: only labels reveal it.
Estimates are reported as *estimated*, may alert, and never request a retrain on their own (``policy``).

Regression: nothing is estimated (the model gives no distribution of its error; NannyML's DLE trains a second
model on the reference's errors, which we do not); ``log_loss`` and ``predicted_classes`` are not estimated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

ESTIMABLE: Final = ("roc_auc", "accuracy", "f1", "balanced_accuracy", "min_class_recall")
"""Metrics CBPE estimates (binary classification)."""


@dataclass(frozen=True)
class Estimate:
    """An estimated metric of a batch (``value`` None: not estimated, ``note`` says why)."""

    metric: str
    value: float | None
    rows: int
    note: str = ""
    method: str = "cbpe"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def not_estimated(metric: str, rows: int, why: str) -> Estimate:
    """An honest "no estimate": the metric, the rows, and why not."""
    return Estimate(metric=metric, value=None, rows=rows, note=why, method="none")


def expected_confusion(probabilities: Any, predicted_positive: Any) -> tuple[float, float, float, float]:
    """Expected ``(TP, FP, FN, TN)`` of decisions ``predicted_positive`` when each row is positive with its
    calibrated probability."""
    import numpy as np

    p = np.clip(np.asarray(probabilities, dtype="float64"), 0.0, 1.0)
    yhat = np.asarray(predicted_positive, dtype=bool)
    if p.shape != yhat.shape:
        raise ValueError(f"cbpe: {p.shape} probabilities for {yhat.shape} decisions")
    tp = float(np.sum(p[yhat]))
    fp = float(np.sum(1.0 - p[yhat]))
    fn = float(np.sum(p[~yhat]))
    tn = float(np.sum(1.0 - p[~yhat]))
    return tp, fp, fn, tn


def expected_roc_auc(probabilities: Any) -> float:
    """Expected ROC AUC of ranking by ``probabilities`` when each row is positive with that probability.

    Rows with the same probability (isotonic calibration makes steps) are one point of the curve, as ties
    are in ``roc_auc_score``. NaN when the expected positives or negatives are zero.
    """
    import numpy as np

    p = np.clip(np.asarray(probabilities, dtype="float64"), 0.0, 1.0)
    values, inverse = np.unique(-p, return_inverse=True)  # descending probability, ties grouped
    pos = np.bincount(inverse, weights=p, minlength=len(values))
    neg = np.bincount(inverse, weights=1.0 - p, minlength=len(values))
    total_pos, total_neg = float(pos.sum()), float(neg.sum())
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    tpr = np.concatenate([[0.0], np.cumsum(pos) / total_pos])
    fpr = np.concatenate([[0.0], np.cumsum(neg) / total_neg])
    return float(np.trapezoid(tpr, fpr))


def estimate_metrics(probabilities: Any, predicted_positive: Any) -> dict[str, float]:
    """Every estimable metric (``ESTIMABLE``) of one batch. NaN where undefined (e.g. no expected positives)."""
    tp, fp, fn, tn = expected_confusion(probabilities, predicted_positive)
    n = tp + fp + fn + tn
    nan = float("nan")
    recall = tp / (tp + fn) if tp + fn > 0 else nan
    specificity = tn / (tn + fp) if tn + fp > 0 else nan
    return {
        "roc_auc": expected_roc_auc(probabilities),
        "accuracy": (tp + tn) / n if n > 0 else nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else nan,
        "balanced_accuracy": (recall + specificity) / 2,
        "min_class_recall": min(recall, specificity),
    }


def estimate_metric(metric: str, probabilities: Any, predicted_positive: Any) -> Estimate:
    """The estimate of ``metric`` (or a ``not_estimated`` saying why: not an estimable metric, empty batch)."""
    import math

    rows = len(probabilities)
    if metric not in ESTIMABLE:
        return not_estimated(metric, rows, f"{metric} is not estimated (CBPE estimates {', '.join(ESTIMABLE)})")
    if rows == 0:
        return not_estimated(metric, 0, "empty batch")
    value = estimate_metrics(probabilities, predicted_positive)[metric]
    if math.isnan(value):
        return not_estimated(metric, rows, f"{metric} undefined on this batch (no expected positives or negatives)")
    return Estimate(metric=metric, value=value, rows=rows, note="calibrated probabilities (CBPE)")
