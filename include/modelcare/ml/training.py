"""Training: validated hyperparameters, one preprocessing + estimator pipeline, an out-of-time split,
the fit, the input fingerprint, and the SageMaker training job request with its source tarball.

The same ``build_pipeline`` runs on the Airflow worker (``fit``) and in the SageMaker scikit-learn
container (``sagemaker_entry.py``), so both backends produce the same kind of model file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import logging
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import InvalidHyperparameters, TrainingError
from include.modelcare.ml.packaging import deterministic_tar_gz, pinned_requirements

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

PIPELINE_STEPS = ("preprocess", "model")
"""Step names of every pipeline ``build_pipeline`` returns."""

DENSE_ONLY = frozenset({"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"})
"""Estimators that refuse sparse input: the one-hot output is kept dense for them."""

ENTRY_SCRIPT = "sagemaker_entry.py"
CONFIG_HYPERPARAMETER = "modelcare_config"
PARAMS_HYPERPARAMETER = "modelcare_params"
SAGEMAKER_HYPERPARAMETER_MAX = 2500  # characters per value (CreateTrainingJob API limit)
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_ECR_REGION = re.compile(r"\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")
# Hyperparameters whose valid values depend on the data (classes, number of features or rows):
# sklearn checks them at fit time against the real data, so the synthetic probe leaves them out.
_DATA_DEPENDENT = frozenset(
    {"class_weight", "monotonic_cst", "interaction_cst", "categorical_features", "max_features", "max_samples"}
)
_SIZE_PARAMS = ("n_estimators", "max_iter")  # capped in the probe: it checks validity, not capacity
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the directory holding include/
# Development tools never ship to SageMaker (house rule 5: production code does not import them).
_TARBALL_EXCLUDED = ("include/modelcare/dev/",)
_TARBALL_SUFFIXES = (".py", ".yaml", ".yml")
# croniter: the config schema validates cron schedules with it, and the entry script loads the config.
_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "PyYAML", "croniter")


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


# -- estimator and hyperparameters -------------------------------------------------------------------
def estimator_class(name: str) -> type[Any]:
    """The scikit-learn class of an allowlisted estimator name (``TrainingError`` otherwise)."""
    from include.modelcare.ml.estimators import ESTIMATORS

    spec = ESTIMATORS.get(name)
    if spec is None:
        raise TrainingError(f"estimator {name!r} is not allowed (one of: {', '.join(sorted(ESTIMATORS))})")
    module, cls = spec.path.rsplit(".", 1)
    estimator: type[Any] = getattr(importlib.import_module(module), cls)
    return estimator


def _is_plain(value: Any) -> bool:
    """JSON-like values only (what YAML configs and run conf produce): no objects, no callables."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str | int | float | bool) and _is_plain(v) for k, v in value.items())
    return False


def _probe(estimator: type[Any], params: dict[str, Any], task: str) -> None:
    """Fit on 60 synthetic rows so that combinations sklearn checks only in ``fit`` fail here."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    probe = {k: v for k, v in params.items() if k not in _DATA_DEPENDENT}
    for key in _SIZE_PARAMS:
        if isinstance(probe.get(key), int) and not isinstance(probe[key], bool) and probe[key] > 3:
            probe[key] = 3
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    # binary labels; positive regression targets (poisson and gamma losses refuse negatives)
    y = (x[:, 0] > 0).astype(int) if task == "classification" else np.exp(x[:, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        estimator(**probe).fit(x, y)


def validate_params(config: ModelConfig, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config's hyperparameters updated with ``overrides``, checked against the estimator.

    Unknown names and bad values (sklearn's own parameter validation, then a fit on a tiny synthetic
    frame for combinations checked only in ``fit``) raise ``InvalidHyperparameters`` in one line.
    """
    name = config.training.estimator
    estimator = estimator_class(name)
    params = {**config.training.params, **dict(overrides or {})}
    valid = sorted(estimator().get_params(deep=False))
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InvalidHyperparameters(
            f"{name}: unknown hyperparameter(s) {', '.join(unknown)} (valid: {', '.join(valid)})"
        )
    not_plain = sorted(k for k, v in params.items() if not _is_plain(v))
    if not_plain:
        raise InvalidHyperparameters(
            f"{name}: {', '.join(not_plain)} must be plain values (number, string, bool, null, list, mapping)"
        )
    if name in DENSE_ONLY and params.get("early_stopping", "auto") is not False:
        scoring = params.get("scoring", "loss")
        if scoring not in (None, "loss"):
            raise InvalidHyperparameters(
                f"{name}: scoring={scoring!r} with early stopping cannot be saved with skops "
                "(the fitted scorer is not serialisable); use scoring='loss' or early_stopping=false"
            )
    try:
        estimator(**params)._validate_params()
    except (TypeError, ValueError) as exc:  # sklearn's InvalidParameterError is both
        raise InvalidHyperparameters(f"{name}: {_first_line(exc)}") from None
    try:
        _probe(estimator, params, config.task)
    except (TypeError, ValueError) as exc:
        raise InvalidHyperparameters(f"{name}: {_first_line(exc)}") from None
    return params


