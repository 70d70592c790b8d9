"""Drift detection on synthetic churn-like data (columns of include/models/customer_churn.yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from include.modelcare.config.catalog import load_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DriftError
from include.modelcare.quality.drift import (
    CHI2_CONTINGENCY,
    ColumnDrift,
    DriftResult,
    compute_drift,
    report_html,
    share_drifted_of,
)

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.unit

CHURN_YAML = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"
CLI_KEYS = {
    "drift_detected",
    "share_drifted",
    "drift_share",  # the former name of share_drifted, still written for readers of old reports
    "columns",
    "n_drifted",
    "n_features",
    "critical_drifted",
    "reason",
    "reference_rows",
    "current_rows",
    "top_features",
}
CONTRACTS = ["month_to_month", "one_year", "two_year"]


def churn_frame(
    n: int, seed: int, *, charges_shift: float = 0.0, contract_p: tuple[float, float, float] = (0.55, 0.25, 0.20)
) -> pd.DataFrame:
    """Churn-like rows; ``charges_shift`` is in standard deviations of monthly_charges (sd 20)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, n)
    charges = rng.normal(70 + 20 * charges_shift, 20, n).clip(0, 500)
    return pd.DataFrame(
        {
            "customer_id": [f"c{seed}-{i}" for i in range(n)],
            "tenure_months": tenure,
            "monthly_charges": charges,
            "total_charges": tenure * charges + rng.normal(0, 50, n),
            "support_calls": rng.poisson(0.6, n).clip(0, 4),  # <= 5 distinct values: tested like a categorical column
            "data_usage_gb": rng.gamma(2.0, 5.0, n),
            "age": rng.integers(18, 80, n),
            "plan": rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2]),
            "contract": rng.choice(CONTRACTS, n, p=list(contract_p)),
            "payment_method": rng.choice(["card", "bank", "check", "wallet"], n),
            "region": rng.choice(["north", "south", "east", "west", "central"], n),
            "churned": rng.integers(0, 2, n),
        }
    )


def drift_of(current: pd.DataFrame, reference: pd.DataFrame, config: ModelConfig) -> tuple[DriftResult, Any]:
    """``compute_drift`` with the model's features and drift rule, as the monitoring DAG calls it."""
    return compute_drift(current, reference, config.data.features, config.drift, name=config.name)


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return load_model_config(CHURN_YAML)


@pytest.fixture(scope="module")
def small_ref() -> pd.DataFrame:
    return churn_frame(500, seed=1)


@pytest.fixture(scope="module")
def large_ref() -> pd.DataFrame:
    return churn_frame(1500, seed=2)


@pytest.fixture(scope="module")
def small_same(config: ModelConfig, small_ref: pd.DataFrame) -> tuple[DriftResult, Any]:
    return drift_of(churn_frame(400, seed=11), small_ref, config)


@pytest.fixture(scope="module")
def large_same(config: ModelConfig, large_ref: pd.DataFrame) -> tuple[DriftResult, Any]:
    return drift_of(churn_frame(1200, seed=12), large_ref, config)


def test_identical_distribution_small_reference_no_drift(small_same: tuple[DriftResult, Any]) -> None:
    result, _ = small_same
    assert not result.drift_detected, result.reason
    assert result.reference_rows == 500 and result.current_rows == 400
    assert result.n_features == 10
    assert result.columns["monthly_charges"].method == "ks"
    assert result.columns["contract"].method == CHI2_CONTINGENCY
    assert result.columns["support_calls"].method == CHI2_CONTINGENCY  # low-cardinality numerical
    assert result.columns["support_calls"].kind == "numerical"
    assert result.reason.startswith("no drift:")


def test_identical_distribution_large_reference_no_drift(large_same: tuple[DriftResult, Any]) -> None:
    result, _ = large_same
    assert not result.drift_detected, result.reason
    assert result.columns["monthly_charges"].method == "wasserstein"
    assert result.columns["monthly_charges"].threshold == pytest.approx(0.1)
    assert result.columns["contract"].method == "jensenshannon"
    assert result.columns["support_calls"].method == "jensenshannon"


def test_verdicts_come_from_evidentlys_own_tests(small_same: tuple[DriftResult, Any]) -> None:
    from include.modelcare.quality.drift import drifted_by_rule, parse_value_drift

    result, snapshot = small_same
    parsed = parse_value_drift(snapshot.dict())
    assert set(parsed) == set(result.columns)
    for name, (method, threshold, score, drifted) in parsed.items():
        assert drifted is not None, f"no Evidently test status parsed for {name}"
        column = result.columns[name]
        assert (column.method, column.threshold, column.score, column.drifted) == (method, threshold, score, drifted)
        assert drifted == drifted_by_rule(method, score, threshold)


