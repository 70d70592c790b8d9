"""``ServedModel``: a verified skops model plus its feature schema, answering ``predict(records)``.

Self-contained on purpose (only ``errors`` and ``serialization`` from modelcare), so the Lambda zip
and the SageMaker model tarball can ship it without the rest of the package.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from include.modelcare.errors import ModelcareError
from include.modelcare.ml.serialization import load_model

log = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 1000
_SHOWN = 5  # problems named in one message


class InvalidRequest(ModelcareError):
    """The request payload cannot be scored (message is one line and names the problem)."""


class ModelUnavailable(ModelcareError):
    """The model file or its settings cannot be obtained (missing object, bad configuration)."""


@dataclass(frozen=True)
class FeatureSchema:
    """What a served model expects: its name, version and feature columns."""

    model: str
    version: str
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every feature column, numerical first (the training order)."""
        return (*self.numerical, *self.categorical)

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, model: str | None = None, version: str | None = None
    ) -> FeatureSchema:
        """From ``{"model", "version", "numerical": [...], "categorical": [...]}`` (``features`` may nest them)."""
        features = raw.get("features", raw)
        if not isinstance(features, Mapping):
            raise ModelUnavailable("feature schema: 'features' must be an object")
        numerical, categorical = features.get("numerical", []), features.get("categorical", [])
        for what, names in (("numerical", numerical), ("categorical", categorical)):
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise ModelUnavailable(f"feature schema: {what} must be a list of column names")
        if not numerical and not categorical:
            raise ModelUnavailable("feature schema: no feature columns")
        return cls(
            model=str(model or raw.get("model") or "model"),
            version=str(version or raw.get("version") or "unknown"),
            numerical=tuple(numerical),
            categorical=tuple(categorical),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``serving.json`` holds besides the sha256)."""
        return {
            "model": self.model,
            "version": self.version,
            "features": {"numerical": list(self.numerical), "categorical": list(self.categorical)},
        }


def _number(value: Any) -> float | None:
    """A numeric cell as float (None for null/empty); raises ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if not value.strip():
            return None
        number = float(value)
        if math.isinf(number):
            raise ValueError(value)
        return number
    raise ValueError(value)


def _shown(items: Sequence[str]) -> str:
    extra = f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + extra


class ServedModel:
    """A loaded pipeline and its schema; ``predict`` validates the records and scores them."""

    def __init__(self, pipeline: Any, schema: FeatureSchema, *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self.pipeline = pipeline
        self.schema = schema
        self.max_rows = max_rows

    @classmethod
    def from_bytes(
        cls, data: bytes, *, sha256: str, schema: FeatureSchema, max_rows: int = DEFAULT_MAX_ROWS
    ) -> ServedModel:
        """Load skops bytes after checking their sha256 and types (``UntrustedModelError`` otherwise)."""
        if not sha256:
            raise ModelUnavailable("no sha256 given for the model file: refusing to load it unchecked")
        pipeline = load_model(data, sha256=sha256)
        log.info("loaded %s %s (%d bytes)", schema.model, schema.version, len(data))
        return cls(pipeline, schema, max_rows=max_rows)

    @property
    def is_classifier(self) -> bool:
        """Whether scores (probability of the positive class) are returned."""
        return hasattr(self.pipeline, "predict_proba")

    def frame(self, records: Any) -> Any:
        """The validated feature frame of ``records`` (``InvalidRequest`` naming the first problems)."""
        import pandas as pd

        if not isinstance(records, list) or not records:
            raise InvalidRequest("empty payload: send a non-empty list of records (objects keyed by column)")
        if len(records) > self.max_rows:
            raise InvalidRequest(f"too many rows: {len(records)} > {self.max_rows} per request")
        not_objects = [str(i) for i, r in enumerate(records) if not isinstance(r, Mapping)]
        if not_objects:
            raise InvalidRequest(f"records must be objects keyed by column; not at row(s) {_shown(not_objects)}")
        columns = self.schema.columns
        missing = sorted({c for r in records for c in columns if c not in r}, key=columns.index)
        if missing:
            raise InvalidRequest(f"missing column(s): {_shown(missing)}")
        problems: list[str] = []
        rows: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            row: dict[str, Any] = {}
            for column in self.schema.numerical:
                try:
                    row[column] = _number(record[column])
                except (ValueError, TypeError):
                    problems.append(f"row {i} {column}={record[column]!r} is not numeric")
            for column in self.schema.categorical:
                value = record[column]
                if value is None or isinstance(value, str):
                    row[column] = value
                else:
                    problems.append(f"row {i} {column}={value!r} is not a string")
            rows.append(row)
        if problems:
            raise InvalidRequest(f"invalid value(s): {_shown(problems)}")
        frame = pd.DataFrame(rows, columns=list(columns))
        for column in self.schema.numerical:
            frame[column] = frame[column].astype("float64")
        return frame

    def predict(self, records: Any) -> dict[str, Any]:
        """``{"model", "version", "predictions": [...], "scores": [...]}`` (scores for classifiers only)."""
        frame = self.frame(records)
        predictions = self.pipeline.predict(frame)
        answer: dict[str, Any] = {
            "model": self.schema.model,
            "version": self.schema.version,
            "predictions": [p.item() if hasattr(p, "item") else p for p in predictions],
        }
        if self.is_classifier:
            probabilities = self.pipeline.predict_proba(frame)
            answer["scores"] = [float(p) for p in probabilities[:, -1]]  # classes_ sorted: last is positive
        return answer
