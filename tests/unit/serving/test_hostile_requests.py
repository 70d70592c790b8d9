"""Hostile requests get a 400 with a one-line message, never an exception: the Lambda handler (API Gateway
bodies, base64 bodies, direct events) and the SageMaker hooks (JSON and CSV bodies), on a real served model.

Each case raised (or answered wrongly) before the handlers checked sizes, numbers and nesting before parsing.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from include.modelcare.serving import lambda_handler, sagemaker_inference
from include.modelcare.serving.model import MAX_BODY_BYTES, InvalidRequest
from tests.unit.serving import test_serving as serving

pytestmark = pytest.mark.unit

# The served model and its environments, as test_serving builds them (fixtures shared by name).
trained = serving.trained
lambda_env = serving.lambda_env
model_dir = serving.model_dir

JSON, CSV = "application/json", "text/csv"
NUMERIC = "age"  # a numerical feature of the served model
_MARK = "__value__"
_DEEP = "[" * 100_000 + "]" * 100_000
Case = tuple[str, Callable[[dict[str, Any]], Any], str]


def _body(record: dict[str, Any], literal: str) -> str:
    """A JSON body of one valid record whose ``NUMERIC`` value is ``literal``, verbatim."""
    return json.dumps({"instances": [{**record, NUMERIC: _MARK}]}).replace(json.dumps(_MARK), literal)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_JSON: list[Case] = [
    ("infinity", lambda r: _body(r, "Infinity"), "Infinity is not a JSON number"),
    ("minus-infinity", lambda r: _body(r, "-Infinity"), "-Infinity is not a JSON number"),
    ("nan", lambda r: _body(r, "NaN"), "NaN is not a JSON number"),
    ("1e400", lambda r: _body(r, "1e400"), "number 1e400 is out of range"),
    ("minus-1e400", lambda r: _body(r, "-1e400"), "number -1e400 is out of range"),
    ("400-digit-integer", lambda r: _body(r, "1" + "0" * 400), "401 digits (at most 300)"),
    ("5000-digit-integer", lambda r: _body(r, "9" * 5000), "5000 digits (at most 300)"),
    ("100000-nested-lists", lambda r: _DEEP, "nested too deeply"),
    ("nested-lists-in-a-record", lambda r: _body(r, _DEEP), "nested too deeply"),
    ("over-the-body-limit", lambda r: _body(r, "1") + " " * MAX_BODY_BYTES, "request body too large"),
]

HOSTILE_EVENTS: list[Case] = [
    *((f"body-{name}", lambda r, make=make: {"body": make(r)}, expected) for name, make, expected in HOSTILE_JSON),
    *(
        (f"base64-{name}", lambda r, make=make: _base64(make(r)), expected)
        for name, make, expected in HOSTILE_JSON
        if name != "over-the-body-limit"  # its base64 form is refused before decoding, as below
    ),
    ("base64-over-the-body-limit", lambda r: _base64("A" * MAX_BODY_BYTES), "request body too large"),
    ("base64-bad-padding", lambda r: {"body": "abc", "isBase64Encoded": True}, "body is not valid base64"),
    ("base64-not-ascii", lambda r: {"body": "é" * 8, "isBase64Encoded": True}, "body is not valid base64"),
    ("direct-infinity", lambda r: {"instances": [{**r, NUMERIC: math.inf}]}, f"{NUMERIC}=inf is not numeric"),
    ("direct-400-digit-integer", lambda r: {"instances": [{**r, NUMERIC: 10**400}]}, "is not numeric"),
    ("direct-5000-digit-integer", lambda r: {"instances": [{**r, NUMERIC: 10**5000}]}, "bits> is not numeric"),
    ("direct-deep-list", lambda r: {"instances": [{**r, NUMERIC: _nested(100_000)}]}, "is not numeric"),
]


def _base64(body: str) -> dict[str, Any]:
    return {"body": base64.b64encode(body.encode()).decode(), "isBase64Encoded": True}


def _one_line(message: str, expected: str) -> None:
    assert expected in message, message
    assert "\n" not in message and len(message) <= 200, message


def _record(trained: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = serving._records(trained["frame"], trained["schema"], 1)[0]
    return record


def _csv_row(trained: dict[str, Any]) -> str:
    """A short valid CSV row: 1 for every number, the first known value of every category."""
    schema, frame = trained["schema"], trained["frame"]
    return ",".join(["1"] * len(schema.numerical) + [str(min(frame[c])) for c in schema.categorical])


def _sagemaker(body: Any, content_type: str, model: Any) -> dict[str, Any]:
    """The answer of ``transform_fn`` (the hook the container calls): scored, or ``InvalidRequest`` with the
    message of its 400."""
    out = sagemaker_inference.transform_fn(model, body, content_type, JSON)
    if not isinstance(out, tuple):
        assert out.status == 400 and out.content_type == JSON, out
        refusal = json.loads(out.body)
        assert refusal["error"] == "InvalidRequest"
        raise InvalidRequest(refusal["message"])
    answer: dict[str, Any] = json.loads(out[0])
    return answer


# -- Lambda -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in HOSTILE_EVENTS], ids=[c[0] for c in HOSTILE_EVENTS])
def test_lambda_answers_400_to_hostile_requests(
    trained: dict[str, Any], lambda_env: dict[str, Any], make: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    answer = lambda_handler.handler(make(_record(trained)), None)
    assert answer["statusCode"] == 400, answer["body"][:300]
    _one_line(json.loads(answer["body"])["error"], expected)


# -- SageMaker ----------------------------------------------------------------------------------------
HOSTILE_BODIES: list[tuple[str, str, Callable[[dict[str, Any]], str], str]] = [
    *((f"json-{name}", JSON, make, expected) for name, make, expected in HOSTILE_JSON),
    ("csv-field-over-128KiB", CSV, lambda r: _csv(r, NUMERIC, "x" * 200_000), "field larger than field limit"),
    ("csv-over-the-body-limit", CSV, lambda r: _csv(r, NUMERIC, "1") + "\n" * MAX_BODY_BYTES, "body too large"),
]


def _csv(record: dict[str, Any], column: str, value: str) -> str:
    """A text/csv body: header and one row of ``record``, ``column`` set to ``value``."""
    cells = {**{k: "" if v is None else str(v) for k, v in record.items()}, column: value}
    return ",".join(cells) + "\n" + ",".join(cells.values()) + "\n"


@pytest.mark.parametrize(
    ("content_type", "make", "expected"), [c[1:] for c in HOSTILE_BODIES], ids=[c[0] for c in HOSTILE_BODIES]
)
def test_sagemaker_hooks_refuse_hostile_requests(
    trained: dict[str, Any],
    model_dir: Path,
    content_type: str,
    make: Callable[[dict[str, Any]], str],
    expected: str,
) -> None:
    """Every hostile request gets a 400 with a one-line message from ``transform_fn`` (never a 500)."""
    model = sagemaker_inference.model_fn(str(model_dir))
    with pytest.raises(InvalidRequest) as caught:
        _sagemaker(make(_record(trained)).encode(), content_type, model)
    _one_line(str(caught.value), expected)


def test_sagemaker_refuses_a_100k_row_csv_before_parsing_it(trained: dict[str, Any], model_dir: Path) -> None:
    """The row limit (500 in serving.json) stops the reading: the unreadable last line is never reached."""
    model = sagemaker_inference.model_fn(str(model_dir))
    header, row = ",".join(model.schema.columns), _csv_row(trained)
    poison = "x" * 200_000  # a field over the csv module's limit: reading it would raise
    body = "\n".join([header, *[row] * 100_000, poison]) + "\n"
    with pytest.raises(InvalidRequest) as caught:
        _sagemaker(body.encode(), CSV, model)
    _one_line(str(caught.value), "too many rows: more than 500 per request")

    at_limit = "\n".join([header, *[row] * 500]) + "\n"  # exactly the limit: answered as before
    assert len(_sagemaker(at_limit.encode(), CSV, model)["predictions"]) == 500
    with pytest.raises(InvalidRequest, match="more than 500"):
        _sagemaker(at_limit + row + "\n", CSV, model)


def test_the_inference_module_offers_the_hooks_the_container_accepts() -> None:
    """sagemaker-scikit-learn-container refuses a module with transform_fn beside input/predict/output_fn."""
    assert callable(sagemaker_inference.model_fn) and callable(sagemaker_inference.transform_fn)
    for hook in ("input_fn", "predict_fn", "output_fn"):
        assert not hasattr(sagemaker_inference, hook), hook


def test_inside_the_container_a_refusal_is_its_own_400_response(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the container, ``bad_request`` returns sagemaker-containers' ``worker.Response`` with status 400."""
    import sys
    import types

    class Response:
        def __init__(self, response: str, status: int, mimetype: str) -> None:
            self.response, self.status, self.mimetype = response, status, mimetype

    framework = types.ModuleType("sagemaker_containers.beta.framework")
    framework.worker = types.SimpleNamespace(Response=Response)  # type: ignore[attr-defined]
    for name in ("sagemaker_containers", "sagemaker_containers.beta"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "sagemaker_containers.beta.framework", framework)
    answer = sagemaker_inference.bad_request("too many rows: more than 500 per request")
    assert isinstance(answer, Response) and answer.status == 400 and answer.mimetype == JSON
    assert json.loads(answer.response) == {
        "error": "InvalidRequest",
        "message": "too many rows: more than 500 per request",
    }
