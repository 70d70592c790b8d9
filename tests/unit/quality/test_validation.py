"""Batch validation with Great Expectations on synthetic churn-like data (include/models/customer_churn.yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from include.modelcare.config.catalog import load_model_config
from include.modelcare.config.schema import ColumnRule, ModelConfig
from include.modelcare.errors import ConfigError, DataError
from include.modelcare.quality.rules import Rule, build_rules
from include.modelcare.quality.validation import CheckResult, ValidationResult, validate_frame

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.unit

CHURN_YAML = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"
NUMERICAL = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "data_usage_gb", "age"]
CATEGORICAL = ["plan", "contract", "payment_method", "region"]
ROWS = 600  # the sample config wants at least 500


# -- helpers ----------------------------------------------------------------------------------------
def make_batch(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Churn-like rows well inside the config's rules (bounded draws, so any sample stays in range)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, n)
    monthly = rng.uniform(20, 120, n).round(2)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n, dtype="int64") + 100_000 + seed * 1_000_000,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": (tenure * monthly).round(2),
            "support_calls": rng.integers(0, 8, n),
            "data_usage_gb": rng.uniform(0, 50, n).round(2),
            "age": rng.integers(18, 91, n),
            "plan": rng.choice(["basic", "standard", "premium"], n),
            "contract": rng.choice(["month_to_month", "one_year", "two_year"], n),
            "payment_method": rng.choice(["card", "bank_transfer", "check"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )


def with_validation(config: ModelConfig, **updates: Any) -> ModelConfig:
    """A copy of the config with some ``validation`` settings replaced."""
    return config.model_copy(update={"validation": config.validation.model_copy(update=updates)})


def check(result: ValidationResult, kind: str, column: str | None = None) -> CheckResult:
    """The one check of a kind (and column) in a result."""
    found = [c for c in result.checks if c.kind == kind and c.column == column]
    assert len(found) == 1, f"expected one {kind} check on {column}, got {found}"
    return found[0]


def failed_keys(result: ValidationResult) -> set[tuple[str, str | None]]:
    return {(c.kind, c.column) for c in result.failed}


def walk(value: Any) -> None:
    """Assert a structure holds only plain JSON types (no numpy scalars)."""
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for v in value.values():
            walk(v)
    elif isinstance(value, list):
        for v in value:
            walk(v)
    else:
        assert value is None or type(value) in (bool, int, float, str), f"{value!r} is {type(value)}"


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return load_model_config(CHURN_YAML)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_batch(2000, seed=1)


# -- rules as data ------------------------------------------------------------------------------------
def test_rules_from_config_only(config: ModelConfig) -> None:
    rules = build_rules(config, None)
    ranges = {r.column: r for r in rules if r.kind == "between"}
    sets = {r.column: r for r in rules if r.kind == "in_set"}

    assert set(ranges) == {"tenure_months", "monthly_charges", "age", "support_calls"}
    assert ranges["age"] == Rule("between", "age", {"min_value": 18.0, "max_value": 100.0}, "config")
    assert set(sets) == {"contract", "plan"}
    assert sets["plan"].params == {"value_set": ["basic", "standard", "premium"], "mostly": 1.0}
    assert all(r.source == "config" for r in [*ranges.values(), *sets.values()])
    # Defaults: column set, row count, id not null + unique, a type and a null check per feature.
    assert rules[0] == Rule("columns", None, {"required": ["customer_id", *NUMERICAL, *CATEGORICAL]})
    allowed = ["customer_id", *NUMERICAL, *CATEGORICAL, "churned"]  # unlabelled batches may still carry the target
    assert rules[1] == Rule("extra_columns", None, {"allowed": allowed, "on_extra": "refuse"})
    assert rules[2].params == {"min_value": 500, "max_value": 200000}
    assert [(r.kind, r.column) for r in rules[3:5]] == [("not_null", "customer_id"), ("unique", "customer_id")]
    assert {r.column for r in rules if r.kind == "type"} == set(NUMERICAL + CATEGORICAL)
    nulls = {r.column: r.params["max_null_fraction"] for r in rules if r.kind == "not_null"}
    assert nulls == {"customer_id": 0.0, **dict.fromkeys(NUMERICAL + CATEGORICAL, 0.02)}
    assert len(rules) == 31


def test_rules_derived_from_reference_when_config_has_none(config: ModelConfig) -> None:
    import pandas as pd

    bare = with_validation(config, columns={}, range_tolerance=0.5, values_mostly=0.95)
    reference = make_batch(50, seed=3)
    reference["tenure_months"] = [10, 30] * 25  # range 20 -> [10 - 10, 30 + 10]
    reference["age"] = 40  # constant: widened by the value itself -> [20, 60]
    reference["region"] = pd.Series(["west", "east", None, "east", "north"] * 10, dtype="category")

    rules = {(r.kind, r.column): r for r in build_rules(bare, reference)}

    tenure = rules[("between", "tenure_months")]
    assert tenure.source == "reference"
    assert (tenure.params["min_value"], tenure.params["max_value"]) == (0.0, 40.0)
    assert tenure.describe() == "tenure_months between 0 and 40"
    assert (rules[("between", "age")].params["min_value"], rules[("between", "age")].params["max_value"]) == (20, 60)
    region = rules[("in_set", "region")]
    assert region.source == "reference"
    assert region.params == {"value_set": ["east", "north", "west"], "mostly": 0.95}
    assert region.describe() == "region in {east, north, west} (95% of rows)"
    assert {c for k, c in rules if k == "between"} == set(NUMERICAL)
    assert {c for k, c in rules if k == "in_set"} == set(CATEGORICAL)
    json.dumps([r.to_dict() for r in rules.values()])  # plain values, no numpy scalars

    no_derive = build_rules(with_validation(bare, derive_from_reference=False), reference)
    assert not [r for r in no_derive if r.kind in ("between", "in_set")]


def test_config_rules_override_reference(config: ModelConfig) -> None:
    reference = make_batch(200, seed=4)
    reference["age"] = [30, 40] * 100  # derived range would be [25, 45]
    reference["plan"] = ["basic", "gold"] * 100
    rules = {(r.kind, r.column): r for r in build_rules(config, reference)}

    assert rules[("between", "age")] == Rule("between", "age", {"min_value": 18.0, "max_value": 100.0}, "config")
    assert rules[("in_set", "plan")].params["value_set"] == ["basic", "standard", "premium"]
    assert rules[("in_set", "plan")].source == "config"
    # Columns without explicit rules still get reference-derived ones.
    assert rules[("between", "total_charges")].source == "reference"
    assert rules[("in_set", "region")].source == "reference"

    batch = make_batch()
    batch.loc[:9, "age"] = 95  # outside the reference's [25, 45], inside the config's [18, 100]
    result = validate_frame(batch, config, reference)
    assert check(result, "between", "age").success
    assert result.success, result.headline()


def test_per_column_null_override_and_open_upper_row_bound(config: ModelConfig) -> None:
    columns = {**config.validation.columns, "data_usage_gb": ColumnRule(max_null_fraction=0.1)}
    rules = build_rules(with_validation(config, columns=columns, max_rows=None), None)
    nulls = {r.column: r for r in rules if r.kind == "not_null"}
    assert nulls["data_usage_gb"].params["max_null_fraction"] == 0.1
    assert nulls["data_usage_gb"].source == "config"
    assert nulls["age"].source == "default"
    assert rules[2].describe() == "row count >= 500"


def test_misplaced_config_rule_is_a_config_error(config: ModelConfig) -> None:
    columns = {**config.validation.columns, "region": ColumnRule(min=0, max=3)}
    with pytest.raises(ConfigError, match=r"validation\.columns\.region: min/max given for a categorical"):
        build_rules(with_validation(config, columns=columns), None)


# -- validating batches -------------------------------------------------------------------------------
def test_clean_batch_passes(config: ModelConfig, reference: pd.DataFrame) -> None:
    batch = make_batch()
    result = validate_frame(batch, config, reference)

    assert result.success, result.headline()
    assert result.rows == ROWS
    assert len(result.checks) == 35  # 31 from the config + 4 derived ranges/sets
    assert not result.failed
    assert not result.skipped
    assert not result.warnings
    assert result.headline() == f"all 35 checks passed on {ROWS} rows"
    assert check(result, "row_count").observed == ROWS
    assert check(result, "type", "age").observed == "int64"


def test_nulls_above_tolerance_fail(config: ModelConfig) -> None:
    import numpy as np

    batch = make_batch()
    batch["monthly_charges"] = batch["monthly_charges"].astype("float64")
    batch.loc[:29, "monthly_charges"] = np.nan  # 30 of 600 = 5% > 2%
    batch.loc[:5, "data_usage_gb"] = np.nan  # 6 of 600 = 1% <= 2%
    result = validate_frame(batch, config)

    assert failed_keys(result) == {("not_null", "monthly_charges")}
    nulls = check(result, "not_null", "monthly_charges")
    assert (nulls.unexpected_count, nulls.unexpected_percent) == (30, 5.0)
    assert nulls.description == "monthly_charges at most 2% null"
    assert check(result, "not_null", "data_usage_gb").success
    assert check(result, "not_null", "data_usage_gb").unexpected_count == 6

    # A per-column tolerance overrides the default one.
    columns = {**config.validation.columns, "monthly_charges": ColumnRule(min=0, max=500, max_null_fraction=0.1)}
    assert validate_frame(batch, with_validation(config, columns=columns)).success


def test_exactly_the_tolerated_share_of_nulls_passes(config: ModelConfig) -> None:
    import numpy as np

    batch = make_batch(1000)
    batch["age"] = batch["age"].astype("float64")
    batch.loc[:179, "age"] = np.nan  # 18%: in floating point 1 - 0.18 > 820 / 1000, GX's success ratio
    assert validate_frame(batch, with_validation(config, max_null_fraction=0.18)).success
    batch.loc[180, "age"] = np.nan
    assert not validate_frame(batch, with_validation(config, max_null_fraction=0.18)).success


def test_out_of_range_values_fail(config: ModelConfig) -> None:
    batch = make_batch()
    batch.loc[:11, "age"] = 150  # 12 rows = 2%
    result = validate_frame(batch, config)

    assert failed_keys(result) == {("between", "age")}
    age = check(result, "between", "age")
    assert age.name == "expect_column_values_to_be_between"
    assert (age.unexpected_count, age.unexpected_percent, age.sample) == (12, 2.0, [150])
    assert age.source == "config"
    assert age.summary() == "age between 18 and 100 (12 rows, 2%: 150)"


def test_unknown_category_fails(config: ModelConfig, reference: pd.DataFrame) -> None:
    batch = make_batch()
    batch.loc[:2, "contract"] = "lifetime"  # config set, strict
    batch.loc[:2, "region"] = "mars"  # reference set, 3 of 600 = 0.5% tolerated at values_mostly 0.99
    result = validate_frame(batch, config, reference)

    assert failed_keys(result) == {("in_set", "contract")}
    contract = check(result, "in_set", "contract")
    assert (contract.unexpected_count, contract.sample) == (3, ["lifetime"])
    assert contract.summary() == "contract in {month_to_month, one_year, two_year} (3 rows, 0.5%: 'lifetime')"
    region = check(result, "in_set", "region")
    assert region.success and region.unexpected_count == 3 and region.source == "reference"

    batch.loc[:11, "region"] = "mars"  # 2% > 1%
    region = check(validate_frame(batch, config, reference), "in_set", "region")
    assert not region.success
    assert region.unexpected_count == 12


def test_duplicate_and_null_ids_fail(config: ModelConfig) -> None:
    batch = make_batch()
    batch.loc[1, "customer_id"] = batch.loc[0, "customer_id"]
    batch.loc[3, "customer_id"] = batch.loc[2, "customer_id"]
    result = validate_frame(batch, config)
    assert failed_keys(result) == {("unique", "customer_id")}
    unique = check(result, "unique", "customer_id")
    assert unique.unexpected_count == 4  # GX counts every row of a repeated id
    assert unique.summary() == "customer_id unique (4 rows share a value)"

    batch = make_batch()
    batch["customer_id"] = batch["customer_id"].astype("float64")
    batch.loc[5, "customer_id"] = float("nan")
    assert failed_keys(validate_frame(batch, config)) == {("not_null", "customer_id")}
    assert validate_frame(batch, with_validation(config, unique_ids=False)).success


def test_too_few_rows_fail(config: ModelConfig) -> None:
    result = validate_frame(make_batch(120), config)
    assert failed_keys(result) == {("row_count", None)}
    rows = check(result, "row_count")
    assert rows.observed == 120
    assert rows.summary() == "row count between 500 and 200,000 (observed 120)"

    empty = validate_frame(make_batch(0), config)
    assert failed_keys(empty) == {("row_count", None)}
    assert empty.rows == 0


def test_missing_column_fails_and_skips_its_checks(config: ModelConfig, reference: pd.DataFrame) -> None:
    batch = make_batch().drop(columns=["region"])
    result = validate_frame(batch, config, reference)

    assert not result.success
    assert failed_keys(result) == {("columns", None)}
    assert check(result, "columns").observed == {"missing": ["region"]}
    assert check(result, "columns").summary() == "column set (missing: region)"
    skipped = {(c.kind, c.column) for c in result.skipped}
    assert skipped == {("type", "region"), ("not_null", "region"), ("in_set", "region")}
    assert all(not c.success and c.reason == "column region missing" for c in result.skipped)
    assert len(result.checks) == 35  # skipped checks are reported, not dropped
    assert result.headline() == (
        f"1 of 35 checks failed on {ROWS} rows, 3 not run: column set (missing: region); not run: 3 check(s) on region"
    )


def test_extra_columns_are_refused_by_default_and_named(config: ModelConfig) -> None:
    batch = make_batch()
    batch["notes"] = "not in the contract"
    batch["score"] = 0.5
    result = validate_frame(batch, config)

    assert not result.success and failed_keys(result) == {("extra_columns", None)}
    extra = check(result, "extra_columns")
    assert extra.observed == {"extra": ["notes", "score"]} and extra.name == "expect_table_columns_to_match_set"
    assert extra.summary() == "no columns beyond the id, features and target (extra: notes, score)"
    assert result.headline() == (
        f"1 of 31 checks failed on {ROWS} rows: no columns beyond the id, features and target (extra: notes, score)"
    )
    assert result.to_dict()["warnings"] == []


def test_extra_columns_under_warn_pass_with_a_warning(config: ModelConfig) -> None:
    batch = make_batch()
    for i in range(12):
        batch[f"x{i:02d}"] = i
    result = validate_frame(batch, with_validation(config, extra_columns="warn"))

    assert result.success and not result.failed
    names = ", ".join(f"x{i:02d}" for i in range(10)) + " and 2 more"
    assert result.warnings == [f"extra columns not in the contract (ignored): {names}"]
    assert check(result, "extra_columns").observed == {"extra": [f"x{i:02d}" for i in range(12)]}
    assert result.headline() == f"all 31 checks passed on {ROWS} rows; warning: {result.warnings[0]}"
    assert result.to_dict()["warnings"] == result.warnings


def test_the_target_is_no_extra_column_and_a_missing_target_no_failure(config: ModelConfig) -> None:
    labelled = make_batch()
    labelled["churned"] = 0  # batch_has_target is false, yet a labelled batch is fine
    assert validate_frame(labelled, config).success

    with_target = config.model_copy(update={"data": config.data.model_copy(update={"batch_has_target": True})})
    result = validate_frame(make_batch(), with_target)  # the target is required now: missing, not extra
    assert failed_keys(result) == {("columns", None)} and check(result, "extra_columns").success


def test_the_simulators_batches_have_no_extra_columns(config: ModelConfig) -> None:
    from include.modelcare.dev.simulate import Scenario, generate_batch

    for scenario in (Scenario.clean(), Scenario.drifted()):
        batch = generate_batch(ROWS, seed=5, scenario=scenario)  # label included, as labelled batches are
        assert check(validate_frame(batch, config), "extra_columns").success


def test_string_in_numeric_column_fails_type_check(config: ModelConfig) -> None:
    batch = make_batch()
    batch["age"] = batch["age"].astype(object)
    batch.loc[[4, 9], "age"] = "unknown"
    result = validate_frame(batch, config)

    assert failed_keys(result) == {("type", "age")}
    age_type = check(result, "type", "age")
    assert age_type.name == "expect_column_values_to_be_in_type_list"
    assert (age_type.unexpected_count, age_type.sample, age_type.observed) == (2, ["unknown"], "object")
    # GX's range check would raise on str vs number: it is reported as not run instead.
    age_range = check(result, "between", "age")
    assert age_range.skipped
    assert "not numeric" in (age_range.reason or "")


def test_type_checks_across_pandas_dtypes(config: ModelConfig) -> None:
    from decimal import Decimal

    import pandas as pd

    batch = make_batch()
    batch["tenure_months"] = batch["tenure_months"].astype("Int64")
    batch.loc[0, "tenure_months"] = pd.NA
    batch["monthly_charges"] = batch["monthly_charges"].astype("float32")
    batch["plan"] = batch["plan"].astype("category")
    batch["contract"] = batch["contract"].astype("string")
    batch["payment_method"] = batch["payment_method"].astype("string[pyarrow]")
    batch["total_charges"] = [Decimal(str(v)) for v in batch["total_charges"]]  # parquet DECIMAL -> object
    batch["support_calls"] = batch["support_calls"].astype(object)  # Python ints in an object column
    result = validate_frame(batch, config)
    assert result.success, result.headline()
    assert batch["plan"].dtype == "category"  # the caller's frame is not changed

    bad = make_batch()
    bad["age"] = bad["age"].astype("category")  # numeric feature stored as a category
    bad["support_calls"] = bad["support_calls"] > 3  # booleans are not numbers
    bad["region"] = bad["customer_id"] % 4  # categorical feature holding ints
    result = validate_frame(bad, config)
    assert failed_keys(result) == {("type", "age"), ("type", "support_calls"), ("type", "region")}
    assert check(result, "type", "age").summary() == "age numeric (dtype category)"
    assert check(result, "type", "support_calls").observed == "bool"
    assert check(result, "type", "region").summary() == "region string-like (dtype int64)"


def test_columns_differing_only_in_case_are_not_confused(config: ModelConfig) -> None:
    # GX 1.24.1 resolves column names case-insensitively (first match wins).
    batch = make_batch()
    batch.insert(0, "AGE", 999)
    result = validate_frame(batch, with_validation(config, extra_columns="warn"))
    assert result.success and result.warnings == ["extra columns not in the contract (ignored): AGE"]
    refused = validate_frame(batch, config)  # names compare exactly: AGE is extra, age is not
    assert failed_keys(refused) == {("extra_columns", None)}
    assert check(refused, "extra_columns").observed == {"extra": ["AGE"]}

    only_upper = make_batch().rename(columns={"age": "AGE"})
    result = validate_frame(only_upper, config)
    assert check(result, "columns").observed == {"missing": ["age"]}
    assert check(result, "between", "age").skipped


def test_duplicate_column_names_are_a_data_error(config: ModelConfig) -> None:
    import pandas as pd

    batch = make_batch()
    batch = pd.concat([batch, batch[["age"]]], axis=1)
    with pytest.raises(DataError, match="duplicate column names: age"):
        validate_frame(batch, config)


# -- reporting ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def broken(config: ModelConfig, reference: pd.DataFrame) -> ValidationResult:
    import numpy as np

    batch = make_batch(1000)
    batch.loc[:11, "age"] = 130  # 12 rows, 1.2%
    batch.loc[[1, 3], "customer_id"] = batch.loc[[0, 2], "customer_id"].to_numpy()  # 4 rows share an id
    batch.loc[:3, "data_usage_gb"] = np.float64(1e6)  # far outside the reference-derived range
    batch = batch.drop(columns=["region"])
    return validate_frame(batch, config, reference)


def test_to_dict_round_trips_through_json(broken: ValidationResult) -> None:
    data = broken.to_dict()
    walk(data)
    assert json.loads(json.dumps(data)) == data
    assert data["success"] is False
    assert (data["rows"], data["checks_total"], data["checks_failed"], data["checks_skipped"]) == (1000, 35, 4, 3)
    usage = next(c for c in data["checks"] if c["kind"] == "between" and c["column"] == "data_usage_gb")
    assert usage["sample"] == [1e6]
    assert usage["source"] == "reference"
    assert usage["unexpected_count"] == 4 and type(usage["unexpected_count"]) is int
    assert usage["params"]["reference_min"] >= 0


def test_headline_has_the_numbers(broken: ValidationResult) -> None:
    headline = broken.headline()
    assert "\n" not in headline
    assert headline.startswith("4 of 35 checks failed on 1,000 rows, 3 not run: ")
    assert "column set (missing: region)" in headline
    assert "customer_id unique (4 rows share a value)" in headline
    assert "age between 18 and 100 (12 rows, 1.2%: 130)" in headline
    assert "data_usage_gb between " in headline and "(4 rows, 0.4%: 1000000.0)" in headline
    assert headline.endswith("not run: 3 check(s) on region")


def test_no_progress_bars_on_stderr(config: ModelConfig, capfd: pytest.CaptureFixture[str]) -> None:
    validate_frame(make_batch(), config)
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err
    assert "Calculating Metrics" not in captured.out
