"""DAG integrity: every DAG file imports, DAGs follow the house rules, broken configs stay contained."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.modelcare.config.catalog import load_catalog
from include.modelcare.operators import defaults
from tests.airflow_env import DAGS, REPO
from tests.house_rules import HEAVY_MODULES

pytestmark = pytest.mark.dags

SHIPPED_MODELS = REPO / "include" / "models"
SAMPLE = SHIPPED_MODELS / "customer_churn.yaml"
# What the DAG files build from the shipped catalog: a monitoring and a retraining DAG per model, a
# deployment DAG per model with a ``deploy`` section, and the catalog-wide DAGs. Known at collection
# time, so each DAG is its own test (and the parse must give exactly these, so none goes untested).
CATALOG_DAG_IDS = ("modelcare_catalog_check", "modelcare_incidents")
SHIPPED_DAG_IDS = sorted(
    [
        *CATALOG_DAG_IDS,
        *(
            defaults.dag_id(job, config.name)
            for config in load_catalog(SHIPPED_MODELS).models.values()
            for job in ("monitor", "retrain", *(["deploy"] if config.deploy is not None else []))
        ),
    ]
)


def _dagbag(models_dir: Path | None = None, monkeypatch: pytest.MonkeyPatch | None = None):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    if models_dir is not None and monkeypatch is not None:
        monkeypatch.setenv("MODELCARE_MODELS_DIR", str(models_dir))
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def shipped_bag() -> Iterator[Any]:
    """One parse of dags/ with the shipped catalog, shared by the tests that only read it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MODELCARE_MODELS_DIR", raising=False)
        yield _dagbag()


def test_no_import_errors_with_the_shipped_catalog(shipped_bag: Any) -> None:
    assert shipped_bag.import_errors == {}
    assert sorted(shipped_bag.dag_ids) == SHIPPED_DAG_IDS  # so the per-DAG tests below cover every DAG


@pytest.mark.parametrize("dag_id", SHIPPED_DAG_IDS)
def test_dag_follows_house_rules(shipped_bag: Any, dag_id: str) -> None:
    dag = shipped_bag.dags[dag_id]
    assert "modelcare" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 100, "no doc_md"
    assert dag.max_active_runs == 1
    assert not dag.catchup
    assert dag.tasks, "no tasks"
    for t in dag.tasks:
        assert t.owner == "ml-platform", f"{t.task_id} owner {t.owner}"
        assert t.retries >= 1, f"{t.task_id} has no retries"
        assert t.on_failure_callback, f"{t.task_id} has no failure alert"


def test_monitoring_dag_shape(shipped_bag: Any) -> None:
    dag = shipped_bag.dags["modelcare_monitor_customer_churn"]
    assert {t.task_id for t in dag.tasks} == {
        "resolve_batch",
        "report_missing_batch",
        "validate_batch",
        "measure_drift",
        "decide",
        "alert_drift",
        "request_retraining",
        "trigger_retraining",
        "no_retraining",
        "check_performance",
        "publish_metrics",
    }
    assert dag.get_task("resolve_batch").downstream_task_ids == {"validate_batch", "report_missing_batch"}
    publish = dag.get_task("publish_metrics")  # also after a failed validation, never for a missing batch
    assert publish.upstream_task_ids == {"validate_batch", "measure_drift", "check_performance"}
    assert publish.trigger_rule == "none_skipped"
    assert dag.get_task("decide").downstream_task_ids == {"alert_drift", "request_retraining", "no_retraining"}
    trigger = dag.get_task("trigger_retraining")
    assert trigger.trigger_dag_id == "modelcare_retrain_customer_churn"
    assert trigger.skip_when_already_exists
    assert set(dag.params.keys()) == {"batch_date", "reference_uri", "request_retraining", "send_alerts"}
    assert "0 6 * * 1" in repr(dag.timetable)