# -- pipeline ---------------------------------------------------------------------------------------
def build_pipeline(config: ModelConfig, params: Mapping[str, Any]) -> Pipeline:
    """``preprocess`` (median-impute + scale numerics; mode-impute + one-hot categoricals) then ``model``.

    ``random_state`` is set to ``training.seed`` when the estimator has one and ``params`` do not set it.
    Unknown categories at predict time are ignored (all-zero one-hot), not errors.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    name = config.training.estimator
    estimator = estimator_class(name)
    kwargs = dict(params)
    if "random_state" in estimator().get_params(deep=False) and "random_state" not in kwargs:
        kwargs["random_state"] = config.training.seed
    features = config.data.features
    transformers: list[tuple[str, Any, list[str]]] = []
    if features.numerical:
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        transformers.append(("numeric", numeric, list(features.numerical)))
    if features.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("categorical", categorical, list(features.categorical)))
    preprocess = ColumnTransformer(transformers, sparse_threshold=0.0 if name in DENSE_ONLY else 0.3)
    return Pipeline([(PIPELINE_STEPS[0], preprocess), (PIPELINE_STEPS[1], estimator(**kwargs))])


def features_and_target(config: ModelConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The feature columns and the labels of a labelled frame; ``TrainingError`` if any are missing."""
    data = config.data
    missing = [c for c in [*data.features.all, data.target] if c not in frame.columns]
    if missing:
        raise TrainingError(f"{config.name}: missing column(s) {', '.join(missing)} ({len(frame)} rows)")
    y = frame[data.target]
    unlabelled = int(y.isna().sum())
    if unlabelled:
        raise TrainingError(f"{config.name}: {unlabelled} of {len(frame)} rows have no {data.target} label")
    return frame[data.features.all], y


