"""The churn simulator: deterministic, valid when clean, and every knob does what it says."""

from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING

import pytest

from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.dev.simulate import (
    CATEGORIES,
    COLUMNS,
    UNKNOWN_VALUES,
    Scenario,
    generate_batch,
    labels_uri,
    seed_model,
)
from include.modelcare.storage.objects import ObjectStore

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.unit

N = 4000
SEED = 11


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return generate_batch(N, SEED)


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return get_model_config("customer_churn")


def test_same_seed_same_frame_other_seed_other_frame(clean: pd.DataFrame) -> None:
    import pandas as pd

    pd.testing.assert_frame_equal(generate_batch(N, SEED), clean)
    assert not generate_batch(N, SEED + 1).equals(clean)
    faulty = Scenario.faulty()
    pd.testing.assert_frame_equal(generate_batch(500, 3, faulty), generate_batch(500, 3, faulty))


def test_clean_batch_columns_dtypes_and_ranges(clean: pd.DataFrame) -> None:
    assert tuple(clean.columns) == COLUMNS
    assert len(clean) == N
    assert clean.notna().all().all()
    assert clean["customer_id"].is_unique
    assert clean["customer_id"].iloc[0] == "C0000001" and clean["customer_id"].iloc[-1] == f"C{N:07d}"
    assert generate_batch(3, SEED, id_offset=100)["customer_id"].tolist() == ["C0000101", "C0000102", "C0000103"]
    for col in ("tenure_months", "support_calls", "age", "churned"):
        assert clean[col].dtype == "int64", col
    for col in ("monthly_charges", "total_charges", "data_usage_gb"):
        assert clean[col].dtype == "float64", col
    assert clean["tenure_months"].between(0, 72).all()
    assert clean["monthly_charges"].between(18, 150).all()
    assert clean["age"].between(18, 90).all()
    assert (clean["support_calls"] >= 0).all() and (clean["data_usage_gb"] > 0).all()
    assert set(clean["churned"]) == {0, 1}
    assert 0.20 <= clean["churned"].mean() <= 0.30
    for col, values in CATEGORIES.items():
        assert set(clean[col]) == set(values), col
    # total charges track tenure x monthly charges
    ratio = clean["total_charges"] / (clean["tenure_months"] * clean["monthly_charges"])
    assert ratio[clean["tenure_months"] > 0].between(0.9, 1.1).all()


def test_clean_batch_passes_the_sample_config_rules(clean: pd.DataFrame, config: ModelConfig) -> None:
    rules = config.validation
    assert set(config.data.features.all) | {config.data.id_column, config.data.target} <= set(clean.columns)
    assert clean[config.data.features.all].isna().mean().max() <= rules.max_null_fraction
    for col, rule in rules.columns.items():
        if rule.min is not None:
            assert clean[col].min() >= rule.min, col
        if rule.max is not None:
            assert clean[col].max() <= rule.max, col
        if rule.values is not None:
            assert set(clean[col]) <= set(rule.values), col


def test_null_fraction_nulls_exactly_that_share(clean: pd.DataFrame) -> None:
    frame = generate_batch(N, SEED, Scenario(null_fraction=0.1, null_columns=("monthly_charges", "contract", "age")))
    for col in ("monthly_charges", "contract", "age"):
        assert frame[col].isna().sum() == round(0.1 * N), col
    assert frame.drop(columns=["monthly_charges", "contract", "age"]).notna().all().all()
    kept = frame["monthly_charges"].notna()
    assert (frame.loc[kept, "monthly_charges"] == clean.loc[kept, "monthly_charges"]).all()  # the rest is untouched


def test_out_of_range_fraction_breaks_tenure_and_age() -> None:
    frame = generate_batch(N, SEED, Scenario(out_of_range_fraction=0.05))
    k = round(0.05 * N)
    assert (frame["tenure_months"] < 0).sum() == k
    assert (frame["age"] == 150).sum() == k
    assert frame["monthly_charges"].between(18, 150).all()


def test_duplicate_id_fraction_duplicates_that_many_ids() -> None:
    frame = generate_batch(N, SEED, Scenario(duplicate_id_fraction=0.02))
    assert frame["customer_id"].duplicated().sum() == round(0.02 * N)


def test_faulty_preset_combines_the_faults(config: ModelConfig) -> None:
    frame = generate_batch(N, SEED, Scenario.faulty())
    assert frame["monthly_charges"].isna().mean() == pytest.approx(0.2)
    assert frame["monthly_charges"].isna().mean() > config.validation.max_null_fraction
    assert (frame["tenure_months"] < 0).sum() == round(0.05 * N)
    assert (frame["age"] > 100).sum() == round(0.05 * N)
    assert frame["customer_id"].duplicated().sum() == round(0.02 * N)


