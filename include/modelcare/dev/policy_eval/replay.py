"""The replay: one strategy (the policy or an oracle) through the weeks of one world, week by week.

Each week, as the monitoring DAG does: validate the batch (a failing batch is quarantined: no drift, no
decision, never trained on); the labels that land this week (those of the batch ``label_delay`` weeks ago)
are scored with the version that *served* that batch and join the realised series; the decay check is
``performance.series.decay_check`` over its rolling window (``performance.window_weeks``, ending at the
newest labelled batch); the drift verdict against the production version's reference (its training
sample); the incident decision; then, as the retraining DAG does, train on the validated batches of the last
``training.window_weeks`` whose labels have landed (the most recent ``holdout_weeks`` held out), calibrate
the version on its holdout, evaluate candidate and champion on the same holdout, the gate, and "promotion" =
the new production version. The oracles replace the decision's retraining request by their own schedule and
pass the same gate.

``ESTIMATE`` is the policy with the label-free estimate on (``performance.estimate``, CBPE on the
calibrated production version): each batch is estimated when it is monitored and ``policy.estimate_warning``
may warn. The estimate is no input to the incident decision, and the replay checks it: every retraining
request must name drift or realised decay (``Week.cause``), and the two policy runs retrain on the same weeks.

Why the caches are exact, not approximations: a model trained at week w of a world is the same model
whichever strategy asked for it (same validated batches, same seed), so ``World`` trains it once; drift
and metrics of a (model, week) pair likewise. Reference statistics are computed per production version.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.modelcare.dev.policy_eval import adapters
from include.modelcare.dev.policy_eval.scenarios import WorldSpec
from include.modelcare.errors import TrainingError

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.incidents.policy import Incident
    from include.modelcare.ml.calibration import Calibrator
    from include.modelcare.policy import ScorePoint
    from include.modelcare.quality.drift import DriftResult

log = logging.getLogger(__name__)

POLICY, NEVER, WEEKLY, AT_CHANGE = "policy", "never", "weekly", "at_change"
STRATEGIES = (POLICY, NEVER, WEEKLY, AT_CHANGE)
ESTIMATE = "policy_estimate"
"""The policy with the label-free estimate on (only in scenarios with ``WorldSpec.estimate``)."""
PERSON = "after an escalation to a person (retrain budget used up), forces one retrain a week later"
"""What the simulated person does."""
INITIAL = -1
"""Key of the first production model (trained on the weeks before week 0)."""


@dataclass
class Version:
    """A trained model of a world: the week whose window it was trained on (``INITIAL``: the history)."""

    key: int
    model: Any
    threshold: float | None
    """The served threshold: on the calibrated scale when the version has a calibrator."""
    reference: pd.DataFrame
    calibrator: Calibrator | None = None
    """Fitted on the version's holdout (``ml.calibration``): gate, realised scoring and estimate all read the
    calibrated scores, as the retraining DAG registers and serving serves them."""


@dataclass
class World:
    """One scenario and seed: its batches, their validation verdicts, and every model and measurement, once."""

    spec: WorldSpec
    seed: int
    config: ModelConfig
    rows: int
    validity: dict[int, bool] = field(default_factory=dict)
    """Validation verdict per week, filled by ``validate_weeks`` (GX on all or on a sample of the weeks)."""
    _batches: dict[int, pd.DataFrame] = field(default_factory=dict)
    _versions: dict[int, Version | None] = field(default_factory=dict)
    _drift: dict[tuple[int, int], DriftResult] = field(default_factory=dict)
    _metrics: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict)
    _gates: dict[tuple[int, int], tuple[bool, list[str]]] = field(default_factory=dict)
    _holdouts: dict[int, pd.DataFrame] = field(default_factory=dict)
    _estimates: dict[tuple[int, int], float | None] = field(default_factory=dict)
    trainings: int = 0

    def batch(self, week: int) -> pd.DataFrame:
        if week not in self._batches:
            self._batches[week] = self.spec.batch(week, self.seed, self.rows)
        return self._batches[week]

    def valid(self, week: int) -> bool:
        return self.validity.get(week, True) if week >= 0 else True

    def version(self, key: int) -> Version | None:
        """The model trained on the window ending at week ``key`` (None: too few validated rows to train)."""
        if key not in self._versions:
            self._versions[key] = self._train(key)
        return self._versions[key]

    def _window(self, end: int) -> pd.DataFrame | None:
        import pandas as pd

        size = self.config.training.window_weeks
        start = end - size + 1 if end >= 0 else -size
        end = max(end, -1) - self.spec.label_delay  # batches whose labels have landed by then
        parts = []
        for week in range(start, end + 1):
            if self.valid(week):
                parts.append(self.batch(week).assign(**{adapters.batch_day_column(): self.spec.day(week).isoformat()}))
        return pd.concat(parts, ignore_index=True) if parts else None

    def _train(self, key: int) -> Version | None:
        dataset = self._window(key)
        if dataset is None:
            return None
        try:
            train, holdout = adapters.split(self.config, dataset)
            model, threshold = adapters.train(self.config, train)
        except TrainingError as exc:
            log.info("%s seed %d week %d: no candidate: %s", self.spec.name, self.seed, key, exc)
            return None
        self.trainings += 1
        config = self.config
        columns = [config.data.id_column, *config.data.features.all, config.data.target]
        reference = dataset[columns].sample(
            n=min(config.training.reference_rows, len(dataset)), random_state=config.training.seed
        )
        calibrator = adapters.calibrate(model, holdout, config)
        served = adapters.served_threshold(calibrator, threshold)
        version = Version(key, model, served, reference.reset_index(drop=True), calibrator)
        self._holdouts[key] = holdout
        return version

    def drift(self, key: int, week: int) -> DriftResult:
        if (key, week) not in self._drift:
            version = self.version(key)
            assert version is not None
            self._drift[key, week] = adapters.drift(self.batch(week), version.reference, self.config)
        return self._drift[key, week]

    def metrics(self, key: int, week: int) -> dict[str, float]:
        """Every metric of version ``key`` on the labels of ``week``'s batch."""
        if (key, week) not in self._metrics:
            version = self.version(key)
            assert version is not None
            self._metrics[key, week] = adapters.measure(
                version.model, self.batch(week), self.config, version.threshold, version.calibrator
            )
        return self._metrics[key, week]

    def estimate(self, key: int, week: int) -> float | None:
        """The label-free estimate of the monitored metric of version ``key`` on ``week``'s batch (None: none)."""
        if (key, week) not in self._estimates:
            version = self.version(key)
            assert version is not None
            found = adapters.estimate(
                version.model, version.calibrator, version.threshold, self.batch(week), self.config
            )
            self._estimates[key, week] = found.value
        return self._estimates[key, week]

    def gate(self, candidate: int, champion: int) -> tuple[bool, list[str]]:
        """The gate of the candidate trained at week ``candidate`` against production ``champion``, on its holdout."""
        if (candidate, champion) not in self._gates:
            cand = self.version(candidate)
            champ = self.version(champion)
            if cand is None:
                self._gates[candidate, champion] = (False, ["no candidate: too few validated rows"])
            else:
                holdout = self._holdouts[candidate]
                cand_metrics = adapters.measure(cand.model, holdout, self.config, cand.threshold, cand.calibrator)
                champ_metrics = (
                    None
                    if champ is None
                    else adapters.measure(champ.model, holdout, self.config, champ.threshold, champ.calibrator)
                )
                classes = int(holdout[self.config.data.target].nunique())
                self._gates[candidate, champion] = adapters.gate(self.config, cand_metrics, champ_metrics, classes)
        return self._gates[candidate, champion]


