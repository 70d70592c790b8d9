"""The gate's guardrails (``training.gate.guardrails``), as pure functions: metrics in, checks out.

Why beside the primary metric: a gate that reads one metric approves a model that never predicts the
minority class (a fine AUC, F1 0). Each guardrail is a bound on one metric of ``ml.estimators.METRIC_TABLE``
measured on the *same* holdout as the champion's: a floor the candidate must reach, or how much worse than
the champion it may be (``max_drop``; the first model has no champion: floors only). ``refuse_degenerate``
adds the checks that refuse a model nobody should deploy (see ``config.schema.GuardrailsConfig``).
``policy.gate`` combines them with the champion/challenger rule; nothing here reads or writes anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from include.modelcare.ml.estimators import METRIC_SPECS

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig

Kind = Literal["floor", "above", "max_drop"]


@dataclass(frozen=True)
class Guardrail:
    """One bound: ``floor`` (reach it, inclusive), ``above`` (strictly better than it), ``max_drop`` (at most
    this much worse than the champion). ``why`` says what the bound refuses."""

    metric: str
    kind: Kind
    bound: float
    why: str = ""


@dataclass(frozen=True)
class GuardrailCheck:
    """A guardrail applied: the candidate's and the champion's value, whether it held, and one sentence."""

    metric: str
    kind: Kind
    bound: float
    candidate: float | None
    champion: float | None
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt(value: float | None) -> str:
    """3 decimals for everyday magnitudes, 4 significant digits for tiny or huge ones."""
    if value is None:
        return "-"
    return f"{value:.3f}" if value == 0 or 0.01 <= abs(value) < 10_000 else f"{value:.4g}"


def guardrails(config: ModelConfig, classes: int | None = None) -> list[Guardrail]:
    """The guardrails of a model: the degenerate-model checks (when on), then the configured ones.

    ``classes``: how many classes the holdout has (chance level 1/k; default 2).
    """
    settings = config.training.gate.guardrails
    rules: list[Guardrail] = []
    if settings.refuse_degenerate and config.task == "classification":
        k = max(classes or 2, 2)
        share = f"{settings.min_class_support:.0%}"
        rules += [
            Guardrail("predicted_classes", "above", 1.0, "one predicted class on the holdout"),
            Guardrail("min_class_recall", "above", 0.0, f"a class with >= {share} of the holdout never found"),
            Guardrail(
                "balanced_accuracy",
                "above",
                1.0 / k + settings.chance_margin,
                f"not above chance 1/{k} by more than {settings.chance_margin:g}",
            ),
        ]
        if k == 2:
            rules.append(Guardrail("f1", "above", 0.0, "never right about the positive class"))
    elif settings.refuse_degenerate:
        rules.append(Guardrail("rmse_skill", "above", 0.0, "no better than predicting the training mean"))
    for metric, rule in settings.metrics.items():
        if rule.floor is not None:
            rules.append(Guardrail(metric, "floor", rule.floor, "configured floor"))
        if rule.max_drop is not None:
            rules.append(Guardrail(metric, "max_drop", rule.max_drop, "configured maximum drop"))
    return rules


def check(
    rule: Guardrail, candidate_metrics: Mapping[str, float], champion_metrics: Mapping[str, float] | None
) -> GuardrailCheck:
    """Apply one guardrail; a metric the candidate lacks, or a non-finite value, fails it (never silently passes)."""
    lower = not METRIC_SPECS[rule.metric].higher_is_better
    raw = candidate_metrics.get(rule.metric)
    candidate = None if raw is None else float(raw)
    champion_raw = None if champion_metrics is None else champion_metrics.get(rule.metric)
    champion = None if champion_raw is None else float(champion_raw)
    beside = f"champion {fmt(champion)}" if champion is not None else "no champion"
    direction = " (lower is better)" if lower else ""
    name = rule.metric

    def result(passed: bool, text: str) -> GuardrailCheck:
        return GuardrailCheck(name, rule.kind, rule.bound, candidate, champion, passed, text)

    if candidate is None or not math.isfinite(candidate):
        return result(False, f"{name} of the candidate is {'not measured' if candidate is None else candidate}")
    if rule.kind == "max_drop":
        if champion is None or not math.isfinite(champion):
            return result(True, f"{name} {fmt(candidate)}: {beside}, max drop {fmt(rule.bound)} not applied")
        drop = candidate - champion if lower else champion - candidate
        held = drop <= rule.bound + 1e-12
        verb = "within" if held else "exceeds"
        return result(
            held, f"{name} {fmt(candidate)} vs {beside}: drop {fmt(max(drop, 0.0))} {verb} max {fmt(rule.bound)}"
        )
    if rule.kind == "floor":
        held = candidate <= rule.bound if lower else candidate >= rule.bound
        verb = "reaches" if held else ("is above" if lower else "is below")
        return result(held, f"{name} {fmt(candidate)} {verb} the floor {fmt(rule.bound)}{direction} ({beside})")
    held = candidate < rule.bound if lower else candidate > rule.bound
    verb = "is better than" if held else "is not better than"
    refused = "" if held else f": {rule.why}"
    return result(held, f"{name} {fmt(candidate)} {verb} {fmt(rule.bound)}{direction} ({beside}){refused}")


def check_all(
    config: ModelConfig,
    candidate_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    classes: int | None = None,
) -> list[GuardrailCheck]:
    """Every guardrail of ``config`` applied to the candidate (and the champion, on the same holdout)."""
    return [check(rule, candidate_metrics, champion_metrics) for rule in guardrails(config, classes)]


def _rule_text(entry: Mapping[str, Any]) -> str:
    lower = not METRIC_SPECS[entry["metric"]].higher_is_better
    bound = fmt(_number(entry.get("bound")))
    if entry.get("kind") == "max_drop":
        return f"drop <= {bound} vs champion"
    if entry.get("kind") == "floor":
        return f"{'<=' if lower else '>='} {bound}"
    return f"{'<' if lower else '>'} {bound}"


def gate_rows(
    candidate: Mapping[str, Any], champion: Mapping[str, Any] | None, gate: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Every gate metric of a version beside the champion's (same holdout rows), in ``METRIC_TABLE`` order, with
    the rules that applied to it and whether they held: what the Registry page, ``registry show``, the approval
    request and the registration e-mail show. ``gate``: the stored ``GateDecision.to_dict()`` (None: old version).
    """
    gate = gate or {}
    champion = champion or {}
    rules: dict[str, list[Mapping[str, Any]]] = {}
    entries = gate.get("guardrails")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and entry.get("metric") in METRIC_SPECS:  # stored metadata: read tolerantly
            rules.setdefault(str(entry["metric"]), []).append(entry)
    primary = gate.get("primary_metric")
    rows = []
    for spec in METRIC_SPECS.values():
        if _number(candidate.get(spec.name)) is None:
            continue
        texts = [_rule_text(e) for e in rules.get(spec.name, [])]
        held = [bool(e.get("passed")) for e in rules.get(spec.name, [])]
        if spec.name == primary:
            floor = _number(gate.get("floor"))
            reach = f"{'<=' if not spec.higher_is_better else '>='} {fmt(floor)}, " if floor is not None else ""
            texts.insert(0, f"primary: {reach}beat champion by {fmt(_number(gate.get('min_improvement')))}")
            if gate.get("primary_passed") is not None:
                held.append(bool(gate["primary_passed"]))
        rows.append(
            {
                "metric": spec.name,
                "candidate": _number(candidate.get(spec.name)),
                "champion": _number(champion.get(spec.name)),
                "rule": "; ".join(texts),
                "passed": all(held) if held else None,
                "primary": spec.name == primary,
            }
        )
    return rows


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
