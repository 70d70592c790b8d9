"""Serving: ServedModel validation and predictions, the Lambda handler on the emulator, the SageMaker
hooks on an unpacked model tarball, and reproducible, self-contained deployment artifacts."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from include.modelcare.dev.simulate import generate_batch
from include.modelcare.errors import DeploymentError, UntrustedModelError
from include.modelcare.ml.serialization import dump_model, sha256_hex
from include.modelcare.ml.training import fit
from include.modelcare.serving import lambda_handler, sagemaker_inference
from include.modelcare.serving.model import FeatureSchema, InvalidRequest, ModelUnavailable, ServedModel
from include.modelcare.serving.package import (
    LAMBDA_HANDLER,
    build_lambda_zip,
    build_model_tarball,
    lambda_modules,
    module_closure,
    runtime_modules,
    sagemaker_modules,
)
from tests.house_rules import HEAVY_MODULES
from tests.unit.configs import make_config

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
# Must not be loaded by importing a serving entry point: the heavy house-rule list, and Airflow.
NOT_AT_IMPORT = (*HEAVY_MODULES, "airflow")


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    config = make_config()
    frame = generate_batch(300, seed=1)
    pipeline, _ = fit(config, {}, frame)
    data = dump_model(pipeline)
    features = config.data.features
    schema = FeatureSchema(config.name, "v0001", tuple(features.numerical), tuple(features.categorical))
    return {"config": config, "frame": frame, "pipeline": pipeline, "bytes": data, "schema": schema}


def _records(frame: pd.DataFrame, schema: FeatureSchema, rows: int = 20) -> list[dict[str, Any]]:
    return json.loads(frame[list(schema.columns)].head(rows).to_json(orient="records"))


def _served(trained: dict[str, Any], **kw: Any) -> ServedModel:
    return ServedModel.from_bytes(trained["bytes"], sha256=sha256_hex(trained["bytes"]), schema=trained["schema"], **kw)


def _meta(trained: dict[str, Any]) -> dict[str, Any]:
    return {**trained["schema"].to_dict(), "sha256": sha256_hex(trained["bytes"]), "max_rows": 500}


# -- ServedModel --------------------------------------------------------------------------------------
def test_predictions_match_the_pipeline(trained: dict[str, Any]) -> None:
    schema, frame, pipeline = trained["schema"], trained["frame"], trained["pipeline"]
    records = _records(frame, schema, 25)
    answer = _served(trained).predict(records)
    assert answer["model"] == "customer_churn" and answer["version"] == "v0001"
    assert len(answer["predictions"]) == len(answer["scores"]) == 25
    x = frame[list(schema.columns)].head(25)
    assert answer["predictions"] == pipeline.predict(x).tolist()
    assert answer["scores"] == pytest.approx(pipeline.predict_proba(x)[:, 1].tolist())
    json.dumps(answer)  # plain Python values only


def test_numeric_strings_and_nulls_are_accepted(trained: dict[str, Any]) -> None:
    schema = trained["schema"]
    record = _records(trained["frame"], schema, 1)[0]
    record[schema.numerical[0]] = str(record[schema.numerical[0]])
    record[schema.numerical[1]] = None  # imputed by the pipeline
    assert len(_served(trained).predict([record])["predictions"]) == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: [], "empty payload"),
        (lambda r: {"a": 1}, "empty payload"),
        (lambda r: [{k: v for k, v in r[0].items() if k not in ("age", "plan")}], "missing column(s): age, plan"),
        (lambda r: [{**r[0], "age": "old"}], "row 0 age='old' is not numeric"),
        (lambda r: [{**r[0], "tenure_months": True}], "tenure_months=True is not numeric"),
        (lambda r: [{**r[0], "plan": 3}], "plan=3 is not a string"),
        (lambda r: [1, 2], "records must be objects"),
        (lambda r: r * 3, "too many rows: 6 > 5"),
    ],
)
def test_invalid_requests_name_the_problem(trained: dict[str, Any], change: Any, expected: str) -> None:
    records = _records(trained["frame"], trained["schema"], 2)
    with pytest.raises(InvalidRequest) as caught:
        _served(trained, max_rows=5).predict(change(records))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_tampered_or_unchecked_bytes_are_refused(trained: dict[str, Any]) -> None:
    data = trained["bytes"]
    tampered = data[:-10] + bytes(10)
    with pytest.raises(UntrustedModelError, match="does not match"):
        ServedModel.from_bytes(tampered, sha256=sha256_hex(data), schema=trained["schema"])
    with pytest.raises(ModelUnavailable, match="no sha256"):
        ServedModel.from_bytes(data, sha256="", schema=trained["schema"])


# -- Lambda -------------------------------------------------------------------------------------------
@pytest.fixture
def lambda_env(
    trained: dict[str, Any], fresh_bucket: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    s3_client.put_object(Bucket=fresh_bucket, Key="models/v0001/model.skops", Body=trained["bytes"])
    schema: FeatureSchema = trained["schema"]
    monkeypatch.setenv("MODELCARE_MODEL_URI", f"s3://{fresh_bucket}/models/v0001/model.skops")
    monkeypatch.setenv("MODELCARE_MODEL_SHA256", sha256_hex(trained["bytes"]))
    monkeypatch.setenv("MODELCARE_MODEL_VERSION", "v0001")
    monkeypatch.setenv("MODELCARE_MODEL_NAME", schema.model)
    monkeypatch.setenv("MODELCARE_FEATURES", json.dumps(schema.to_dict()["features"]))
    lambda_handler.reset_cache()
    yield {"bucket": fresh_bucket, "s3": s3_client}
    lambda_handler.reset_cache()


def test_lambda_handler_end_to_end(trained: dict[str, Any], lambda_env: dict[str, Any]) -> None:
    records = _records(trained["frame"], trained["schema"], 10)
    first = lambda_handler.handler({"instances": records}, None)
    assert first["statusCode"] == 200, first
    body = json.loads(first["body"])
    assert body["version"] == "v0001" and body["model"] == "customer_churn"
    assert (
        body["predictions"]
        == trained["pipeline"].predict(trained["frame"][list(trained["schema"].columns)].head(10)).tolist()
    )
    assert json.loads(lambda_handler.handler(records, None)["body"]) == body  # a bare list
    proxied = lambda_handler.handler({"body": json.dumps({"instances": records})}, None)  # API Gateway
    assert json.loads(proxied["body"]) == body

    bad = lambda_handler.handler({"instances": [{"age": 3}]}, None)
    assert bad["statusCode"] == 400 and "missing column(s): tenure_months" in json.loads(bad["body"])["error"]
    assert lambda_handler.handler({"instances": []}, None)["statusCode"] == 400
    assert lambda_handler.handler({"rows": records}, None)["statusCode"] == 400
    assert lambda_handler.CACHE.loads == 1  # loaded once per container


def test_lambda_handler_refuses_tampered_and_missing_models(
    trained: dict[str, Any], lambda_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(trained["frame"], trained["schema"], 2)
    lambda_env["s3"].put_object(
        Bucket=lambda_env["bucket"], Key="models/v0001/model.skops", Body=trained["bytes"] + b"x"
    )
    tampered = lambda_handler.handler({"instances": records}, None)
    assert tampered["statusCode"] == 500
    assert "model file refused" in json.loads(tampered["body"])["error"]
    assert "sha256" in json.loads(tampered["body"])["error"]

    monkeypatch.setenv("MODELCARE_MODEL_URI", f"s3://{lambda_env['bucket']}/models/v0009/model.skops")
    missing = lambda_handler.handler({"instances": records}, None)
    assert missing["statusCode"] == 500
    assert "cannot read model file" in json.loads(missing["body"])["error"]

    monkeypatch.delenv("MODELCARE_MODEL_SHA256")
    unset = lambda_handler.handler({"instances": records}, None)
    assert unset["statusCode"] == 500 and "MODELCARE_MODEL_SHA256" in json.loads(unset["body"])["error"]
    assert lambda_handler.CACHE.loads == 0


# -- SageMaker ----------------------------------------------------------------------------------------
@pytest.fixture
def model_dir(trained: dict[str, Any], tmp_path: Path) -> Path:
    tarball = build_model_tarball(trained["bytes"], _meta(trained))
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path


def test_sagemaker_hooks_json_and_csv(trained: dict[str, Any], model_dir: Path) -> None:
    schema, frame = trained["schema"], trained["frame"]
    model = sagemaker_inference.model_fn(str(model_dir))
    assert model.max_rows == 500
    x = frame[list(schema.columns)].head(8)
    expected = trained["pipeline"].predict(x).tolist()

    body = json.dumps({"instances": _records(frame, schema, 8)}).encode()
    records = sagemaker_inference.read_input(body, "application/json")
    out, content_type = sagemaker_inference.write_output(
        sagemaker_inference.predict(records, model), "application/json"
    )
    assert content_type == "application/json" and json.loads(out)["predictions"] == expected

    csv_body = x.to_csv(index=False)
    records = sagemaker_inference.read_input(csv_body, "text/csv; charset=utf-8")
    answer = json.loads(sagemaker_inference.write_output(sagemaker_inference.predict(records, model), "*/*")[0])
    assert answer["predictions"] == expected
    assert answer["scores"] == pytest.approx(trained["pipeline"].predict_proba(x)[:, 1].tolist())

    with pytest.raises(InvalidRequest, match="header row"):
        sagemaker_inference.read_input(x.to_csv(index=False, header=False), "text/csv")
    with pytest.raises(InvalidRequest, match="unsupported content type"):
        sagemaker_inference.read_input(b"x", "application/x-parquet")
    with pytest.raises(InvalidRequest, match="missing column"):
        sagemaker_inference.predict(sagemaker_inference.read_input("age\n3\n", "text/csv"), model)


def test_sagemaker_model_fn_refuses_a_tampered_model(model_dir: Path) -> None:
    path = model_dir / "model.skops"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(UntrustedModelError, match="does not match"):
        sagemaker_inference.model_fn(str(model_dir))


def _import_alone(directory: Path, entry: str, then: str = "", *args: str) -> dict[str, Any]:
    """Import ``entry`` in a fresh interpreter whose only modelcare code is ``directory``.

    ``-I -S``: no environment variables, no user site and no ``.pth`` files (the editable install of
    this repo is a ``.pth`` finder), so the packaged files are all there is; site-packages is added by
    hand for the third-party libraries the runtime brings. ``then`` runs after the checks.
    """
    import site

    script = (
        "import importlib, json, sys\n"
        "root, entry, forbidden, *site_dirs = sys.argv[1:5] + [a for a in sys.argv[5:] if a != '--']\n"
        "sys.path[:0] = [root]\n"
        "sys.path.extend(site_dirs)\n"
        "module = importlib.import_module(entry)\n"
        "ours = {n: getattr(m, '__file__', None) or '' for n, m in sys.modules.items()"
        " if n == 'include' or n.startswith('include.')}\n"
        "report = {'file': module.__file__, 'loaded': sorted(m for m in json.loads(forbidden) if m in sys.modules),"
        " 'outside': sorted(n for n, f in ours.items() if not f.startswith(root)), 'modules': sorted(ours)}\n"
        f"{then}\n"
        "print('REPORT=' + json.dumps(report))\n"
    )
    argv = [str(directory), entry, json.dumps(NOT_AT_IMPORT), *site.getsitepackages(), "--", *args]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, *argv], cwd=directory, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("REPORT="))[7:])
    assert report["file"].startswith(str(directory)), report["file"]
    assert report["outside"] == [], f"imported from outside the package: {report['outside']}"
    assert report["loaded"] == [], f"importing {entry} loaded {report['loaded']}"
    return report


def test_tarball_code_is_self_contained(model_dir: Path) -> None:
    """The container imports code/inference.py with only code/ (and site-packages) on its path."""
    then = "m = module.model_fn(sys.argv[-1])\nassert m.max_rows == 500"
    report = _import_alone(model_dir / "code", "inference", then, str(model_dir))
    assert "include.modelcare.serving.model" in report["modules"]


def test_lambda_zip_imports_on_its_own(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(build_lambda_zip())) as zipped:
        zipped.extractall(tmp_path)
    module, _, function = LAMBDA_HANDLER.rpartition(".")
    report = _import_alone(tmp_path, module, f"assert callable(module.{function})")
    shipped = {path.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for path in lambda_modules()}
    assert set(report["modules"]) == shipped  # every packaged module is needed, nothing else is loaded


# -- packaging ----------------------------------------------------------------------------------------
def test_artifacts_are_reproducible(trained: dict[str, Any]) -> None:
    meta = _meta(trained)
    tarball = build_model_tarball(trained["bytes"], meta)
    assert tarball == build_model_tarball(trained["bytes"], dict(reversed(meta.items())))
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        names = tar.getnames()
    assert {"model.skops", "serving.json", "code/inference.py", "code/requirements.txt"} <= set(names)
    assert "code/include/modelcare/ml/serialization.py" in names
    with pytest.raises(UntrustedModelError):
        build_model_tarball(trained["bytes"] + b"x", meta)

    archive = build_lambda_zip()
    assert archive == build_lambda_zip()
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert sorted(zipped.namelist()) == sorted(lambda_modules())


def test_packages_hold_the_import_closure_of_their_entry_points() -> None:
    runtime = set(runtime_modules())
    assert "include/modelcare/serving/model.py" in runtime and "include/__init__.py" in runtime
    assert set(lambda_modules()) == runtime | {"include/modelcare/serving/lambda_handler.py"}
    assert set(sagemaker_modules()) == runtime  # the hooks themselves ship as code/inference.py
    assert LAMBDA_HANDLER == "include.modelcare.serving.lambda_handler.handler"


def test_importing_the_package_builder_stays_light() -> None:
    """Deploy tasks import LAMBDA_HANDLER at run time: the entry points it names must not load heavy modules."""
    script = (
        "import json, sys\n"
        "import include.modelcare.serving.package\n"
        "print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(NOT_AT_IMPORT)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in {"include/__init__.py": "", "include/modelcare/__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_closure_follows_nested_relative_and_submodule_imports(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "include/modelcare/errors.py": "import json\n",
            "include/modelcare/ml/__init__.py": "",
            "include/modelcare/ml/serialization.py": "",
            "include/modelcare/ml/training.py": "import sklearn\n",
            "include/modelcare/serving/__init__.py": "",
            "include/modelcare/serving/helper.py": "from ..ml import serialization\n",
            "include/modelcare/serving/entry.py": (
                "from typing import TYPE_CHECKING\n"
                "from . import helper\n"
                "if TYPE_CHECKING:  # never runs: not shipped\n"
                "    from include.modelcare.ml import training\n"
                "def f() -> None:\n"
                "    import include.modelcare.errors\n"
            ),
        },
    )
    assert module_closure("include.modelcare.serving.entry", tmp_path) == (
        "include/__init__.py",
        "include/modelcare/__init__.py",
        "include/modelcare/errors.py",
        "include/modelcare/ml/__init__.py",
        "include/modelcare/ml/serialization.py",
        "include/modelcare/serving/__init__.py",
        "include/modelcare/serving/entry.py",
        "include/modelcare/serving/helper.py",
    )


@pytest.mark.parametrize(
    ("source", "shipped"),
    [
        ("def f() -> None:\n    from include.modelcare.ml.training import fit\n", "include/modelcare/ml/training.py"),
        ("import include.modelcare.quality.validation\n", "include/modelcare/quality/validation.py"),
    ],
)
def test_closure_refuses_code_that_must_not_ship(tmp_path: Path, source: str, shipped: str) -> None:
    _tree(
        tmp_path,
        {
            "include/modelcare/ml/__init__.py": "",
            "include/modelcare/ml/training.py": "import sklearn\n",
            "include/modelcare/quality/__init__.py": "",
            "include/modelcare/quality/validation.py": "import great_expectations\n",
            "include/modelcare/serving/__init__.py": "",
            "include/modelcare/serving/entry.py": source,
        },
    )
    with pytest.raises(DeploymentError, match=f"would ship {shipped} .*<- include.modelcare.serving.entry"):
        module_closure("include.modelcare.serving.entry", tmp_path)
    with pytest.raises(DeploymentError, match="no file"):
        module_closure("include.modelcare.serving.missing", tmp_path)


# -- decision threshold ---------------------------------------------------------------------------------
def _with_threshold(trained: dict[str, Any], threshold: float) -> FeatureSchema:
    return FeatureSchema.from_dict({**trained["schema"].to_dict(), "threshold": threshold})


def test_served_model_applies_the_versions_threshold(trained: dict[str, Any]) -> None:
    frame, pipeline = trained["frame"], trained["pipeline"]
    records = _records(frame, trained["schema"], 60)
    plain = _served(trained).predict(records)
    assert plain["threshold"] is None  # no threshold stored: the estimator's predict (0.5)
    low = ServedModel(pipeline, _with_threshold(trained, 0.2)).predict(records)
    scores = pipeline.predict_proba(frame[list(trained["schema"].columns)].head(60))[:, 1]
    assert low["threshold"] == 0.2 and low["scores"] == plain["scores"]  # scores never depend on it
    assert low["predictions"] == [int(s >= 0.2) for s in scores]
    assert sum(low["predictions"]) > sum(plain["predictions"])  # more churners flagged below 0.5
    json.dumps(low)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.3", True])
def test_a_bad_threshold_is_refused_at_load(trained: dict[str, Any], bad: Any) -> None:
    with pytest.raises(ModelUnavailable, match="threshold must be a number between 0 and 1"):
        FeatureSchema.from_dict({**trained["schema"].to_dict(), "threshold": bad})


def test_threshold_travels_in_serving_json_and_the_lambda_features(
    trained: dict[str, Any], tmp_path: Path, lambda_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = _with_threshold(trained, 0.25)
    assert schema.to_dict()["threshold"] == 0.25 and FeatureSchema.from_dict(schema.to_dict()) == schema
    meta = {**schema.to_dict(), "sha256": sha256_hex(trained["bytes"])}
    with tarfile.open(fileobj=io.BytesIO(build_model_tarball(trained["bytes"], meta)), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    records = _records(trained["frame"], schema, 30)
    endpoint = sagemaker_inference.predict(records, sagemaker_inference.model_fn(str(tmp_path)))
    assert endpoint["threshold"] == 0.25

    monkeypatch.setenv("MODELCARE_FEATURES", json.dumps({**schema.to_dict()["features"], "threshold": 0.25}))
    lambda_handler.reset_cache()
    body = json.loads(lambda_handler.handler({"instances": records}, None)["body"])
    assert body["threshold"] == 0.25 and body["predictions"] == endpoint["predictions"]


def test_the_lambda_environment_carries_the_threshold_only_when_there_is_one() -> None:
    from include.modelcare.deploy import requests as rq

    kwargs: dict[str, Any] = {
        "model": "m",
        "version_id": "v0002",
        "model_uri": "s3://b/k",
        "sha256": "0" * 64,
        "features": {"numerical": ["age"], "categorical": []},
        "max_rows": 10,
    }
    plain = json.loads(rq.lambda_environment({}, **kwargs)[rq.ENV_FEATURES])
    assert plain == {"numerical": ["age"], "categorical": []}  # unchanged for versions without a threshold
    raw = json.loads(rq.lambda_environment({}, **kwargs, threshold=0.3)[rq.ENV_FEATURES])
    assert FeatureSchema.from_dict(raw).threshold == 0.3


# -- calibration ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def calibrated(trained: dict[str, Any]) -> dict[str, Any]:
    """The trained model's calibrator, fitted on rows it never saw, and a schema serving it at threshold 0.3."""
    from include.modelcare.ml.calibration import fit_calibrator
    from include.modelcare.ml.evaluation import positive_scores
    from include.modelcare.ml.training import features_and_target

    config, pipeline = trained["config"], trained["pipeline"]
    x, y = features_and_target(config, generate_batch(600, seed=2, id_offset=300))
    calibrator = fit_calibrator(positive_scores(pipeline, x), (y == pipeline.classes_[1]).to_numpy())
    schema = FeatureSchema.from_dict(
        {**trained["schema"].to_dict(), "threshold": calibrator.threshold(0.3), "calibration": calibrator.knots()}
    )
    return {"calibrator": calibrator, "schema": schema}


