"""The gate's guardrails in the model config (``training.gate.guardrails``), validated against
``ml.estimators.METRIC_TABLE`` as ``check-config`` validates floors. Apart from ``config.schema`` only to keep
that module under the size limit; ``schema.GateConfig`` holds it. Applied by ``guardrails`` and ``policy.gate``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from include.modelcare.config.base import _Strict


class MetricGuardrail(_Strict):
    """One metric's guardrail: a floor the candidate must reach and/or how much worse than the champion it
    may be, both measured on the same holdout (``max_drop`` applies only when there is a champion)."""

    floor: float | None = Field(None, description="The candidate must reach this (lower-is-better: not exceed it).")
    max_drop: float | None = Field(
        None, ge=0, description="At most this much worse than the champion, in the metric's units (None: no limit)."
    )


class GuardrailsConfig(_Strict):
    """Guardrails: every one must hold, beside the primary metric's champion/challenger rule.

    ``refuse_degenerate`` adds the checks that refuse a model nobody should deploy, whatever its primary
    metric: classification: more than one predicted class on the holdout; recall above 0 for every class
    with at least ``min_class_support`` of the holdout; balanced accuracy above chance (1/k) by more than
    ``chance_margin``; binary F1 above 0. Regression: rmse_skill above 0 (better than predicting the
    training mean). ``metrics``: floors and maximum drops per metric (names from ``ml.estimators.METRIC_TABLE``).
    """

    refuse_degenerate: bool = Field(
        True,
        description="Refuse a degenerate model: one predicted class on the holdout, a class with >= min_class_support "
        "and recall 0, balanced accuracy not above chance + chance_margin, binary F1 0; regression: rmse_skill <= 0 "
        "(no better than predicting the training mean).",
    )
    chance_margin: float = Field(
        0.02, ge=0, lt=1, description="Balanced accuracy must exceed chance (1/k classes) by more than this."
    )
    min_class_support: float = Field(
        0.01, gt=0, le=1, description="Classes with at least this share of the holdout must have recall above 0."
    )
    metrics: dict[str, MetricGuardrail] = Field(
        default_factory=dict, description="Per metric: floor and/or max_drop against the champion."
    )

    @model_validator(mode="after")
    def _metrics_known(self) -> GuardrailsConfig:
        from include.modelcare.ml.estimators import METRIC_SPECS

        for name, rule in self.metrics.items():
            spec = METRIC_SPECS.get(name)
            if spec is None:
                raise ValueError(f"guardrails.metrics: unknown metric {name!r} (one of: {', '.join(METRIC_SPECS)})")
            if rule.floor is None and rule.max_drop is None:
                raise ValueError(f"guardrails.metrics.{name}: set floor and/or max_drop")
            if rule.floor is not None and not spec.contains(rule.floor):
                raise ValueError(
                    f"guardrails.metrics.{name}.floor: {rule.floor:g} is outside {name}'s range {spec.range_text}"
                )
        return self
