"""Validation rules as plain data: which checks a model's batches get, and where each one comes from.

Rules come from the model config first; columns without explicit rules get ranges and value sets
derived from the reference data (when ``validation.derive_from_reference`` and a reference is given);
everything else uses the validation-wide defaults. A ``Rule`` knows nothing of Great Expectations
(only the name of the expectation it runs as), so rules can be built, inspected and tested without
GX; ``validation.validate_frame`` turns them into one GX suite and runs it. The one exception is
``extra_columns`` (``validation.extra_columns``: refuse or warn about columns beyond the id, the
features and the target): it compares the batch's column names exactly, in Python, with the
semantics of GX's ``ExpectTableColumnsToMatchSet(exact_match=True)`` on pandas (a set difference),
because GX is only ever handed the configured columns (it resolves names case-insensitively).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from include.modelcare.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

RuleKind = Literal["columns", "extra_columns", "row_count", "type", "not_null", "between", "in_set", "unique"]
RuleSource = Literal["config", "reference", "default"]

# GX expectation type (snake case) run for each kind of rule.
EXPECTATION_TYPES: dict[str, str] = {
    "columns": "expect_table_columns_to_match_set",
    "extra_columns": "expect_table_columns_to_match_set",  # exact_match=True semantics, see the docstring
    "row_count": "expect_table_row_count_to_be_between",
    "type": "expect_column_values_to_be_in_type_list",
    "not_null": "expect_column_values_to_not_be_null",
    "between": "expect_column_values_to_be_between",
    "in_set": "expect_column_values_to_be_in_set",
    "unique": "expect_column_values_to_be_unique",
}

MAX_DERIVED_VALUES = 1000  # reference columns with more distinct values get no derived value set


@dataclass(frozen=True)
class Rule:
    """One check, independent of GX.

    ``source`` is ``"config"`` for an explicit rule in ``validation.columns``, ``"reference"`` for
    one derived from the reference data and ``"default"`` for validation-wide settings.
    """

    kind: RuleKind
    column: str | None
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    source: RuleSource = "default"

    @property
    def expectation_type(self) -> str:
        """The GX expectation type this rule runs as."""
        return EXPECTATION_TYPES[self.kind]

    def describe(self) -> str:
        """Human description, e.g. ``age between 18 and 100``."""
        p = self.params
        col = self.column or ""
        if self.kind == "columns":
            return "column set"
        if self.kind == "extra_columns":
            return "no columns beyond the id, features and target"
        if self.kind == "row_count":
            return "row count " + _bounds_text(p["min_value"], p.get("max_value"))
        if self.kind == "type":
            return f"{col} numeric" if p["expected"] == "numeric" else f"{col} string-like"
        if self.kind == "not_null":
            fraction = p["max_null_fraction"]
            return f"{col} not null" if fraction == 0 else f"{col} at most {percent_text(fraction * 100)} null"
        if self.kind == "between":
            return f"{col} " + _bounds_text(p.get("min_value"), p.get("max_value"))
        if self.kind == "in_set":
            values = list(p["value_set"])
            shown = (
                "{" + ", ".join(str(v) for v in values) + "}"
                if len(values) <= 8
                else f"{len(values)} {'reference' if self.source == 'reference' else 'allowed'} values"
            )
            mostly = p.get("mostly", 1.0)
            return f"{col} in {shown}" + (f" ({percent_text(mostly * 100)} of rows)" if mostly < 1 else "")
        if self.kind == "unique":
            return f"{col} unique"
        raise ValueError(f"unknown rule kind {self.kind!r}")  # pragma: no cover

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "kind": self.kind,
            "column": self.column,
            "params": plain_json(dict(self.params)),
            "source": self.source,
        }


# -- building -------------------------------------------------------------------------------------
def required_columns(config: ModelConfig) -> list[str]:
    """Columns every batch must have: the id, the features and (if batches carry it) the target."""
    data = config.data
    return [data.id_column, *data.features.all, *([data.target] if data.batch_has_target else [])]


def allowed_columns(config: ModelConfig) -> list[str]:
    """Columns a batch may have: the required ones and the target (labelled batches carry it)."""
    required = required_columns(config)
    return required if config.data.target in required else [*required, config.data.target]


def build_rules(config: ModelConfig, reference: pd.DataFrame | None) -> list[Rule]:
    """The checks for a model's batches: config rules first, then reference-derived, then defaults."""
    v, data = config.validation, config.data
    derive = v.derive_from_reference and reference is not None
    if v.derive_from_reference and reference is None:
        log.info("%s: no reference data, ranges and value sets come from the config only", config.name)

    required = required_columns(config)
    folded = [c.casefold() for c in required]
    clashes = sorted({c for c in required if folded.count(c.casefold()) > 1})
    if clashes:
        # GX resolves column names case-insensitively: these would be checked against each other.
        raise ConfigError(
            f"{config.name}: columns differ only in case, GX cannot tell them apart: {', '.join(clashes)}"
        )

    rules: list[Rule] = [
        Rule("columns", None, {"required": required}),
        Rule("extra_columns", None, {"allowed": allowed_columns(config), "on_extra": v.extra_columns}),
        Rule("row_count", None, {"min_value": v.min_rows, "max_value": v.max_rows}),
    ]
    if v.unique_ids:
        rules.append(Rule("not_null", data.id_column, {"max_null_fraction": 0.0}))
        rules.append(Rule("unique", data.id_column))
    else:
        rules.extend(_null_rules(config, data.id_column, default=None))
    rules.extend(_explicit_rules(config, data.id_column, allow={"range", "values"}))

    # Numeric features get ranges, categorical ones value sets: explicit rules first, else derived.
    per_kind = (
        (data.features.numerical, "numeric", "range", lambda c: _derived_range(reference, c, v.range_tolerance)),
        (data.features.categorical, "string", "values", lambda c: _derived_values(reference, c, v.values_mostly)),
    )
    for columns, expected, allowed, derived in per_kind:
        for col in columns:
            rules.append(Rule("type", col, {"expected": expected}))
            rules.extend(_null_rules(config, col, default=v.max_null_fraction))
            explicit = _explicit_rules(config, col, allow={allowed})
            if explicit:
                rules.extend(explicit)
            elif derive:
                rules.extend(derived(col))
    if data.batch_has_target:
        rules.extend(_null_rules(config, data.target, default=v.max_null_fraction))
        rules.extend(_explicit_rules(config, data.target, allow={"range", "values"}))
    return rules


