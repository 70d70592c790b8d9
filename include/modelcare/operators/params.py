"""Trigger-form ``Param``s derived from the config schema, so a bound or an enum is written once.

The pydantic field (``config.schema``) is the single statement of what a setting may be: its type,
``ge``/``gt``/``le``/``lt`` bounds, ``Literal`` choices, length and pattern, and its description. A form
field that overrides that setting for one run must accept exactly the same values, so it is derived
from the field here instead of restating the numbers in each DAG file (where they drifted apart).
This is the Airflow adapter of the schema: ``config/`` itself never imports Airflow.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any, Final, get_args, get_origin

from airflow.sdk import Param
from pydantic import BaseModel

_UNSET: Final[Any] = object()

# JSON Schema keyword of each pydantic/annotated-types constraint attribute.
_CONSTRAINTS: Final = {
    "ge": "minimum",
    "gt": "exclusiveMinimum",
    "le": "maximum",
    "lt": "exclusiveMaximum",
    "min_length": "minLength",
    "max_length": "maxLength",
    "pattern": "pattern",
}


def _json_type(annotation: Any) -> str:
    """JSON Schema type of a plain annotation (``bool`` before ``int``: bool is an int in Python)."""
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if annotation is str:
        return "string"
    origin = get_origin(annotation) or annotation
    if origin is dict:
        return "object"
    if origin in (list, tuple, set, frozenset):
        return "array"
    raise TypeError(f"no form type for annotation {annotation!r}")


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, ``(annotation, False)`` otherwise."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(args) < len(get_args(annotation)):
            return args[0], True
        raise TypeError(f"no form type for union {annotation!r}")
    return annotation, False


def field_schema(
    model: type[BaseModel],
    field: str,
    *,
    nullable: bool | None = None,
    enum: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The JSON Schema (Airflow's Param schema) of ``model.field``: type, bounds, enum, length, pattern.

    ``nullable`` forces ``["null", T]`` on or off (default: from ``T | None``): a form field whose empty
    value means "use the configured one" is nullable even when the setting is not. ``enum`` narrows a
    ``Literal`` to the choices that apply (e.g. the targets that are configured); it may not widen it.
    """
    try:
        info = model.model_fields[field]
    except KeyError:
        raise KeyError(f"{model.__name__} has no field {field!r}") from None
    inner, optional = _unwrap_optional(info.annotation)
    choices: list[Any] | None = None
    if get_origin(inner) is typing.Literal:
        choices = list(get_args(inner))
        kinds = {_json_type(type(c)) for c in choices}
        if len(kinds) != 1:
            raise TypeError(f"{model.__name__}.{field}: Literal mixes types {sorted(kinds)}")
        json_type = kinds.pop()
    else:
        json_type = _json_type(inner)
    if enum is not None:
        wider = [c for c in enum if choices is not None and c not in choices]
        if wider:
            raise ValueError(f"{model.__name__}.{field}: {wider} not among the allowed {choices}")
        choices = list(enum)
    allow_null = optional if nullable is None else nullable
    schema: dict[str, Any] = {"type": ["null", json_type] if allow_null else json_type}
    if choices is not None:
        schema["enum"] = [*choices, None] if allow_null else choices
    for constraint in info.metadata:
        for attr, keyword in _CONSTRAINTS.items():
            value = getattr(constraint, attr, None)
            if value is not None:
                schema[keyword] = value
    return schema


def param_from_field(
    model: type[BaseModel],
    field: str,
    *,
    default: Any = _UNSET,
    title: str | None = None,
    description: str | None = None,
    nullable: bool | None = None,
    enum: Sequence[Any] | None = None,
) -> Param:
    """An Airflow ``Param`` accepting exactly what ``model.field`` accepts (see ``field_schema``).

    ``default`` is the form's initial value, usually the model's configured one (default: the field's
    own default, none for a required field); ``description`` defaults to the field's. E.g.
    ``param_from_field(DeployConfig, "canary_percent", default=deploy.canary_percent, title="Canary %")``.
    """
    schema = field_schema(model, field, nullable=nullable, enum=enum)
    info = model.model_fields[field]
    if title is not None:
        schema["title"] = title
    if default is _UNSET and not info.is_required():
        default = info.get_default(call_default_factory=True)
    text = description or info.description
    if default is _UNSET:  # a required setting: the form field is required too
        return Param(description=text, schema=schema)
    return Param(default, description=text, schema=schema)
