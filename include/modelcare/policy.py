"""The decisions of the monitoring and retraining DAGs, as pure functions: facts in, verdict out.

Why a module of its own: a decision (retrain or not, is the model decayed, which window, may the
candidate replace the champion, which status does it start with) is the part of a pipeline people
argue about and the part that must be tested at its edges. Here it needs no S3, no Airflow context and
no model: the task bodies (``tasks.monitoring``, ``tasks.retraining``) read what a decision needs, call
it, and act on the verdict. Nothing in this module reads or writes anything.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from include.modelcare.errors import TrainingError
from include.modelcare.ml.estimators import LOWER_IS_BETTER
from include.modelcare.registry.records import APPROVED, PENDING, REJECTED
from include.modelcare.tasks.context import parse_day

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig, TrainingConfig

log = logging.getLogger(__name__)

_EPSILON = 1e-12  # float noise allowed when a difference is compared with min_improvement


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (``ml.estimators.LOWER_IS_BETTER``: losses, errors)."""
    return metric in LOWER_IS_BETTER


def _fmt(value: float) -> str:
    """3 decimals for everyday magnitudes, 4 significant digits for tiny or huge ones."""
    return f"{value:.3f}" if value == 0 or 0.01 <= abs(value) < 10_000 else f"{value:.4g}"


# -- monitoring: performance decay, cooldown, retraining request ---------------------------------------
@dataclass(frozen=True)
class DecayVerdict:
    """Whether a measured metric crossed its floor (the wrong way for its direction), and why."""

    decayed: bool
    reason: str


def performance_decay(metric: str, value: float, floor: float | None, *, lower_better: bool) -> DecayVerdict:
    """Decay test of the production model's metric on a labelled batch.

    Decayed when the value is worse than ``floor``: below it, or above it for a lower-is-better metric.
    Exactly at the floor is not decay (the floor is the last acceptable value). No floor: never decayed.
    A NaN value cannot show decay (it compares false) and says so.
    """
    shown = f"{metric} {value:.4f}"
    if floor is None:
        return DecayVerdict(False, f"{shown}: no performance floor set")
    if math.isnan(value):
        return DecayVerdict(False, f"{shown}: not a usable number, cannot compare with floor {floor}")
    if lower_better:
        if value > floor:
            return DecayVerdict(True, f"{shown} above floor {floor} (lower is better)")
        return DecayVerdict(False, f"{shown} within floor {floor} (lower is better)")
    if value < floor:
        return DecayVerdict(True, f"{shown} below floor {floor}")
    return DecayVerdict(False, f"{shown} reaches floor {floor}")


@dataclass(frozen=True)
class ScorePoint:
    """One labelled batch of the performance series: its date, the metric on its labels, rows, serving version."""

    day: dt.date
    value: float
    rows: int
    version: int | None = None