@dataclass
class Week:
    """What happened in one week of one strategy's run."""

    week: int
    valid: bool
    production: int
    metric: float
    """The production model's metric on this batch's labels (whenever they land)."""
    drifted: bool | None = None
    decayed: bool | None = None
    """The realised decay verdict this week (rolling window of the labels landed so far; None: not measured)."""
    cause: str | None = None
    """What this week's retraining request named (drift and/or realised decay); None: no request."""
    estimate: float | None = None
    estimate_warned: bool = False
    action: str | None = None
    alert_event: str | None = None
    incident: str | None = None
    retrained: bool = False
    promoted: bool = False
    forced: bool = False
    gate_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "valid": self.valid,
            "production": self.production,
            "metric": round(self.metric, 4),
            "drifted": self.drifted,
            "decayed": self.decayed,
            "cause": self.cause,
            "estimate": None if self.estimate is None else round(self.estimate, 4),
            "estimate_warned": self.estimate_warned,
            "action": self.action,
            "alert": self.alert_event,
            "incident": self.incident,
            "retrained": self.retrained,
            "promoted": self.promoted,
            "forced": self.forced,
        }


def run(world: World, strategy: str) -> list[Week]:
    """One strategy through every week of ``world``; one ``Week`` per week."""
    config, spec = world.config, world.spec
    metric_name = adapters.performance_metric(config)
    delay = spec.label_delay
    production = INITIAL
    number = 1  # the registry's version number of production (what Facts.production carries)
    served: dict[int, tuple[int, int]] = {}  # week -> (version key, registry number) that served its batch
    points: list[ScorePoint] = []  # the realised series: labels scored as they land
    incidents: list[Incident] = []
    requests: list[dt.date] = []
    refused: list[dt.date] = []
    forced_week: int | None = None
    previous_estimate: float | None = None
    out: list[Week] = []
    if world.version(INITIAL) is None:
        raise TrainingError(f"{spec.name} seed {world.seed}: the first model could not be trained")
    for w in range(spec.weeks):
        day = spec.day(w)
        value = world.metrics(production, w)[metric_name]
        record = Week(w, world.valid(w), production, value)
        retrain = False
        if record.valid:
            served[w] = (production, number)
            landed = w - delay  # the batch whose labels land this week
            if landed in served:
                key, version = served[landed]
                realised = world.metrics(key, landed)[metric_name]
                points.append(adapters.score_point(spec.day(landed), realised, len(world.batch(landed)), version))
            newest = points[-1].day if points else day
            performance = adapters.decay(config, points, newest, number)
            if strategy == ESTIMATE:
                record.estimate = world.estimate(production, w)
                labels_by = spec.day(w + delay).isoformat()
                warning = adapters.estimate_warning(config, record.estimate, previous_estimate, labels_by)
                record.estimate_warned, previous_estimate = warning.warn, record.estimate
            result = world.drift(production, w)
            record.drifted = bool(result.drift_detected)
            incidents, decision = adapters.decide(
                config, incidents, result, performance, day=day, production=number, requests=requests, refused=refused
            )
            record.action, record.incident, record.decayed = decision.action, decision.incident, decision.decayed
            record.alert_event = decision.event if decision.alert else None
            if decision.request:
                if not (decision.drifted or decision.decayed):
                    raise AssertionError(f"{spec.name} week {w}: a retraining request without drift or realised decay")
                record.cause = decision.cause
                requests.append(day)
            if strategy in (POLICY, ESTIMATE):
                retrain = decision.request
                if decision.person:
                    forced_week = w + 1  # the simulated person: one forced retrain a week later
        if strategy in (POLICY, ESTIMATE) and forced_week == w:
            retrain, record.forced, forced_week = True, True, None
        elif strategy == WEEKLY:
            retrain = True
        elif strategy == AT_CHANGE:
            retrain = w in spec.oracle_weeks
        if retrain:
            record.retrained = True
            passed, reasons = world.gate(w, production)
            record.gate_reasons = reasons
            if passed:
                production, number, record.promoted = w, number + 1, True
            else:
                refused.append(day)  # registered as Rejected that day
        out.append(record)
    return out


