"""``ServedModel``: a verified skops model plus its feature schema, answering ``predict(records)``.

Self-contained on purpose (only ``errors``, ``ml.serialization`` and ``ml.calibration`` from modelcare), so
the Lambda zip and the SageMaker model tarball can ship it without the rest of the package.
"""

from __future__ import annotations

import json
import logging
import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from include.modelcare.errors import ModelcareError
from include.modelcare.ml.calibration import Calibrator
from include.modelcare.ml.serialization import load_model

log = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 1000
MAX_BODY_BYTES = 6 * 1024 * 1024
"""Largest request body read: Lambda's invocation payload limit and SageMaker's InvokeEndpoint limit (6 MB),
so nothing legitimate is larger, and a body is refused before it is decoded or parsed."""
MAX_INT_DIGITS = 300
"""Longest integer literal accepted in a JSON body: up to 300 digits an integer always converts to a finite
float (the largest is about 1.8e308); longer ones may overflow, and over 4300 digits Python refuses to parse."""
_SHOWN = 5  # problems named in one message


class InvalidRequest(ModelcareError):
    """The request payload cannot be scored (message is one line and names the problem)."""


class ModelUnavailable(ModelcareError):
    """The model file or its settings cannot be obtained (missing object, bad configuration)."""


@dataclass(frozen=True)
class FeatureSchema:
    """What a served model expects and how it decides: name, version, feature columns, the version's
    calibrator (binary classifiers registered with one; ``ml.calibration``) and its decision threshold
    (on the calibrated scale when there is a calibrator; None: the estimator's own ``predict``, i.e. 0.5)."""

    model: str
    version: str
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    threshold: float | None = None
    calibration: Calibrator | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every feature column, numerical first (the training order)."""
        return (*self.numerical, *self.categorical)

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, model: str | None = None, version: str | None = None
    ) -> FeatureSchema:
        """From ``{"model", "version", "numerical": [...], "categorical": [...]}`` (``features`` may nest them),
        with optional ``threshold`` and ``calibration`` (``{"x": [...], "y": [...]}`` knots), either level."""
        features = raw.get("features", raw)
        if not isinstance(features, Mapping):
            raise ModelUnavailable("feature schema: 'features' must be an object")
        numerical, categorical = features.get("numerical", []), features.get("categorical", [])
        for what, names in (("numerical", numerical), ("categorical", categorical)):
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise ModelUnavailable(f"feature schema: {what} must be a list of column names")
        if not numerical and not categorical:
            raise ModelUnavailable("feature schema: no feature columns")
        threshold = raw.get("threshold", features.get("threshold"))
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < 1
        ):
            raise ModelUnavailable(f"feature schema: threshold must be a number between 0 and 1, got {threshold!r}")
        knots = raw.get("calibration", features.get("calibration"))
        try:
            calibration = None if knots is None else Calibrator.from_dict(knots)
        except ValueError as exc:  # also a calibration that is not an object
            raise ModelUnavailable(f"feature schema: calibration refused: {exc}") from None
        return cls(
            model=str(model or raw.get("model") or "model"),
            version=str(version or raw.get("version") or "unknown"),
            numerical=tuple(numerical),
            categorical=tuple(categorical),
            threshold=None if threshold is None else float(threshold),
            calibration=calibration,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``serving.json`` holds besides the sha256)."""
        out: dict[str, Any] = {
            "model": self.model,
            "version": self.version,
            "features": {"numerical": list(self.numerical), "categorical": list(self.categorical)},
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.calibration is not None:
            out["calibration"] = self.calibration.knots()
        return out


class _Brief(reprlib.Repr):
    """``repr`` for messages: short, one line, and safe on any value (deep nesting, huge integers)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 60
        self.maxlevel = 2

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 1024:  # builtins.repr refuses over 4300 digits
            return f"<integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_BRIEF = _Brief()


def check_body_size(body: str | bytes | bytearray) -> None:
    """Refuse a body over ``MAX_BODY_BYTES`` before anything decodes it (a str has at least as many bytes as
    characters, so counting characters never refuses a body within the limit)."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest(f"request body too large: more than {MAX_BODY_BYTES} bytes")


def _refuse_constant(name: str) -> Any:
    raise InvalidRequest(f"body is not JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidRequest(f"body is not JSON: number {text[:40]} is out of range")
    return number


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise InvalidRequest(f"body is not JSON: an integer has {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def parse_json(body: str | bytes | bytearray) -> Any:
    """A JSON request body, refusing what cannot be scored before it reaches the model (``InvalidRequest``).

    Why not plain ``json.loads``: it accepts ``NaN``/``Infinity`` (not JSON) and ``1e400`` (infinite), turns
    a 400-digit integer into an int no float holds, and raises ``RecursionError`` on deeply nested arrays;
    each of those would fail later as a server error instead of a bad request.
    """
    check_body_size(body)
    try:
        return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except RecursionError:
        raise InvalidRequest("body is not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError of bytes
        raise InvalidRequest(f"body is not JSON: {str(exc).splitlines()[0]}") from None


def _number(value: Any) -> float | None:
    """A numeric cell as float (None for null/empty); raises ValueError otherwise (also when infinite)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, str):
        if not value.strip():
            return None
        number = float(value)
    elif isinstance(value, int | float):
        number = float(value)  # OverflowError for an int beyond float range
    else:
        raise ValueError(value)
    if math.isinf(number):
        raise ValueError(value)
    return number


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
                except (ValueError, TypeError, OverflowError):
                    problems.append(f"row {i} {column}={_BRIEF.repr(record[column])} is not numeric")
            for column in self.schema.categorical:
                value = record[column]
                if value is None or isinstance(value, str):
                    row[column] = value
                else:
                    problems.append(f"row {i} {column}={_BRIEF.repr(value)} is not a string")
            rows.append(row)
        if problems:
            raise InvalidRequest(f"invalid value(s): {_shown(problems)}")
        frame = pd.DataFrame(rows, columns=list(columns))
        for column in self.schema.numerical:
            frame[column] = frame[column].astype("float64")
        return frame

    @property
    def is_binary(self) -> bool:
        """A classifier of two classes: the only kind with a threshold and a calibrator."""
        return self.is_classifier and len(getattr(self.pipeline, "classes_", ())) == 2

    @property
    def calibration(self) -> Calibrator | None:
        """The calibrator applied to the positive-class score (binary classifiers with one in their schema)."""
        return self.schema.calibration if self.is_binary else None

    @property
    def threshold(self) -> float | None:
        """The decision threshold applied (binary classifiers with one in their schema), else None; with a
        calibrator but no threshold, the raw 0.5 carried to the calibrated scale (as evaluation does)."""
        if not self.is_binary:
            return None
        if self.schema.threshold is None and self.schema.calibration is not None:
            return self.schema.calibration.threshold(None)
        return self.schema.threshold

    def predict(self, records: Any) -> dict[str, Any]:
        """``{"model", "version", "predictions": [...], "scores": [...], "threshold", "calibrated"}`` (the last
        three for classifiers).

        Binary classifier with a calibrator: the score is the calibrated positive-class probability (what the
        gate scored and the performance estimate reads). With a threshold (the version's, on that scale): a
        record is the positive class when its score is ``>= threshold``, and the answer says which threshold
        decided. Without either, the estimator's ``predict`` (0.5). Scores never depend on the threshold.
        """
        import numpy as np

        frame = self.frame(records)
        answer: dict[str, Any] = {"model": self.schema.model, "version": self.schema.version}
        threshold, calibration = self.threshold, self.calibration
        if self.is_classifier:
            scores = self.pipeline.predict_proba(frame)[:, -1]  # classes_ sorted: last is positive
            if calibration is not None:
                scores = calibration.apply(scores)
            if threshold is None:
                predictions = self.pipeline.predict(frame)
            else:
                predictions = np.asarray(self.pipeline.classes_)[(scores >= threshold).astype(int)]
        else:
            predictions = self.pipeline.predict(frame)
        answer["predictions"] = [p.item() if hasattr(p, "item") else p for p in predictions]
        if self.is_classifier:
            answer["scores"] = [float(p) for p in scores]
            answer["threshold"] = threshold
            answer["calibrated"] = calibration is not None
        return answer
