"""skops model files: every allowlisted estimator round-trips; anything outside TRUSTED_TYPES is refused unloaded."""

from __future__ import annotations

import importlib
import io
import json
import os
import re
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


def _replace_member(data: bytes, replace: dict[str, bytes], add: dict[str, bytes] | None = None) -> bytes:
    """The skops zip ``data`` with some members' bytes replaced (and others added), deflated as skops writes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            archive.writestr(name, replace.get(name, source.read(name)))
        for name, content in (add or {}).items():
            archive.writestr(name, content)
    return out.getvalue()


def _npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    return header.getvalue()


def _array_member(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return next(name for name in archive.namelist() if name.endswith(".npy"))


def test_a_small_file_declaring_a_huge_array_is_refused_before_anything_is_allocated(
    fitted: dict[str, tuple[ModelConfig, Any]],
) -> None:
    """1.6 GB declared in a few KB (truncated data): refused from the header, in well under a second."""
    import time
    import tracemalloc

    data = dump_model(fitted["LogisticRegression"][1])
    crafted = _replace_member(data, {_array_member(data): _npy_header((200_000_000,)) + b"\0" * 64})
    assert len(crafted) < 20_000
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ModelFileError, match=r"arrays declare 1,525\.9 MiB .* over the limit of 256\.0 MiB") as err:
            load_model(crafted)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 32 * 2**20, f"{peak:,} bytes allocated while refusing"
    assert re.search(r"\(1,600,\d{3},\d{3} bytes\)", str(err.value))  # the crafted array plus the real ones
    assert "MODELCARE_MAX_MODEL_ARRAY_BYTES" in str(err.value)
    assert "\n" not in str(err.value)


def test_many_arrays_each_under_the_limit_are_refused_by_their_sum(fitted: dict[str, tuple[ModelConfig, Any]]) -> None:
    data = dump_model(fitted["LogisticRegression"][1])
    extra = {f"{i}.npy": _npy_header((20_000_000,)) for i in range(2)}  # 2 x 160 MB: each fits, both do not
    with pytest.raises(ModelFileError, match="arrays declare"):
        load_model(_replace_member(data, {}, extra))


def test_a_zip_bomb_is_refused_from_the_declared_member_sizes(fitted: dict[str, tuple[ModelConfig, Any]]) -> None:
    """A member that inflates far beyond its compressed size (not an array) counts against the same limit."""
    data = dump_model(fitted["Ridge"][1])
    bomb = _replace_member(data, {}, {"padding.bin": b"\0" * (4 * 2**20)})
    assert len(bomb) < 20_000
    with pytest.raises(ModelFileError, match=r"members unpack to 4\.\d MiB .* over the limit of 1\.0 MiB"):
        load_model(bomb, max_array_bytes=2**20)


def test_the_limit_comes_from_the_argument_or_the_environment(
    fitted: dict[str, tuple[ModelConfig, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from include.modelcare.errors import ConfigError
    from include.modelcare.ml.serialization import DEFAULT_MAX_ARRAY_BYTES, array_limit, check_sizes

    data = dump_model(fitted["LogisticRegression"][1])
    assert array_limit() == DEFAULT_MAX_ARRAY_BYTES == 256 * 2**20
    assert 0 < check_sizes(data) < 2**20  # a real model is far below the default
    with pytest.raises(ModelFileError, match=r"over the limit of 0\.0 MiB"):
        load_model(data, max_array_bytes=100)
    monkeypatch.setenv("MODELCARE_MAX_MODEL_ARRAY_BYTES", "100")
    with pytest.raises(ModelFileError, match=r"over the limit of 0\.0 MiB \(100 bytes\)"):
        load_model(data)
    load_model(data, max_array_bytes=2**20)  # the argument wins over the environment
    monkeypatch.setenv("MODELCARE_MAX_MODEL_ARRAY_BYTES", "lots")
    with pytest.raises(ConfigError, match="MODELCARE_MAX_MODEL_ARRAY_BYTES='lots'"):
        load_model(data)


def test_a_corrupt_array_header_is_not_a_skops_file(fitted: dict[str, tuple[ModelConfig, Any]]) -> None:
    data = dump_model(fitted["Ridge"][1])
    crafted = _replace_member(data, {_array_member(data): b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}"})
    with pytest.raises(ModelFileError, match="not a skops model file"):
        load_model(crafted)


def test_a_model_over_the_limit_is_refused_when_it_is_saved(
    fitted: dict[str, tuple[ModelConfig, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training fails with the reason rather than registering a model that no loader would accept."""
    monkeypatch.setenv("MODELCARE_MAX_MODEL_ARRAY_BYTES", "1000")
    with pytest.raises(
        ModelFileError, match=r"Pipeline would not load back: .*over the limit of 0\.0 MiB \(1,000 bytes\)"
    ):
        dump_model(fitted["RandomForestClassifier"][1])