def summarise(weeks: list[Week], spec: WorldSpec, floor: float | None, never: list[Week] | None) -> dict[str, Any]:
    """Counts of one run: alerts by event, retrains, promotions, weeks below the floor, mean metric, catches."""
    alerts = [w.alert_event for w in weeks if w.alert_event]
    drift_alerts = [a for a in alerts if a != "closed"]
    per_incident: dict[str, int] = {}
    for w in weeks:
        if w.alert_event == "opened" and w.incident:
            per_incident[w.incident] = per_incident.get(w.incident, 0) + 1
    metric = [w.metric for w in weeks]
    below = sum(1 for v in metric if floor is not None and v < floor)
    summary: dict[str, Any] = {
        "alerts": len(drift_alerts),
        "alerts_opened": sum(1 for a in alerts if a == "opened"),
        "alerts_escalated": sum(1 for a in alerts if a.startswith("escalated") or a == "needs_person"),
        "closes": sum(1 for a in alerts if a == "closed"),
        "incidents": len({w.incident for w in weeks if w.incident}),
        "max_open_alerts_per_incident": max(per_incident.values(), default=0),
        "retrains": sum(w.retrained for w in weeks),
        "forced_retrains": sum(w.forced for w in weeks),
        "promotions": sum(w.promoted for w in weeks),
        "weeks_below_floor": below,
        "mean_metric": sum(metric) / len(metric),
        "retrains_on_faulty_weeks": sum(1 for w in weeks if w.retrained and w.week in spec.faulty_weeks),
        "requests": sum(1 for w in weeks if w.cause),
        "requests_with_decay": sum(1 for w in weeks if w.cause and w.decayed),
    }
    if never is not None and spec.changes:
        summary["catches"] = catches(weeks, spec, floor, never)
    if any(w.estimate is not None for w in weeks):
        first = min(spec.changes, default=spec.weeks)
        summary["estimate_warnings"] = sum(w.estimate_warned for w in weeks)
        summary["estimate_warnings_before_change"] = sum(w.estimate_warned for w in weeks[:first])
        summary["leads"] = leads(weeks, spec)
    return summary