def test_served_scores_are_calibrated_and_decide_at_the_calibrated_threshold(
    trained: dict[str, Any], calibrated: dict[str, Any]
) -> None:
    import numpy as np

    calibrator, schema = calibrated["calibrator"], calibrated["schema"]
    assert schema.calibration is not None and schema.calibration.x == calibrator.x
    frame, pipeline = trained["frame"], trained["pipeline"]
    records = _records(frame, schema, 80)
    answer = ServedModel(pipeline, schema).predict(records)
    raw = pipeline.predict_proba(frame[list(schema.columns)].head(80))[:, 1]
    expected = calibrator.apply(raw)
    assert answer["calibrated"] is True and answer["threshold"] == schema.threshold == calibrator.threshold(0.3)
    assert answer["scores"] == pytest.approx(expected.tolist(), abs=0)
    assert answer["predictions"] == (expected >= schema.threshold).astype(int).tolist()
    assert np.all(np.asarray(answer["predictions"])[raw >= 0.3] == 1)  # every raw positive stays positive
    json.dumps(answer)
    # a calibrator without a threshold decides at predict's 0.5 carried over, not at 0.5 of calibrated scores
    plain = FeatureSchema.from_dict({**trained["schema"].to_dict(), "calibration": calibrator.knots()})
    assert ServedModel(pipeline, plain).predict(records)["threshold"] == calibrator.threshold(None)
    uncalibrated = _served(trained).predict(records)
    assert uncalibrated["calibrated"] is False and uncalibrated["scores"] == pytest.approx(raw.tolist())


