"""Deterministic deployment artifacts: the SageMaker model tarball and the Lambda zip.

Both hold only modelcare's own code: no third-party packages. The SageMaker scikit-learn image brings
scikit-learn/numpy/pandas (skops must be added, e.g. via ``code/requirements.txt``, which the tarball
includes); on Lambda, scikit-learn, skops, numpy and pandas come from a Lambda layer or a container
image, boto3 from the runtime. Same inputs, same bytes: sorted entries, fixed times, owners and modes,
gzip header without time/name.

Which modelcare files go in is derived, not listed: ``module_closure`` starts at the entry module and
follows every ``include.*`` import (module level and inside functions; ``if TYPE_CHECKING:`` blocks
never run, so they are skipped), adding each package's ``__init__.py``. It refuses to package anything
outside ``serving/``, ``ml/serialization.py`` (the model file format), ``ml/calibration.py`` (the version's
calibrator, one implementation for gate, estimate and serving), ``errors.py`` and package ``__init__``s:
an import of training, Great Expectations or Evidently code from a serving module fails the build instead
of shipping (or breaking) an endpoint. The packages are content-hashed downstream, so any change to the
shipped files (a docstring of an ``__init__.py`` included) gives new endpoint configs / Lambda versions.
"""

from __future__ import annotations

import ast
import functools
import io
import json
import logging
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from include.modelcare.errors import DeploymentError
from include.modelcare.ml.packaging import deterministic_tar_gz, pinned_requirements

# The entry points by import, so a rename breaks here and not in a deployed handler string. They load no
# third-party module at import time (tests/unit/serving checks it), so this stays as light as before.
from include.modelcare.serving import lambda_handler, model, sagemaker_inference

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[3]  # the directory holding include/
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FIRST_PARTY = "include"

SERVABLE: tuple[str, ...] = (
    "include/modelcare/serving/",
    "include/modelcare/ml/serialization.py",
    "include/modelcare/ml/calibration.py",
    "include/modelcare/errors.py",
)
"""Repository paths (prefixes) a serving package may hold, besides package ``__init__.py`` files."""

RUNTIME_ENTRY = model.__name__  # ServedModel
LAMBDA_ENTRY = lambda_handler.__name__
SAGEMAKER_ENTRY = sagemaker_inference.__name__  # shipped as code/inference.py
LAMBDA_HANDLER = f"{LAMBDA_ENTRY}.{lambda_handler.handler.__name__}"
_SAGEMAKER_REQUIREMENTS = ("skops",)


def module_path(name: str, root: Path = _ROOT) -> str:
    """``include.modelcare.errors`` -> ``include/modelcare/errors.py`` (a package: its ``__init__.py``)."""
    base = PurePosixPath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if (root / candidate).is_file():
            return str(candidate)
    raise DeploymentError(f"serving package: module {name} has no file {base}.py or {base}/__init__.py under {root}")


def _is_module(name: str, root: Path) -> bool:
    base = root / PurePosixPath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


class _Imports(ast.NodeVisitor):
    """First-party modules one file imports, at any depth, except under ``if TYPE_CHECKING:``."""

    def __init__(self, module: str, is_package: bool, root: Path) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.root = root
        self.found: list[str] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.extend(alias.name for alias in node.names if _first_party(alias.name))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            module = f"{base}.{node.module}" if node.module else base
        else:
            module = node.module or ""
        if not _first_party(module):
            return
        self.found.append(module)
        # ``from include.modelcare.serving import model`` imports the submodule too.
        self.found.extend(f"{module}.{a.name}" for a in node.names if _is_module(f"{module}.{a.name}", self.root))


def _first_party(name: str) -> bool:
    return name == _FIRST_PARTY or name.startswith(f"{_FIRST_PARTY}.")


def _servable(path: str) -> bool:
    return path.endswith("/__init__.py") or any(path == p or (p.endswith("/") and path.startswith(p)) for p in SERVABLE)


def module_closure(entry: str, root: Path = _ROOT) -> tuple[str, ...]:
    """Repository paths of ``entry`` and every first-party module it can import, with their packages'
    ``__init__.py`` files, sorted. ``DeploymentError`` if that reaches a module outside ``SERVABLE``."""
    paths: dict[str, str] = {}
    via: dict[str, str] = {}
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in paths:
            continue
        path = module_path(name, root)
        if not _servable(path):
            chain = [name]
            while chain[-1] in via:
                chain.append(via[chain[-1]])
            raise DeploymentError(
                f"serving package of {entry} would ship {path} (imported via {' <- '.join(chain)}); only "
                f"{', '.join(SERVABLE)} and package __init__.py files may be packaged: import it lazily "
                "elsewhere or move the code into serving/"
            )
        paths[name] = path
        visitor = _Imports(name, path.endswith("__init__.py"), root)
        visitor.visit(ast.parse((root / path).read_bytes(), filename=path))
        parent = name.rpartition(".")[0]
        for found in [*([parent] if parent else []), *visitor.found]:
            via.setdefault(found, name)
            todo.append(found)
    return tuple(sorted(paths.values()))


@functools.cache
def runtime_modules() -> tuple[str, ...]:
    """What ``ServedModel`` needs from the repository (and nothing else of modelcare)."""
    return module_closure(RUNTIME_ENTRY)


@functools.cache
def lambda_modules() -> tuple[str, ...]:
    """The Lambda zip's files: the handler and its closure."""
    return module_closure(LAMBDA_ENTRY)


@functools.cache
def sagemaker_modules() -> tuple[str, ...]:
    """The tarball's ``code/include/...`` files: the closure of the SageMaker hooks, without the hooks
    themselves (those are ``code/inference.py``, the name the container runs)."""
    entry = module_path(SAGEMAKER_ENTRY)
    return tuple(path for path in module_closure(SAGEMAKER_ENTRY) if path != entry)


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
    files = {f"code/{path}": content for path, content in _sources(sagemaker_modules()).items()}
    files["code/inference.py"] = (_ROOT / module_path(SAGEMAKER_ENTRY)).read_bytes()
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
    modules = lambda_modules()
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(_sources(modules).items()):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            archive.writestr(info, content)
    log.info("lambda zip: %d files, %d bytes", len(modules), raw.tell())
    return raw.getvalue()
