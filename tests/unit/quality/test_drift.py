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
    CATEGORICAL_TEST,
    CHI2_CONTINGENCY,
    NUMERICAL_TEST,
    ColumnDrift,
    DriftResult,
    compute_drift,
    drift_verdict,
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
    "p_values",
    "p_threshold",
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
    assert result.columns["monthly_charges"].method == NUMERICAL_TEST
    assert result.columns["contract"].method == CATEGORICAL_TEST
    assert result.columns["support_calls"].method == CATEGORICAL_TEST  # low-cardinality numerical
    assert result.columns["support_calls"].kind == "numerical"
    assert result.reason.startswith("no drift:")


def test_identical_distribution_large_reference_no_drift(large_same: tuple[DriftResult, Any]) -> None:
    """One rule at every size: the same tests and floors with 1,500 reference rows as with 500."""
    result, _ = large_same
    assert not result.drift_detected, result.reason
    assert result.columns["monthly_charges"].method == NUMERICAL_TEST
    assert result.columns["monthly_charges"].threshold == pytest.approx(0.1)
    assert result.columns["contract"].method == CATEGORICAL_TEST
    assert result.columns["support_calls"].method == CATEGORICAL_TEST
    assert not result.small_sample


def test_report_shows_the_verdicts_numbers(small_same: tuple[DriftResult, Any]) -> None:
    """Evidently's run of the registered rule tests gives the verdict's own scores and verdicts, exactly."""
    from include.modelcare.quality.drift_report import parse_value_drift

    result, snapshot = small_same
    parsed = parse_value_drift(snapshot.dict())
    assert set(parsed) == set(result.columns)
    for name, (method, threshold, score, drifted) in parsed.items():
        column = result.columns[name]
        assert drifted is not None, f"no Evidently test status parsed for {name}"
        assert method == f"{column.method}(p<={column.p_threshold!r})"
        assert (threshold, score, drifted) == (column.threshold, column.score, column.drifted)


def test_report_agrees_on_drifted_columns(config: ModelConfig, small_ref: pd.DataFrame) -> None:
    from include.modelcare.quality.drift_report import parse_value_drift

    current = churn_frame(400, seed=31, charges_shift=1.0, contract_p=(0.30, 0.30, 0.40))
    result, snapshot = drift_of(current, small_ref, config)
    assert result.columns["monthly_charges"].drifted and result.columns["contract"].drifted
    parsed = parse_value_drift(snapshot.dict())
    assert {n: v[2:] for n, v in parsed.items()} == {n: (c.score, c.drifted) for n, c in result.columns.items()}