def test_the_served_predictor_is_the_one_evaluation_scores(trained: dict[str, Any], calibrated: dict[str, Any]) -> None:
    from include.modelcare.ml.evaluation import evaluate, positive_scores
    from include.modelcare.ml.training import features_and_target

    config, pipeline, schema = trained["config"], trained["pipeline"], calibrated["schema"]
    holdout = generate_batch(200, seed=9, id_offset=5000)
    answer = ServedModel(pipeline, schema).predict(_records(holdout, schema, 200))
    x, y = features_and_target(config, holdout)
    assert answer["scores"] == pytest.approx(positive_scores(pipeline, x, calibrated["calibrator"]).tolist(), abs=0)
    served = evaluate(pipeline, holdout, config, threshold=schema.threshold, calibrator=calibrated["calibrator"])
    accuracy = sum(int(p == t) for p, t in zip(answer["predictions"], y.tolist(), strict=True)) / len(y)
    assert served["accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize(
    ("knots", "message"),
    [
        ("isotonic", "expected an object with x and y, got str"),
        ({"x": [0.1, 0.5], "y": [0.7, 0.2]}, "y must be non-decreasing"),
        ({"x": [0.1, 0.5], "y": [0.2]}, "same length"),
        ({"x": [0.1, 0.5], "y": [0.2, 1.7]}, r"y must lie in \[0, 1\]"),
        ({"method": "sigmoid", "x": [0.1], "y": [0.2]}, "unknown method 'sigmoid'"),
    ],
)
def test_bad_calibration_knots_are_refused_at_load(trained: dict[str, Any], knots: Any, message: str) -> None:
    with pytest.raises(ModelUnavailable, match=f"^feature schema: calibration refused: calibrator: .*{message}"):
        FeatureSchema.from_dict({**trained["schema"].to_dict(), "calibration": knots})


