"""SageMaker scikit-learn container hooks (shipped as ``code/inference.py`` in the model tarball).

``model_dir`` holds ``model.skops`` and ``serving.json``: ``{"model", "version", "sha256",
"features": {"numerical": [...], "categorical": [...]}, "max_rows"}``, with the version's ``threshold`` and
``calibration`` knots when it has them (``model.FeatureSchema``). The model is refused unless
its sha256 matches. Requests: ``application/json`` (``{"instances": [...]}`` or a list of records)
or ``text/csv`` with a header row naming the columns. Responses: JSON.
The hooks are ``model_fn`` and ``transform_fn``. Why ``transform_fn`` and not input/predict/output: the
container (sagemaker-scikit-learn-container's ``serving.py`` on sagemaker-containers' ``Transformer``)
answers an exception from ``input_fn``/``predict_fn`` with a 500 (only ``UnsupportedFormatError`` gets
415/406), and refuses a module that defines ``transform_fn`` beside them. A ``transform_fn`` may return
the container's own ``worker.Response``, whose status it keeps: so a request that cannot be scored gets a
**400** with a one-line JSON error (``{"error": "InvalidRequest", "message": ...}``), never a 500.
Every such request raises ``InvalidRequest`` inside: the body's size is checked before it is decoded,
JSON numbers are checked while parsing (``model.parse_json``), and a CSV body is read only up to the
loaded model's row limit.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
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
    before any request), so ``read_input`` can stop reading a CSV body at the limit instead of parsing it all."""

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


def read_input(body: Any, content_type: str) -> list[Any]:
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


def predict(input_data: list[Any], model: ServedModel) -> dict[str, Any]:
    """Score the records (``InvalidRequest`` for a bad payload)."""
    return model.predict(input_data)


def write_output(prediction: dict[str, Any], accept: str = JSON) -> tuple[str, str]:
    """The prediction as JSON (the only response type offered)."""
    kinds = {part.split(";")[0].strip().lower() for part in (accept or JSON).split(",")}
    if not kinds & {JSON, "*/*", "application/*"}:
        raise InvalidRequest(f"unsupported accept type {accept!r} (only {JSON})")
    return json.dumps(prediction), JSON


@dataclass(frozen=True)
class Refusal:
    """A 400 answer outside the SageMaker container (tests, the emulator), where its response type is absent."""

    status: int
    body: str
    content_type: str = JSON


def bad_request(message: str) -> Any:
    """A 400 with a one-line JSON error: the container's ``worker.Response`` when it is there, else a ``Refusal``."""
    body = json.dumps({"error": "InvalidRequest", "message": message})
    try:
        from sagemaker_containers.beta.framework import worker  # the scikit-learn container's response type
    except ImportError:
        return Refusal(400, body)
    return worker.Response(response=body, status=400, mimetype=JSON)


def transform_fn(model: ServedModel, request_body: Any, content_type: str, accept: str) -> Any:
    """Score one request: ``(json, content type)``, or a 400 (``bad_request``) for anything that cannot be scored."""
    try:
        return write_output(predict(read_input(request_body, content_type), model), accept)
    except InvalidRequest as exc:
        log.info("refused request: %s", exc)
        return bad_request(str(exc))
