"""Retraining calibrates the candidate on its holdout, registers the calibrator with both thresholds, and gates
exactly the predictor that is served: train/evaluate/register bodies on the embedded stack's S3, a real
registry, and the served predictor (``serving.model.ServedModel``) rebuilt from the registry metadata the
way a deployment builds it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.airflow_env import configure_airflow

configure_airflow()  # before anything imports airflow: a throw-away AIRFLOW_HOME

from include.modelcare.config.schema import ModelConfig  # noqa: E402
from include.modelcare.tasks import retraining  # noqa: E402
from include.modelcare.tasks.context import RunInfo  # noqa: E402
from include.modelcare.tasks.training_set import BATCH_DAY  # noqa: E402
from tests.conftest import unique_bucket_name  # noqa: E402

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"
DAYS = [dt.date(2026, 3, 2) + dt.timedelta(weeks=i) for i in range(4)]


class FakeTI:
    """``ti.xcom_pull(task_ids=...)`` over the results of the bodies run so far."""

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = dict(xcoms)

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcoms.get(task_ids)


@pytest.fixture
def world(devstack: Any) -> SimpleNamespace:
    from include.modelcare.registry.factory import open_registry
    from include.modelcare.storage.objects import ObjectStore

    bucket = unique_bucket_name("calib")
    raw = yaml.safe_load(SAMPLE.read_text())
    raw["data"]["bucket"] = bucket
    raw["training"]["min_rows"] = 10
    config = ModelConfig.model_validate(raw)
    devstack.client("s3").create_bucket(Bucket=bucket)
    store = ObjectStore(devstack.client("s3"))
    return SimpleNamespace(config=config, store=store, registry=open_registry(config, store))


def _dataset(holdout_rows: int) -> Any:
    import pandas as pd

    from include.modelcare.dev.simulate import generate_batch

    frames = []
    for i, day in enumerate(DAYS):
        rows = holdout_rows if day == DAYS[-1] else 700
        frame = generate_batch(rows, seed=40 + i, id_offset=10_000 * i)
        frame[BATCH_DAY] = day.isoformat()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _retrain(w: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, run_id: str, holdout_rows: int = 600) -> Any:
    """Assemble (written directly), train, evaluate and register one run; the XComs and the registered record."""
    from include.modelcare.storage.tables import to_bytes

    run = RunInfo(dag_id="modelcare_retrain_customer_churn", run_id=run_id, day=DAYS[-1], params={"force": True})
    monkeypatch.setattr(retraining, "task_setup", lambda model, context: (w.config, run, w.store))
    folder = w.config.paths.training_run(run_id)
    dataset = _dataset(holdout_rows)
    w.store.write_bytes(folder + "dataset.parquet", to_bytes(dataset, "parquet"))
    w.store.write_json(folder + "manifest.json", {"validation_results": [], "inputs": []})
    ti = FakeTI(
        {
            retraining.ASSEMBLE: {
                "dataset_uri": folder + "dataset.parquet",
                "manifest_uri": folder + "manifest.json",
                "fingerprint": run_id.ljust(64, "0"),
                "rows": len(dataset),
                "batches": [d.isoformat() for d in DAYS],
                "window": {"start": DAYS[0].isoformat(), "end": DAYS[-1].isoformat()},
            }
        }
    )
    context = {"ti": ti}
    bodies: list[tuple[str, Callable[..., Any]]] = [
        (retraining.TRAIN, retraining.train_candidate),
        (retraining.EVALUATE, retraining.evaluate_candidate),
        (retraining.REGISTER, retraining.register_candidate),
    ]
    for name, body in bodies:
        args = () if name == retraining.TRAIN else (retraining.TRAIN,)
        ti.xcoms[name] = body(w.config.name, context, *args)
    holdout = dataset[dataset[BATCH_DAY] == DAYS[-1].isoformat()]
    return ti.xcoms, w.registry.get(ti.xcoms[retraining.REGISTER]["version"]), holdout


def _served_answer(w: SimpleNamespace, record: Any, holdout: Any) -> dict[str, Any]:
    """What a deployment of ``record`` answers for the holdout rows (its FeatureSchema as the plan builds it)."""
    from include.modelcare.ml.calibration import stored_calibrator
    from include.modelcare.ml.serialization import sha256_hex
    from include.modelcare.ml.threshold import stored_threshold
    from include.modelcare.serving.model import FeatureSchema, ServedModel

    calibrator = stored_calibrator(record.metadata)
    schema = FeatureSchema.from_dict(
        {
            "features": record.metadata["features"],
            "threshold": stored_threshold(record.metadata),
            "calibration": calibrator.knots() if calibrator else None,
        },
        model=w.config.name,
        version=record.version_id,
    )
    data = w.registry.load_model_bytes(record.version)
    served = ServedModel.from_bytes(data, sha256=sha256_hex(data), schema=schema, max_rows=len(holdout))
    records = json.loads(holdout[list(schema.columns)].to_json(orient="records"))
    return served.predict(records)


def test_the_registered_version_carries_its_calibrator_and_the_gate_scored_what_is_served(
    world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn import metrics

    from include.modelcare.ml.calibration import Calibrator

    w = world
    xcoms, v1, holdout = _retrain(w, monkeypatch, "manual__first")
    evaluated, meta = xcoms[retraining.EVALUATE], v1.metadata

    # XCom: a summary and the URI of calibration.json beside model.skops, never the knots.
    summary = evaluated["calibration"]
    assert summary["uri"] == w.config.paths.training_run("manual__first") + "calibration.json"
    assert summary["rows"] == len(holdout) == evaluated["holdout_rows"] and summary["method"] == "isotonic"
    assert summary["brier_calibrated"] < summary["brier_raw"]
    assert len(json.dumps(evaluated)) < 4000

    # Registry: the calibrator, the calibrated threshold served and the raw one tuned.
    calibrator = Calibrator.from_dict(meta["calibration"])
    assert meta["calibration"] == Calibrator.from_dict(w.store.read_json(summary["uri"])).to_dict()
    assert meta["raw_threshold"] == meta["threshold_choice"]["value"] and meta["threshold_choice"]["source"] == "tuned"
    assert meta["threshold"] == calibrator.threshold(meta["raw_threshold"]) == evaluated["served_threshold"]
    assert meta["threshold"] != meta["raw_threshold"] and meta["calibration_note"] is None

    # The gate's metrics are those of the served predictor on the same holdout rows.
    answer = _served_answer(w, v1, holdout)
    assert answer["calibrated"] is True and answer["threshold"] == meta["threshold"]
    truth = holdout[w.config.data.target].tolist()
    gated = meta["metrics"]["candidate"]
    assert gated["roc_auc"] == pytest.approx(metrics.roc_auc_score(truth, answer["scores"]), abs=1e-12)
    assert gated["balanced_accuracy"] == pytest.approx(
        metrics.balanced_accuracy_score(truth, answer["predictions"]), abs=1e-12
    )
    assert gated["f1"] == pytest.approx(metrics.f1_score(truth, answer["predictions"]), abs=1e-12)

    figures = retraining.gate_figures(evaluated)
    assert figures["calibration"].startswith(f"isotonic on {len(holdout):,} holdout rows, Brier 0.")
    assert " calibrated (raw 0." in figures["decision threshold"]

    # The next run's champion is v1, scored with ITS calibrator: same data, same model, same figures.
    w.registry.set_alias("production", v1.version, by="test", why="first deployment")
    xcoms, v2, _ = _retrain(w, monkeypatch, "manual__second")
    again = xcoms[retraining.EVALUATE]
    assert again["champion_calibrated"] is True and again["champion_threshold"] == meta["threshold"]
    assert again["champion"] == pytest.approx(again["candidate"], abs=1e-12)
    assert retraining.gate_figures(again)["calibration"].endswith("; champion with its own")
    assert v2.metadata["champion_threshold"] == meta["threshold"]


def test_a_holdout_too_small_to_calibrate_on_is_served_raw_and_says_why(
    world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from include.modelcare.dev.simulate import register_simulated_version

    w = world
    old = register_simulated_version(w.registry, w.config, seed=5)  # registered before calibration existed
    w.registry.set_alias("production", old.version, by="test", why="old champion")
    xcoms, record, holdout = _retrain(w, monkeypatch, "manual__small", holdout_rows=40)
    evaluated, meta = xcoms[retraining.EVALUATE], record.metadata
    assert evaluated["calibration"] is None and evaluated["champion_calibrated"] is False
    assert meta["calibration"] is None and meta["threshold"] == meta["raw_threshold"] is not None
    assert meta["calibration_note"] == (
        "not calibrated: calibration needs 50+ holdout rows with 5+ of each class; "
        f"got {len(holdout)} rows, {int(holdout[w.config.data.target].sum())} positive"
    )
    figure = retraining.gate_figures(evaluated)["calibration"]
    assert figure.startswith("none (not calibrated: calibration needs 50+") and "raw scores" in figure
    assert figure.endswith("; champion raw (none stored)")
    answer = _served_answer(w, record, holdout)
    assert answer["calibrated"] is False and answer["threshold"] == meta["raw_threshold"]
    assert not w.store.exists(w.config.paths.training_run("manual__small") + "calibration.json")
