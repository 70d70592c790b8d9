"""The decision threshold of a binary classifier, chosen on the training data (``training.threshold``).

Why not 0.5: an estimator's ``predict`` calls a row positive when its score passes 0.5, which on an
imbalanced problem (churn around 15%) can mean it never predicts the minority class: F1 0 with a fine
AUC. ``TunedThresholdClassifierCV`` picks the cut-off that maximises ``training.threshold_objective``
over cross-validation folds of the *training* part (never the holdout, which judges the result).

Objective, default ``balanced_accuracy``: the mean of both classes' recall. It weighs a missed churner
and a false alarm by how rare each class is, so it does not depend on the base rate (a threshold tuned
for it stays sensible when the share of churners moves, as it does under drift), and it is the metric
the gate's chance guardrail reads. ``f1`` favours precision on the positive class instead; choose it when
acting on a false positive is costly.

The model file stays the plain fitted pipeline (the skops allowlist is unchanged): only the number is
stored, in the version's metadata (``threshold``), and applied by evaluation and serving.
Multi-class models have no threshold (argmax); regression none at all.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import TrainingError

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

CV_FOLDS = 5
"""Stratified folds of the training part the threshold is tuned on."""


@dataclass(frozen=True)
class ThresholdChoice:
    """The decision threshold of a version and where it came from (``value`` None: the estimator's predict)."""

    value: float | None
    source: str  # "tuned", "config", "none"
    objective: str | None = None
    cv_score: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (XCom, registry metadata)."""
        return asdict(self)


def stored_threshold(metadata: Mapping[str, Any] | None) -> float | None:
    """A version's decision threshold from its registry metadata (None: none stored, i.e. 0.5 by ``predict``)."""
    value = (metadata or {}).get("threshold")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 < value < 1 else None


def threshold_text(value: float | None) -> str:
    """A decision threshold as people see it: the number, or 0.5 for a version without one (``predict``)."""
    return "0.5 (predict)" if value is None else f"{value:.4f}"


def choose_threshold(config: ModelConfig, params: Mapping[str, Any], train: pd.DataFrame) -> ThresholdChoice:
    """The threshold ``training.threshold`` asks for: fixed, or tuned on ``train`` by cross-validation.

    Only binary classification has one. Tuning refits the configured pipeline on ``CV_FOLDS`` stratified
    folds (shuffled with ``training.seed``) and once on the whole part; a model whose scores are constant
    cannot be tuned and keeps 0.5 (the gate's guardrails then judge it).
    """
    from include.modelcare.ml.training import features_and_target

    if config.task != "classification":
        return ThresholdChoice(None, "none", note="regression: no decision threshold")
    x, y = features_and_target(config, train)
    classes = sorted(y.unique().tolist(), key=str)
    if len(classes) != 2:
        return ThresholdChoice(None, "none", note=f"{len(classes)} classes: argmax, no threshold")
    setting = config.training.threshold
    if not isinstance(setting, str):
        return ThresholdChoice(float(setting), "config", note="fixed by training.threshold")
    objective = config.training.threshold_objective
    try:
        value, score = _tune(config, params, x, y, positive=classes[1], objective=objective)
    except ValueError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("%s: threshold not tuned (%s): the estimator's predict (0.5) decides", config.name, text)
        return ThresholdChoice(None, "none", objective, note=f"not tunable: {text[:200]}")
    log.info("%s: decision threshold %.4f (cross-validated %s %.4f)", config.name, value, objective, score)
    return ThresholdChoice(value, "tuned", objective, score, note=f"{CV_FOLDS}-fold CV on the training part")


def _tune(
    config: ModelConfig, params: Mapping[str, Any], x: Any, y: Any, *, positive: Any, objective: str
) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import f1_score, make_scorer
    from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV

    from include.modelcare.ml.training import build_pipeline

    if len(y) < 2 * CV_FOLDS or y.value_counts().min() < CV_FOLDS:
        raise ValueError(f"too few rows per class for {CV_FOLDS}-fold cross-validation")
    scoring: Any = make_scorer(f1_score, pos_label=positive) if objective == "f1" else objective
    tuner = TunedThresholdClassifierCV(
        build_pipeline(config, params),
        scoring=scoring,
        response_method="predict_proba",
        cv=StratifiedKFold(CV_FOLDS, shuffle=True, random_state=config.training.seed),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            tuner.fit(x, y)
        except TypeError as exc:
            raise TrainingError(f"{config.name}: tuning the decision threshold failed: {exc}") from None
    return float(tuner.best_threshold_), float(tuner.best_score_)
