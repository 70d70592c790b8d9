"""Config variants of the sample model for training-related unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from include.modelcare.config.schema import ModelConfig
from include.modelcare.ml.estimators import ESTIMATORS

SAMPLE = Path(__file__).resolve().parents[2] / "include" / "models" / "customer_churn.yaml"


def make_config(
    estimator: str = "LogisticRegression",
    params: dict[str, Any] | None = None,
    deploy: dict[str, Any] | None = None,
    **training: Any,
) -> ModelConfig:
    """The sample churn config with this estimator; regression estimators predict monthly_charges."""
    raw = yaml.safe_load(SAMPLE.read_text())
    if deploy is not None:
        raw["deploy"] = deploy
    raw["training"] = {"estimator": estimator, "params": params or {}, "min_rows": 10, **training}
    raw.pop("performance", None)
    if ESTIMATORS[estimator].task == "regression":
        raw["task"] = "regression"
        raw["data"]["target"] = "monthly_charges"
        raw["data"]["features"]["numerical"].remove("monthly_charges")
        raw["drift"] = {"critical_features": ["contract"]}
    return ModelConfig.model_validate(raw)
