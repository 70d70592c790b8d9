"""AWS Lambda entry point: ``include.modelcare.serving.lambda_handler.handler``.

Environment: ``MODELCARE_MODEL_URI`` (``s3://bucket/key/model.skops``), ``MODELCARE_MODEL_SHA256``,
``MODELCARE_MODEL_VERSION``, ``MODELCARE_FEATURES`` (JSON: ``{"numerical": [...], "categorical": [...]}``,
optionally ``"threshold"``: the version's decision threshold, applied to the positive-class score;
optionally ``"calibration"``: the version's calibrator knots ``{"method", "x", "y"}``, applied to that score
before the threshold; optionally ``"model"``), optional ``MODELCARE_MODEL_NAME`` and ``MODELCARE_MAX_ROWS``.
The model is loaded once per container (module-level cache keyed by URI and sha256).

The deployment zip (``package.build_lambda_zip``) holds only modelcare code: scikit-learn, skops,
numpy, pandas come from a Lambda layer or a container image; boto3 from the Lambda runtime.
Requests: ``{"instances": [...]}``, a bare list, or an API Gateway proxy event whose ``body`` is one of those.
A body that cannot be scored (too large, not base64 or JSON, non-finite or huge numbers, nested too deeply)
answers 400 with a one-line error, checked before the body is decoded or reaches the model.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from typing import Any

from include.modelcare.errors import ModelFileError
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


class _Cache:
    """The container's model, the key it was loaded for, and how many loads happened (for tests)."""

    def __init__(self) -> None:
        self.key: tuple[str, ...] | None = None
        self.model: ServedModel | None = None
        self.loads = 0
        self.lock = threading.Lock()


CACHE = _Cache()


def reset_cache() -> None:
    """Forget the loaded model (tests; a new container starts empty anyway)."""
    with CACHE.lock:
        CACHE.key, CACHE.model, CACHE.loads = None, None, 0


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ModelUnavailable(f"environment variable {name} is not set")
    return value


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:] or uri.endswith("/"):
        raise ModelUnavailable(f"MODELCARE_MODEL_URI must be s3://bucket/key, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _download(uri: str) -> bytes:
    """The object's bytes (boto3 honours AWS_ENDPOINT_URL); ``ModelUnavailable`` on any S3 error."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _split_s3(uri)
    try:
        data: bytes = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise ModelUnavailable(f"cannot read model file {uri}: {code}") from None
    except BotoCoreError as exc:
        raise ModelUnavailable(f"cannot read model file {uri}: {exc}") from None
    return data


def _settings() -> tuple[tuple[str, ...], FeatureSchema, int]:
    uri, sha, version = _env("MODELCARE_MODEL_URI"), _env("MODELCARE_MODEL_SHA256"), _env("MODELCARE_MODEL_VERSION")
    try:
        raw = json.loads(_env("MODELCARE_FEATURES"))
    except ValueError as exc:
        raise ModelUnavailable(f"MODELCARE_FEATURES is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ModelUnavailable("MODELCARE_FEATURES must be a JSON object")
    schema = FeatureSchema.from_dict(raw, model=os.environ.get("MODELCARE_MODEL_NAME"), version=version)
    try:
        max_rows = int(os.environ.get("MODELCARE_MAX_ROWS") or DEFAULT_MAX_ROWS)
    except ValueError:
        raise ModelUnavailable("MODELCARE_MAX_ROWS must be an integer") from None
    key = (uri, sha.lower(), version, json.dumps(raw, sort_keys=True), str(max_rows))
    return key, schema, max_rows


def get_model() -> ServedModel:
    """The container's model, loaded (and verified) on first use or when the environment changed."""
    key, schema, max_rows = _settings()
    with CACHE.lock:
        if CACHE.model is None or CACHE.key != key:
            data = _download(key[0])
            CACHE.model = ServedModel.from_bytes(data, sha256=key[1], schema=schema, max_rows=max_rows)
            CACHE.key = key
            CACHE.loads += 1
        return CACHE.model


def _records(event: Any) -> Any:
    """The records of a direct invocation or an API Gateway proxy event."""
    if isinstance(event, dict) and "body" in event and "instances" not in event:
        body = event["body"]
        if body is None:
            raise InvalidRequest("empty payload: the request has no body")
        if isinstance(body, str | bytes):
            check_body_size(body)  # before decoding: a hostile body costs nothing
            if event.get("isBase64Encoded") and isinstance(body, str):
                try:
                    body = base64.b64decode(body)
                except ValueError as exc:  # binascii.Error; non-ASCII text
                    raise InvalidRequest(f"body is not valid base64: {str(exc).splitlines()[0]}") from None
            event = parse_json(body)
        else:
            event = body
    if isinstance(event, dict):
        if "instances" not in event:
            raise InvalidRequest("payload must be {'instances': [...]} or a list of records")
        return event["instances"]
    if isinstance(event, list):
        return event
    raise InvalidRequest("payload must be {'instances': [...]} or a list of records")


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Score the event's records: 200 with predictions, 400 for a bad request, 500 if the model is unusable."""
    try:
        model = get_model()
    except ModelFileError as exc:  # includes UntrustedModelError: tampered or outside the allowlist
        log.error("model file refused: %s", exc)
        return _response(500, {"error": f"model unavailable: model file refused: {exc}"})
    except ModelUnavailable as exc:
        log.error("model unavailable: %s", exc)
        return _response(500, {"error": f"model unavailable: {exc}"})
    try:
        answer = model.predict(_records(event))
    except InvalidRequest as exc:
        log.info("invalid request: %s", exc)
        return _response(400, {"error": str(exc)})
    return _response(200, answer)
