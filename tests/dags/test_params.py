"""The trigger forms of the parsed DAGs accept exactly what the config schema accepts.

Each form field that overrides a config setting is derived from its pydantic field
(``include.modelcare.operators.params``). Here both sides are read independently: the Param's schema
from the parsed DAG, the field's bounds from pydantic's own JSON Schema, and the values on either side
of each bound are checked against both validators.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, cast

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from include.modelcare.config.catalog import load_catalog
from include.modelcare.config.deploy import DeployConfig
from include.modelcare.config.schema import DriftConfig, TrainingConfig
from tests.airflow_env import DAGS

pytestmark = pytest.mark.dags

MODEL = "customer_churn"
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern")

# dag -> form param -> (config model, field, title the form has always shown)
DERIVED: dict[str, dict[str, tuple[type[BaseModel], str, str]]] = {
    f"modelcare_deploy_{MODEL}": {
        "target": (DeployConfig, "target", "Target"),
        "strategy": (DeployConfig, "strategy", "Traffic shift"),
        "canary_percent": (DeployConfig, "canary_percent", "Canary %"),
        "bake_minutes": (DeployConfig, "bake_minutes", "Bake (minutes)"),
    },
    f"modelcare_monitor_{MODEL}": {
        "reference_uri": (DriftConfig, "reference_uri", "Reference data"),
    },
    f"modelcare_retrain_{MODEL}": {
        "window_weeks": (TrainingConfig, "window_weeks", "Training window (weeks)"),
        "hyperparameters": (TrainingConfig, "params", "Hyperparameter overrides"),
        "auto_deploy": (TrainingConfig, "auto_deploy", "Hand off to deployment"),
    },
}
CASES = [(dag_id, param) for dag_id, params in DERIVED.items() for param in params]


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return dict(bag.dags)


def _pydantic_schema(model: type[BaseModel], field: str) -> dict[str, Any]:
    """The field's JSON Schema as pydantic writes it, with ``anyOf [T, null]`` folded into one."""
    prop = model.model_json_schema(by_alias=False)["properties"][field]
    if "anyOf" in prop:
        (inner,) = [s for s in prop["anyOf"] if s.get("type") != "null"]
        prop = {**inner, "nullable": True}
    return prop


def _field_adapter(model: type[BaseModel], field: str) -> TypeAdapter[Any]:
    """Validates one value exactly as the model validates that field."""
    info = model.model_fields[field]
    return TypeAdapter(cast(Any, Annotated[info.annotation, info]))


def _beyond(schema: dict[str, Any]) -> list[Any]:
    """Values just outside each bound of the (numeric or string) schema, plus a wrong type."""
    step = 1 if "integer" in schema["type"] else 0.5
    values: list[Any] = []
    if "minimum" in schema:
        values.append(schema["minimum"] - step)
    if "maximum" in schema:
        values.append(schema["maximum"] + step)
    values += [schema[k] for k in ("exclusiveMinimum", "exclusiveMaximum") if k in schema]
    if "enum" in schema:
        values.append("not-a-choice")
    if "pattern" in schema:
        values.append("ftp://not-a-reference")
    values.append("text" if "string" not in schema["type"] else 12)
    return values


@pytest.mark.parametrize(("dag_id", "name"), CASES)
def test_form_param_has_the_fields_bounds(dags: dict[str, Any], dag_id: str, name: str) -> None:
    model, field, title = DERIVED[dag_id][name]
    param = dags[dag_id].params.get_param(name)
    expected = _pydantic_schema(model, field)
    schema = param.schema
    assert schema["title"] == title
    assert {k: schema[k] for k in BOUNDS if k in schema} == {k: expected[k] for k in BOUNDS if k in expected}
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    assert expected["type"] in types
    if "enum" in expected:
        assert set(schema["enum"]) <= set(expected["enum"])
    assert param.description  # from the field unless the form says what "empty" means


def test_forms_keep_their_defaults_and_the_configured_targets(dags: dict[str, Any]) -> None:
    config = load_catalog().models[MODEL]
    assert config.deploy is not None
    deploy = dags[f"modelcare_deploy_{MODEL}"].params
    assert deploy["target"] == config.deploy.target
    assert deploy["strategy"] == config.deploy.strategy
    assert deploy["canary_percent"] == config.deploy.canary_percent
    assert deploy["bake_minutes"] == config.deploy.bake_minutes
    assert deploy.get_param("target").schema["enum"] == config.deploy.targets()
    retrain = dags[f"modelcare_retrain_{MODEL}"].params
    assert (retrain["window_weeks"], retrain["hyperparameters"], retrain["auto_deploy"]) == (None, {}, None)
    assert dags[f"modelcare_monitor_{MODEL}"].params["reference_uri"] is None


@pytest.mark.parametrize(("dag_id", "name"), CASES)
def test_out_of_range_conf_is_refused_by_form_and_schema(dags: dict[str, Any], dag_id: str, name: str) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    model, field, _ = DERIVED[dag_id][name]
    dag = dags[dag_id]
    adapter = _field_adapter(model, field)
    bad = _beyond(dag.params.get_param(name).schema)
    assert bad
    for value in bad:
        params = copy.deepcopy(dag.params)
        with pytest.raises(ParamValidationError, match=name):
            params[name] = value
            params.validate()
        with pytest.raises(ValidationError):
            adapter.validate_python(value, strict=True)


@pytest.mark.parametrize(("dag_id", "name"), CASES)
def test_values_on_the_bounds_are_accepted_by_both(dags: dict[str, Any], dag_id: str, name: str) -> None:
    model, field, _ = DERIVED[dag_id][name]
    dag = dags[dag_id]
    schema = dag.params.get_param(name).schema
    values = [schema[k] for k in ("minimum", "maximum") if k in schema] + list(schema.get("enum", []))
    for value in values:
        params = copy.deepcopy(dag.params)
        params[name] = value
        params.validate()
        assert _field_adapter(model, field).validate_python(value) == value
