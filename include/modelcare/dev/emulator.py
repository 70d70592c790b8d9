"""modelcare's extension of the embedded AWS emulator (moto server mode): the calls deployments need
that moto does not really serve.

- ``sagemaker:UpdateEndpoint``: moto raises NotImplementedError. Here it switches the endpoint to the
  new endpoint config after checking what AWS checks (endpoint and config exist, the variant names are
  unchanged); the blue/green DeploymentConfig is recorded and the switch is immediate (no instances run).
- ``sagemaker-runtime:InvokeEndpoint``: moto returns canned text. Here the endpoint's live variant's
  ``model.tar.gz`` is read from the emulated S3, unpacked, and its ``code/inference.py``
  (model_fn/transform_fn) answers the request in a fresh Python process.
- ``lambda:Invoke``: moto needs Docker (absent here) and ignores the qualifier. Here the qualifier (version or
  alias, alias weights included) picks the published version, and that version's code zip runs with its
  own environment in a fresh Python process, against the emulated S3.

The processes use this virtualenv's interpreter for third-party packages (scikit-learn, skops, pandas),
standing in for the container image / Lambda layer; modelcare's own code comes only from the package
being served. Written by hand because no library emulates these calls without Docker. Installed by
``DevStack.start``; never used against real AWS.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

log = logging.getLogger(__name__)

SERVED_CALLS: Final = ("sagemaker:UpdateEndpoint", "sagemaker-runtime:InvokeEndpoint", "lambda:Invoke")
_MARK: Final = "\n@@modelcare-result@@"
_INVOKE_TIMEOUT: Final = 120  # local processes import scikit-learn/pandas: allow more than a warm container

_LAMBDA_RUNNER: Final = r"""
import importlib, json, sys, traceback
package, handler = sys.argv[1], sys.argv[2]
sys.path.insert(0, package)
try:
    module_name, function = handler.rsplit(".", 1)
    module = importlib.import_module(module_name)
    if not str(module.__file__).startswith(package):
        raise ImportError(f"{module_name} was imported from {module.__file__}, not from the package")
    result = {"ok": True, "value": getattr(module, function)(json.loads(sys.stdin.read() or "{}"), None)}
except Exception as exc:
    result = {"ok": False, "errorType": type(exc).__name__, "errorMessage": str(exc),
              "stackTrace": traceback.format_exc().splitlines()[-6:]}
sys.stdout.write(MARK + json.dumps(result, default=str))
"""

_SAGEMAKER_RUNNER: Final = r"""
import json, sys, traceback
model_dir, content_type, accept = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, model_dir + "/code")
try:
    import inference
    if not str(inference.__file__).startswith(model_dir):
        raise ImportError(f"inference was imported from {inference.__file__}, not from the model tarball")
    model = inference.model_fn(model_dir)
    answer = inference.transform_fn(model, sys.stdin.buffer.read(), content_type, accept)
    if isinstance(answer, tuple):
        result = {"ok": True, "body": answer[0], "content_type": answer[1]}
    else:  # the container's own 4xx response (inference.bad_request)
        result = {"ok": False, "status": answer.status, "errorType": "InvalidRequest", "errorMessage": answer.body}
except Exception as exc:
    result = {"ok": False, "status": 500, "errorType": type(exc).__name__, "errorMessage": str(exc)}
sys.stdout.write(MARK + json.dumps(result))
"""


class _State:
    def __init__(self) -> None:
        self.endpoint_url: str | None = None
        self.installed = False
        self.lock = threading.Lock()
        self.workdir: tempfile.TemporaryDirectory[str] | None = None
        self.invocations: list[dict[str, Any]] = []


STATE = _State()


def install(endpoint_url: str) -> None:
    """Register the extension with moto's response classes (idempotent; the URL is where the S3 lives)."""
    from moto.awslambda.responses import LambdaResponse
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    with STATE.lock:
        STATE.endpoint_url = endpoint_url
        if STATE.installed:
            return
        SageMakerResponse.update_endpoint = _update_endpoint  # type: ignore[attr-defined]
        SageMakerRuntimeResponse.invoke_endpoint = _invoke_endpoint  # type: ignore[method-assign]
        LambdaResponse.invoke = _lambda_invoke  # type: ignore[method-assign]
        STATE.installed = True
    log.info("emulator extension installed: %s", ", ".join(SERVED_CALLS))