def test_drop_columns_removes_them() -> None:
    frame = generate_batch(100, SEED, Scenario(drop_columns=("region", "age")))
    assert "region" not in frame.columns and "age" not in frame.columns
    assert len(frame.columns) == len(COLUMNS) - 2


def test_unknown_category_fraction_writes_unknown_values() -> None:
    frame = generate_batch(
        N, SEED, Scenario(unknown_category_fraction=0.03, unknown_category_columns=("contract", "plan"))
    )
    for col in ("contract", "plan"):
        assert (frame[col] == UNKNOWN_VALUES[col]).sum() == round(0.03 * N)
        assert (~frame[col].isin(CATEGORIES[col])).sum() == round(0.03 * N)


def test_covariate_shift_moves_the_mean_by_shift_times_std(clean: pd.DataFrame) -> None:
    shifted = generate_batch(N, SEED, Scenario(covariate_shift=0.5))
    for col in ("monthly_charges", "data_usage_gb"):
        moved = shifted[col].mean() - clean[col].mean()
        assert moved == pytest.approx(0.5 * clean[col].std(), rel=0.02), col
    assert (shifted["age"] == clean["age"]).all()  # not a shift feature
    drifted = generate_batch(N, SEED, Scenario.drifted())
    assert drifted["monthly_charges"].mean() - clean["monthly_charges"].mean() > 0.95 * clean["monthly_charges"].std()


def test_categorical_shift_moves_contract_toward_month_to_month(clean: pd.DataFrame) -> None:
    shifted = generate_batch(N, SEED, Scenario(categorical_shift=0.5))
    before = (clean["contract"] == "month_to_month").mean()
    after = (shifted["contract"] == "month_to_month").mean()
    assert before == pytest.approx(0.5, abs=0.03)
    assert after == pytest.approx(0.7, abs=0.03)  # half way to 90%
    assert (shifted["payment_method"] == "electronic_check").mean() > (
        clean["payment_method"] == "electronic_check"
    ).mean() + 0.1


def test_drifted_preset_is_large_enough_for_the_default_drift_tests(clean: pd.DataFrame) -> None:
    import numpy as np

    drifted = generate_batch(2000, SEED + 1, Scenario.drifted())
    again = generate_batch(2000, SEED + 1)
    # normed Wasserstein distance on equal-sized samples: mean |sorted difference| / reference std
    ref = np.sort(clean["monthly_charges"].sample(2000, random_state=0).to_numpy())
    for cur, flagged in ((drifted, True), (again, False)):
        score = np.abs(np.sort(cur["monthly_charges"].to_numpy()) - ref).mean() / clean["monthly_charges"].std()
        assert bool(score >= 0.1) is flagged
    # Jensen-Shannon distance of the contract mix (natural log, as scipy's default)
    p = clean["contract"].value_counts(normalize=True).sort_index().to_numpy()
    q = drifted["contract"].value_counts(normalize=True).sort_index().to_numpy()
    m = (p + q) / 2
    js = np.sqrt((np.sum(p * np.log(p / m)) + np.sum(q * np.log(q / m))) / 2)
    assert js >= 0.12


def test_concept_drift_flips_the_label_relation(clean: pd.DataFrame) -> None:
    drifted = generate_batch(N, SEED, Scenario.concept_drifted())
    features = [c for c in COLUMNS if c not in ("customer_id", "churned")]
    assert drifted[features].equals(clean[features])  # only the labels move
    assert clean["churned"].corr(clean["monthly_charges"]) > 0.1
    assert drifted["churned"].corr(drifted["monthly_charges"]) < -0.1
    assert clean["churned"].corr(clean["tenure_months"]) < -0.2
    assert drifted["churned"].corr(drifted["tenure_months"]) > 0.1
    half = generate_batch(N, SEED, Scenario(concept_drift=0.5))
    assert half["churned"].corr(half["monthly_charges"]) == pytest.approx(0, abs=0.08)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"null_fraction": 1.5}, "null_fraction"),
        ({"concept_drift": -0.1}, "concept_drift"),
        ({"duplicate_id_fraction": 0.6}, "duplicate_id_fraction"),
        ({"drop_columns": ("nope",)}, "drop_columns: unknown column"),
        ({"shift_features": ("plan",)}, "shift_features: unknown column"),
        ({"covariate_shift": float("nan")}, "covariate_shift"),
    ],
)
def test_scenario_rejects_bad_knobs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scenario(**kwargs)  # type: ignore[arg-type]


def _on_bucket(config: ModelConfig, bucket: str) -> ModelConfig:
    return config.model_copy(update={"data": config.data.model_copy(update={"bucket": bucket})})


