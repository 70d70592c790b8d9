"""Deterministic deployment artifacts: the SageMaker model tarball and the Lambda zip.

Both hold only modelcare's own code (``errors``, ``serialization`` and the serving modules): no
third-party packages. The SageMaker scikit-learn image brings scikit-learn/numpy/pandas (skops must
be added, e.g. via ``code/requirements.txt``, which the tarball includes); on Lambda, scikit-learn,
skops, numpy and pandas come from a Lambda layer or a container image, boto3 from the runtime.
Same inputs, same bytes: sorted entries, fixed times, owners and modes, gzip header without time/name.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

from include.modelcare.ml.packaging import deterministic_tar_gz, pinned_requirements

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[3]  # the directory holding include/
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

RUNTIME_MODULES: tuple[str, ...] = (
    "include/__init__.py",
    "include/modelcare/__init__.py",
    "include/modelcare/errors.py",
    "include/modelcare/ml/__init__.py",
    "include/modelcare/ml/serialization.py",
    "include/modelcare/serving/__init__.py",
    "include/modelcare/serving/model.py",
)
"""What ``ServedModel`` imports from the repository (and nothing else of modelcare)."""

LAMBDA_MODULES: tuple[str, ...] = (*RUNTIME_MODULES, "include/modelcare/serving/lambda_handler.py")
LAMBDA_HANDLER = "include.modelcare.serving.lambda_handler.handler"
SAGEMAKER_ENTRY = "include/modelcare/serving/sagemaker_inference.py"
_SAGEMAKER_REQUIREMENTS = ("skops",)


def _sources(paths: tuple[str, ...]) -> dict[str, bytes]:
    return {path: (_ROOT / path).read_bytes() for path in paths}


def build_model_tarball(model_bytes: bytes, serving_meta: dict[str, Any]) -> bytes:
    """``model.tar.gz`` for a SageMaker scikit-learn endpoint: ``model.skops``, ``serving.json`` and
    ``code/`` (``inference.py`` = ``sagemaker_inference``, the modules it imports, ``requirements.txt``).

    ``serving_meta``: ``{"model", "version", "sha256", "features": {...}, "max_rows"?}``; its sha256
    must be the model bytes' (checked here, and again by ``model_fn``).
    """
    from include.modelcare.errors import UntrustedModelError
    from include.modelcare.ml.serialization import sha256_hex

    expected = str(serving_meta.get("sha256") or "").lower()
    if expected != sha256_hex(model_bytes):
        raise UntrustedModelError(
            f"serving_meta sha256 {expected or '(none)'} is not the model bytes' {sha256_hex(model_bytes)}"
        )
    files = {f"code/{path}": content for path, content in _sources(RUNTIME_MODULES).items()}
    files["code/inference.py"] = (_ROOT / SAGEMAKER_ENTRY).read_bytes()
    files["code/requirements.txt"] = pinned_requirements(_SAGEMAKER_REQUIREMENTS, "model tarball")
    files["model.skops"] = model_bytes
    files["serving.json"] = json.dumps(serving_meta, indent=2, sort_keys=True).encode()
    data = deterministic_tar_gz(files)
    log.info("model tarball: %d files, %d bytes", len(files), len(data))
    return data


def build_lambda_zip() -> bytes:
    """Lambda deployment zip of the handler (``LAMBDA_HANDLER``) and the modelcare modules it imports.

    No third-party packages: attach scikit-learn, skops, numpy and pandas as a layer (or use a container image).
    """
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(_sources(LAMBDA_MODULES).items()):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            archive.writestr(info, content)
    log.info("lambda zip: %d files, %d bytes", len(LAMBDA_MODULES), raw.tell())
    return raw.getvalue()
