"""Labels that land weeks after their batch, scored by the first monitoring run after they land (dag.test())."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

WEEKS = [dt.date(2026, 6, 22) + dt.timedelta(weeks=i) for i in range(6)]  # Mondays whose batches validate


def _performance(h: Harness, day: dt.date) -> dict[str, Any]:
    return h.store.read_json(h.config.paths.reports(day) + "performance.json")


def _hold_back_labels(h: Harness, day: dt.date) -> tuple[str, bytes]:
    """Take the labels of ``day`` away (they are "not known yet"); return where they were and their bytes."""
    from include.modelcare.dev.simulate import labels_uri

    uri = labels_uri(h.config, day)
    raw = h.store.read_bytes(uri)
    h.store.delete(uri)
    return uri, raw


def _land(h: Harness, uri: str, labels: Any) -> None:
    from include.modelcare.storage.tables import write_table

    write_table(labels, uri, h.config.data.format, h.store)


def test_labels_landing_three_weeks_late_are_scored_by_the_first_run_after(harness: Harness) -> None:
    import io

    import pandas as pd

    from include.modelcare.dev.simulate import register_simulated_version

    h = harness
    h.seed_weeks(WEEKS)
    late_uri, late_raw = _hold_back_labels(h, WEEKS[1])
    v1 = register_simulated_version(h.registry, h.config, seed=3, rows=5000)
    h.registry.set_alias("production", v1.version, by="test", why="first model")

    for day in WEEKS[1:4]:
        assert h.run(day)["check_performance"] == "success"
    scored_days = [s["day"] for s in _performance(h, WEEKS[3])["scored"]]
    assert WEEKS[1].isoformat() not in scored_days  # not landed yet
    assert not h.store.exists(h.config.paths.realised(WEEKS[1]))
    # Who served each batch is recorded when it is monitored.
    assert h.store.read_json(h.config.paths.served(WEEKS[1]))["version"] == v1.version

    # Three weeks after its batch the labels land: 80% of the ids, plus 10 ids that are not in the batch.
    labels = pd.read_parquet(io.BytesIO(late_raw))
    landed = labels.head(int(len(labels) * 0.8))
    strangers = pd.DataFrame({h.config.data.id_column: [f"stranger-{i}" for i in range(10)], h.config.data.target: 0})
    _land(h, late_uri, pd.concat([landed, strangers], ignore_index=True).astype(labels.dtypes.to_dict()))
    states = h.run(WEEKS[4])
    assert states["check_performance"] == "success"
    outcome = _performance(h, WEEKS[4])
    (late,) = [s for s in outcome["scored"] if s["day"] == WEEKS[1].isoformat()]
    assert late["action"] == "new" and late["version"] == v1.version and late["join_rate"] == pytest.approx(0.8)
    record = h.store.read_json(h.config.paths.realised(WEEKS[1]))
    assert record["served_by"] == "recorded" and record["revision"] == 1
    assert record["join"]["labels_without_ids"] == 10 and record["join"]["ids_without_labels"] == len(labels) - len(
        landed
    )
    assert record["rows"] == len(landed) and 0.5 < record["value"] <= 1.0
    # The decay decision reads the rolling window (performance.window_weeks), and says which weeks.
    window = outcome["window"]
    assert outcome["status"] == "measured" and window["weeks"] == h.config.performance.window_weeks
    assert WEEKS[1].isoformat() in window["batches"] and window["text"] in outcome["reason"]

    # A re-run of the same date finds nothing new and writes nothing.
    _, etag = h.store.read_with_etag(h.config.paths.realised(WEEKS[1]))
    h.run(WEEKS[4])
    assert _performance(h, WEEKS[4])["scored"] == []
    assert h.store.read_with_etag(h.config.paths.realised(WEEKS[1]))[1] == etag

    # Corrected labels (every label landed, some flipped) replace the earlier score and say so.
    corrected = labels.copy()
    corrected.loc[: len(corrected) // 10, h.config.data.target] = (
        1 - corrected.loc[: len(corrected) // 10, h.config.data.target]
    )
    _land(h, late_uri, corrected)
    h.run(WEEKS[5])
    (again,) = [s for s in _performance(h, WEEKS[5])["scored"] if s["day"] == WEEKS[1].isoformat()]
    assert again["action"] == "replaced" and again["revision"] == 2 and again["previous_value"] == record["value"]
    replaced = h.store.read_json(h.config.paths.realised(WEEKS[1]))
    assert replaced["previous"][0]["value"] == record["value"] and replaced["join"]["join_rate"] == 1.0


def test_an_old_batch_without_a_served_record_is_scored_with_the_alias_at_its_date(harness: Harness) -> None:
    """Batches monitored before served records existed: the production alias history at the batch date."""
    from include.modelcare.dev.simulate import register_simulated_version
    from include.modelcare.tasks.performance import served_version

    h = harness
    v1 = register_simulated_version(h.registry, h.config, seed=3, rows=5000)
    h.registry.set_alias("production", v1.version, by="test", why="first model")
    today = dt.datetime.now(dt.UTC).date()
    tomorrow = today + dt.timedelta(days=1)
    assert served_version(h.config, h.store, h.registry, tomorrow) == (v1.version, "alias history")
    with pytest.raises(Exception, match="no production version served"):  # promoted after today's start
        served_version(h.config, h.store, h.registry, today)


def _register_calibrated(h: Harness, seed: int) -> Any:
    """A version registered as the retraining DAG now registers one: calibrated on its holdout, threshold on
    the calibrated scale (``tasks.retraining_calibration``), here without running the DAG."""
    from include.modelcare.dev.simulate import generate_batch
    from include.modelcare.ml.calibration import fit_calibrator
    from include.modelcare.ml.evaluation import evaluate, positive_scores
    from include.modelcare.ml.serialization import dump_model
    from include.modelcare.ml.training import fit

    config = h.config
    train, holdout = generate_batch(5000, seed=seed), generate_batch(2000, seed=seed + 10_000)
    model, _ = fit(config, config.training.params, train)
    features = holdout[config.data.features.all]
    calibrator = fit_calibrator(positive_scores(model, features), holdout[config.data.target] == model.classes_[1])
    threshold = calibrator.threshold(0.25)
    columns = [config.data.id_column, *config.data.features.all, config.data.target]
    return h.registry.register(
        model_bytes=dump_model(model),
        reference=train[columns],
        metadata={
            "features": {"numerical": config.data.features.numerical, "categorical": config.data.features.categorical},
            "metrics": {"candidate": evaluate(model, holdout, config, threshold=threshold, calibrator=calibrator)},
            "primary_metric": config.primary_metric,
            "threshold": threshold,
            "raw_threshold": 0.25,
            "calibration": calibrator.to_dict(),
        },
        status="Approved",
        reasons=["calibrated (test)"],
        run_key=f"test/calibrated-{seed}",
        actor="test",
    )


def test_an_estimate_before_the_labels_then_the_realised_value_beside_it(harness: Harness) -> None:
    h = harness
    weeks = WEEKS[:3]
    h.seed_weeks(weeks)
    held = {day: _hold_back_labels(h, day) for day in weeks[:2]}
    v1 = _register_calibrated(h, seed=5)
    h.registry.set_alias("production", v1.version, by="test", why="calibrated model")
    h.run(weeks[0])
    estimate = h.store.read_json(h.config.paths.estimated(weeks[0]))
    assert estimate["method"] == "cbpe" and estimate["version"] == v1.version and estimate["rows"] == 1500
    assert 0.5 < estimate["value"] < 1.0 and estimate["metric"] == "roc_auc"
    outcome = _performance(h, weeks[0])
    assert outcome["estimate"]["value"] == estimate["value"]
    # No labels yet: no realised value, no decay decision; the estimate alone requests nothing.
    assert outcome["status"].startswith("no labelled batch") and outcome["decayed"] is False
    assert not h.store.exists(h.config.paths.retrain_request(weeks[0]))

    for uri, raw in held.values():
        h.store.write_bytes(uri, raw)  # both weeks' labels land before the third run
    h.run(weeks[2])
    realised = h.store.read_json(h.config.paths.realised(weeks[0]))
    assert realised["calibrated"] is True and realised["threshold"] == pytest.approx(v1.metadata["threshold"])
    # On a batch like the training data the estimate lands near the realised value (benchmark: README).
    assert abs(realised["value"] - estimate["value"]) < 0.05


def test_a_version_without_a_calibrator_has_no_estimate_and_says_why(harness: Harness) -> None:
    from include.modelcare.dev.simulate import register_simulated_version

    h = harness
    h.seed_weeks(WEEKS[:1])
    v1 = register_simulated_version(h.registry, h.config, seed=3, rows=5000)
    h.registry.set_alias("production", v1.version, by="test", why="old model")
    h.run(WEEKS[0])
    estimate = h.store.read_json(h.config.paths.estimated(WEEKS[0]))
    assert estimate["value"] is None and estimate["method"] == "none"
    assert "no calibrator" in estimate["note"]