def test_bonferroni_threshold_is_alpha_over_features(small_same: tuple[DriftResult, Any], config: ModelConfig) -> None:
    result, _ = small_same
    expected = config.drift.alpha / len(config.data.features.all)
    assert expected == pytest.approx(0.005)
    assert [c.threshold for c in result.columns.values()] == pytest.approx([expected] * 10)


def test_no_correction_uses_alpha(config: ModelConfig) -> None:
    from include.modelcare.quality.drift import choose_methods

    loose = config.model_copy(update={"drift": config.drift.model_copy(update={"multiple_testing": "none"})})
    frame = churn_frame(200, seed=3)
    _, thresholds = choose_methods(frame, frame, loose.data.features, loose.drift)
    assert set(thresholds.values()) == {config.drift.alpha}


@pytest.mark.parametrize("ref_fixture", ["small_ref", "large_ref"])
def test_mean_shift_in_critical_feature_is_drift(
    ref_fixture: str, request: pytest.FixtureRequest, config: ModelConfig
) -> None:
    reference = request.getfixturevalue(ref_fixture)
    result, _ = drift_of(churn_frame(400, seed=21, charges_shift=1.0), reference, config)
    assert result.drift_detected, result.reason
    assert "monthly_charges" in result.critical_drifted
    assert result.columns["monthly_charges"].drifted and result.columns["monthly_charges"].critical
    assert result.top_features(3)[0].name == "monthly_charges"
    assert result.to_dict()["top_features"][0] == "monthly_charges"
    assert "monthly_charges" in result.reason


@pytest.mark.parametrize(
    ("ref_fixture", "n_current", "method"), [("small_ref", 400, CHI2_CONTINGENCY), ("large_ref", 1200, "jensenshannon")]
)
def test_categorical_shift_in_contract(
    ref_fixture: str, n_current: int, method: str, request: pytest.FixtureRequest, config: ModelConfig
) -> None:
    reference = request.getfixturevalue(ref_fixture)
    current = churn_frame(n_current, seed=31, contract_p=(0.30, 0.30, 0.40))
    result, _ = drift_of(current, reference, config)
    contract = result.columns["contract"]
    assert contract.method == method
    assert contract.drifted, contract
    assert result.drift_detected and result.critical_drifted == ["contract"]
    assert result.top_features(1)[0].name == "contract"


def test_to_dict_has_cli_keys_and_is_json(small_same: tuple[DriftResult, Any]) -> None:
    result, _ = small_same
    data = result.to_dict()
    assert set(data) == CLI_KEYS
    assert isinstance(data["drift_detected"], bool) and isinstance(data["share_drifted"], float)
    assert data["drift_share"] == data["share_drifted"] == result.share_drifted
    assert set(data["columns"]) == set(result.columns)
    for column in data["columns"].values():
        assert set(column) == {"score", "method", "threshold", "drifted"}
        assert type(column["score"]) is float and type(column["drifted"]) is bool
    assert json.loads(json.dumps(data)) == data


def test_top_features_ranking_is_documented_order() -> None:
    def col(name: str, method: str, score: float, threshold: float) -> ColumnDrift:
        from include.modelcare.quality.drift import drifted_by_rule

        drifted = drifted_by_rule(method, score, threshold)
        return ColumnDrift(name, "numerical", method, score, threshold, drifted, critical=False)

    columns = [
        col("p_barely", "ks", 0.004, 0.005),  # drifted, severity 1.25
        col("p_strong", "ks", 1e-6, 0.005),  # drifted, severity 5000
        col("dist", "wasserstein", 0.3, 0.1),  # drifted, severity 3
        col("quiet_dist", "wasserstein", 0.09, 0.1),  # not drifted, 0.9
        col("quiet_p", "ks", 0.5, 0.005),  # not drifted, 0.01
    ]
    result = DriftResult(
        drift_detected=True,
        share_drifted=0.6,
        n_drifted=3,
        n_features=5,
        columns={c.name: c for c in columns},
        critical_drifted=[],
        reason="test",
        reference_rows=1,
        current_rows=1,
        top_n=4,
    )
    assert [c.name for c in result.top_features(5)] == ["p_strong", "dist", "p_barely", "quiet_dist", "quiet_p"]
    assert result.to_dict()["top_features"] == ["p_strong", "dist", "p_barely"]