def test_verdicts_numbers_are_evidentlys_stat_tests(config: ModelConfig, small_ref: pd.DataFrame) -> None:
    """A full Evidently run of its own tests (KS, Wasserstein, Jensen-Shannon) and the registered chi-square
    contingency test on the same data gives the verdict's p-values and effects."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from include.modelcare.quality import stattests
    from include.modelcare.quality.drift import aligned_counts
    from include.modelcare.quality.drift_report import parse_value_drift, register_chi2_contingency

    register_chi2_contingency()
    features = config.data.features
    current = churn_frame(300, seed=32, charges_shift=0.3)
    result = drift_verdict(current, small_ref, features, config.drift)
    discrete = [n for n, c in result.columns.items() if c.method == CATEGORICAL_TEST]
    numeric = [n for n in features.all if n not in discrete]
    definition = DataDefinition(numerical_columns=features.numerical, categorical_columns=features.categorical)

    def run(methods: dict[str, str]) -> dict[str, float]:
        preset = DataDriftPreset(columns=features.all, per_column_method=methods)
        snapshot = Report([preset]).run(
            Dataset.from_pandas(current[features.all], data_definition=definition),
            Dataset.from_pandas(small_ref[features.all], data_definition=definition),
        )
        return {n: v[2] for n, v in parse_value_drift(snapshot.dict()).items()}

    pvalues = run({**dict.fromkeys(numeric, "ks"), **dict.fromkeys(discrete, CHI2_CONTINGENCY)})
    effects = run({**dict.fromkeys(numeric, "wasserstein"), **dict.fromkeys(discrete, "jensenshannon")})
    for name, column in result.columns.items():
        assert column.p_value == pytest.approx(pvalues[name], rel=1e-12, abs=1e-300), name
        if name in numeric:
            assert column.score == pytest.approx(effects[name], rel=1e-12), name
        else:  # the verdict uses the bias-corrected Jensen-Shannon; its plug-in part is Evidently's
            counts = aligned_counts(small_ref[name], current[name])
            assert stattests.jensenshannon(*counts) == pytest.approx(effects[name], rel=1e-12), name
            assert column.score == stattests.jensenshannon_debiased(*counts)


@pytest.mark.parametrize(("method", "level"), [("bonferroni", 0.005), ("none", 0.05), ("holm", 0.005), ("bh", 0.005)])
def test_corrected_level_without_drift(method: str, level: float, config: ModelConfig, small_ref: pd.DataFrame) -> None:
    """No column significant: Bonferroni, Holm and BH all stop at alpha / 10; none uses alpha."""
    rule = config.drift.model_copy(update={"multiple_testing": method})
    result = drift_verdict(churn_frame(400, seed=11), small_ref, config.data.features, rule)
    assert [c.p_threshold for c in result.columns.values()] == pytest.approx([level] * 10)
    assert f"({method}, alpha 0.05)" in result.reason


def test_drift_needs_significance_and_the_effect_floor(config: ModelConfig, small_ref: pd.DataFrame) -> None:
    """A clear shift below a raised floor is no drift; the same shift above the default floor is."""
    current = churn_frame(400, seed=21, charges_shift=1.0)
    high_floor = config.drift.model_copy(update={"num_threshold": 5.0})
    charges = drift_verdict(current, small_ref, config.data.features, high_floor).columns["monthly_charges"]
    assert charges.p_value < charges.p_threshold and charges.score < 5.0 and not charges.drifted
    assert drift_verdict(current, small_ref, config.data.features, config.drift).columns["monthly_charges"].drifted


def test_verdict_without_evidently() -> None:
    """``drift_verdict`` and ``compute_drift(..., with_report=False)`` never import Evidently."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests/unit/quality')\n"
        "from test_drift import churn_frame, CHURN_YAML\n"
        "from include.modelcare.config.catalog import load_model_config\n"
        "from include.modelcare.quality.drift import compute_drift, drift_verdict\n"
        "c = load_model_config(CHURN_YAML)\n"
        "a, b = churn_frame(300, 1), churn_frame(300, 2)\n"
        "r = drift_verdict(a, b, c.data.features, c.drift)\n"
        "r2, snap = compute_drift(a, b, c.data.features, c.drift, with_report=False)\n"
        "assert snap is None and r2.to_dict() == r.to_dict()\n"
        "assert 'evidently' not in sys.modules, 'evidently imported'\n"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_report_html_needs_a_snapshot() -> None:
    with pytest.raises(DriftError, match="no Evidently snapshot"):
        report_html(None)


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
    ("ref_fixture", "n_current", "method"),
    [("small_ref", 400, CATEGORICAL_TEST), ("large_ref", 1200, CATEGORICAL_TEST)],
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
    assert data["p_values"] == {n: c.p_value for n, c in result.columns.items()}
    assert data["p_threshold"] == result.columns["contract"].p_threshold
    assert json.loads(json.dumps(data)) == data


def test_top_features_ranking_is_documented_order() -> None:
    """Drifted first, then by effect against the floor (score / threshold)."""

    def col(name: str, score: float, threshold: float, drifted: bool) -> ColumnDrift:
        return ColumnDrift(name, "numerical", NUMERICAL_TEST, score, threshold, drifted, critical=False)

    columns = [
        col("barely", 0.11, 0.1, True),  # severity 1.1
        col("strong", 0.9, 0.1, True),  # 9
        col("cat", 0.3, 0.1, True),  # 3
        col("big_but_insignificant", 0.5, 0.1, False),  # 5, not drifted
        col("quiet", 0.02, 0.1, False),  # 0.2
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
    assert [c.name for c in result.top_features(5)] == ["strong", "cat", "barely", "big_but_insignificant", "quiet"]
    assert result.to_dict()["top_features"] == ["strong", "cat", "barely"]


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

    from include.modelcare.quality.drift_report import register_chi2_contingency

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
    assert list(result.columns) == ["prediction"] and result.columns["prediction"].method == NUMERICAL_TEST
    assert result.columns["prediction"].p_threshold == pytest.approx(config.drift.alpha)  # corrected over 1 column
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
