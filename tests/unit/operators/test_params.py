"""Form Params derived from pydantic fields: types, nullability, bounds, enums, defaults, descriptions."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from tests.airflow_env import configure_airflow

configure_airflow()  # before anything imports airflow: a throw-away AIRFLOW_HOME

from airflow.sdk import Param  # noqa: E402
from airflow.sdk.exceptions import ParamValidationError  # noqa: E402

from include.modelcare.operators.params import field_schema, param_from_field  # noqa: E402

pytestmark = pytest.mark.unit


class Sample(BaseModel):
    count: int = Field(3, ge=1, le=10, description="How many.")
    share: float = Field(0.5, gt=0, lt=1, description="A share.")
    enabled: bool = Field(True, description="On or off.")
    label: str = Field("x", min_length=1, max_length=8, pattern=r"^[a-z]+$", description="A label.")
    mode: Literal["fast", "slow", "off"] = Field("fast", description="Which mode.")
    limit: int | None = Field(None, ge=0, description="Optional limit.")
    uri: str | None = Field(None, pattern=r"^s3://")
    level: Literal[1, 2, 3] = 1
    options: dict[str, Any] = Field(default_factory=dict, description="Free options.")
    names: list[str] = Field(default_factory=list)
    required: int = Field(ge=0, description="No default.")
    plain: int = 0


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("count", {"type": "integer", "minimum": 1, "maximum": 10}),
        ("share", {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
        ("enabled", {"type": "boolean"}),
        ("label", {"type": "string", "minLength": 1, "maxLength": 8, "pattern": r"^[a-z]+$"}),
        ("mode", {"type": "string", "enum": ["fast", "slow", "off"]}),
        ("limit", {"type": ["null", "integer"], "minimum": 0}),
        ("uri", {"type": ["null", "string"], "pattern": r"^s3://"}),
        ("level", {"type": "integer", "enum": [1, 2, 3]}),
        ("options", {"type": "object"}),
        ("names", {"type": "array"}),
        ("plain", {"type": "integer"}),
    ],
)
def test_schema_follows_the_field(field: str, expected: dict[str, Any]) -> None:
    assert field_schema(Sample, field) == expected


def test_nullable_override_wraps_the_type_and_the_enum() -> None:
    assert field_schema(Sample, "count", nullable=True) == {"type": ["null", "integer"], "minimum": 1, "maximum": 10}
    assert field_schema(Sample, "mode", nullable=True)["enum"] == ["fast", "slow", "off", None]
    assert field_schema(Sample, "limit", nullable=False) == {"type": "integer", "minimum": 0}


def test_enum_may_narrow_a_literal_but_not_widen_it() -> None:
    assert field_schema(Sample, "mode", enum=["slow"]) == {"type": "string", "enum": ["slow"]}
    with pytest.raises(ValueError, match="turbo"):
        field_schema(Sample, "mode", enum=["fast", "turbo"])


def test_unknown_field_and_unsupported_types_are_refused() -> None:
    class Odd(BaseModel):
        either: int | str = 0
        mixed: Literal["a", 1] = "a"

    with pytest.raises(KeyError, match="nope"):
        field_schema(Sample, "nope")
    with pytest.raises(TypeError, match="union"):
        field_schema(Odd, "either")
    with pytest.raises(TypeError, match="mixes"):
        field_schema(Odd, "mixed")


def test_param_takes_default_title_and_description() -> None:
    param = param_from_field(Sample, "count", default=7, title="Count")
    assert isinstance(param, Param)
    assert param.value == 7
    assert param.schema == {"type": "integer", "minimum": 1, "maximum": 10, "title": "Count"}
    assert param.description == "How many."
    own = param_from_field(Sample, "count", description="Form text.")
    assert own.value == 3 and own.description == "Form text." and "title" not in own.schema
    assert param_from_field(Sample, "options").value == {}
    assert param_from_field(Sample, "limit", default=None).value is None


def test_required_field_gives_a_required_param() -> None:
    param = param_from_field(Sample, "required")
    assert not param.has_value
    with pytest.raises(ParamValidationError, match="No value"):
        param.resolve()
    assert param_from_field(Sample, "required", default=2).resolve() == 2


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("count", [1, 10], [0, 11, 2.5, "3", None]),
        ("share", [0.01, 0.99], [0, 1, "half"]),
        ("enabled", [True, False], ["yes", 1]),
        ("label", ["abc"], ["", "ABC", "toolongvalue"]),
        ("mode", ["slow"], ["turbo", None]),
        ("limit", [None, 0, 5], [-1, "5"]),
        ("uri", [None, "s3://b/k"], ["ftp://x"]),
    ],
)
def test_param_accepts_and_refuses_what_the_field_does(field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert param_from_field(Sample, field).resolve(value) == value
        Sample.model_validate({"required": 0, field: value})
    for value in bad:
        with pytest.raises(ParamValidationError):
            param_from_field(Sample, field).resolve(value)
        with pytest.raises(ValueError):
            Sample.model_validate({"required": 0, field: value}, strict=True)