def _workdir() -> Path:
    if STATE.workdir is None:
        STATE.workdir = tempfile.TemporaryDirectory(prefix="modelcare-emulator-")
    return Path(STATE.workdir.name)


def _endpoint(response: Any) -> str:
    """The emulator that received this request (several may run in one process; they share moto's state)."""
    host = response.headers.get("Host")
    return f"http://{host}" if host else str(STATE.endpoint_url)


def _s3_bytes(uri: str, endpoint_url: str) -> bytes:
    import boto3

    bucket, key = uri.removeprefix("s3://").split("/", 1)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def _unpack(data: bytes, kind: str) -> Path:
    """Unpack a zip or tar.gz once per content (keyed by sha256) into the extension's work dir."""
    target = _workdir() / f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}"
    if target.exists():
        return target
    staging = Path(tempfile.mkdtemp(dir=_workdir()))
    if kind == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(staging)
    else:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(staging, filter="data")
    with contextlib.suppress(OSError):  # a concurrent request may have unpacked the same content first
        staging.rename(target)
    return target


def _run(script: str, args: list[str], stdin: bytes, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run a runner script in a fresh interpreter; its result is the JSON after the marker on stdout."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    code = f"MARK = {_MARK!r}\n{script}"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        env={**base, **env},
        cwd=cwd,
        timeout=_INVOKE_TIMEOUT,
        check=False,
    )
    out = done.stdout.decode(errors="replace")
    if _MARK not in out:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        return {"ok": False, "errorType": "Runtime.ExitError", "errorMessage": " | ".join(tail) or "no output"}
    result: dict[str, Any] = json.loads(out.rsplit(_MARK, 1)[1])
    result["logs"] = done.stderr.decode(errors="replace")[-4000:]
    return result


def _request_body(response: Any, default: bytes) -> bytes:
    body = response.body
    if isinstance(body, str):
        body = body.encode()
    return bytes(body) if body else default


def _aws_env(region: str, endpoint_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
    }


