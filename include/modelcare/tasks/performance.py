"""The monitoring DAG's ``check_performance`` body: late labels scored, the rolling-window decay, the estimate.

Each run, for the model:

1. records which version serves this batch (``performance/served/dt=D.json``, once);
2. lists the label partitions of the last ``performance.label_lookback_weeks`` weeks and scores every batch
   whose labels arrived or changed since the last pass (``performance.labels``), with the version that served
   that batch (its served record; for batches monitored before records existed, the ``production`` alias
   history at the batch date), joined on the id column with the join rate; corrected labels replace the
   earlier score and say so (``performance.series.record_realised``);
3. decides decay on the rolling window of the realised series (``performance.series.decay_check``);
4. estimates the metric of this batch before its labels (CBPE, ``performance.estimate``) when the production
   version has a calibrator; alerts once when the estimate crosses the floor (``policy.estimate_warning``).
   The estimate never requests a retrain: ``decide`` reads only the realised window and drift.

A re-run of the same date re-lists, finds every fingerprint unchanged and writes nothing new.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import DataError, DataNotFound, ModelcareError, TrainingError
from include.modelcare.operators.alerts import Alert
from include.modelcare.performance import series
from include.modelcare.performance.labels import LabelDrop, join_labels, label_drops, read_labels
from include.modelcare.policy import estimate_warning, lower_is_better
from include.modelcare.tasks.boundary import task_boundary
from include.modelcare.tasks.context import RunInfo, task_setup

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.ml.calibration import Calibrator
    from include.modelcare.registry.reader import RegistryReader
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

LABEL_PROBLEMS = (ModelcareError, ValueError, TypeError, KeyError)
"""What a bad label drop, batch or stored version raises (unreadable file, wrong column types, a corrupt
calibrator): reported as a problem of that drop. Anything else (S3, network) fails the task, which retries."""


@dataclass
class Versions:
    """The registry's versions as the scoring needs them, each loaded once per run."""

    registry: RegistryReader
    _loaded: dict[int, tuple[Any, float | None, Calibrator | None, str]] = field(default_factory=dict)

    def predictor(self, version: int) -> tuple[Any, float | None, Calibrator | None, str]:
        """(model, threshold, calibrator or None, version id) of ``version`` (sha256 verified)."""
        if version not in self._loaded:
            from include.modelcare.ml.calibration import stored_calibrator
            from include.modelcare.ml.threshold import stored_threshold

            record = self.registry.get(version)
            model = self.registry.load_model(version)
            meta = record.metadata
            self._loaded[version] = (model, stored_threshold(meta), stored_calibrator(meta), record.version_id)
        return self._loaded[version]


def production_at(config: ModelConfig, registry: RegistryReader, day: dt.date) -> int | None:
    """The ``production`` version at the start of ``day`` in the model's timezone (alias history), or None.

    The start of the day, not its end: a version promoted on day D by the retraining that batch D's own drift
    triggered did not serve batch D."""
    from zoneinfo import ZoneInfo

    start = dt.datetime.combine(day, dt.time(0), ZoneInfo(config.schedules.timezone))
    version = None
    for move in registry.alias_history("production"):
        try:
            at = dt.datetime.fromisoformat(str(move.get("at")))
        except ValueError:
            continue
        if (at if at.tzinfo else at.replace(tzinfo=dt.UTC)) < start:
            version = move.get("version")
    return None if version is None else int(version)


def served_version(config: ModelConfig, store: ObjectStore, registry: RegistryReader, day: dt.date) -> tuple[int, str]:
    """The version that served the batch of ``day`` and how that is known: its served record, else the
    ``production`` alias history at the batch date (``production_at``). ``DataNotFound`` if none."""
    uri = config.paths.served(day)
    if store.exists(uri):
        return int(store.read_json(uri)["version"]), "recorded"
    version = production_at(config, registry, day)
    if version is None:
        raise DataNotFound(f"no production version served {config.name} on {day.isoformat()}")
    return version, "alias history"


