"""Model config: the sample loads; every kind of mistake names the file and the field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from include.modelcare.config.catalog import get_model_config, load_catalog, load_model_config
from include.modelcare.errors import ConfigError

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = SAMPLE.read_text()
    assert old in text, old
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("name: customer_churn", f"name: {name}").replace(old, new))
    return path


def test_sample_config_loads_with_defaults() -> None:
    config = load_model_config(SAMPLE)
    assert config.name == "customer_churn" and config.task == "classification"
    assert config.data.features.all[:2] == ["tenure_months", "monthly_charges"]
    assert config.drift.small_sample_rows == 1000  # default
    assert config.paths.incoming(dt.date(2026, 1, 5)) == (
        "s3://modelcare-demo/modelcare/customer_churn/incoming/dt=2026-01-05/"
    )
    assert config.paths.validation_result(dt.date(2026, 1, 5)).endswith("dt=2026-01-05/_modelcare/validation.json")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("task: classification", "task: clustering", "task: Input should be 'classification' or 'regression'"),
        ("  format: parquet", "  format: xlsx", "data.format"),
        ("  bucket: modelcare-demo", "  bucket: Not_A_Bucket", "data.bucket: must be a valid S3 bucket name"),
        ("  drift_share: 0.3", "  drift_share: 3", "drift.drift_share"),
        ("  retries: 2", "  retries: -1", "airflow.retries"),
        ("  retries: 2", "  retrys: 2", "airflow.retrys: Extra inputs are not permitted"),
        ("critical_features: [monthly_charges, contract]", "critical_features: [nope]", "not a feature: nope"),
        ("emails: [ml-team@example.com]", "emails: [not-an-email]", "alerts.emails"),
        ("    age: {min: 18, max: 100}", "    age: {min: 100, max: 18}", "validation.columns.age"),
        ("    age: {min: 18, max: 100}", "    agee: {min: 18, max: 100}", "unknown column(s) agee"),
        ("  target: churned", "  target: tenure_months", "cannot be a feature"),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = _variant(tmp_path, "bad_model", old, new)
    with pytest.raises(ConfigError) as info:
        load_model_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message
    assert "\n" not in message


def test_bad_name_and_name_file_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "Churn.yaml"
    path.write_text(SAMPLE.read_text().replace("name: customer_churn", "name: Churn"))
    with pytest.raises(ConfigError, match=r"name: String should match pattern"):
        load_model_config(path)
    other = tmp_path / "other.yaml"
    other.write_text(SAMPLE.read_text())
    with pytest.raises(ConfigError, match="must match the file name 'other'"):
        load_model_config(other)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntask: [classification\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML \(line \d+\)"):
        load_model_config(path)


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_model_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_model_config(tmp_path / "list.yaml")


def test_catalog_isolates_broken_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _variant(tmp_path, "good_one", "task: classification", "task: classification")
    _variant(tmp_path, "bad_one", "task: classification", "task: nope")
    (tmp_path / ".hidden.yaml").write_text("garbage: [")
    catalog = load_catalog(tmp_path)
    assert list(catalog.models) == ["good_one"]
    assert list(catalog.errors) == [str(tmp_path / "bad_one.yaml")]
    monkeypatch.setenv("MODELCARE_MODELS_DIR", str(tmp_path))
    assert get_model_config("good_one").name == "good_one"
    with pytest.raises(ConfigError, match="no config for model 'missing'"):
        get_model_config("missing")


def test_catalog_cache_sees_edits(tmp_path: Path) -> None:
    path = _variant(tmp_path, "edited", "task: classification", "task: classification")
    assert load_catalog(tmp_path).models["edited"].training.min_rows == 1000
    path.write_text(path.read_text().replace("min_rows: 1000", "min_rows: 2000") + "\n")
    assert load_catalog(tmp_path).models["edited"].training.min_rows == 2000
