"""The one place the suite calls the library's decision code: validation, drift, evaluation, decay, the
incident decision, training with its threshold, the gate.

Why one module: those APIs were being finished while the suite was written. Each function here is a thin
call into the library (no logic of its own beyond picking the arguments the DAG tasks pick), so following a
changed signature is a one-line change here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.incidents.policy import Incident
    from include.modelcare.quality.drift import DriftResult


def validate(frame: pd.DataFrame, config: ModelConfig) -> bool:
    """``quality.validation.validate_frame`` (Great Expectations), as the monitoring DAG's validation task runs it."""
    from include.modelcare.quality.validation import validate_frame

    return bool(validate_frame(frame, config).success)


def drift(current: pd.DataFrame, reference: pd.DataFrame, config: ModelConfig) -> DriftResult:
    """The single-pass drift verdict (``quality.drift.drift_verdict``, no Evidently) against a version's reference."""
    from include.modelcare.quality.drift import drift_verdict

    return drift_verdict(current, reference, config.data.features, config.drift, name=config.name)


def measure(model: Any, frame: pd.DataFrame, config: ModelConfig, threshold: float | None) -> dict[str, float]:
    """Every gate metric of ``model`` on a labelled frame (``ml.evaluation.evaluate``, at the version's threshold)."""
    from include.modelcare.ml.evaluation import evaluate

    return evaluate(model, frame, config, threshold=threshold)


def decayed(config: ModelConfig, value: float) -> tuple[bool, str]:
    """``policy.performance_decay`` on ``performance.metric`` against ``performance.floor``."""
    from include.modelcare.policy import lower_is_better, performance_decay

    metric = performance_metric(config)
    verdict = performance_decay(metric, value, config.performance.floor, lower_better=lower_is_better(metric))
    return verdict.decayed, verdict.reason


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


def decide(
    config: ModelConfig,
    incidents: list[Incident],
    drift_result: DriftResult,
    metric_value: float | None,
    *,
    day: dt.date,
    production: int | None,
    requests: list[dt.date],
    refused: list[dt.date],
) -> tuple[list[Incident], Decision]:
    """``incidents.policy.decide_incident`` + ``apply_decision`` with the facts ``tasks.monitoring_decide.decide``
    gathers, on an in-memory incident list (what ``incidents.store.record_batch`` does in S3). ``refused``:
    days a candidate was registered Rejected (``monitoring_decide.refused_days``). Returns the incidents after
    the batch and the decision."""
    from include.modelcare.incidents.policy import (
        NONE,
        Facts,
        apply_decision,
        batch_verdict,
        current_incident,
        decide_incident,
    )

    metric = performance_metric(config)
    performance = None
    if metric_value is not None:
        decay, decay_reason = decayed(config, metric_value)
        performance = {
            "status": "measured",
            "metric": metric,
            "value": metric_value,
            "decayed": decay,
            "reason": decay_reason,
        }
    verdict = batch_verdict(drift_result.to_dict(), performance, metric)
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
