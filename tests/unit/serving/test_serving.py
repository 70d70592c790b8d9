"""Serving: ServedModel validation and predictions, the Lambda handler on the emulator, the SageMaker
hooks on an unpacked model tarball, and reproducible deployment artifacts."""

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
from include.modelcare.errors import UntrustedModelError
from include.modelcare.ml.serialization import dump_model, sha256_hex
from include.modelcare.ml.training import fit
from include.modelcare.serving import lambda_handler, sagemaker_inference
from include.modelcare.serving.model import FeatureSchema, InvalidRequest, ModelUnavailable, ServedModel
from include.modelcare.serving.package import LAMBDA_MODULES, build_lambda_zip, build_model_tarball
from tests.unit.configs import make_config

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


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
    records = sagemaker_inference.input_fn(body, "application/json")
    out, content_type = sagemaker_inference.output_fn(
        sagemaker_inference.predict_fn(records, model), "application/json"
    )
    assert content_type == "application/json" and json.loads(out)["predictions"] == expected

    csv_body = x.to_csv(index=False)
    records = sagemaker_inference.input_fn(csv_body, "text/csv; charset=utf-8")
    answer = json.loads(sagemaker_inference.output_fn(sagemaker_inference.predict_fn(records, model), "*/*")[0])
    assert answer["predictions"] == expected
    assert answer["scores"] == pytest.approx(trained["pipeline"].predict_proba(x)[:, 1].tolist())

    with pytest.raises(InvalidRequest, match="header row"):
        sagemaker_inference.input_fn(x.to_csv(index=False, header=False), "text/csv")
    with pytest.raises(InvalidRequest, match="unsupported content type"):
        sagemaker_inference.input_fn(b"x", "application/x-parquet")
    with pytest.raises(InvalidRequest, match="missing column"):
        sagemaker_inference.predict_fn(sagemaker_inference.input_fn("age\n3\n", "text/csv"), model)


def test_sagemaker_model_fn_refuses_a_tampered_model(model_dir: Path) -> None:
    path = model_dir / "model.skops"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(UntrustedModelError, match="does not match"):
        sagemaker_inference.model_fn(str(model_dir))


def test_tarball_code_is_self_contained(model_dir: Path) -> None:
    """The container imports code/inference.py with only code/ (and site-packages) on its path."""
    script = (
        "import json, sys, inference, include\n"
        "assert include.__file__.startswith(sys.argv[1]), include.__file__\n"
        "m = inference.model_fn(sys.argv[2])\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.startswith('include'))))\n"
    )
    code = model_dir / "code"
    done = subprocess.run(
        [sys.executable, "-c", script, str(code), str(model_dir)], cwd=code, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "include.modelcare.serving.model" in done.stdout


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
        assert sorted(zipped.namelist()) == sorted(LAMBDA_MODULES)


def test_lambda_zip_imports_on_its_own(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(build_lambda_zip())) as zipped:
        zipped.extractall(tmp_path)
    script = "import include.modelcare.serving.lambda_handler as h, sys; assert h.__file__.startswith(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
