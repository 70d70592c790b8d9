"""A model whose config fails the parse-time checks never half-builds: none of its DAGs exist, and the
catalog check's import error names the file and the field. The catalog-check DAG itself parses cheaply."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow_env import DAGS, REPO

pytestmark = pytest.mark.dags

SAMPLE = REPO / "include" / "models" / "customer_churn.yaml"
JOBS = ("monitor", "retrain", "deploy")


def _bag(models: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("MODELCARE_MODELS_DIR", str(models))
    return DagBag(dag_folder=str(DAGS))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('monitoring: "0 6 * * 1"', 'monitoring: "every tuesday"', "schedules.monitoring"),
        ('retraining: "0 8 * * 1"', 'retraining: "0 8 * *"', "schedules.retraining"),
        ("prefix: modelcare", "prefix: ../../other", "data.prefix"),
    ],
)
def test_a_parse_time_config_error_builds_none_of_the_models_dags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, field: str
) -> None:
    text = SAMPLE.read_text()
    assert old in text
    (tmp_path / "customer_churn.yaml").write_text(text)
    (tmp_path / "bad_model.yaml").write_text(text.replace("name: customer_churn", "name: bad_model").replace(old, new))
    bag = _bag(tmp_path, monkeypatch)
    assert not [d for d in bag.dag_ids if d.endswith("_bad_model")], "a broken model half-built"
    assert {f"modelcare_{job}_customer_churn" for job in JOBS} <= set(bag.dag_ids)
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert list(errors) == ["modelcare_catalog_check.py"]
    assert "bad_model.yaml" in errors["modelcare_catalog_check.py"]
    assert field in errors["modelcare_catalog_check.py"]


def test_the_catalog_check_dag_is_built_when_every_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    bag = _bag(SAMPLE.parent, monkeypatch)
    dag = bag.dags["modelcare_catalog_check"]
    assert [t.task_id for t in dag.tasks] == ["check_model_configs"]
    assert not dag.catchup and dag.max_active_runs == 1