def test_seed_model_writes_reference_batches_and_labels(
    s3_store: ObjectStore, fresh_bucket: str, config: ModelConfig
) -> None:
    import pandas as pd

    cfg = _on_bucket(config, fresh_bucket)
    weeks = [dt.date(2026, 1, 12), dt.date(2026, 1, 5)]
    written = seed_model(s3_store, cfg, weeks, {weeks[0]: Scenario.faulty()}, rows_per_batch=600, reference_rows=1200)

    root = f"s3://{fresh_bucket}/modelcare/customer_churn"
    assert written["reference"] == f"{root}/baseline/reference.parquet"
    assert written["batches"] == {
        "2026-01-05": f"{root}/incoming/dt=2026-01-05/part-000.parquet",
        "2026-01-12": f"{root}/incoming/dt=2026-01-12/part-000.parquet",
    }
    assert (
        written["labels"]["2026-01-12"] == labels_uri(cfg, weeks[0]) == f"{root}/labels/dt=2026-01-12/part-000.parquet"
    )
    assert s3_store.list(f"{root}/") == sorted(
        [written["reference"], *written["batches"].values(), *written["labels"].values()]
    )

    def read(uri: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(s3_store.read_bytes(uri)))

    reference = read(written["reference"])
    assert len(reference) == 1200 and tuple(reference.columns) == COLUMNS
    clean_week = read(written["batches"]["2026-01-05"])
    assert "churned" not in clean_week.columns and len(clean_week) == 600
    assert clean_week["customer_id"].is_unique and not set(clean_week["customer_id"]) & set(reference["customer_id"])
    faulty_week = read(written["batches"]["2026-01-12"])
    assert faulty_week["monthly_charges"].isna().sum() == 120
    labels = read(written["labels"]["2026-01-05"])
    assert list(labels.columns) == ["customer_id", "churned"]
    assert labels["customer_id"].tolist() == clean_week["customer_id"].tolist()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_seed_model_is_idempotent_and_keeps_the_target_when_configured(
    s3_store: ObjectStore, fresh_bucket: str, config: ModelConfig, fmt: str
) -> None:
    from include.modelcare.storage.tables import read_table

    cfg = _on_bucket(config, fresh_bucket)
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"batch_has_target": True, "format": fmt})})
    week = dt.date(2026, 2, 2)
    first = seed_model(s3_store, cfg, [week], rows_per_batch=300, reference_rows=500)
    before = {uri: s3_store.read_bytes(uri) for uri in s3_store.list(f"s3://{fresh_bucket}/")}
    second = seed_model(s3_store, cfg, [week], rows_per_batch=300, reference_rows=500)
    after = {uri: s3_store.read_bytes(uri) for uri in s3_store.list(f"s3://{fresh_bucket}/")}
    assert first == second and before == after and len(after) == 3
    batch_uri = first["batches"]["2026-02-02"]
    assert batch_uri.endswith(f"part-000.{fmt}")
    assert tuple(read_table(batch_uri, store=s3_store).columns) == COLUMNS  # the target stays in the batch


def test_retraining_on_the_changed_behaviour_beats_the_old_model_on_every_guardrail() -> None:
    """The demo's story holds: after the behaviour change (weeks 6-8), a model trained on a window with two
    changed weeks beats the old model on a changed holdout on the primary metric and every guardrail."""
    import pandas as pd

    from include.modelcare.ml.evaluation import evaluate
    from include.modelcare.ml.threshold import choose_threshold
    from include.modelcare.ml.training import fit
    from include.modelcare.policy import gate

    config = get_model_config("customer_churn")
    params = config.training.params
    changed = Scenario(covariate_shift=0.6, categorical_shift=0.5, concept_drift=1.0)
    old_train = generate_batch(4000, seed=1)
    weeks = [generate_batch(2000, seed=2), *(generate_batch(2000, seed=s, scenario=changed) for s in (3, 4))]
    window = pd.concat(weeks, ignore_index=True)
    holdout = generate_batch(2000, seed=5, scenario=changed)
    old, _ = fit(config, params, old_train)
    new, _ = fit(config, params, window)
    champion = evaluate(old, holdout, config, threshold=choose_threshold(config, params, old_train).value)
    candidate = evaluate(new, holdout, config, threshold=choose_threshold(config, params, window).value)
    decision = gate(config, candidate, champion, classes=2)
    assert decision.passed, decision.reasons  # the shipped floor (0.70), min_improvement and guardrails
    for metric in ("roc_auc", "f1", "balanced_accuracy", "min_class_recall", "accuracy"):
        assert candidate[metric] > champion[metric], metric
    assert candidate["log_loss"] < champion["log_loss"]
