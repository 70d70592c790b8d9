"""The calibration step of retraining: fit the candidate's calibrator on its holdout, keep it beside the model,
score the champion as it is served, carry the calibrator into the registry metadata, and say what it did in
the gate's figures.

Order (issue 12): the decision threshold is tuned on the raw scores of the training part
(``ml.threshold``), the calibrator is fitted on the candidate's raw holdout scores (``ml.calibration``),
the threshold is carried to the calibrated scale, and the gate scores the candidate through both: the
predictor it scores is the one served and estimated. The champion is scored with ITS stored calibrator
and threshold (versions registered before calibration: raw, as they are served).

The knots (up to ``MAX_KNOTS`` pairs) do not travel through XCom: ``calibration.json`` is written into the
run's training folder beside ``model.skops`` (same bytes on a re-run: isotonic regression is
deterministic) and XCom carries its URI and a summary. ``register_candidate`` reads it back.

The calibrator is fitted and scored on the same holdout rows, so the candidate's log_loss (and Brier) there
are optimistic; roc_auc is not (the map is strictly increasing: same ranking, same decisions as raw), and roc_auc
is the usual primary metric.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import TrainingError

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.ml.calibration import Calibrator
    from include.modelcare.registry.reader import RegistryReader
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class Calibration:
    """The outcome of the step: the calibrator (None: served raw), the threshold the version serves, and the
    small record XCom carries (``summary``: None when not calibrated; ``note``: why not)."""

    calibrator: Calibrator | None
    threshold: float | None
    summary: dict[str, Any] | None
    note: str | None


def calibrate_candidate(
    config: ModelConfig,
    model: Any,
    holdout: pd.DataFrame,
    raw_threshold: float | None,
    *,
    store: ObjectStore,
    folder: str,
) -> Calibration:
    """Fit the candidate's calibrator on its raw holdout scores and write it to ``folder``/calibration.json.

    Binary classification only. Too few holdout rows (or of a class) to calibrate on is not fatal: the
    version is served raw as before, with a warning and the reason in ``note`` (the registry's
    ``calibration_note``).
    """
    from include.modelcare.ml.calibration import fit_calibrator
    from include.modelcare.ml.evaluation import positive_scores
    from include.modelcare.ml.training import features_and_target

    if config.task != "classification":
        return Calibration(None, raw_threshold, None, None)
    classes = list(getattr(model, "classes_", ()))
    if len(classes) != 2:
        return Calibration(None, raw_threshold, None, f"{len(classes)} classes: argmax, not calibrated")
    x, y = features_and_target(config, holdout)
    try:
        calibrator = fit_calibrator(positive_scores(model, x), (y == classes[1]).to_numpy())
    except TrainingError as exc:
        log.warning("%s: not calibrated (%s): the version is served with raw scores", config.name, exc)
        return Calibration(None, raw_threshold, None, f"not calibrated: {exc}")
    uri = folder + CALIBRATION_FILE
    store.write_json(uri, calibrator.to_dict())
    threshold = calibrator.threshold(raw_threshold)
    summary = {
        "uri": uri,
        "method": calibrator.method,
        "rows": calibrator.rows,
        "knots": len(calibrator.x),
        "brier_raw": calibrator.brier_raw,
        "brier_calibrated": calibrator.brier_calibrated,
    }
    log.info(
        "%s: %s; threshold %s raw -> %.4f calibrated",
        config.name,
        calibration_text(summary),
        "0.5 (predict)" if raw_threshold is None else f"{raw_threshold:.4f}",
        threshold,
    )
    return Calibration(calibrator, threshold, summary, None)


def score_champion(
    config: ModelConfig, registry: RegistryReader, holdout: pd.DataFrame, *, train_mean: float | None
) -> dict[str, Any]:
    """The production version's metrics on the candidate's holdout, as it is served: with ITS stored calibrator
    and threshold. ``{"champion": metrics | None, "champion_version", "champion_threshold",
    "champion_calibrated"}`` (all None without a production version)."""
    from include.modelcare.ml.evaluation import evaluate
    from include.modelcare.ml.threshold import stored_threshold

    production = registry.alias("production")
    if production is None:
        return {"champion": None, "champion_version": None, "champion_threshold": None, "champion_calibrated": None}
    champion = registry.get(production.version)
    threshold = stored_threshold(champion.metadata)
    calibrator = champion_calibrator(champion.metadata, champion.version_id)
    model = registry.load_model(champion.version)
    metrics = evaluate(model, holdout, config, threshold=threshold, train_mean=train_mean, calibrator=calibrator)
    return {
        "champion": metrics,
        "champion_version": champion.version,
        "champion_threshold": threshold,
        "champion_calibrated": calibrator is not None,
    }


def champion_calibrator(metadata: Mapping[str, Any], version_id: str) -> Calibrator | None:
    """The champion's stored calibrator (None: registered before calibration, served raw).

    ``TrainingError`` when the stored one is unreadable: the champion cannot be scored as it is served.
    """
    from include.modelcare.ml.calibration import stored_calibrator

    try:
        return stored_calibrator(metadata)
    except ValueError as exc:
        raise TrainingError(f"champion {version_id}: its stored calibration is unusable: {exc}") from None


def calibration_text(summary: Mapping[str, Any]) -> str:
    """``isotonic on 1,000 holdout rows, Brier 0.142 -> 0.118``."""
    text = f"{summary['method']} on {summary['rows']:,} holdout rows"
    if summary.get("brier_raw") is not None and summary.get("brier_calibrated") is not None:
        text += f", Brier {summary['brier_raw']:.3f} -> {summary['brier_calibrated']:.3f}"
    return text


def calibration_figure(evaluated: Mapping[str, Any]) -> str | None:
    """The gate figure ``calibration``: what was fitted (or why nothing was) and how the champion was scored.
    None for a version that has no calibration to speak of (regression)."""
    summary, note = evaluated.get("calibration"), evaluated.get("calibration_note")
    if not summary and not note:
        return None
    text = calibration_text(summary) if summary else f"none ({note}): raw scores"
    if evaluated.get("champion") is not None and "champion_calibrated" in evaluated:
        text += "; champion with its own" if evaluated["champion_calibrated"] else "; champion raw (none stored)"
    return text


def registered_calibration(evaluated: Mapping[str, Any], store: ObjectStore) -> dict[str, Any]:
    """The registry metadata of the step: ``calibration`` (the calibrator's dict, or None), ``threshold`` (the
    one served: calibrated when there is a calibrator), ``raw_threshold`` and ``calibration_note``."""
    from include.modelcare.ml.calibration import Calibrator

    raw = (evaluated.get("threshold") or {}).get("value")
    summary = evaluated.get("calibration")
    calibration = None
    if summary:
        try:
            calibration = Calibrator.from_dict(store.read_json(summary["uri"])).to_dict()
        except ValueError as exc:
            raise TrainingError(f"{summary['uri']} is not a calibrator: {exc}") from None
    return {
        "threshold": evaluated.get("served_threshold", raw),
        "raw_threshold": raw,
        "calibration": calibration,
        "calibration_note": evaluated.get("calibration_note"),
    }