# A fresh interpreter that imports Airflow first, as a task in a worker does, then saves and loads a model.
# skops' first import scans every loaded module for ~230 scipy ufuncs; Airflow's deprecated modules
# answer each lookup with a DeprecatedImportWarning (1,160 with Airflow 3.3.2 and skops 0.16.0).
_IN_A_WORKER = """
import json, sys, warnings
import airflow.sdk  # noqa: F401
from airflow.utils.deprecation_tools import DeprecatedImportWarning
from include.modelcare.dev.simulate import generate_batch
from include.modelcare.ml.serialization import dump_model, load_model
from sklearn.linear_model import LogisticRegression

frame = generate_batch(200, seed=1)
model = LogisticRegression().fit(frame[["age", "tenure_months"]], frame["churned"])
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    filters = list(warnings.filters)
    load_model(dump_model(model))
    unchanged = warnings.filters == filters
    getattr(sys.modules["airflow.utils.timezone"], "agm", None)  # the same lookup from our code: still warned
    warnings.warn("an ordinary warning", UserWarning)
print(json.dumps({
    "skops_imported_here": "skops.io" in sys.modules,
    "filters_restored": unchanged,
    "warnings": [[w.category.__name__, str(w.message)] for w in seen],
}))
"""


def test_a_model_saved_inside_airflow_draws_no_deprecated_import_warnings(tmp_path: Path) -> None:
    """The storm is gone at its source, and the filter is scoped: the same warning from elsewhere still shows."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
        "PYTHONWARNINGS": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", _IN_A_WORKER],
        check=False,
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["skops_imported_here"] and out["filters_restored"]
    categories = [category for category, _ in out["warnings"]]
    deprecated = [message for category, message in out["warnings"] if category == "DeprecatedImportWarning"]
    assert len(deprecated) == 1 and "airflow.utils.timezone.agm" in deprecated[0], deprecated[:5]
    assert "UserWarning" in categories


def test_only_airflows_redirect_warning_from_skops_is_silenced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same category from another module, other categories from skops, and FutureWarning itself all surface."""
    import sys
    import types
    import warnings

    from include.modelcare.ml import serialization

    class DeprecatedImportWarning(FutureWarning):
        pass

    fake = types.ModuleType("airflow.utils.deprecation_tools")
    fake.DeprecatedImportWarning = DeprecatedImportWarning  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "airflow.utils.deprecation_tools", fake)

    def emit(category: type[Warning], module: str) -> None:
        warnings.warn_explicit(f"{category.__name__} from {module}", category, f"{module}.py", 1, module=module)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with serialization._no_airflow_redirect_warnings():
            emit(DeprecatedImportWarning, "skops.io._utils")  # the storm: silenced
            emit(DeprecatedImportWarning, "include.modelcare.tasks.retraining")
            emit(FutureWarning, "skops.io._utils")
            emit(UserWarning, "skops.io._audit")
        emit(DeprecatedImportWarning, "skops.io._utils")  # after the block: surfaces again
    assert [str(w.message) for w in seen] == [
        "DeprecatedImportWarning from include.modelcare.tasks.retraining",
        "FutureWarning from skops.io._utils",
        "UserWarning from skops.io._audit",
        "DeprecatedImportWarning from skops.io._utils",
    ]
