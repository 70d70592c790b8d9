"""The version's calibrator reaches both targets: the plan carries it, SageMaker's ``serving.json`` and the
Lambda environment hold it exactly as registered, and the Lambda environment stays within AWS's 4 KB."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from include.modelcare.deploy import requests as rq
from include.modelcare.deploy.plan import DeploymentPlan
from include.modelcare.deploy.targets.lambda_alias import LambdaAlias
from include.modelcare.deploy.targets.sagemaker import EndpointSettings, SageMakerEndpoint
from include.modelcare.errors import DeploymentError
from include.modelcare.ml.calibration import MAX_KNOTS, Calibrator, fit_calibrator
from include.modelcare.serving.model import FeatureSchema
from tests.unit.configs import make_config
from tests.unit.deploy.plans import make_plan

pytestmark = pytest.mark.unit

DEPLOY: dict[str, Any] = {
    "target": "sagemaker",
    "sagemaker": {"image_uri": "img", "role_arn": "arn:aws:iam::1:role/r"},
    "lambda": {"function_name": "churn-fn", "alias": "live"},
}


@pytest.fixture(scope="module")
def largest() -> Calibrator:
    """A calibrator at the knot cap, as a large holdout fits it (60,000 rows of noisy, ranked scores)."""
    import numpy as np

    rng = np.random.default_rng(7)
    p = rng.beta(1.0, 4.0, 60_000)
    calibrator = fit_calibrator(np.sqrt(p), rng.random(p.size) < p)
    assert len(calibrator.x) == MAX_KNOTS
    return calibrator


def _env(calibration: dict[str, Any] | None, features: dict[str, list[str]]) -> dict[str, str]:
    return rq.lambda_environment(
        {},
        model="customer_churn",
        version_id="v0002",
        model_uri="s3://modelcare-data-bucket-name/models/customer_churn/registry/versions/v0002/model.skops",
        sha256="ab" * 32,
        features=features,
        max_rows=1000,
        threshold=0.2134567,
        calibration=calibration,
    )


def test_an_old_plan_without_calibration_still_reads() -> None:
    plan = make_plan(make_config(deploy=DEPLOY))
    assert plan.calibration is None
    stored = plan.as_json()
    stored.pop("calibration")  # plan.json of a run made before calibration existed
    assert DeploymentPlan.model_validate(stored) == plan


def test_the_largest_calibrator_fits_the_lambda_environment(largest: Calibrator) -> None:
    config = make_config(deploy=DEPLOY)
    features = {"numerical": config.data.features.numerical, "categorical": config.data.features.categorical}
    env = _env(largest.knots(), features)
    served = json.loads(env[rq.ENV_FEATURES])
    assert Calibrator.from_dict(served["calibration"]).x == largest.x  # exactly as registered, not thinned
    size = rq.lambda_environment_size(env)
    # Measured: ~2.5 KB with the sample's 9 features; room for about 70 more feature names of 20 characters.
    assert 2000 < size < 3000, size
    # A model with many long feature names and the largest calibrator is refused before AWS would refuse it.
    many = {"numerical": [f"a_rather_long_feature_name_{i:03d}" for i in range(60)], "categorical": []}
    with pytest.raises(DeploymentError, match=r"Lambda environment would be [\d,]+ bytes, over Lambda's 4,096"):
        _env(largest.knots(), many)
    assert rq.lambda_environment_size(_env(None, many)) < rq.LAMBDA_ENV_LIMIT  # the knots tipped it over


def test_both_targets_serve_the_plans_calibration(largest: Calibrator, tmp_path: Path) -> None:
    from include.modelcare.dev.simulate import generate_batch
    from include.modelcare.ml.serialization import dump_model, sha256_hex
    from include.modelcare.ml.training import fit
    from include.modelcare.storage.objects import ObjectStore

    config = make_config(deploy=DEPLOY)
    pipeline, _ = fit(config, {}, generate_batch(200, seed=1))
    model_bytes = dump_model(pipeline)
    knots = largest.knots()
    plan = make_plan(
        config,
        model_sha256=sha256_hex(model_bytes),
        threshold=largest.threshold(0.3),
        calibration=knots,
        package_uri=str(tmp_path / "model.tar.gz"),
    )
    registry = MagicMock()
    registry.load_model_bytes.return_value = model_bytes
    SageMakerEndpoint(plan.settings(EndpointSettings), MagicMock()).prepare(plan, registry, ObjectStore())
    with tarfile.open(tmp_path / "model.tar.gz", mode="r:gz") as tar:
        member = tar.extractfile("serving.json")
        assert member is not None
        meta = json.load(io.BytesIO(member.read()))
    assert meta["calibration"] == knots and meta["threshold"] == plan.threshold
    assert FeatureSchema.from_dict(meta).calibration == Calibrator.from_dict(knots)

    lambda_plan = make_plan(config, target="lambda", threshold=plan.threshold, calibration=knots)
    env = LambdaAlias.from_config(config, MagicMock()).model_environment(lambda_plan)
    schema = FeatureSchema.from_dict(json.loads(env[rq.ENV_FEATURES]), version="v0002")
    assert schema.calibration == FeatureSchema.from_dict(meta).calibration and schema.threshold == plan.threshold
    assert "calibration" not in json.loads(_env(None, plan.features)[rq.ENV_FEATURES])  # old versions: unchanged
