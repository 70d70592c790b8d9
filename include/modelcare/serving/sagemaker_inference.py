"""SageMaker scikit-learn container hooks (shipped as ``code/inference.py`` in the model tarball).

``model_dir`` holds ``model.skops`` and ``serving.json``: ``{"model", "version", "sha256",
"features": {"numerical": [...], "categorical": [...]}, "max_rows"}``. The model is refused unless
its sha256 matches. Requests: ``application/json`` (``{"instances": [...]}`` or a list of records)
or ``text/csv`` with a header row naming the columns. Responses: JSON.
Note: the container answers any exception from these hooks with an error status of its own
(``InvalidRequest`` messages reach the caller in the error body, not as a 400).
Every request that cannot be scored raises ``InvalidRequest`` with a one-line message, never another
exception: the body's size is checked before it is decoded, JSON numbers are checked while parsing
(``model.parse_json``), and a CSV body is read only up to the loaded model's row limit.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from include.modelcare.serving.model import (
    DEFAULT_MAX_ROWS,
    FeatureSchema,
    InvalidRequest,
    ModelUnavailable,
    ServedModel,
    check_body_size,
    parse_json,
)

log = logging.getLogger(__name__)

MODEL_FILE = "model.skops"
SERVING_FILE = "serving.json"
JSON = "application/json"
CSV = "text/csv"


class _Loaded:
    """The row limit of the model this process serves (set by ``model_fn``, which the container calls
    before any request), so ``input_fn`` can stop reading a CSV body at the limit instead of parsing it all."""

    max_rows: int | None = None


def model_fn(model_dir: str) -> ServedModel:
    """Load ``model.skops`` from ``model_dir`` after checking it against ``serving.json``'s sha256."""
    root = Path(model_dir)
    try:
        meta = json.loads((root / SERVING_FILE).read_text())
        data = (root / MODEL_FILE).read_bytes()
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read {SERVING_FILE}/{MODEL_FILE} in {model_dir}: {exc}") from None
    if not isinstance(meta, dict) or not meta.get("sha256"):
        raise ModelUnavailable(f"{SERVING_FILE} in {model_dir} has no sha256")
    schema = FeatureSchema.from_dict(meta)
    model = ServedModel.from_bytes(
        data, sha256=str(meta["sha256"]), schema=schema, max_rows=int(meta.get("max_rows") or DEFAULT_MAX_ROWS)
    )
    _Loaded.max_rows = model.max_rows
    return model


def _text(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("body is not UTF-8 text") from None
    return str(body)


def input_fn(body: Any, content_type: str) -> list[Any]:
    """The records of a JSON or CSV (header row required) request body."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if isinstance(body, str | bytes | bytearray):
        check_body_size(body)
    text = _text(body)
    if kind == JSON:
        payload = parse_json(text)
        if isinstance(payload, dict) and "instances" in payload:
            payload = payload["instances"]
        if not isinstance(payload, list):
            raise InvalidRequest("JSON payload must be {'instances': [...]} or a list of records")
        return payload
    if kind == CSV:
        rows = _csv_rows(text)
        if not rows:
            raise InvalidRequest("empty payload: the CSV body has no rows")
        header = [name.strip() for name in rows[0]]
        if not header or any(not name or _is_number(name) for name in header):
            raise InvalidRequest("text/csv needs a header row naming the columns")
        records = []
        for i, row in enumerate(rows[1:], start=1):
            if len(row) != len(header):
                raise InvalidRequest(f"CSV line {i + 1} has {len(row)} fields, the header {len(header)}")
            records.append({name: (value if value != "" else None) for name, value in zip(header, row, strict=True)})
        return records
    raise InvalidRequest(f"unsupported content type {content_type!r} (use {JSON} or {CSV})")


def _csv_rows(text: str) -> list[list[str]]:
    """The non-empty rows of a CSV body, refused once they exceed the header plus the model's row limit
    (``csv.reader`` is lazy, so the rest is never parsed) and when ``csv`` cannot read them."""
    limit = _Loaded.max_rows
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            rows.append(row)
            if limit is not None and len(rows) > limit + 1:
                raise InvalidRequest(f"too many rows: more than {limit} per request (CSV body not read further)")
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (128 KiB)
        raise InvalidRequest(f"CSV body is not readable: {str(exc).splitlines()[0]}") from None
    return rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def predict_fn(input_data: list[Any], model: ServedModel) -> dict[str, Any]:
    """Score the records (``InvalidRequest`` for a bad payload)."""
    return model.predict(input_data)


def output_fn(prediction: dict[str, Any], accept: str = JSON) -> tuple[str, str]:
    """The prediction as JSON (the only response type offered)."""
    kinds = {part.split(";")[0].strip().lower() for part in (accept or JSON).split(",")}
    if not kinds & {JSON, "*/*", "application/*"}:
        raise InvalidRequest(f"unsupported accept type {accept!r} (only {JSON})")
    return json.dumps(prediction), JSON