def test_missing_feature_raises_drift_error_naming_it(config: ModelConfig, small_ref: pd.DataFrame) -> None:
    current = churn_frame(100, seed=41).drop(columns=["region"])
    with pytest.raises(DriftError, match=r"current data is missing feature column\(s\) region"):
        drift_of(current, small_ref, config)
    with pytest.raises(DriftError, match=r"reference data is missing feature column\(s\) region"):
        drift_of(small_ref, current, config)


def test_empty_frame_raises_drift_error(config: ModelConfig, small_ref: pd.DataFrame) -> None:
    with pytest.raises(DriftError, match="current data has no rows"):
        drift_of(small_ref.iloc[:0], small_ref, config)
    with pytest.raises(DriftError, match="reference data has no rows"):
        drift_of(small_ref, small_ref.iloc[:0], config)


def test_report_html_is_html_bytes(small_same: tuple[DriftResult, Any]) -> None:
    _, snapshot = small_same
    html = report_html(snapshot)
    assert isinstance(html, bytes)
    assert html.lstrip()[:15].lower().startswith(b"<!doctype html") or b"<html" in html[:500].lower()
    assert b"monthly_charges" in html


def test_chi2_contingency_stattest_is_calibrated() -> None:
    """200 trials of identical 10-category samples (n=500 each): false alarms at alpha 0.05 stay near 5%."""
    import numpy as np
    import pandas as pd
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    from include.modelcare.quality.drift import register_chi2_contingency

    register_chi2_contingency()
    stat_test = get_registered_stattest(CHI2_CONTINGENCY, ColumnType.Categorical)
    rng = np.random.default_rng(2026)
    probs = np.linspace(1, 3, 10) / np.linspace(1, 3, 10).sum()
    categories = np.array([f"v{i}" for i in range(10)])
    alarms = 0
    for _ in range(200):
        reference = pd.Series(rng.choice(categories, 500, p=probs))
        current = pd.Series(rng.choice(categories, 500, p=probs))
        outcome = stat_test(reference, current, ColumnType.Categorical, 0.05)
        assert 0.0 <= outcome.drift_score <= 1.0
        alarms += bool(outcome.drifted)
    assert alarms / 200 < 0.09

    shifted = pd.Series(rng.choice(categories, 500, p=probs[::-1]))
    assert stat_test(pd.Series(rng.choice(categories, 500, p=probs)), shifted, ColumnType.Categorical, 0.05).drifted


def test_one_column_is_tested_by_the_models_rule_without_faking_a_config(config: ModelConfig) -> None:
    """Prediction drift: one ``prediction`` column, the model's drift rule (its critical features are absent)."""
    import numpy as np
    import pandas as pd

    from include.modelcare.config.schema import Features

    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"prediction": rng.uniform(0, 1, 500)})
    shifted = pd.DataFrame({"prediction": rng.uniform(0.3, 1, 400)})
    result, _ = compute_drift(shifted, reference, Features(numerical=["prediction"]), config.drift)
    assert config.drift.critical_features and "prediction" not in config.drift.critical_features
    assert list(result.columns) == ["prediction"] and result.columns["prediction"].method == "ks"
    assert result.columns["prediction"].threshold == pytest.approx(config.drift.alpha)  # Bonferroni over 1 column
    assert result.columns["prediction"].drifted and not result.columns["prediction"].critical
    assert result.critical_drifted == [] and result.share_drifted == 1.0 and result.drift_detected
    same, _ = compute_drift(
        reference.sample(frac=0.8, random_state=1), reference, Features(numerical=["prediction"]), config.drift
    )
    assert same.share_drifted == 0.0 and not same.drift_detected


def test_messages_name_the_model_only_when_given(config: ModelConfig, small_ref: pd.DataFrame) -> None:
    with pytest.raises(DriftError, match=r"^current data has no rows"):
        compute_drift(small_ref.iloc[:0], small_ref, config.data.features, config.drift)
    with pytest.raises(DriftError, match=r"^customer_churn: current data has no rows"):
        compute_drift(small_ref.iloc[:0], small_ref, config.data.features, config.drift, name="customer_churn")


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"share_drifted": 0.4, "drift_share": 0.4}, 0.4),  # written now: both keys
        ({"share_drifted": 0.2}, 0.2),
        ({"drift_share": 0.3}, 0.3),  # a report written before the rename
        ({"share_drifted": None, "drift_share": 0.1}, 0.1),
        ({"drift_detected": False}, None),
    ],
)
def test_share_drifted_of_reads_new_and_old_reports(summary: dict[str, Any], expected: float | None) -> None:
    assert share_drifted_of(summary) == expected