def leads(weeks: list[Week], spec: WorldSpec) -> list[dict[str, Any]]:
    """Per change: the first week from it on the estimate warned, the first week the realised labels said
    "decayed" (rolling window), and how many weeks earlier the estimate was (None: one of them never did)."""
    out = []
    for change in spec.changes:
        after = weeks[change : change + 13]
        estimate = next((w.week for w in after if w.estimate_warned), None)
        realised = next((w.week for w in after if w.decayed), None)
        lead = None if estimate is None or realised is None else realised - estimate
        out.append({"change": change, "estimate_warned": estimate, "realised_decayed": realised, "lead": lead})
    return out


def evidence_week(spec: WorldSpec, change: int, floor: float | None, never: list[Week]) -> int | None:
    """First week from ``change`` on where the evidence is there: the batch drifts against the first production
    reference (features), or the first model's metric on the labels is below the floor (labels only)."""
    limit = min(spec.weeks, change + 13)
    for w in never[change:limit]:
        if not w.valid:
            continue
        if spec.evidence == "features" and w.drifted:
            return w.week
        if spec.evidence == "labels" and floor is not None and not math.isnan(w.metric) and w.metric < floor:
            return w.week + spec.label_delay
    return None


def catches(weeks: list[Week], spec: WorldSpec, floor: float | None, never: list[Week]) -> list[dict[str, Any]]:
    """Per change: its evidence week and the first week, from then on, the policy had an incident open on a
    triggered batch (caught within one batch = delay <= 1)."""
    out = []
    for change in spec.changes:
        evidence = evidence_week(spec, change, floor, never)
        caught = None
        if evidence is not None:
            for w in weeks[evidence:]:
                if w.action in ("open", "update", "escalate") and w.incident:
                    caught = w.week
                    break
        delay = None if caught is None or evidence is None else caught - evidence
        out.append({"change": change, "evidence": evidence, "caught": caught, "delay": delay})
    return out


def run_world(
    spec: WorldSpec,
    seed: int,
    config: ModelConfig,
    rows: int,
    *,
    validity: dict[int, bool],
    strategies: tuple[str, ...] = STRATEGIES,
) -> dict[str, Any]:
    """The strategies (the never-retrain oracle always: it defines the evidence) on one world; their week
    records and summaries."""
    world = World(spec, seed, config, rows, validity=validity)
    wanted = (*strategies, ESTIMATE) if spec.estimate and POLICY in strategies else strategies
    traces = {s: run(world, s) for s in dict.fromkeys((*wanted, NEVER))}
    floor = config.performance.floor
    summaries = {s: summarise(t, spec, floor, traces[NEVER]) for s, t in traces.items()}
    if ESTIMATE in traces:
        # The estimate is no input to the decision: both policy runs must retrain on the same weeks.
        pairs = zip(traces[POLICY], traces[ESTIMATE], strict=True)
        summaries[ESTIMATE]["estimate_only_retrains"] = sum(1 for p, e in pairs if e.retrained and not p.retrained)
        summaries[ESTIMATE]["retrain_weeks_differ"] = [w.retrained for w in traces[POLICY]] != [
            w.retrained for w in traces[ESTIMATE]
        ]
    return {
        "seed": seed,
        "trainings": world.trainings,
        "summaries": summaries,
        "weeks": {s: [w.to_dict() for w in t] for s, t in traces.items()},
    }