def test_calibration_travels_in_serving_json_and_the_lambda_features(
    trained: dict[str, Any],
    calibrated: dict[str, Any],
    tmp_path: Path,
    lambda_env: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from include.modelcare.deploy import requests as rq

    schema = calibrated["schema"]
    assert FeatureSchema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema
    meta = {**schema.to_dict(), "sha256": sha256_hex(trained["bytes"])}
    with tarfile.open(fileobj=io.BytesIO(build_model_tarball(trained["bytes"], meta)), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    assert json.loads((tmp_path / "serving.json").read_text())["calibration"] == calibrated["calibrator"].knots()
    records = _records(trained["frame"], schema, 40)
    endpoint = sagemaker_inference.predict(records, sagemaker_inference.model_fn(str(tmp_path)))
    assert endpoint["calibrated"] is True and endpoint["threshold"] == schema.threshold

    env = rq.lambda_environment(
        {},
        model=schema.model,
        version_id="v0001",
        model_uri="s3://unused/model.skops",
        sha256=sha256_hex(trained["bytes"]),
        features=schema.to_dict()["features"],
        max_rows=100,
        threshold=schema.threshold,
        calibration=calibrated["calibrator"].knots(),
    )
    monkeypatch.setenv(rq.ENV_FEATURES, env[rq.ENV_FEATURES])
    lambda_handler.reset_cache()
    body = json.loads(lambda_handler.handler({"instances": records}, None)["body"])
    assert body["scores"] == endpoint["scores"] and body["predictions"] == endpoint["predictions"]

    broken = {**json.loads(env[rq.ENV_FEATURES]), "calibration": {"x": [0.2, 0.1], "y": [0.1, 0.2]}}
    monkeypatch.setenv(rq.ENV_FEATURES, json.dumps(broken))
    lambda_handler.reset_cache()
    refused = lambda_handler.handler({"instances": records}, None)
    assert refused["statusCode"] == 500
    assert "calibration refused: calibrator: x must be non-decreasing" in json.loads(refused["body"])["error"]


def test_the_calibrator_ships_in_both_packages_and_nothing_more() -> None:
    runtime = set(runtime_modules())
    assert "include/modelcare/ml/calibration.py" in runtime
    assert {p for p in runtime if p.startswith("include/modelcare/ml/") and not p.endswith("__init__.py")} == {
        "include/modelcare/ml/calibration.py",
        "include/modelcare/ml/serialization.py",
    }
