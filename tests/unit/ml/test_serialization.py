"""skops model files: every allowlisted estimator round-trips; anything outside TRUSTED_TYPES is refused unloaded."""

from __future__ import annotations

import importlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.dev.simulate import Scenario, generate_batch
from include.modelcare.errors import ModelFileError, UntrustedModelError
from include.modelcare.ml.estimators import ESTIMATORS
from include.modelcare.ml.serialization import (
    TRUSTED_TYPES,
    dump_model,
    load_model,
    model_types,
    sha256_hex,
    untrusted_types,
)
from include.modelcare.ml.training import build_pipeline
from tests.unit.configs import make_config

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"
SMALL = {"n_estimators": 5, "max_iter": 5}  # few trees / iterations: the tests stay fast
TRIPWIRE = {"constructed": False}


def small_params(estimator: str) -> dict[str, Any]:
    """Few trees or boosting iterations (LogisticRegression keeps its default max_iter)."""
    if estimator.startswith("HistGradientBoosting"):
        return {"max_iter": SMALL["max_iter"]}
    if "Forest" in estimator or estimator.startswith("GradientBoosting"):
        return {"n_estimators": SMALL["n_estimators"]}
    return {}


@pytest.fixture(scope="module")
def frame() -> Any:
    # a few nulls in a numeric and a categorical feature, as real batches have
    return generate_batch(400, seed=3, scenario=Scenario(null_fraction=0.02, null_columns=("age", "contract")))


@pytest.fixture(scope="module")
def fitted(frame: Any) -> dict[str, tuple[ModelConfig, Any]]:
    models = {}
    for name in ESTIMATORS:
        config = make_config(name, small_params(name))
        pipeline = build_pipeline(config, config.training.params)
        pipeline.fit(frame[config.data.features.all], frame[config.data.target])
        models[name] = (config, pipeline)
    return models


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_allowlisted_estimator_round_trips_with_identical_predictions(
    name: str, fitted: dict[str, tuple[ModelConfig, Any]], frame: Any
) -> None:
    import numpy as np

    config, pipeline = fitted[name]
    data = dump_model(pipeline)
    assert untrusted_types(data) == []
    loaded = load_model(data, sha256=sha256_hex(data))
    x = frame[config.data.features.all]
    assert np.array_equal(loaded.predict(x), pipeline.predict(x))
    if config.task == "classification":
        assert np.array_equal(loaded.predict_proba(x), pipeline.predict_proba(x))


def test_trusted_types_cover_what_skops_distrusts_and_nothing_unused(
    fitted: dict[str, tuple[ModelConfig, Any]],
) -> None:
    """Re-derives the allowlist: skops' get_untrusted_types of every dump is inside it (an upgrade shows here)."""
    import skops.io

    seen: set[str] = set()
    for _, pipeline in fitted.values():
        data = dump_model(pipeline)
        assert set(skops.io.get_untrusted_types(data=data)) <= set(TRUSTED_TYPES)
        seen |= model_types(data)
    assert seen <= set(TRUSTED_TYPES)
    # The default pipelines use most of the list; the rest are other losses/links (see the comment in serialization).
    assert {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "numpy.dtype",
    } <= seen


def test_every_trusted_type_still_exists() -> None:
    """A renamed private sklearn class would make the allowlist stale: each name must resolve."""
    assert len(TRUSTED_TYPES) == len(set(TRUSTED_TYPES))
    for name in TRUSTED_TYPES:
        module, attr = name.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), attr), name


def test_other_loss_types_are_trusted(frame: Any) -> None:
    config = make_config("GradientBoostingRegressor", {"n_estimators": 3, "loss": "huber"})
    pipeline = build_pipeline(config, config.training.params).fit(frame, frame["monthly_charges"])
    assert "sklearn._loss.loss.HuberLoss" in model_types(dump_model(pipeline))
    load_model(dump_model(pipeline))


def test_os_system_in_a_model_file_is_refused() -> None:
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    data = skops.io.dumps(FunctionTransformer(func=os.system))
    with pytest.raises(UntrustedModelError, match=r"posix\.system") as err:
        load_model(data)
    assert "FunctionTransformer" in str(err.value)
    assert "\n" not in str(err.value)


class Tripwire:
    """A custom class whose state restoration would run code."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        TRIPWIRE["constructed"] = True
        self.__dict__.update(state)


def test_custom_class_is_refused_before_anything_is_built() -> None:
    import skops.io

    data = skops.io.dumps({"model": Tripwire()})
    with pytest.raises(UntrustedModelError, match=r"test_serialization\.Tripwire"):
        load_model(data)
    assert TRIPWIRE["constructed"] is False


def test_a_type_skops_trusts_by_default_is_still_outside_our_allowlist() -> None:
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    x = np.arange(40, dtype=float).reshape(20, 2)
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(x, [0, 1] * 10)
    data = skops.io.dumps(model)
    assert skops.io.get_untrusted_types(data=data) == []  # skops alone would load it
    with pytest.raises(UntrustedModelError, match="FunctionTransformer"):
        load_model(data)


def test_tampered_schema_is_refused(fitted: dict[str, tuple[ModelConfig, Any]]) -> None:
    """A legitimate file whose schema was edited to name posix.system instead of a scaler."""
    data = dump_model(fitted["LogisticRegression"][1])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    schema = files["schema.json"].decode()
    assert '"StandardScaler"' in schema
    files["schema.json"] = (
        schema.replace('"StandardScaler"', '"system"').replace('"sklearn.preprocessing._data"', '"posix"').encode()
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    with pytest.raises(UntrustedModelError, match=r"posix\.system"):
        load_model(out.getvalue())


def test_checksum_mismatch_and_garbage_are_refused(fitted: dict[str, tuple[ModelConfig, Any]]) -> None:
    data = dump_model(fitted["Ridge"][1])
    with pytest.raises(UntrustedModelError, match="does not match"):
        load_model(data, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="not a skops model file"):
        load_model(b"\x80\x04pickle-ish bytes")
    with pytest.raises(ModelFileError, match="not a skops model file"):
        load_model(_zip_without_schema())


def _zip_without_schema() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("other.json", json.dumps({}))
    return out.getvalue()


def test_dump_refuses_what_could_not_be_loaded_back() -> None:
    from sklearn.preprocessing import FunctionTransformer

    with pytest.raises(UntrustedModelError, match="would not load back"):
        dump_model(FunctionTransformer(func=os.system))


def test_hist_gradient_boosting_with_a_scorer_cannot_be_saved(frame: Any) -> None:
    """skops 0.16 recurses forever on the fitted scorer; dump_model turns that into one clear error."""
    config = make_config("HistGradientBoostingClassifier")
    params = {"max_iter": 3, "early_stopping": True, "scoring": "roc_auc"}
    pipeline = build_pipeline(config, params).fit(frame, frame["churned"])
    with pytest.raises(ModelFileError, match="cannot save Pipeline with skops"):
        dump_model(pipeline)