# -- data split and fingerprint ------------------------------------------------------------------------
def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def time_split(
    frame: pd.DataFrame,
    day_column: str,
    holdout_days: Sequence[dt.date | str],
    *,
    min_rows: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-time split: rows of ``holdout_days`` are the holdout, all earlier-or-other days train.

    Days compare as dates (``date``, ISO string or timestamp all work). ``TrainingError`` when a row
    has no day, the holdout or the training part is empty, or training has fewer than ``min_rows``.
    """
    import pandas as pd

    if day_column not in frame.columns:
        raise TrainingError(f"time split: no {day_column!r} column ({len(frame)} rows)")
    if not holdout_days:
        raise TrainingError("time split: no holdout days given")
    try:
        days = pd.to_datetime(frame[day_column].astype("string"), format="ISO8601").dt.date
        wanted = {_as_date(d) for d in holdout_days}
    except (ValueError, TypeError) as exc:
        raise TrainingError(f"time split: unreadable day in {day_column!r}: {_first_line(exc)}") from None
    no_day = int(days.isna().sum())
    if no_day:
        raise TrainingError(f"time split: {no_day} of {len(frame)} rows have no {day_column!r}")
    mask = days.isin(wanted).to_numpy()
    train, holdout = frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
    shown = ", ".join(sorted(d.isoformat() for d in wanted))
    if holdout.empty:
        raise TrainingError(f"time split: no rows on holdout day(s) {shown} ({len(frame)} rows)")
    if train.empty or len(train) < min_rows:
        raise TrainingError(
            f"time split: {len(train)} training rows outside holdout day(s) {shown}, below min_rows={min_rows}"
        )
    log.info("time split: %d training rows, %d holdout rows (%s)", len(train), len(holdout), shown)
    return train, holdout


def fingerprint(objects: Iterable[tuple[str, bytes | str]]) -> str:
    """sha256 identifying a set of input objects, independent of their order.

    Covers exactly the pairs given, each as (uri, content digest): bytes are hashed with sha256,
    a string is taken as an already computed digest (lowercased; use sha256 hex consistently).
    The fingerprint is sha256 over the UTF-8 lines ``"<uri>\\t<digest>\\n"`` sorted by uri, so the same
    objects with the same content always give the same value, and a changed, added or removed object
    changes it. Nothing else counts (config, hyperparameters, code): add them as pairs if they should.
    A uri given twice with different content is an error; given twice identically, it counts once.
    """
    entries: dict[str, str] = {}
    for uri, content in objects:
        if isinstance(content, bytes | bytearray | memoryview):
            digest = hashlib.sha256(content).hexdigest()
        else:
            digest = str(content).strip().lower()
        if not uri or not digest or any(ch in uri + digest for ch in "\t\n"):
            raise TrainingError(f"fingerprint: bad entry ({uri!r}, {digest!r})")
        if entries.setdefault(uri, digest) != digest:
            raise TrainingError(f"fingerprint: {uri} given twice with different content")
    if not entries:
        raise TrainingError("fingerprint: no objects given")
    payload = "".join(f"{uri}\t{digest}\n" for uri, digest in sorted(entries.items()))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# -- fit ------------------------------------------------------------------------------------------------
def fit(config: ModelConfig, params: Mapping[str, Any], train: pd.DataFrame) -> tuple[Pipeline, float]:
    """Build and fit the pipeline on ``train``; return it and the fit time in seconds."""
    x, y = features_and_target(config, train)
    if config.task == "classification" and y.nunique() < 2:
        only = y.unique().tolist()[0]  # tolist: plain Python values (0, not np.int64(0))
        raise TrainingError(f"{config.name}: training labels have a single class ({only!r}, {len(y)} rows)")
    pipeline = build_pipeline(config, params)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline.fit(x, y)
        except (ValueError, TypeError) as exc:
            raise TrainingError(
                f"{config.name}: fitting {config.training.estimator} on {len(x)} rows failed: {_first_line(exc)}"
            ) from None
    seconds = time.perf_counter() - started
    for message in sorted({f"{w.category.__name__}: {str(w.message).strip()[:200]}" for w in caught})[:5]:
        log.warning("%s: while fitting %s: %s", config.name, config.training.estimator, message)
    log.info("%s: fitted %s on %d rows in %.2f s", config.name, config.training.estimator, len(x), seconds)
    return pipeline, seconds


# -- SageMaker --------------------------------------------------------------------------------------------
def training_spec(config: ModelConfig) -> dict[str, Any]:
    """The part of the model config the training container needs (name, task, data, training)."""
    return config.model_dump(mode="json", include={"name", "task", "data", "training"})


def sagemaker_training_config(
    config: ModelConfig,
    *,
    job_name: str,
    train_uri: str,
    output_uri: str,
    code_uri: str,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request for the SageMaker scikit-learn framework container.

    The container downloads ``code_uri`` (``build_source_tarball``), pip-installs its requirements.txt
    and runs ``sagemaker_entry.py``, which reads the ``train`` channel (``train_uri`` prefix) and writes
    ``model.skops``: SageMaker uploads it as ``<output_uri>/<job_name>/output/model.tar.gz``.
    Hyperparameter values are JSON-encoded, as the SageMaker Python SDK does (the container decodes them).
    This dict is what ``SageMakerTrainingOperator(config=...)`` takes.
    """
    sm = config.training.sagemaker
    if sm is None:
        raise TrainingError(f"{config.name}: training.sagemaker is not configured (image_uri, role_arn)")
    if sm.instance_count != 1:
        raise TrainingError(
            f"{config.name}: training.sagemaker.instance_count is {sm.instance_count}; "
            "scikit-learn trains on one instance (use a larger instance_type)"
        )
    if not _JOB_NAME.fullmatch(job_name):
        raise TrainingError(f"SageMaker job name {job_name!r} must be 1-63 letters, digits and inner hyphens")
    for what, uri in (("train_uri", train_uri), ("output_uri", output_uri), ("code_uri", code_uri)):
        if not uri.startswith("s3://"):
            raise TrainingError(f"SageMaker {what} must be an s3:// URI, got {uri!r}")
    if not code_uri.endswith(".tar.gz"):
        raise TrainingError(f"SageMaker code_uri must be a .tar.gz (build_source_tarball), got {code_uri!r}")
    hyperparameters = {
        "sagemaker_program": json.dumps(ENTRY_SCRIPT),
        "sagemaker_submit_directory": json.dumps(code_uri),
        "sagemaker_container_log_level": json.dumps(logging.INFO),
        CONFIG_HYPERPARAMETER: json.dumps(training_spec(config), separators=(",", ":"), sort_keys=True),
        PARAMS_HYPERPARAMETER: json.dumps(dict(params), separators=(",", ":"), sort_keys=True),
    }
    region = _ECR_REGION.search(sm.image_uri)
    if region:
        hyperparameters["sagemaker_region"] = json.dumps(region.group(1))
    for key, value in hyperparameters.items():
        if len(value) > SAGEMAKER_HYPERPARAMETER_MAX:
            raise TrainingError(
                f"{config.name}: SageMaker hyperparameter {key} is {len(value)} characters "
                f"(the API allows {SAGEMAKER_HYPERPARAMETER_MAX})"
            )
    content_type = "application/x-parquet" if config.data.format == "parquet" else "text/csv"
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": sm.image_uri, "TrainingInputMode": "File"},
        "RoleArn": sm.role_arn,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": train_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": content_type,
                "InputMode": "File",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {
            "InstanceType": sm.instance_type,
            "InstanceCount": sm.instance_count,
            "VolumeSizeInGB": sm.volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": sm.max_runtime_seconds},
        "HyperParameters": hyperparameters,
        "Tags": [{"Key": "modelcare:model", "Value": config.name}],
    }


def build_source_tarball() -> bytes:
    """``sagemaker_submit_directory`` contents as tar.gz: the ``include/`` package (.py, .yaml; not ``dev/``), the entry
    script at the top level as ``sagemaker_entry.py``, and a ``requirements.txt`` pinning this
    environment's scikit-learn, skops, pandas, ... versions (the container pip-installs it).

    Deterministic for the same files and installed versions: sorted names, fixed mtime/owner/mode,
    gzip header without time or name.
    """
    files: dict[str, bytes] = {}
    for path in sorted((_PACKAGE_ROOT / "include").rglob("*")):
        relative = path.relative_to(_PACKAGE_ROOT)
        if (
            path.is_file()
            and path.suffix in _TARBALL_SUFFIXES
            and not any(part.startswith((".", "__pycache__")) for part in relative.parts)
            and not relative.as_posix().startswith(_TARBALL_EXCLUDED)
        ):
            files[relative.as_posix()] = path.read_bytes()
    files[ENTRY_SCRIPT] = (Path(__file__).resolve().parent / ENTRY_SCRIPT).read_bytes()
    files["requirements.txt"] = pinned_requirements(_REQUIREMENTS, "source tarball")
    packed = deterministic_tar_gz(files)
    log.info("source tarball: %d files, %d bytes", len(files), len(packed))
    return packed