def record_served(config: ModelConfig, store: ObjectStore, registry: RegistryReader, day: dt.date, current: int) -> int:
    """Write once which version serves this batch; returns it. The alias history at the batch date when it has
    one (a backfill of an old date after a promotion must not record today's version), else ``current``
    (the first production version, monitoring batches older than itself). A re-run keeps the first answer."""
    import json

    from include.modelcare.registry.records import version_id

    uri = config.paths.served(day)
    if store.exists(uri):
        return int(store.read_json(uri)["version"])
    version = production_at(config, registry, day) or current
    doc = {"day": day.isoformat(), "version": version, "version_id": version_id(version), "recorded_at": _now()}
    store.create_exclusive(uri, json.dumps(doc).encode(), content_type="application/json")
    return version


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def score_drop(
    config: ModelConfig, store: ObjectStore, versions: Versions, drop: LabelDrop, run: RunInfo
) -> dict[str, Any]:
    """The realised record of one label drop (not yet stored). ``DataError``/``DataNotFound`` say why it cannot
    be scored (the batch was quarantined or never arrived, the labels lack a column, no label matched)."""
    from include.modelcare.ml.evaluation import evaluate
    from include.modelcare.tasks.monitoring import validated_batch

    result_uri = config.paths.validation_result(drop.day)
    passed = store.exists(result_uri) and store.read_json(result_uri).get("success") is True
    if not passed:  # (a failed result left by a crash mid-quarantine counts as failed)
        where = "quarantined" if store.exists(config.paths.quarantine(drop.day) + "_REASON.json") else "not validated"
        raise DataNotFound(f"labels of {drop.day.isoformat()} not scored: its batch is {where}")
    batch = validated_batch(config, drop.day, store)
    joined, join = join_labels(batch, read_labels(drop, config, store), config)
    if join.matched == 0:
        raise DataError(f"labels of {drop.day.isoformat()} match no row of its batch ({join.describe()})")
    version, how = served_version(config, store, versions.registry, drop.day)
    model, threshold, calibrator, version_id = versions.predictor(version)
    metric = series.monitored_metric(config)
    note = ""
    try:
        metrics = evaluate(model, joined, config, threshold=threshold, calibrator=calibrator)
    except TrainingError as exc:  # e.g. one class only among the labelled rows: AUC undefined
        # Recorded without a value (and its fingerprint): shown, and scored again only when the labels change.
        metrics, note = {}, f"not scored: {exc}"
    return {
        "model": config.name,
        "day": drop.day.isoformat(),
        "metric": metric,
        "value": metrics.get(metric),
        "note": note,
        "metrics": metrics,
        "rows": join.matched,
        "version": version,
        "version_id": version_id,
        "served_by": how,
        "threshold": threshold,
        "calibrated": calibrator is not None,
        "join": join.to_dict(),
        "labels": drop.to_dict(),
        "fingerprint": drop.fingerprint,
        "scored_at": _now(),
        "scored_by": {"dag_id": run.dag_id, "run_id": run.run_id},
    }