def test_parsing_does_not_import_heavy_modules() -> None:
    """Run the parse in a fresh interpreter: nothing heavy may be in sys.modules afterwards."""
    code = textwrap.dedent(
        f"""
        import sys
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder={str(DAGS)!r})
        assert not bag.import_errors, bag.import_errors
        heavy = sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith("HEAVY=")]
    assert line == ["HEAVY="], f"heavy modules imported at parse time: {line}"


def test_broken_config_is_reported_and_others_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(SAMPLE, tmp_path / "customer_churn.yaml")
    good_two = SAMPLE.read_text().replace("name: customer_churn", "name: second_model")
    (tmp_path / "second_model.yaml").write_text(good_two)
    (tmp_path / "broken_model.yaml").write_text(
        SAMPLE.read_text()
        .replace("name: customer_churn", "name: broken_model")
        .replace("task: classification", "task: clustering")
    )
    bag = _dagbag(tmp_path, monkeypatch)
    assert {"modelcare_monitor_customer_churn", "modelcare_monitor_second_model"} <= set(bag.dag_ids)
    assert "modelcare_monitor_broken_model" not in bag.dag_ids
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert list(errors) == ["modelcare_catalog_check.py"]
    message = errors["modelcare_catalog_check.py"]
    assert "broken_model.yaml" in message and "task" in message and "clustering" in message


def test_retraining_dag_shape(shipped_bag: Any) -> None:
    dag = shipped_bag.dags["modelcare_retrain_customer_churn"]
    assert {t.task_id for t in dag.tasks} == {
        "assemble_training_set",
        "train_candidate",
        "evaluate_candidate",
        "register_candidate",
        "alert_registration",
        "route_approval",
        "await_approval",
        "hand_off",
        "should_deploy",
        "trigger_deployment",
    }
    assert dag.get_task("route_approval").downstream_task_ids == {"await_approval", "hand_off"}
    assert dag.get_task("hand_off").downstream_task_ids == {"should_deploy"}
    trigger = dag.get_task("trigger_deployment")
    assert trigger.trigger_dag_id == "modelcare_deploy_customer_churn"
    assert trigger.skip_when_already_exists is True  # a re-run never deploys the same hand-off twice
    assert dag.get_task("await_approval").downstream_task_ids == {"hand_off"}
    assert {"reason", "window_weeks", "hyperparameters", "force", "auto_deploy"} <= set(dag.params.keys())
    assert dag.max_active_runs == 1


def test_sagemaker_backend_wires_the_provider_training_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sagemaker = (
        "  sagemaker:\n"
        "    image_uri: 683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3\n"
        "    role_arn: arn:aws:iam::123456789012:role/modelcare-training\n"
    )
    text = SAMPLE.read_text().replace("  backend: local ", sagemaker + "  backend: sagemaker ")
    (tmp_path / "customer_churn.yaml").write_text(text)
    bag = _dagbag(tmp_path, monkeypatch)
    assert bag.import_errors == {}
    dag = bag.dags["modelcare_retrain_customer_churn"]
    job = dag.get_task("sagemaker_training_job")
    assert type(job).__name__ == "SageMakerTrainingOperator"
    assert dag.get_task("prepare_sagemaker_job").downstream_task_ids == {"sagemaker_training_job"}
    assert dag.get_task("collect_sagemaker_model").downstream_task_ids == {"evaluate_candidate"}
    assert "train_candidate" not in dag.task_ids


def test_deployment_dag_shape_and_form(shipped_bag: Any) -> None:
    dag = shipped_bag.dags["modelcare_deploy_customer_churn"]
    assert dag.schedule is None or str(dag.timetable.summary) in {"None", "Never"}
    assert dag.max_active_runs == 1
    assert dag.get_task("route_deployment").downstream_task_ids == {
        "show_plan",
        "prepare_endpoint",
        "shift_lambda_traffic",
    }
    assert dag.get_task("prepare_endpoint").downstream_task_ids == {"deploy_endpoint", "roll_back"}
    assert dag.get_task("deploy_endpoint").downstream_task_ids == {"wait_for_endpoint", "roll_back"}
    sensor = dag.get_task("wait_for_endpoint")
    assert sensor.mode == "reschedule"
    assert type(dag.get_task("bake")).__name__ == "BakeOperator"
    assert dag.get_task("smoke_test").downstream_task_ids == {"bake", "roll_back"}
    assert dag.get_task("promote").downstream_task_ids == {"alert_deployed", "roll_back"}
    roll_back = dag.get_task("roll_back")
    assert str(roll_back.trigger_rule) in {"one_failed", "TriggerRule.ONE_FAILED"}
    assert {"prepare_endpoint", "deploy_endpoint", "wait_for_endpoint", "shift_lambda_traffic", "bake"} <= (
        roll_back.upstream_task_ids
    )
    assert {"version", "target", "strategy", "canary_percent", "bake_minutes", "force", "dry_run"} <= set(
        dag.params.keys()
    )
    assert dag.params.get_param("target").schema["enum"] == ["sagemaker", "lambda"]


def test_no_deploy_section_means_no_deployment_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = SAMPLE.read_text()
    (tmp_path / "customer_churn.yaml").write_text(text[: text.index("\ndeploy:")] + "\n")
    bag = _dagbag(tmp_path, monkeypatch)
    assert bag.import_errors == {}
    assert "modelcare_deploy_customer_churn" not in bag.dag_ids
    assert "trigger_deployment" not in bag.dags["modelcare_retrain_customer_churn"].task_ids


@pytest.mark.parametrize(
    ("param", "value"),
    [("version", "v1; drop"), ("target", "kubernetes"), ("canary_percent", 80), ("bake_minutes", -1)],
)
def test_bad_deployment_form_is_refused_with_the_param_named(shipped_bag: Any, param: str, value: object) -> None:
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    dag = shipped_bag.dags["modelcare_deploy_customer_churn"]
    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=param):
        params[param] = value
        params.validate()
