"""Training: hyperparameter validation, the pipeline, the out-of-time split, the fingerprint,
the SageMaker request (checked against the real API model with botocore's Stubber) and the entry script."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.dev.simulate import Scenario, generate_batch
from include.modelcare.errors import InvalidHyperparameters, TrainingError
from include.modelcare.ml.training import (
    CONFIG_HYPERPARAMETER,
    ENTRY_SCRIPT,
    PARAMS_HYPERPARAMETER,
    PIPELINE_STEPS,
    build_pipeline,
    build_source_tarball,
    estimator_class,
    fingerprint,
    fit,
    sagemaker_training_config,
    time_split,
    validate_params,
)
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"
DAYS = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/modelcare-training"


def sagemaker_config(**settings: Any) -> Any:
    return make_config(
        "RandomForestClassifier",
        {"n_estimators": 50},
        backend="sagemaker",
        sagemaker={"image_uri": IMAGE, "role_arn": ROLE, **settings},
    )


@pytest.fixture(scope="module")
def dataset() -> Any:
    """Four weekly batches of 300 rows with their batch day (ISO strings, as the retraining DAG writes them)."""
    import pandas as pd

    frames = []
    for index, day in enumerate(DAYS):
        batch = generate_batch(300, seed=10 + index, id_offset=index * 300)
        batch["_batch_day"] = day
        frames.append(batch)
    return pd.concat(frames, ignore_index=True)


# -- estimator and hyperparameters -------------------------------------------------------------------
def test_estimator_class_resolves_the_allowlist() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    assert estimator_class("HistGradientBoostingRegressor") is HistGradientBoostingRegressor
    with pytest.raises(TrainingError, match="'SVC' is not allowed"):
        estimator_class("SVC")


def test_params_merge_config_and_overrides() -> None:
    config = make_config(params={"C": 0.5, "max_iter": 300})
    assert validate_params(config, {"C": 2.0}) == {"C": 2.0, "max_iter": 300}
    assert validate_params(config) == {"C": 0.5, "max_iter": 300}


def test_unknown_hyperparameter_is_named_with_the_valid_ones() -> None:
    with pytest.raises(InvalidHyperparameters) as err:
        validate_params(make_config(), {"n_estimators": 10, "Cc": 1})
    message = str(err.value)
    assert message.startswith("LogisticRegression: unknown hyperparameter(s) Cc, n_estimators (valid: C, ")
    assert "max_iter" in message and "\n" not in message


@pytest.mark.parametrize(
    ("estimator", "override", "expected"),
    [
        ("LogisticRegression", {"C": -1}, "The 'C' parameter of LogisticRegression must be a float in the range"),
        ("LogisticRegression", {"C": "high"}, "The 'C' parameter of LogisticRegression must be a float"),
        ("RandomForestClassifier", {"n_estimators": 0}, "The 'n_estimators' parameter"),
        ("HistGradientBoostingRegressor", {"loss": "hinge"}, "The 'loss' parameter"),
        # a combination sklearn checks only in fit: caught by the probe fit
        ("LogisticRegression", {"penalty": "l1"}, "Solver lbfgs supports only 'l2' or None penalties"),
        ("HistGradientBoostingRegressor", {"loss": "quantile"}, "quantile must be an instance of float"),
        ("LogisticRegression", {"C": {"a": object()}}, "must be plain values"),
        (
            "HistGradientBoostingClassifier",
            {"early_stopping": True, "scoring": "roc_auc"},
            "cannot be saved with skops",
        ),
    ],
)
def test_bad_hyperparameter_values_fail_in_one_line(estimator: str, override: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidHyperparameters) as err:
        validate_params(make_config(estimator), override)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_data_dependent_hyperparameters_are_left_to_the_real_fit() -> None:
    """The synthetic probe has 4 columns and labels 0/1: it must not reject these."""
    params = {"n_estimators": 500, "max_features": 8, "class_weight": {"yes": 2.0, "no": 1.0}}
    assert validate_params(make_config("RandomForestClassifier"), params) == params
    for loss in ("poisson", "gamma"):  # positive targets in the probe
        assert validate_params(make_config("HistGradientBoostingRegressor"), {"loss": loss})["loss"] == loss


# -- pipeline -------------------------------------------------------------------------------------------
def test_pipeline_shape_and_seed() -> None:
    config = make_config("RandomForestClassifier", seed=7)
    pipeline = build_pipeline(config, {"n_estimators": 3})
    assert [name for name, _ in pipeline.steps] == list(PIPELINE_STEPS)
    preprocess = pipeline.named_steps["preprocess"]
    assert [(name, cols) for name, _, cols in preprocess.transformers] == [
        ("numeric", config.data.features.numerical),
        ("categorical", config.data.features.categorical),
    ]
    assert preprocess.transformers[1][1].named_steps["onehot"].handle_unknown == "ignore"
    assert pipeline.named_steps["model"].random_state == 7
    assert build_pipeline(config, {"random_state": 1}).named_steps["model"].random_state == 1
    assert build_pipeline(make_config("LinearRegression"), {}).named_steps["model"].get_params()["positive"] is False
    assert build_pipeline(make_config("HistGradientBoostingClassifier"), {}).steps[0][1].sparse_threshold == 0.0


def test_pipeline_handles_nulls_and_unknown_categories() -> None:
    config = make_config()
    faulty = Scenario(null_fraction=0.05, null_columns=("age", "plan"), unknown_category_fraction=0.05)
    train = generate_batch(300, seed=1, scenario=Scenario(null_fraction=0.05, null_columns=("age", "plan")))
    pipeline, _ = fit(config, {}, train)
    assert len(pipeline.predict_proba(generate_batch(100, seed=2, scenario=faulty))) == 100


# -- time split ------------------------------------------------------------------------------------------
def test_time_split_holds_out_the_given_days(dataset: Any) -> None:
    train, holdout = time_split(dataset, "_batch_day", [dt.date(2026, 1, 26)], min_rows=500)
    assert len(train) == 900 and len(holdout) == 300
    assert set(holdout["_batch_day"]) == {"2026-01-26"}
    assert "2026-01-26" not in set(train["_batch_day"])
    # ISO strings or dates, and a day column of dates, all compare as dates
    train2, holdout2 = time_split(dataset, "_batch_day", ["2026-01-19", "2026-01-26"])
    assert (len(train2), len(holdout2)) == (600, 600)
    as_dates = dataset.assign(_batch_day=[dt.date.fromisoformat(d) for d in dataset["_batch_day"]])
    assert len(time_split(as_dates, "_batch_day", ["2026-01-26"])[1]) == 300


@pytest.mark.parametrize(
    ("holdout_days", "min_rows", "expected"),
    [
        (["2026-02-02"], 1, "no rows on holdout day(s) 2026-02-02 (1200 rows)"),
        (DAYS, 1, "0 training rows outside holdout day(s)"),
        (["2026-01-26"], 901, "900 training rows outside holdout day(s) 2026-01-26, below min_rows=901"),
        ([], 1, "no holdout days given"),
    ],
)
def test_time_split_errors(dataset: Any, holdout_days: list[str], min_rows: int, expected: str) -> None:
    with pytest.raises(TrainingError) as err:
        time_split(dataset, "_batch_day", holdout_days, min_rows=min_rows)
    assert expected in str(err.value)


def test_time_split_needs_the_day_column_on_every_row(dataset: Any) -> None:
    with pytest.raises(TrainingError, match="no 'day' column"):
        time_split(dataset, "day", ["2026-01-26"])
    broken = dataset.copy()
    broken.loc[:9, "_batch_day"] = None
    with pytest.raises(TrainingError, match="10 of 1200 rows have no '_batch_day'"):
        time_split(broken, "_batch_day", ["2026-01-26"])


# -- fingerprint ------------------------------------------------------------------------------------------
def test_fingerprint_is_the_documented_hash_stable_and_order_independent() -> None:
    objects = [("s3://b/labels/dt=2026-01-05/part-000.parquet", b"labels"), ("s3://b/incoming/x.parquet", b"rows")]
    digests = [(uri, hashlib.sha256(content).hexdigest()) for uri, content in objects]
    expected = hashlib.sha256("".join(f"{uri}\t{digest}\n" for uri, digest in sorted(digests)).encode()).hexdigest()
    assert fingerprint(objects) == expected
    assert fingerprint(list(reversed(objects))) == expected
    assert fingerprint(digests) == expected  # precomputed sha256 hex is the same input
    assert fingerprint([(u, d.upper()) for u, d in digests]) == expected
    assert fingerprint([*objects, objects[0]]) == expected  # an exact duplicate counts once
    assert fingerprint([objects[0], (objects[1][0], b"rows!")]) != expected  # content changed
    assert fingerprint(objects[:1]) != expected  # object removed


def test_fingerprint_errors() -> None:
    with pytest.raises(TrainingError, match="given twice with different content"):
        fingerprint([("s3://b/a", b"1"), ("s3://b/a", b"2")])
    with pytest.raises(TrainingError, match="no objects"):
        fingerprint([])


# -- fit ---------------------------------------------------------------------------------------------------
def test_fit_returns_the_fitted_pipeline_and_seconds(dataset: Any) -> None:
    pipeline, seconds = fit(make_config(), {"C": 1.0}, dataset)
    assert 0 < seconds < 30
    assert pipeline.predict_proba(dataset.head(5)).shape == (5, 2)
    regression = make_config("Ridge")
    model, _ = fit(regression, {}, dataset)
    assert model.predict(dataset.head(3)).shape == (3,)


def test_fit_refuses_unusable_labels(dataset: Any) -> None:
    with pytest.raises(TrainingError, match=r"training labels have a single class \(0, 50 rows\)"):
        fit(make_config(), {}, dataset[dataset["churned"] == 0].head(50))
    unlabelled = dataset.copy()
    unlabelled.loc[:2, "churned"] = None
    with pytest.raises(TrainingError, match="3 of 1200 rows have no churned label"):
        fit(make_config(), {}, unlabelled)
    with pytest.raises(TrainingError, match="missing column"):
        fit(make_config(), {}, dataset.drop(columns=["contract"]))


# -- SageMaker ----------------------------------------------------------------------------------------------
def request_for(config: Any, **kwargs: Any) -> dict[str, Any]:
    arguments = {
        "job_name": "customer-churn-2026-01-26",
        "train_uri": "s3://modelcare-demo/modelcare/customer_churn/training/r1/sagemaker/train/",
        "output_uri": "s3://modelcare-demo/modelcare/customer_churn/training/r1/sagemaker/output/",
        "code_uri": "s3://modelcare-demo/modelcare/customer_churn/training/r1/sagemaker/source.tar.gz",
        "params": {"n_estimators": 50},
        **kwargs,
    }
    return sagemaker_training_config(config, **arguments)


def test_sagemaker_request_is_valid_for_the_real_api_model() -> None:
    import boto3
    from botocore.stub import Stubber

    config = sagemaker_config(instance_type="ml.m5.xlarge", max_runtime_seconds=1800)
    request = request_for(config)
    client = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/customer-churn-2026-01-26"
    with Stubber(client) as stubber:
        stubber.add_response("create_training_job", {"TrainingJobArn": arn}, expected_params=request)
        assert client.create_training_job(**request)["TrainingJobArn"] == arn
        stubber.assert_no_pending_responses()

    assert request["AlgorithmSpecification"] == {"TrainingImage": IMAGE, "TrainingInputMode": "File"}
    assert request["RoleArn"] == ROLE
    channel = request["InputDataConfig"][0]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3DataType"] == "S3Prefix"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"].endswith("/sagemaker/train/")
    assert request["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}
    # values are JSON text, as the SageMaker SDK sends them and the container decodes them
    hps = {key: json.loads(value) for key, value in request["HyperParameters"].items()}
    assert hps["sagemaker_program"] == ENTRY_SCRIPT
    assert hps["sagemaker_submit_directory"].endswith("/source.tar.gz")
    assert hps["sagemaker_region"] == "us-east-1"
    assert hps[PARAMS_HYPERPARAMETER] == {"n_estimators": 50}
    assert ModelConfig.model_validate(hps[CONFIG_HYPERPARAMETER]).training == config.training
    assert all(isinstance(v, str) and len(v) <= 2500 for v in request["HyperParameters"].values())


@pytest.mark.parametrize(
    ("config_settings", "kwargs", "expected"),
    [
        ({"instance_count": 2}, {}, "scikit-learn trains on one instance"),
        ({}, {"job_name": "customer_churn_1"}, "must be 1-63 letters, digits and inner hyphens"),
        ({}, {"job_name": "x" * 64}, "must be 1-63"),
        ({}, {"train_uri": "/tmp/train"}, "train_uri must be an s3:// URI"),
        ({}, {"code_uri": "s3://b/code.zip"}, "must be a .tar.gz"),
        ({}, {"params": {"note": "x" * 2600}}, "modelcare_params is 2"),
    ],
)
def test_sagemaker_request_errors(config_settings: dict[str, Any], kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(TrainingError) as err:
        request_for(sagemaker_config(**config_settings), **kwargs)
    assert expected in str(err.value)


def test_sagemaker_request_needs_sagemaker_settings() -> None:
    with pytest.raises(TrainingError, match=r"training\.sagemaker is not configured"):
        request_for(make_config())


def test_source_tarball_is_deterministic_and_complete() -> None:
    first, second = build_source_tarball(), build_source_tarball()
    assert first == second
    assert gzip.decompress(first)  # a plain gzip stream
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        requirements = tar.extractfile("requirements.txt").read().decode()  # type: ignore[union-attr]
    assert {ENTRY_SCRIPT, "requirements.txt", "include/modelcare/ml/training.py", "include/__init__.py"} <= set(names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert {m.mtime for m in members} == {315532800} and {m.uid for m in members} == {0}
    assert "scikit-learn==" in requirements and "skops==" in requirements and "croniter==" in requirements
    assert not [n for n in names if n.startswith("include/modelcare/dev/")], "dev tools shipped to SageMaker"


def test_entry_script_trains_in_a_subprocess_like_the_container(tmp_path: Path, dataset: Any) -> None:
    """Unpack the source tarball as SageMaker does, run sagemaker_entry.py with SM_* variables, load the model."""
    import numpy as np

    from include.modelcare.ml.serialization import load_model

    config = sagemaker_config()
    params = {"n_estimators": 5}
    request = request_for(config, params=params)
    code, train_dir, model_dir = tmp_path / "code", tmp_path / "input" / "data" / "train", tmp_path / "model"
    code.mkdir()
    train_dir.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(build_source_tarball()), mode="r:gz") as tar:
        tar.extractall(code, filter="data")
    train, holdout = time_split(dataset, "_batch_day", ["2026-01-26"])
    train.to_parquet(train_dir / "part-000.parquet", index=False)
    (train_dir / "_SUCCESS").write_text("")  # markers are skipped
    # The container decodes each JSON hyperparameter and exports the user ones as SM_HPS.
    hps = {k: json.loads(v) for k, v in request["HyperParameters"].items() if not k.startswith("sagemaker_")}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(SM_CHANNEL_TRAIN=str(train_dir), SM_MODEL_DIR=str(model_dir), SM_HPS=json.dumps(hps))
    result = subprocess.run(
        [sys.executable, request["HyperParameters"]["sagemaker_program"].strip('"')],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]

    model = load_model((model_dir / "model.skops").read_bytes())
    summary = json.loads((model_dir / "training.json").read_text())
    assert summary["rows"] == len(train) and summary["params"] == params
    local, _ = fit(config, params, train)  # same pipeline, same seed: the same model
    assert np.array_equal(model.predict_proba(holdout), local.predict_proba(holdout))


def test_entry_script_fails_cleanly_without_data(tmp_path: Path) -> None:
    from include.modelcare.ml import sagemaker_entry

    os.environ.pop("SM_HPS", None)
    argv = ["--modelcare_config", json.dumps(json.loads(json.dumps(make_config().model_dump(mode="json"))))]
    old = {k: os.environ.get(k) for k in ("SM_CHANNEL_TRAIN", "SM_MODEL_DIR")}
    os.environ.update(SM_CHANNEL_TRAIN=str(tmp_path / "empty"), SM_MODEL_DIR=str(tmp_path / "model"))
    try:
        (tmp_path / "empty").mkdir()
        assert sagemaker_entry.main(argv) == 1
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert not (tmp_path / "model").exists()
