"""The scikit-learn estimators modelcare trains, the metrics it judges by, and what skops may load.

One allowlist serves training (which classes a config may name), the registry (which types a
stored model may contain when it is loaded) and evaluation (which metrics exist per task).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class EstimatorSpec:
    """An allowed estimator: its import path and the task it serves."""

    path: str
    task: str


ESTIMATORS: dict[str, EstimatorSpec] = {
    "LogisticRegression": EstimatorSpec("sklearn.linear_model.LogisticRegression", "classification"),
    "RandomForestClassifier": EstimatorSpec("sklearn.ensemble.RandomForestClassifier", "classification"),
    "GradientBoostingClassifier": EstimatorSpec("sklearn.ensemble.GradientBoostingClassifier", "classification"),
    "HistGradientBoostingClassifier": EstimatorSpec(
        "sklearn.ensemble.HistGradientBoostingClassifier", "classification"
    ),
    "Ridge": EstimatorSpec("sklearn.linear_model.Ridge", "regression"),
    "LinearRegression": EstimatorSpec("sklearn.linear_model.LinearRegression", "regression"),
    "RandomForestRegressor": EstimatorSpec("sklearn.ensemble.RandomForestRegressor", "regression"),
    "GradientBoostingRegressor": EstimatorSpec("sklearn.ensemble.GradientBoostingRegressor", "regression"),
    "HistGradientBoostingRegressor": EstimatorSpec("sklearn.ensemble.HistGradientBoostingRegressor", "regression"),
}


@dataclass(frozen=True)
class MetricSpec:
    """A metric modelcare computes: its task, the range its values can take, and which way is better.

    The one table that ``check-config`` (floors inside the range), the gate and its guardrails read, and
    the one the Registry page, ``registry show`` and the version e-mail list the gate metrics from.
    """

    name: str
    task: str
    low: float
    high: float
    higher_is_better: bool

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def range_text(self) -> str:
        def bound(x: float) -> str:
            return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"

        return f"[{bound(self.low)}, {bound(self.high)}]"


# Per task in order: the first is the default primary metric.
METRIC_TABLE: tuple[MetricSpec, ...] = (
    MetricSpec("roc_auc", "classification", 0.0, 1.0, higher_is_better=True),
    MetricSpec("accuracy", "classification", 0.0, 1.0, higher_is_better=True),
    MetricSpec("f1", "classification", 0.0, 1.0, higher_is_better=True),
    MetricSpec("log_loss", "classification", 0.0, math.inf, higher_is_better=False),
    MetricSpec("balanced_accuracy", "classification", 0.0, 1.0, higher_is_better=True),
    MetricSpec("min_class_recall", "classification", 0.0, 1.0, higher_is_better=True),
    MetricSpec("predicted_classes", "classification", 0.0, math.inf, higher_is_better=True),
    MetricSpec("rmse", "regression", 0.0, math.inf, higher_is_better=False),
    MetricSpec("mae", "regression", 0.0, math.inf, higher_is_better=False),
    MetricSpec("r2", "regression", -math.inf, 1.0, higher_is_better=True),
    MetricSpec("rmse_skill", "regression", -math.inf, 1.0, higher_is_better=True),
)
"""What the less common ones mean (``ml.evaluation``): ``balanced_accuracy`` is the mean recall over the
holdout's classes (chance: 1/k); ``min_class_recall`` the lowest recall of a class with at least
``training.gate.guardrails.min_class_support`` of the holdout; ``predicted_classes`` how many distinct classes
the model predicts on the holdout; ``rmse_skill`` is 1 - rmse / rmse of predicting the training mean (0: no
better than the mean; measured only when the training mean is known, i.e. in the retraining DAG)."""
METRIC_SPECS: dict[str, MetricSpec] = {m.name: m for m in METRIC_TABLE}
METRICS: dict[str, tuple[str, ...]] = {
    task: tuple(m.name for m in METRIC_TABLE if m.task == task) for task in ("classification", "regression")
}
LOWER_IS_BETTER = frozenset(m.name for m in METRIC_TABLE if not m.higher_is_better)