def _null_rules(config: ModelConfig, column: str, default: float | None) -> list[Rule]:
    explicit = config.validation.columns.get(column)
    source: RuleSource
    if explicit is not None and explicit.max_null_fraction is not None:
        fraction, source = explicit.max_null_fraction, "config"
    elif default is not None:
        fraction, source = default, "default"
    else:
        return []
    if fraction >= 1:
        return []  # every row may be null: nothing to check
    return [Rule("not_null", column, {"max_null_fraction": float(fraction)}, source)]


def _explicit_rules(config: ModelConfig, column: str, allow: set[str]) -> list[Rule]:
    """Range and value-set rules written in ``validation.columns.<column>``."""
    rule = config.validation.columns.get(column)
    if rule is None:
        return []
    rules = []
    if rule.min is not None or rule.max is not None:
        if "range" not in allow:
            raise ConfigError(f"{config.name}: validation.columns.{column}: min/max given for a categorical feature")
        rules.append(Rule("between", column, {"min_value": rule.min, "max_value": rule.max}, "config"))
    if rule.values is not None:
        if "values" not in allow:
            raise ConfigError(f"{config.name}: validation.columns.{column}: values given for a numerical feature")
        rules.append(Rule("in_set", column, {"value_set": list(rule.values), "mostly": 1.0}, "config"))
    return rules


def _derived_range(reference: pd.DataFrame, column: str, tolerance: float) -> list[Rule]:
    """[min - tol*range, max + tol*range] of the reference's finite values (none if unusable)."""
    import numpy as np
    import pandas as pd

    if column not in reference.columns:
        log.warning("reference has no column %s: no derived range", column)
        return []
    series = reference[column]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        log.warning("reference column %s is not numeric (%s): no derived range", column, series.dtype)
        return []
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    values = values[np.isfinite(values)]
    if values.size == 0:
        log.warning("reference column %s has no finite values: no derived range", column)
        return []
    low, high = float(values.min()), float(values.max())
    # A constant reference column has no range: widen by the value itself (at least 1) instead.
    span = (high - low) or max(abs(low), 1.0)
    params = {
        "min_value": low - tolerance * span,
        "max_value": high + tolerance * span,
        "reference_min": low,
        "reference_max": high,
    }
    return [Rule("between", column, params, "reference")]


def _derived_values(reference: pd.DataFrame, column: str, mostly: float) -> list[Rule]:
    """The values seen in the reference (none if it has too many or none)."""
    if column not in reference.columns:
        log.warning("reference has no column %s: no derived value set", column)
        return []
    seen = reference[column].dropna().drop_duplicates()
    if seen.empty or len(seen) > MAX_DERIVED_VALUES:
        log.warning("reference column %s has %d distinct values: no derived value set", column, len(seen))
        return []
    values = sorted(plain_json(seen.tolist()), key=lambda x: (type(x).__name__, str(x)))
    return [Rule("in_set", column, {"value_set": values, "mostly": float(mostly)}, "reference")]


# -- formatting (shared with the results in ``validation``) ----------------------------------------
def plain_json(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN/inf to None, unknown objects to str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain_json(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return plain_json(item())
        except (TypeError, ValueError):
            pass
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def rows_text(count: int) -> str:
    """``1 row``, ``1,234 rows``."""
    return f"{count:,} row{'' if count == 1 else 's'}"


def _num(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"


def percent_text(percent: float) -> str:
    """``12.5%``, ``0%``, ``0.012%`` (two significant digits below 0.1%)."""
    if percent == 0 or percent >= 0.1:
        return f"{percent:.1f}".rstrip("0").rstrip(".") + "%"
    return f"{percent:.2g}%"


def _bounds_text(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {_num(low)} and {_num(high)}"
    if low is not None:
        return f">= {_num(low)}"
    if high is not None:
        return f"<= {_num(high)}"
    return "unbounded"
