"""Loading config files: mistakes YAML lets through must be refused with the file named."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.modelcare.config.catalog import load_catalog, load_model_config
from include.modelcare.errors import ConfigError

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "customer_churn.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_a_duplicate_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    text = SAMPLE.read_text() + "\ntask: regression\n"
    with pytest.raises(ConfigError) as err:
        load_model_config(_write(tmp_path, text))
    message = str(err.value)
    assert str(tmp_path / "customer_churn.yaml") in message
    assert "duplicate key 'task'" in message
    assert "\n" not in message


def test_a_duplicate_nested_key_is_refused(tmp_path: Path) -> None:
    text = SAMPLE.read_text().replace("\ndata:\n", "\ndata:\n  bucket: other-bucket\n", 1)
    with pytest.raises(ConfigError, match="duplicate key 'bucket'"):
        load_model_config(_write(tmp_path, text))


def test_a_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes().replace(b"description:", b"description: caf\xe9\ndescription_x:", 1)
    path = _write(tmp_path, raw)
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert str(err.value).startswith(f"{path}: not UTF-8")


def test_a_broken_file_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    (tmp_path / "customer_churn.yaml").write_text(SAMPLE.read_text())
    (tmp_path / "other.yaml").write_bytes(b"\xff\xfe garbage")
    catalog = load_catalog(tmp_path)
    assert set(catalog.models) == {"customer_churn"}
    assert "not UTF-8" in catalog.errors[str(tmp_path / "other.yaml")]


def test_the_shipped_sample_has_no_duplicate_keys() -> None:
    assert load_model_config(SAMPLE).name == "customer_churn"
