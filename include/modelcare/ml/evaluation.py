"""Evaluation on the out-of-time holdout, and the champion/challenger gate.

Compare a candidate with the champion on the *same* holdout (evaluate both models), not with the
metrics the champion had when it was trained: those came from another period.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import TrainingError
from include.modelcare.ml.estimators import LOWER_IS_BETTER

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

_EPSILON = 1e-12  # float noise allowed when a difference is compared with min_improvement


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


@dataclass
class GateDecision:
    """Whether a candidate may become a registered, approvable version, and why (one sentence per check)."""

    passed: bool
    reasons: list[str]
    primary_metric: str
    candidate: float
    champion: float | None
    floor: float | None
    min_improvement: float
    lower_is_better: bool = field(default=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (XCom, registry metadata)."""
        return asdict(self)


def _fmt(value: float) -> str:
    """3 decimals for everyday magnitudes, 4 significant digits for tiny or huge ones."""
    return f"{value:.3f}" if value == 0 or 0.01 <= abs(value) < 10_000 else f"{value:.4g}"


def gate(
    config: ModelConfig,
    candidate_metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
) -> GateDecision:
    """Champion/challenger gate on ``config.primary_metric`` (direction from ``LOWER_IS_BETTER``).

    1. With ``training.gate.floor`` set, the candidate must reach it (for lower-is-better: not exceed it).
    2. With a champion, the candidate must beat it by at least ``min_improvement``; the first model
       (``champion_metrics is None``) only needs the floor. A champion without the metric fails the gate.
    """
    settings = config.training.gate
    metric = config.primary_metric
    lower = metric in LOWER_IS_BETTER
    if metric not in candidate_metrics:
        raise TrainingError(f"{config.name}: candidate metrics have no {metric} (have: {', '.join(candidate_metrics)})")
    candidate = float(candidate_metrics[metric])
    champion = None if champion_metrics is None else champion_metrics.get(metric)
    champion = None if champion is None else float(champion)
    direction = " (lower is better)" if lower else ""
    reasons: list[str] = []
    passed = True

    if not math.isfinite(candidate):
        passed = False
        reasons.append(f"{metric} of the candidate is {candidate}: not a usable number")
    elif settings.floor is not None:
        reached = candidate <= settings.floor if lower else candidate >= settings.floor
        passed &= reached
        if reached:
            reasons.append(f"{metric} {_fmt(candidate)} reaches the floor {_fmt(settings.floor)}{direction}")
        else:
            worse = "above" if lower else "below"
            reasons.append(f"{metric} {_fmt(candidate)} is {worse} the floor {_fmt(settings.floor)}{direction}")

    needed = settings.min_improvement
    if champion_metrics is None:
        reasons.append("first model: no champion to beat")
    elif champion is None or not math.isfinite(champion):
        passed = False
        reasons.append(f"the champion has no usable {metric} ({champion}): cannot compare")
    elif math.isfinite(candidate):
        gain = champion - candidate if lower else candidate - champion
        if gain + _EPSILON >= needed:
            reasons.append(
                f"{metric} {_fmt(candidate)} beats champion {_fmt(champion)} "
                f"by {_fmt(gain)} (>= {_fmt(needed)}){direction}"
            )
        else:
            passed = False
            if gain > 0:
                change = f"improves on champion {_fmt(champion)} by only {_fmt(gain)}"
            elif gain == 0:
                change = f"ties champion {_fmt(champion)}"
            else:
                change = f"is worse than champion {_fmt(champion)} by {_fmt(-gain)}"
            reasons.append(f"{metric} {_fmt(candidate)} {change} (needs >= {_fmt(needed)}){direction}")

    decision = GateDecision(
        passed=bool(passed),
        reasons=reasons,
        primary_metric=metric,
        candidate=candidate,
        champion=champion,
        floor=settings.floor,
        min_improvement=needed,
        lower_is_better=lower,
    )
    log.info("%s: gate %s: %s", config.name, "passed" if decision.passed else "failed", "; ".join(reasons))
    return decision
