"""The scikit-learn estimators modelcare trains, the metrics it judges by, and what skops may load.

One allowlist serves training (which classes a config may name), the registry (which types a
stored model may contain when it is loaded) and evaluation (which metrics exist per task).
"""

from __future__ import annotations

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

# Metrics per task; the first is the default primary metric. Higher is better except where listed.
METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("roc_auc", "accuracy", "f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
