"""The one place the suite calls the library's decision code: validation, drift, evaluation, decay over the
rolling window of realised batches, calibration and the label-free estimate with its warning, the incident
decision, training with its threshold, the gate.

Why one module: those APIs were being finished while the suite was written. Each function here is a thin
call into the library (no logic of its own beyond picking the arguments the DAG tasks pick), so following a
changed signature is a one-line change here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import TrainingError

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.incidents.policy import Incident
    from include.modelcare.ml.calibration import Calibrator
    from include.modelcare.performance.estimate import Estimate
    from include.modelcare.policy import EstimateWarning, ScorePoint
    from include.modelcare.quality.drift import DriftResult


def validate(frame: pd.DataFrame, config: ModelConfig) -> bool:
    """``quality.validation.validate_frame`` (Great Expectations), as the monitoring DAG's validation task runs it."""
    from include.modelcare.quality.validation import validate_frame

    return bool(validate_frame(frame, config).success)


def drift(current: pd.DataFrame, reference: pd.DataFrame, config: ModelConfig) -> DriftResult:
    """The single-pass drift verdict (``quality.drift.drift_verdict``, no Evidently) against a version's reference."""
    from include.modelcare.quality.drift import drift_verdict

    return drift_verdict(current, reference, config.data.features, config.drift, name=config.name)


def measure(
    model: Any,
    frame: pd.DataFrame,
    config: ModelConfig,
    threshold: float | None,
    calibrator: Calibrator | None = None,
) -> dict[str, float]:
    """Every gate metric of ``model`` on a labelled frame as the version is served (``ml.evaluation.evaluate``
    through its calibrator, at its served threshold on that scale): the gate's and the realised scoring's."""
    from include.modelcare.ml.evaluation import evaluate

    return evaluate(model, frame, config, threshold=threshold, calibrator=calibrator)


def decay(config: ModelConfig, points: Sequence[ScorePoint], day: dt.date, version: int | None) -> dict[str, Any]:
    """``performance.series.decay_check``: the rolling window of realised batches of ``version`` ending at ``day``
    (the record ``check_performance`` returns and ``batch_verdict`` reads)."""
    from include.modelcare.performance.series import decay_check

    return decay_check(config, points, day, version)


def score_point(day: dt.date, value: float, rows: int, version: int) -> ScorePoint:
    """One realised batch of the series (``policy.ScorePoint``): scored with the version that served it."""
    from include.modelcare.policy import ScorePoint

    return ScorePoint(day=day, value=value, rows=rows, version=version)


def calibrate(model: Any, holdout: pd.DataFrame, config: ModelConfig) -> Calibrator | None:
    """``ml.calibration.fit_calibrator`` on the raw positive-class scores of the version's holdout (what the
    retraining DAG's ``calibrate_candidate`` stores with a binary version); None when the holdout cannot
    calibrate (too few of a class: the version is served raw)."""
    from include.modelcare.ml.calibration import fit_calibrator
    from include.modelcare.ml.evaluation import positive_scores

    x, y = _features(config, holdout)
    try:
        return fit_calibrator(positive_scores(model, x), (y == model.classes_[1]).to_numpy())
    except TrainingError:
        return None


def served_threshold(calibrator: Calibrator | None, raw_threshold: float | None) -> float | None:
    """The threshold a version serves: ``Calibrator.threshold(raw)`` on the calibrated scale, else the raw one."""
    return raw_threshold if calibrator is None else calibrator.threshold(raw_threshold)


def estimate(
    model: Any,
    calibrator: Calibrator | None,
    threshold: float | None,
    frame: pd.DataFrame,
    config: ModelConfig,
    *,
    metric: str | None = None,
) -> Estimate:
    """``performance.estimate.estimate_metric`` of ``metric`` (default: the monitored one) on an unlabelled
    batch, as ``tasks.performance.estimate_batch`` makes it: the calibrated probabilities
    (``ml.evaluation.positive_scores``) and the served decisions ``p >= threshold`` (calibrated scale)."""
    from include.modelcare.ml.evaluation import positive_scores
    from include.modelcare.performance.estimate import estimate_metric, not_estimated

    metric = metric or performance_metric(config)
    if calibrator is None:
        return not_estimated(metric, len(frame), "no calibrator (the holdout could not calibrate this version)")
    x, _ = _features(config, frame)
    probabilities = positive_scores(model, x, calibrator)
    return estimate_metric(metric, probabilities, probabilities >= (0.5 if threshold is None else threshold))


