"""The catalog check: silent when every config loads, one ConfigError naming each broken file otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from include.modelcare.errors import ConfigError
from include.modelcare.tasks.catalog import check_catalog

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"


def test_valid_catalog_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SAMPLE, tmp_path / "customer_churn.yaml")
    monkeypatch.setenv("MODELCARE_MODELS_DIR", str(tmp_path))
    check_catalog()


def test_broken_configs_are_listed_by_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SAMPLE, tmp_path / "customer_churn.yaml")
    text = SAMPLE.read_text()
    for name in ("broken_a", "broken_b"):
        broken = text.replace("name: customer_churn", f"name: {name}").replace("task: classification", "task: x")
        (tmp_path / f"{name}.yaml").write_text(broken)
    monkeypatch.setenv("MODELCARE_MODELS_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="2 invalid model config") as err:
        check_catalog()
    message = str(err.value)
    assert "broken_a.yaml" in message and "broken_b.yaml" in message and "task" in message
    assert "customer_churn.yaml" not in message


def _sample_with(tmp_path: Path, old: str, new: str) -> Path:
    text = SAMPLE.read_text()
    assert old in text
    path = tmp_path / "customer_churn.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_deep_checks_pass_on_the_sample() -> None:
    from include.modelcare.config.catalog import load_model_config
    from include.modelcare.tasks.catalog import deep_problems

    assert deep_problems(load_model_config(SAMPLE)) == []


def test_unknown_hyperparameters_are_named_by_the_deep_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from include.modelcare.tasks.boundary import TaskFailed
    from include.modelcare.tasks.catalog import check_models

    path = _sample_with(tmp_path, "params: {C: 1.0, max_iter: 1000}", "params: {C: 1.0, n_trees: 300}")
    monkeypatch.setenv("MODELCARE_MODELS_DIR", str(tmp_path))
    with pytest.raises(TaskFailed) as err:
        check_models()
    message = str(err.value)
    assert f"{path}: training.params: LogisticRegression: unknown hyperparameter(s) n_trees" in message
    assert isinstance(err.value.__cause__, ConfigError)


def test_check_config_runs_the_deep_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from include.modelcare.cli.main import main

    path = _sample_with(tmp_path, "params: {C: 1.0, max_iter: 1000}", "params: {C: -1}")
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"INVALID {path}: training.params: LogisticRegression:")
    assert "'C' parameter" in out
