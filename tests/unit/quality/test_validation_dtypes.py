"""Validation without per-value Python: a text column's dtype settles its type check, a column map
check runs on that column alone, and every way of holding text gives the same result."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from include.modelcare.config.catalog import load_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.quality.validation import ValidationResult, validate_frame
from tests.unit.quality.test_validation import CATEGORICAL, CHURN_YAML, check, make_batch

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.unit

TEXT_DTYPES = ["object", "category", "string", "string[pyarrow]"]


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return load_model_config(CHURN_YAML)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_batch(2000, seed=1)


def as_text(batch: pd.DataFrame, dtype: str) -> pd.DataFrame:
    """The batch with every categorical feature held as ``dtype`` (values unchanged)."""
    batch = batch.copy()
    for col in CATEGORICAL:
        batch[col] = batch[col].astype(dtype)
    return batch


def flawed_batch() -> pd.DataFrame:
    """Nulls and unknown values in the text columns (as object, before any conversion)."""
    import numpy as np

    batch = make_batch(1000, seed=2)
    for col in CATEGORICAL:
        batch[col] = batch[col].astype(object)
    batch.loc[:29, "region"] = None  # 3% > 2%
    batch.loc[40:44, "contract"] = "lifetime"  # not in the config's set
    batch.loc[50:52, "plan"] = np.nan
    batch.loc[60:61, "payment_method"] = "crypto"  # a new value: 0.2% within the reference set's 1%
    return batch


def plain(result: ValidationResult) -> str:
    """The result as JSON, without the type checks' ``observed`` (the batch's own dtype)."""
    data = result.to_dict()
    for entry in data["checks"]:
        if entry["kind"] == "type":
            entry.pop("observed")
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize("dtype", TEXT_DTYPES[1:])
def test_text_validates_the_same_in_every_dtype(config: ModelConfig, reference: pd.DataFrame, dtype: str) -> None:
    for batch in (make_batch(), flawed_batch()):
        expected = validate_frame(as_text(batch, "object"), config, reference)
        converted = as_text(batch, dtype)
        result = validate_frame(converted, config, reference)
        assert plain(result) == plain(expected), dtype
        # the type check reports the batch's own dtype, and the figures of a passing per-value check
        plan_type = check(result, "type", "plan")
        assert plan_type.success and plan_type.observed == str(converted["plan"].dtype)
        assert (plan_type.unexpected_count, plan_type.unexpected_percent, plan_type.sample) == (0, 0.0, [])
    flawed = validate_frame(as_text(flawed_batch(), dtype), config, reference)
    assert {(c.kind, c.column) for c in flawed.failed} == {("not_null", "region"), ("in_set", "contract")}


def test_an_all_null_text_column_has_no_share(config: ModelConfig) -> None:
    import pandas as pd

    batch = make_batch()
    batch["region"] = pd.Series([None] * len(batch), dtype=object)
    for held in (batch, as_text(batch, "category")):
        region = check(validate_frame(held, config), "type", "region")
        assert region.success and (region.unexpected_count, region.unexpected_percent) == (0, None)


def test_no_per_value_python_on_clean_text(config: ModelConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    calls: list[int] = []
    series_map = pd.Series.map

    def counting_map(self: pd.Series, *args: Any, **kwargs: Any) -> pd.Series:
        calls.append(len(self))
        return series_map(self, *args, **kwargs)

    monkeypatch.setattr(pd.Series, "map", counting_map)
    batch = make_batch()  # text as Python strings in object columns
    assert validate_frame(batch, config).success
    assert calls == []  # GX's type check maps a function over object columns only

    batch["region"] = batch["region"].astype(object)
    batch.loc[[3, 8], "region"] = 7  # not text: checked value by value, so the offending rows are counted
    region = check(validate_frame(batch, config), "type", "region")
    assert (region.success, region.unexpected_count, region.sample) == (False, 2, [7])
    assert calls


def test_text_categories_that_are_not_all_strings_are_checked_value_by_value(config: ModelConfig) -> None:
    import pandas as pd

    batch = make_batch()
    batch["region"] = pd.Categorical(batch["region"].where(batch.index % 100 != 0, 5))
    region = check(validate_frame(batch, config), "type", "region")
    assert (region.success, region.unexpected_count, region.sample, region.observed) == (False, 6, [5], "category")
    # unused non-string categories do not count: only the rows' values are checked
    batch["plan"] = pd.Categorical(batch["plan"], categories=["basic", "standard", "premium", 7])
    assert check(validate_frame(batch, config), "type", "plan").success


def test_the_fingerprint_switch_is_put_back(config: ModelConfig) -> None:
    from great_expectations.execution_engine import pandas_execution_engine as engine

    before = engine.HASH_THRESHOLD
    validate_frame(make_batch(), config)
    assert before == engine.HASH_THRESHOLD


def test_a_batch_read_with_text_as_categories_validates_the_same(
    config: ModelConfig, reference: pd.DataFrame, tmp_path: Path
) -> None:
    from include.modelcare.storage.objects import ObjectStore
    from include.modelcare.storage.tables import read_files

    buffer = io.BytesIO()
    flawed_batch().to_parquet(buffer, index=False)
    path = tmp_path / "part-000.parquet"
    path.write_bytes(buffer.getvalue())
    plain_read, _ = read_files([str(path)], "parquet", ObjectStore())
    as_categories, _ = read_files([str(path)], "parquet", ObjectStore(), categories=CATEGORICAL)
    assert str(plain_read["region"].dtype) == "object" and str(as_categories["region"].dtype) == "category"
    expected = plain(validate_frame(plain_read, config, reference))
    assert plain(validate_frame(as_categories, config, reference)) == expected
