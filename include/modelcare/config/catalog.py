"""Loading the model catalog: one YAML file per model, validated against ``config.schema``.

Adding a model is adding a file to ``include/models/`` (or ``$MODELCARE_MODELS_DIR``). A broken file is
reported by name and field and never hides the others.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import ConfigError

log = logging.getLogger(__name__)

# libyaml's loader is ~10x faster than the pure-Python one; both only build plain types.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_YAML_LOADER):  # type: ignore[misc,valid-type]
    """Refuses a mapping that repeats a key: YAML says keys are unique, PyYAML silently keeps the last one,
    so a second ``training:`` block would override the first without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {lines[key] + 1})", key_node.start_mark
                )
            lines[key] = key_node.start_mark.line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def models_dir() -> Path:
    """Directory of model configs: ``$MODELCARE_MODELS_DIR`` or ``include/models``."""
    return Path(os.environ.get("MODELCARE_MODELS_DIR") or DEFAULT_MODELS_DIR)


def _format_validation_error(path: Path, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        if isinstance(got, str | int | float | bool) and e["type"] not in {"missing", "value_error"}:
            msg += f" (got {got!r})"
        parts.append(f"{loc}: {msg}")
    return f"{path}: " + "; ".join(parts)


def load_model_config(path: str | Path) -> ModelConfig:
    """Read and validate one model config; raise ``ConfigError`` naming the file and the field."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        config = ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None
    if config.name != path.stem:
        raise ConfigError(f"{path}: name: {config.name!r} must match the file name {path.stem!r}")
    return config


@dataclass(frozen=True)
class Catalog:
    """All model configs of a directory: the valid ones and one error line per broken file."""

    models: dict[str, ModelConfig]
    errors: dict[str, str]


def config_files(directory: Path | None = None) -> list[Path]:
    """YAML files of the catalog, sorted (hidden files skipped)."""
    directory = directory or models_dir()
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"} and not p.name.startswith("."))


_CATALOG_CACHE: dict[tuple[tuple[str, float, int], ...], Catalog] = {}


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load every config; a broken file is reported in ``errors`` and never hides the others.

    Memoised on the files' names, mtimes and sizes, so the DAG files parsed in one process share one read.
    """
    files = config_files(directory)
    key = tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)
    if key in _CATALOG_CACHE:
        return _CATALOG_CACHE[key]
    catalog = _load_catalog(files)
    _CATALOG_CACHE.clear()
    _CATALOG_CACHE[key] = catalog
    return catalog


def _load_catalog(files: list[Path]) -> Catalog:
    models: dict[str, ModelConfig] = {}
    errors: dict[str, str] = {}
    for path in files:
        try:
            config = load_model_config(path)
        except ConfigError as exc:
            log.warning("skipping model config: %s", exc)
            errors[str(path)] = str(exc)
            continue
        models[config.name] = config
    return Catalog(models=models, errors=errors)


def get_model_config(name: str, directory: Path | None = None) -> ModelConfig:
    """The config of one model by name (``<dir>/<name>.yaml``)."""
    directory = directory or models_dir()
    for suffix in (".yaml", ".yml"):
        candidate = directory / f"{name}{suffix}"
        if candidate.exists():
            return load_model_config(candidate)
    raise ConfigError(f"{directory}/{name}.yaml: no config for model {name!r}")