def score_new_labels(
    config: ModelConfig, store: ObjectStore, versions: Versions, run: RunInfo
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Score every label drop that is new or changed since its last scoring.

    Returns the realised series as it now stands (read once, updated with what this run wrote), what was
    scored, and the problems."""
    by_day = {str(r["day"]): r for r in series.read_records(config, store, series.REALISED)}
    scored, problems = [], []
    for drop in label_drops(config, store, run.day):
        if by_day.get(drop.day.isoformat(), {}).get("fingerprint") == drop.fingerprint:
            continue
        try:
            record = score_drop(config, store, versions, drop, run)
        except LABEL_PROBLEMS as exc:  # one bad drop must not stop monitoring; S3/network errors still retry
            log.warning("%s: %s", config.name, exc)
            problems.append(str(exc))
            continue
        written = series.record_realised(config, store, record)
        note = {
            "day": record["day"],
            "value": record["value"],
            "rows": record["rows"],
            "version": record["version"],
            "join_rate": record["join"]["join_rate"],
            "action": written.action,
            "revision": written.revision,
            "previous_value": written.previous_value,
        }
        if written.action == "replaced":
            log.warning(
                "%s %s: labels changed since they were scored: %s %s replaces %s (revision %d)",
                config.name,
                record["day"],
                record["metric"],
                record["value"],
                written.previous_value,
                written.revision,
            )
        elif written.action == "new":
            log.info(
                "%s %s: labels scored with v%d: %s %s (%s)",
                config.name,
                record["day"],
                record["version"],
                record["metric"],
                record["value"],
                join_description(record["join"]),
            )
        if written.action != "unchanged":
            scored.append(note)
            by_day[record["day"]] = {**record, "revision": written.revision}
    return [by_day[day] for day in sorted(by_day)], scored, problems


def join_description(join: Mapping[str, Any]) -> str:
    return f"{join['matched']:,} of {join['batch_rows']:,} rows labelled ({join['join_rate']:.0%})"


def estimate_batch(
    config: ModelConfig, store: ObjectStore, versions: Versions, version: int, run: RunInfo
) -> dict[str, Any]:
    """The estimate of this batch's metric with the production ``version`` (or why there is none); stored."""
    from include.modelcare.performance.estimate import estimate_metric, not_estimated
    from include.modelcare.tasks.monitoring import validated_batch

    metric = series.monitored_metric(config)
    model, threshold, calibrator, version_id = versions.predictor(version)
    batch = validated_batch(config, run.day, store)
    if config.task != "classification":
        estimate = not_estimated(metric, len(batch), "regression: nothing is estimated (no labels, no number)")
    elif calibrator is None:
        estimate = not_estimated(
            metric, len(batch), f"v{version} has no calibrator (registered before calibration): no estimate"
        )
    elif len(getattr(model, "classes_", ())) != 2:
        estimate = not_estimated(metric, len(batch), "multi-class: not estimated")
    else:
        from include.modelcare.ml.evaluation import positive_scores

        probabilities = positive_scores(model, batch[config.data.features.all], calibrator)
        cut = calibrator.threshold(None) if threshold is None else threshold
        estimate = estimate_metric(metric, probabilities, probabilities >= cut)
    expected = None
    if config.performance.label_delay_days is not None:
        expected = (run.day + dt.timedelta(days=config.performance.label_delay_days)).isoformat()
    record = {
        "model": config.name,
        "day": run.day.isoformat(),
        **estimate.to_dict(),
        "version": version,
        "version_id": version_id,
        "threshold": threshold,
        "estimated_at": _now(),
        "labels_expected_by": expected,
    }
    series.record_estimate(config, store, record)
    return record


@task_boundary
def check_performance(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Score the labels that arrived, decide decay on the rolling window, estimate this batch (see module)."""
    from include.modelcare.registry.factory import open_registry

    config, run, store = task_setup(model, context)
    registry = open_registry(config, store)
    production = registry.alias("production")
    versions = Versions(registry)
    if production is not None:
        record_served(config, store, registry, run.day, production.version)
    realised, scored, problems = score_new_labels(config, store, versions, run)
    version = production.version if production is not None else None
    outcome = series.decay_check(config, series.score_points(realised), run.day, version)
    latest = series.latest(realised)
    outcome["latest_realised"] = (
        {"day": latest["day"], "value": latest["value"], "version": latest.get("version")} if latest else None
    )
    outcome["scored"], outcome["label_problems"] = scored, problems
    outcome["estimate"], outcome["estimate_warning"] = None, None
    if version is not None:
        try:
            estimate = estimate_batch(config, store, versions, version, run)
        except LABEL_PROBLEMS as exc:  # no estimate is no reason to hold back the decision on drift
            log.warning("%s %s: no estimate: %s", config.name, run.day, exc)
            estimate = {"metric": series.monitored_metric(config), "value": None, "note": f"no estimate: {exc}"}
        outcome["estimate"] = estimate
        outcome["estimate_warning"] = _warn_on_estimate(config, store, run, estimate, context)
    store.write_json(config.paths.reports(run.day) + "performance.json", outcome)
    log.info("%s %s: %s", config.name, run.day, outcome.get("reason") or outcome["status"])
    return outcome


def _warn_on_estimate(
    config: ModelConfig, store: ObjectStore, run: RunInfo, estimate: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """Alert once when the estimate crosses the floor (the previous batch's estimate did not)."""
    from include.modelcare.tasks.monitoring import send_unless_silenced

    metric = str(estimate["metric"])
    # Only the same version's earlier estimates: a newly promoted version that is below the floor alerts anew
    earlier = [
        r
        for r in series.read_records(config, store, series.ESTIMATED)
        if r["day"] < run.day.isoformat() and r.get("version") == estimate.get("version")
    ]
    previous = series.latest(earlier)
    expected = estimate.get("labels_expected_by") or (
        f"within {config.performance.label_lookback_weeks} weeks (performance.label_lookback_weeks)"
    )
    warning = estimate_warning(
        metric,
        estimate.get("value"),
        None if previous is None else previous.get("value"),
        config.performance.floor,
        lower_better=lower_is_better(metric),
        labels_expected=str(expected),
    )
    out: dict[str, Any] = {"warn": warning.warn, "below": warning.below, "reason": warning.reason}
    if warning.warn:
        alert = Alert(
            model=config.name,
            day=run.day,
            kind="estimated_decay",
            summary=f"production v{estimate['version']} {warning.reason}. Estimated, not measured: no retraining "
            "is requested until labels or drift confirm it.",
            figures={
                f"estimated {metric}": f"{estimate['value']:.4f} (CBPE, {estimate['rows']:,} rows)",
                "floor": config.performance.floor,
                "labels expected by": expected,
            },
            run_url=run.run_url,
        )
        out["alerts"] = send_unless_silenced(alert, config, store, context, run)
    return out