# -- SageMaker ---------------------------------------------------------------------------------------------
def _update_endpoint(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError

    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(message=f"Could not find endpoint '{name}'.")
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        raise ValidationError(message=f"Could not find endpoint configuration '{config_name}'.")
    if config_name == endpoint.endpoint_config_name:
        raise ValidationError(message=f"Endpoint {name} already uses endpoint configuration {config_name}.")
    deployment = self._get_param("DeploymentConfig")
    old_variants = sorted(v["VariantName"] for v in endpoint.production_variants)
    new_variants = sorted(v["VariantName"] for v in config.production_variants)
    if deployment and old_variants != new_variants:
        raise ValidationError(
            message=f"Blue/green deployment requires the same variant names: {old_variants} -> {new_variants}."
        )
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
    endpoint.last_modified_time = utcnow()
    endpoint.endpoint_status = "InService"
    endpoint.modelcare_last_deployment_config = deployment
    STATE.invocations.append({"call": "sagemaker:UpdateEndpoint", "endpoint": name, "config": config_name})
    log.warning(
        "emulator extension: UpdateEndpoint %s -> %s (traffic routing %s applied at once; no instances run)",
        name,
        config_name,
        ((deployment or {}).get("BlueGreenUpdatePolicy") or {}).get("TrafficRoutingConfiguration", {}).get("Type"),
    )
    return ActionResult({"EndpointArn": endpoint.arn})


def _weighted(options: list[tuple[Any, float]]) -> Any:
    total = sum(max(w, 0.0) for _, w in options)
    if total <= 0:
        return options[0][0]
    return random.choices([o for o, _ in options], weights=[max(w, 0.0) for _, w in options])[0]


def _invoke_endpoint(self: Any) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    name = unquote(self.path.split("?")[0].split("/")[2])  # /endpoints/<name>/invocations
    backend = sagemaker_backends[self.current_account][self.region]
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        body = {"__type": "ValidationError", "message": f"Endpoint {name} of account {self.current_account} not found."}
        return 400, {"status": "400", "x-amzn-ErrorType": "ValidationError"}, json.dumps(body)
    config = backend.endpoint_configs[endpoint.endpoint_config_name]
    variant = _weighted([(v, float(v.get("InitialVariantWeight", 1.0))) for v in config.production_variants])
    model = backend._models[variant["ModelName"]]
    endpoint_url = _endpoint(self)
    package = _unpack(_s3_bytes(model.primary_container["ModelDataUrl"], endpoint_url), "tar")
    content_type = self.headers.get("Content-Type", "application/json")
    accept = self.headers.get("Accept", "application/json")
    args = [str(package), content_type, accept]
    result = _run(_SAGEMAKER_RUNNER, args, _request_body(self, b""), _aws_env(self.region, endpoint_url), package)
    STATE.invocations.append(
        {
            "call": "sagemaker-runtime:InvokeEndpoint",
            "endpoint": name,
            "model": variant["ModelName"],
            "ok": result["ok"],
        }
    )
    log.warning(
        "emulator extension: InvokeEndpoint %s ran %s's model.tar.gz locally: %s",
        name,
        variant["ModelName"],
        "ok" if result["ok"] else result.get("errorMessage"),
    )
    headers = {"x-Amzn-Invoked-Production-Variant": variant["VariantName"]}
    if not result["ok"]:
        # What SageMaker answers when the container does not answer 2xx: 424 ModelError, with the container's
        # status (400 for a request transform_fn refused, 500 for a crash) and message.
        message = f"{result['errorType']}: {result['errorMessage']}"
        status = int(result.get("status") or 500)
        error: dict[str, Any] = {"__type": "ModelError", "message": message, "OriginalStatusCode": status}
        error["OriginalMessage"] = result["errorMessage"] if status < 500 else message
        headers.update({"status": "424", "x-amzn-ErrorType": "ModelError"})
        return 424, headers, json.dumps(error)
    return 200, {**headers, "Content-Type": result["content_type"]}, result["body"]


# -- Lambda -------------------------------------------------------------------------------------------------
def _lambda_invoke(self: Any) -> Any:
    function_name = unquote(self.path.rsplit("/", 2)[-2])
    qualifier = (self.querystring.get("Qualifier") or [None])[0]
    backend = self.backend
    if qualifier and not qualifier.isdigit() and qualifier != "$LATEST":
        alias = backend.get_alias(qualifier, function_name)
        weights = ((alias.routing_config or {}).get("AdditionalVersionWeights") or {}) if alias.routing_config else {}
        extra = sum(float(w) for w in weights.values())
        options = [(alias.function_version, 1.0 - extra), *((v, float(w)) for v, w in weights.items())]
        qualifier = str(_weighted(options))
    fn = backend.get_function(function_name, qualifier or "$LATEST")
    package = _unpack(fn.code_bytes, "zip")
    env = {**_aws_env(self.region, _endpoint(self)), **{k: str(v) for k, v in (fn.environment_vars or {}).items()}}
    env["AWS_LAMBDA_FUNCTION_NAME"] = fn.function_name
    env["AWS_LAMBDA_FUNCTION_VERSION"] = str(fn.version)
    result = _run(_LAMBDA_RUNNER, [str(package), fn.handler], _request_body(self, b"{}"), env, package)
    STATE.invocations.append(
        {"call": "lambda:Invoke", "function": function_name, "version": str(fn.version), "ok": result["ok"]}
    )
    log.warning(
        "emulator extension: Invoke %s:%s ran the function's zip locally: %s",
        function_name,
        fn.version,
        "ok" if result["ok"] else result.get("errorMessage"),
    )
    headers = {"x-amz-executed-version": str(fn.version), "content-type": "application/json"}
    if not result["ok"]:
        headers["x-amz-function-error"] = "Unhandled"
        error = {k: result[k] for k in ("errorType", "errorMessage", "stackTrace") if k in result}
        return 200, headers, json.dumps(error)
    return 200, headers, json.dumps(result["value"])