def estimate_warning(
    config: ModelConfig, value: float | None, previous: float | None, labels_expected: str
) -> EstimateWarning:
    """``policy.estimate_warning`` against ``performance.floor`` (one warning when the estimate crosses it)."""
    from include.modelcare.policy import estimate_warning as library_warning
    from include.modelcare.policy import lower_is_better

    metric = performance_metric(config)
    return library_warning(
        metric,
        value,
        previous,
        config.performance.floor,
        lower_better=lower_is_better(metric),
        labels_expected=labels_expected,
    )


def _features(config: ModelConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    from include.modelcare.ml.training import features_and_target

    x, y = features_and_target(config, frame)
    return x, y


def performance_metric(config: ModelConfig) -> str:
    """The monitored metric (``performance.metric``, else the primary metric), as ``check_performance`` picks it."""
    return config.performance.metric or config.primary_metric


@dataclass(frozen=True)
class Decision:
    """What the incident policy decided for one batch (the fields the replay acts on)."""

    action: str
    alert: bool
    event: str | None
    request: bool
    person: bool
    incident: str | None
    reason: str
    drifted: bool
    decayed: bool | None
    """The realised decay verdict of the batch (None: not measured, no labelled batch in the window)."""
    cause: str
    """``BatchVerdict.cause()``: what a retraining request names (drift and/or realised decay)."""


def decide(
    config: ModelConfig,
    incidents: list[Incident],
    drift_result: DriftResult,
    performance: dict[str, Any] | None,
    *,
    day: dt.date,
    production: int | None,
    requests: list[dt.date],
    refused: list[dt.date],
) -> tuple[list[Incident], Decision]:
    """``incidents.policy.decide_incident`` + ``apply_decision`` with the facts ``tasks.monitoring_decide.decide``
    gathers, on an in-memory incident list (what ``incidents.store.record_batch`` does in S3). ``performance``:
    the ``decay_check`` record (``decay``). ``refused``: days a candidate was registered Rejected
    (``monitoring_decide.refused_days``). Returns the incidents after the batch and the decision.

    The label-free estimate is no input here, as in ``monitoring_decide.decide``: it can warn, never request."""
    from include.modelcare.incidents.policy import (
        NONE,
        Facts,
        apply_decision,
        batch_verdict,
        current_incident,
        decide_incident,
    )

    verdict = batch_verdict(drift_result.to_dict(), performance, performance_metric(config))
    facts = Facts(
        day=day,
        production=production,
        requests=tuple(d for d in requests if d < day),
        cooldown_days=config.drift.retrain_cooldown_days,
        max_retrains=config.incidents.max_retrains_per_30_days,
        metric_drop=config.incidents.escalate_metric_drop,
        refused=tuple(refused),
    )
    current = current_incident(incidents, day)
    decision = decide_incident(current, verdict, facts)
    if decision.action != NONE:
        updated = apply_decision(current, decision, verdict, facts, model=config.name, at=day.isoformat())
        incidents = [i for i in incidents if i.id != updated.id] + [updated]
    return incidents, Decision(
        action=decision.action,
        alert=decision.alert,
        event=decision.event,
        request=decision.request,
        person=decision.person,
        incident=decision.incident,
        reason=decision.reason,
        drifted=verdict.drifted,
        decayed=verdict.decayed,
        cause=verdict.cause(),
    )


def split(config: ModelConfig, dataset: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout) of a window's data set (``tasks.training_set.split_holdout``: the last weeks hold out)."""
    from include.modelcare.tasks.training_set import split_holdout

    train, holdout = split_holdout(config, dataset)
    return train, holdout


def batch_day_column() -> str:
    """The batch-date column ``split_holdout`` splits on."""
    from include.modelcare.tasks.training_set import BATCH_DAY

    return BATCH_DAY


def train(config: ModelConfig, train_part: pd.DataFrame) -> tuple[Any, float | None]:
    """``ml.training.fit`` of the configured pipeline and ``ml.threshold.choose_threshold`` on the training part."""
    from include.modelcare.ml.threshold import choose_threshold
    from include.modelcare.ml.training import fit

    params = config.training.params
    model, _ = fit(config, params, train_part)
    return model, choose_threshold(config, params, train_part).value


def gate(
    config: ModelConfig, candidate: dict[str, float], champion: dict[str, float] | None, classes: int
) -> tuple[bool, list[str]]:
    """``policy.gate`` (primary metric, champion/challenger, guardrails) on metrics from the same holdout."""
    from include.modelcare.policy import gate as library_gate

    decision = library_gate(config, candidate, champion, classes=classes)
    return decision.passed, decision.reasons