@dataclass(frozen=True)
class PerformanceWindow:
    """The rolling window the decay decision reads: the rows-weighted mean of its labelled batches."""

    value: float
    start: dt.date
    end: dt.date
    weeks: int
    batches: tuple[dt.date, ...]
    rows: int

    def describe(self) -> str:
        """``4 weeks 2026-09-29..2026-10-26 (3 labelled batches, 2,900 rows)``: what an incident names."""
        n = len(self.batches)
        return (
            f"{self.weeks} week{'s' if self.weeks != 1 else ''} {self.start.isoformat()}..{self.end.isoformat()} "
            f"({n} labelled batch{'es' if n != 1 else ''}, {self.rows:,} rows)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (XCom, the performance record)."""
        return {
            "value": self.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "weeks": self.weeks,
            "batches": [d.isoformat() for d in self.batches],
            "rows": self.rows,
            "text": self.describe(),
        }


def rolling_window(
    points: Sequence[ScorePoint], end: dt.date, weeks: int, *, version: int | None = None
) -> PerformanceWindow | None:
    """The rolling window of ``weeks`` weeks ending at ``end`` (inclusive): the rows-weighted mean of the
    labelled batches inside it, or None when none is.

    Why a window and not the last batch: one batch of a few hundred labelled rows moves an AUC by +/-0.03 by
    chance; a floor tested on it pages for noise. ``version``: only batches that version served count, so a
    new production model is judged on its own batches (the old model's decayed weeks do not re-open an
    incident against it). Why weighted by rows: a batch with 50 late labels weighs less than one with 5,000.
    A NaN value (undefined metric on a batch) is left out.
    """
    start = end - dt.timedelta(days=7 * weeks - 1)
    served = [p for p in points if version is None or p.version == version]
    inside = [p for p in served if start <= p.day <= end and p.rows > 0 and not math.isnan(p.value)]
    if not inside:
        return None
    rows = sum(p.rows for p in inside)
    value = sum(p.value * p.rows for p in inside) / rows
    return PerformanceWindow(
        value=value, start=start, end=end, weeks=weeks, batches=tuple(sorted(p.day for p in inside)), rows=rows
    )


def window_decay(metric: str, window: PerformanceWindow, floor: float | None, *, lower_better: bool) -> DecayVerdict:
    """``performance_decay`` of the rolling window's value; the reason names the weeks it covers."""
    verdict = performance_decay(metric, window.value, floor, lower_better=lower_better)
    return DecayVerdict(verdict.decayed, f"{verdict.reason} over {window.describe()}")


@dataclass(frozen=True)
class EstimateWarning:
    """Whether an *estimated* metric warrants an alert (never a retraining request), and why."""

    warn: bool
    below: bool
    reason: str


def estimate_warning(
    metric: str,
    estimate: float | None,
    previous: float | None,
    floor: float | None,
    *,
    lower_better: bool,
    labels_expected: str = "",
) -> EstimateWarning:
    """Warn when the estimate of this batch crosses the floor the wrong way (the previous estimate did not):
    one alert when the estimate goes below, not one a week while it stays there.

    An estimate never requests a retrain: it cannot see a concept change and is a model of the truth, not the
    truth; realised labels or drift do that (``incidents.policy``).
    """
    if estimate is None or floor is None or math.isnan(estimate):
        return EstimateWarning(False, False, f"estimated {metric}: none" if estimate is None else "no floor set")
    below = performance_decay(metric, estimate, floor, lower_better=lower_better).decayed
    was_below = (
        previous is not None
        and not math.isnan(previous)
        and performance_decay(metric, previous, floor, lower_better=lower_better).decayed
    )
    side = ("above" if lower_better else "below") if below else "within"
    reason = f"estimated {metric} {_fmt(estimate)} {side} floor {floor}"
    if below and labels_expected:
        reason += f", labels expected by {labels_expected}"
    if below and was_below:
        reason += " (already below at the previous batch: no new alert)"
    return EstimateWarning(below and not was_below, below, reason)


@dataclass(frozen=True)
class Cooldown:
    """Whether an earlier retraining request still covers this batch (one drift episode, one request)."""

    active: bool
    reason: str


def cooldown(day: dt.date, previous_request: dt.date | None, days: int) -> Cooldown:
    """Cooldown check: active while fewer than ``days`` days passed since the previous request.

    On the ``days``-th day after it the cooldown is over; ``days`` 0 switches it off; no previous
    request: not active.
    """
    if previous_request is None:
        return Cooldown(False, "no earlier retraining request")
    elapsed = (day - previous_request).days
    if elapsed < days:
        return Cooldown(
            True, f"retraining was requested on {previous_request.isoformat()} ({elapsed} < {days} days cooldown)"
        )
    return Cooldown(
        False, f"last retraining request on {previous_request.isoformat()} ({elapsed} >= {days} days cooldown)"
    )


def training_window(params: Mapping[str, Any], training: TrainingConfig, day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last batch date of the training window (both included).

    End: the form's ``end_date``, else the run's day. Start: the form's ``start_date``, else ``window_weeks``
    (the form's, else the config's) weeks back from the end. ``TrainingError`` when it starts after it ends.
    """
    end = parse_day(params["end_date"]) if params.get("end_date") else day
    if params.get("start_date"):
        start = parse_day(params["start_date"])
    else:
        weeks = int(params.get("window_weeks") or training.window_weeks)
        start = end - dt.timedelta(weeks=weeks) + dt.timedelta(days=1)
    if start > end:
        raise TrainingError(f"training window starts {start} after it ends {end}")
    return start, end


@dataclass(frozen=True)
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
    primary_passed: bool | None = None
    """Whether the primary metric's rule (floor, champion) held on its own (None: recorded before guardrails)."""
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    """Every guardrail applied (``guardrails.GuardrailCheck.to_dict``): metric, bound, both values, verdict."""

    @property
    def failed_guardrails(self) -> list[dict[str, Any]]:
        return [g for g in self.guardrails if not g["passed"]]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (XCom, registry metadata)."""
        return asdict(self)


def gate(
    config: ModelConfig,
    candidate_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    *,
    classes: int | None = None,
) -> GateDecision:
    """Champion/challenger gate on ``config.primary_metric`` (direction from ``LOWER_IS_BETTER``), with guardrails.

    Compare metrics measured on the *same* holdout (``ml.evaluation.evaluate`` of both models), not the
    champion's metrics from its own training: those came from another period.

    1. With ``training.gate.floor`` set, the candidate must reach it (for lower-is-better: not exceed it).
    2. With a champion, the candidate must beat it by at least ``min_improvement``; the first model
       (``champion_metrics is None``) only needs the floor. A champion without the metric fails the gate.
    3. Every guardrail (``guardrails.check_all``; ``classes``: the holdout's, for the chance level) must
       hold; the reasons name each failed one with the candidate's value, the bound and the champion's.
    """
    from include.modelcare.guardrails import check_all

    settings = config.training.gate
    metric = config.primary_metric
    lower = lower_is_better(metric)
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

    primary_passed = bool(passed)
    checks = check_all(config, candidate_metrics, champion_metrics, classes)
    failed = [c for c in checks if not c.passed]
    passed &= not failed
    if failed:
        reasons.append(f"guardrail(s) failed: {'; '.join(c.reason for c in failed)}")
    elif checks:
        reasons.append(f"all {len(checks)} guardrails hold")

    decision = GateDecision(
        passed=bool(passed),
        reasons=reasons,
        primary_metric=metric,
        candidate=candidate,
        champion=champion,
        floor=settings.floor,
        min_improvement=needed,
        lower_is_better=lower,
        primary_passed=primary_passed,
        guardrails=[c.to_dict() for c in checks],
    )
    log.info("%s: gate %s: %s", config.name, "passed" if decision.passed else "failed", "; ".join(reasons))
    return decision


Status = Literal["Approved", "PendingManualApproval", "Rejected"]


def initial_status(gate_passed: bool, approval: Literal["auto", "manual"]) -> Status:
    """Registry status at registration: Rejected when the gate failed, else by the approval mode.

    Every candidate is registered (rejected ones for the audit trail); ``auto`` approves a gate passer
    at once, ``manual`` leaves it pending for a person.
    """
    if not gate_passed:
        return REJECTED
    return APPROVED if approval == "auto" else PENDING
