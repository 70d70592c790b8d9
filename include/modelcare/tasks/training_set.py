"""The retraining DAG's training set: the validated, labelled batches of the window, joined and fingerprinted.

Split from ``tasks.retraining`` (the train/evaluate/register/hand-off bodies), which reads what this
module writes: ``dataset.parquet`` and ``manifest.json`` in the run's training folder. The window itself
is a pure decision (``policy.training_window``); this module does the I/O around it. It also holds the
run's identity for lineage (``run_key``, ``run_slug``, ``code_version``), which both modules record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataNotFound, InvalidHyperparameters, TrainingError
from include.modelcare.policy import training_window
from include.modelcare.registry.factory import open_registry
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.tasks.boundary import task_boundary
from include.modelcare.tasks.context import RunInfo, task_setup

log = logging.getLogger(__name__)

BATCH_DAY = "_batch_day"
"""Column added to the data set: the batch date of each row (the out-of-time split is by it)."""


def run_key(run: RunInfo) -> str:
    """Stable identity of a DAG run (registry idempotency key)."""
    return f"{run.dag_id}/{run.run_id}"


def run_slug(run: RunInfo) -> str:
    """The run id as a safe S3 path segment."""
    return re.sub(r"[^A-Za-z0-9._=-]", "_", run.run_id)


def code_version() -> str | None:
    """The git commit of the bundle when it is a checkout (None otherwise)."""
    import subprocess
    from pathlib import Path

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def hyperparameters(config: ModelConfig, run: RunInfo) -> dict[str, Any]:
    """The config's hyperparameters with the form's overrides, checked against the estimator.

    ``InvalidHyperparameters`` for unknown names, bad values or an override that is not a JSON object.
    """
    from include.modelcare.ml.training import validate_params

    overrides = run.params.get("hyperparameters") or {}
    if isinstance(overrides, str):
        try:
            overrides = json.loads(overrides) if overrides.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidHyperparameters(f"hyperparameters: not a JSON object ({exc})") from None
    if not isinstance(overrides, Mapping):
        raise InvalidHyperparameters(f"hyperparameters: expected a JSON object, got {type(overrides).__name__}")
    return validate_params(config, dict(overrides))


def split_holdout(config: ModelConfig, dataset: Any) -> tuple[Any, Any]:
    """(train, holdout) of the data set: the last ``training.holdout_weeks`` batch days are the holdout."""
    from include.modelcare.ml.training import time_split

    days = sorted(dataset[BATCH_DAY].unique())
    holdout_days = days[-config.training.holdout_weeks :]
    return time_split(dataset, BATCH_DAY, holdout_days, min_rows=config.training.min_rows)


def _partition_day(uri: str) -> dt.date | None:
    match = re.search(r"/dt=(\d{4}-\d{2}-\d{2})/", uri)
    return dt.date.fromisoformat(match.group(1)) if match else None


def labelled_batches(config: ModelConfig, store: ObjectStore, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Validated batches in the window that have labels. Quarantined batches are never under incoming/."""
    from include.modelcare.storage.tables import data_files, validated_files

    incoming_root = f"{config.paths.root}/incoming/"
    days = sorted({d for u in store.list(incoming_root) if (d := _partition_day(u)) and start <= d <= end})
    batches = []
    for day in days:
        result_uri = config.paths.validation_result(day)
        try:
            result = store.read_json(result_uri)
        except DataNotFound:
            result = {}
        validated = bool(result.get("success"))
        if not validated:
            log.info("%s %s: not validated (no passing %s): left out", config.name, day, result_uri)
            continue
        labels = data_files(store, config.paths.labels(day), config.data.format)
        if not labels:
            log.info("%s %s: no labels yet at %s: left out", config.name, day, config.paths.labels(day))
            continue
        # Exactly the files validation read (key + ETag), not what landed in the folder since.
        features = validated_files(result, store, config.paths.incoming(day), config.data.format)
        batches.append({"day": day.isoformat(), "features": features, "labels": labels, "validation": result_uri})
    return batches


@task_boundary
def assemble_training_set(model: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Join validated batches with their labels; write the data set and its manifest (inputs + sha256)."""
    import hashlib

    import pandas as pd

    from include.modelcare.ml.training import fingerprint
    from include.modelcare.storage.tables import parse_bytes, read_validated, to_bytes

    config, run, store = task_setup(model, context)
    hyperparameters(config, run)  # bad overrides fail here, before any data is read (no retries: a domain error)
    start, end = training_window(run.params, config.training, run.day)
    batches = labelled_batches(config, store, start, end)
    if len(batches) < 2:
        raise TrainingError(
            f"{config.name}: {len(batches)} validated, labelled batch(es) between {start} and {end}; "
            "need at least 2 (train + out-of-time holdout)"
        )
    inputs: list[tuple[str, str]] = []
    frames = []
    data = config.data
    for batch in batches:
        parts = {}
        files = {
            "features": read_validated(batch["features"], store),
            "labels": [(uri, store.read_bytes(uri)) for uri in batch["labels"]],
        }
        for kind, contents in files.items():
            loaded = []
            for uri, raw in contents:
                inputs.append((uri, hashlib.sha256(raw).hexdigest()))
                loaded.append(parse_bytes(raw, data.format, uri))
            parts[kind] = pd.concat(loaded, ignore_index=True)
        features = parts["features"].drop(columns=[data.target], errors="ignore")
        joined = features.merge(parts["labels"][[data.id_column, data.target]], on=data.id_column, how="inner")
        joined[BATCH_DAY] = batch["day"]
        frames.append(joined)
    dataset = pd.concat(frames, ignore_index=True)
    digest = fingerprint(inputs)

    force = bool(run.params.get("force"))
    registry = open_registry(config, store)
    latest = next(reversed(registry.versions()), None)
    if latest is not None and latest.metadata.get("fingerprint") == digest and not force:
        latest_run = latest.metadata.get("run_key")
        if latest_run != run_key(run):
            raise AirflowSkipException(
                f"no new data: the inputs (fingerprint {digest[:12]}) are those of {latest.version_id}; "
                "trigger with force=true to retrain anyway"
            )

    folder = config.paths.training_run(run_slug(run))
    manifest = {
        "model": config.name,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "batches": [b["day"] for b in batches],
        "validation_results": [b["validation"] for b in batches],
        "inputs": [{"uri": u, "sha256": h} for u, h in sorted(inputs)],
        "fingerprint": digest,
        "rows": len(dataset),
        "run_key": run_key(run),
    }
    store.write_bytes(folder + "dataset.parquet", to_bytes(dataset, "parquet"))
    store.write_json(folder + "manifest.json", manifest)
    log.info(
        "%s: %d rows from %d batches %s..%s (fingerprint %s)",
        config.name,
        len(dataset),
        len(batches),
        start,
        end,
        digest[:12],
    )
    return {
        "dataset_uri": folder + "dataset.parquet",
        "manifest_uri": folder + "manifest.json",
        "fingerprint": digest,
        "rows": len(dataset),
        "batches": manifest["batches"],
        "window": manifest["window"],
    }
