"""The model config schema (pydantic): everything a pipeline needs to know about a model, with
defaults a small team can start from. Loading files is ``config.catalog``; the S3 layout ``config.paths``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from include.modelcare.config.base import _Strict
from include.modelcare.config.deploy import DeployConfig
from include.modelcare.config.gate import GuardrailsConfig

if TYPE_CHECKING:
    from include.modelcare.config.paths import ModelPaths

log = logging.getLogger(__name__)

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
# Airflow's cron presets (airflow/sdk/definitions/timetables/_cron.py CRON_PRESETS, plus @once/@continuous).
CRON_PRESETS = frozenset({"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"})


def check_prefix(value: str) -> str:
    """An S3 key prefix of plain path segments (letters, digits, ``._=-``): no ``..``, no empty segment."""
    value = value.strip("/")
    bad = [s for s in value.split("/") if not _PREFIX_SEGMENT.match(s) or set(s) == {"."}] if value else []
    if bad:
        raise ValueError(
            f"{value!r} is not a safe key prefix: segment(s) {', '.join(map(repr, bad))} "
            "(use letters, digits, '.', '_', '=', '-' between '/'; no '..')"
        )
    return value


def check_schedule(value: str | None) -> str | None:
    """A cron expression croniter accepts (as Airflow's timetables do) or one of Airflow's presets."""
    if value is None or value in CRON_PRESETS:
        return value
    from croniter import croniter  # what Airflow's CronMixin.validate() uses; no Airflow import

    if not croniter.is_valid(value):
        presets = ", ".join(sorted(CRON_PRESETS))
        raise ValueError(f"{value!r} is not a cron expression (e.g. '0 6 * * 1') nor a preset ({presets})")
    return value


# Reference data: an s3:// URI or an absolute local path (a relative one would depend on the worker's cwd).
REFERENCE_URI_PATTERN = r"^(s3://[a-z0-9][a-z0-9.-]+/.+|/.+)$"


class Features(_Strict):
    """Input features of the model, by kind."""

    numerical: list[str] = Field(default_factory=list, description="Numeric feature columns.")
    categorical: list[str] = Field(default_factory=list, description="Categorical feature columns.")

    @property
    def all(self) -> list[str]:
        return [*self.numerical, *self.categorical]


class DataConfig(_Strict):
    """Where the model's data lives and what it looks like."""

    target: str = Field(description="Label column (may be absent from unlabelled batches).")
    id_column: str = Field(description="Unique row id (e.g. customer id); labels join on it.")
    features: Features
    format: Literal["parquet", "csv"] = Field("parquet", description="File format of incoming batches.")
    bucket: str = Field(description="S3 bucket holding everything modelcare writes for this model.")
    prefix: str = Field("modelcare", description="Key prefix inside the bucket; the model's root is <prefix>/<name>/.")
    batch_has_target: bool = Field(
        False, description="Whether incoming batches carry the label column (validated and dropped before drift)."
    )

    @field_validator("bucket")
    @classmethod
    def _bucket_is_dns_name(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
            raise ValueError("must be a valid S3 bucket name (3-63 chars: lowercase letters, digits, '.', '-')")
        return value

    @field_validator("prefix")
    @classmethod
    def _strip_slashes(cls, value: str) -> str:
        return check_prefix(value)

    @model_validator(mode="after")
    def _columns_are_distinct(self) -> DataConfig:
        feats = self.features.all
        if not feats:
            raise ValueError("features: list at least one numerical or categorical feature")
        dupes = sorted({c for c in feats if feats.count(c) > 1})
        if dupes:
            raise ValueError(f"features: listed more than once: {', '.join(dupes)}")
        for special in (self.target, self.id_column):
            if special in feats:
                raise ValueError(f"features: {special!r} is the target or id column and cannot be a feature")
        return self


class ColumnRule(_Strict):
    """Explicit data-quality rule for one column; overrides what is derived from the reference."""

    min: float | None = Field(None, description="Smallest allowed value (numeric columns).")
    max: float | None = Field(None, description="Largest allowed value (numeric columns).")
    values: list[str] | None = Field(None, description="Allowed values (categorical columns).")
    max_null_fraction: float | None = Field(None, ge=0, le=1, description="Share of nulls tolerated.")

    @model_validator(mode="after")
    def _min_below_max(self) -> ColumnRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ValidationConfig(_Strict):
    """Data-quality checks run with Great Expectations on every incoming batch."""

    min_rows: int = Field(100, ge=1, description="Fewest rows a batch may have.")
    max_rows: int | None = Field(None, ge=1, description="Most rows a batch may have (None: no limit).")
    max_null_fraction: float = Field(0.05, ge=0, le=1, description="Default share of nulls tolerated per feature.")
    unique_ids: bool = Field(True, description="The id column must be unique and non-null.")
    derive_from_reference: bool = Field(
        True, description="Derive ranges and value sets for columns without explicit rules from the reference data."
    )
    range_tolerance: float = Field(
        0.5, ge=0, description="Derived ranges widen the reference min/max by this share of the reference range."
    )
    values_mostly: float = Field(0.99, gt=0, le=1, description="Share of rows that must fall in derived value sets.")
    columns: dict[str, ColumnRule] = Field(default_factory=dict, description="Explicit rules per column.")
    extra_columns: Literal["refuse", "warn"] = Field(
        "refuse",
        description="A batch column that is not the id, a feature or the target: 'refuse' fails validation "
        "(a data contract), 'warn' passes with a warning naming it. Models only ever use the features.",
    )


class DriftConfig(_Strict):
    """Drift: p-value within the batch's corrected level AND effect >= floor (the smallest shift worth acting on).

    The batch drifted when the share of drifted features reaches ``drift_share`` or a critical feature drifted
    (``quality.drift``)."""

    reference_uri: str | None = Field(
        None,
        pattern=REFERENCE_URI_PATTERN,
        description="Baseline reference data until a registered production model provides one "
        "(default: s3://<bucket>/<prefix>/<name>/baseline/reference.<format>).",
    )
    drift_share: float = Field(0.5, gt=0, le=1, description="Share of drifted features that makes the batch drifted.")
    critical_features: list[str] = Field(default_factory=list, description="Any of these drifting alone is drift.")
    num_threshold: float = Field(0.1, gt=0, description="Numerical effect floor: normed Wasserstein (~ shift in sd).")
    cat_threshold: float = Field(0.1, gt=0, description="Categorical effect floor: Jensen-Shannon (bias-corrected).")
    small_sample_rows: int = Field(1000, ge=10, description="Deprecated, ignored: one rule at every sample size.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Batch false-alarm rate of the p-value tests (KS, chi-square).")
    multiple_testing: Literal["bonferroni", "holm", "bh", "none"] = Field(
        "bh", description="Correction of the p-value level over the batch's features (bh: Benjamini-Hochberg)."
    )
    retrain_cooldown_days: int = Field(
        7, ge=0, description="Minimum gap in days between two retraining requests (incidents decide whether to ask)."
    )
    top_features: int = Field(5, ge=1, description="How many of the most drifted features alerts and summaries list.")


class Schedules(_Strict):
    """Cron expressions or presets (e.g. '@daily', '0 6 * * 1') for the generated DAGs."""

    monitoring: str | None = Field("@daily", description="Schedule of the monitoring DAG (None: manual only).")
    retraining: str | None = Field("@weekly", description="Schedule of the retraining DAG (None: manual only).")
    timezone: str = Field("UTC", description="Timezone of the schedules and of batch dates.")
    start_date: dt.date = Field(dt.date(2026, 1, 1), description="First date the schedules cover (no catch-up).")

    @field_validator("monitoring", "retraining")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return check_schedule(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. 'UTC', 'Europe/Berlin')") from None
        return value


class AlertsConfig(_Strict):
    """Who hears about problems: email (Airflow SMTP connection) and an SNS topic."""

    emails: list[str] = Field(default_factory=list, description="Recipients of alert emails.")
    from_email: str = Field("modelcare@localhost", description="Sender address of alert emails.")
    sns_topic_arn: str | None = Field(None, description="SNS topic that receives every alert.")
    on_validation_failure: bool = Field(True, description="Alert when a batch fails validation.")
    on_missing_batch: bool = Field(True, description="Alert when no batch arrived for the date.")
    on_drift: bool = Field(True, description="Alert when drift or performance decay is detected.")
    on_task_failure: bool = Field(True, description="Alert when any other task fails.")
    on_estimated_decay: bool = Field(
        True, description="Alert when the estimated performance (before labels) crosses the floor."
    )

    @field_validator("emails")
    @classmethod
    def _emails_look_like_emails(cls, value: list[str]) -> list[str]:
        bad = [e for e in value if "@" not in e or " " in e.strip()]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return [e.strip() for e in value]

    @field_validator("sns_topic_arn")
    @classmethod
    def _arn_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("arn:aws:sns:"):
            raise ValueError("must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)")
        return value


class AirflowSettings(_Strict):
    """How the generated DAGs behave in Airflow."""

    owner: str = Field("mlops", description="Owner shown in the Airflow UI.")
    retries: int = Field(2, ge=0, description="Retries of a task after an unexpected error (final errors never retry).")
    retry_delay_minutes: float = Field(5, ge=0, description="Wait before a retry.")
    tags: list[str] = Field(
        default_factory=list, description="Extra tags (every DAG also gets 'modelcare' and the model name)."
    )
    aws_conn_id: str = Field(
        "aws_default", description="Airflow connection for S3, SNS, SageMaker, Lambda, CloudWatch."
    )
    smtp_conn_id: str = Field("smtp_default", description="Airflow connection of the mail relay.")


class GateConfig(_Strict):
    """Champion/challenger gate: the candidate must reach the floor, beat the champion and pass every guardrail."""

    primary_metric: str | None = Field(
        None, description="Metric that decides (default: roc_auc for classification, rmse for regression)."
    )
    floor: float | None = Field(
        None, description="Absolute bar the candidate's primary metric must reach (None: none)."
    )
    min_improvement: float = Field(
        0.01, ge=0, description="How much better than the champion the candidate must be (in the metric's units)."
    )
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig)


class SageMakerTrainingSettings(_Strict):
    """Where and how the SageMaker backend trains (scikit-learn framework container)."""

    image_uri: str = Field(description="scikit-learn training image URI of your region.")
    role_arn: str = Field(description="Execution role of the training job.")
    instance_type: str = Field("ml.m5.large", description="Training instance type.")
    instance_count: int = Field(1, ge=1, description="Training instances.")
    volume_size_gb: int = Field(30, ge=1, description="Training volume size.")
    max_runtime_seconds: int = Field(3600, ge=60, description="The job is stopped after this long.")
    poll_seconds: int = Field(30, ge=1, description="How often the operator checks the job's status.")


class TrainingConfig(_Strict):
    """How a model is trained, judged and approved (the retraining DAG reads only this)."""

    estimator: str = Field("LogisticRegression", description="scikit-learn estimator class from the allowlist.")
    params: dict[str, Any] = Field(default_factory=dict, description="Hyperparameters of the estimator.")
    window_weeks: int = Field(8, ge=2, le=260, description="Labelled batches of this many weeks form the training set.")
    holdout_weeks: int = Field(1, ge=1, description="The most recent weeks of the window are the out-of-time holdout.")
    min_rows: int = Field(500, ge=10, description="Fewest training rows to train at all.")
    seed: int = Field(42, description="Random seed of the split, the estimator and the reference sample.")
    backend: Literal["local", "sagemaker"] = Field("local", description="Fit on the worker or as a SageMaker job.")
    sagemaker: SageMakerTrainingSettings | None = None
    approval: Literal["auto", "manual"] = Field(
        "auto", description="Approve gate passers at once or wait for a person."
    )
    approval_timeout_hours: float = Field(72, gt=0, description="How long a manual approval waits.")
    auto_deploy: bool = Field(False, description="Hand an approved version to the deployment DAG.")
    reference_rows: int = Field(5000, ge=100, description="Rows of training data kept with a version for drift.")
    gate: GateConfig = Field(default_factory=GateConfig)
    threshold: Literal["tuned"] | float = Field(
        "tuned",
        description="Binary classification: decision threshold on the positive-class score. 'tuned': chosen on "
        "the training data by cross-validation (ml.threshold); a number in (0, 1): fixed. Ignored otherwise.",
    )
    threshold_objective: Literal["balanced_accuracy", "f1"] = Field(
        "balanced_accuracy", description="What a tuned threshold maximises (cross-validated on training data)."
    )

    @model_validator(mode="after")
    def _estimator_known(self) -> TrainingConfig:
        if not isinstance(self.threshold, str) and not 0 < self.threshold < 1:
            raise ValueError(f"threshold: {self.threshold:g} must be 'tuned' or a number between 0 and 1")
        from include.modelcare.ml.estimators import ESTIMATORS

        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator: {self.estimator!r} is not allowed (one of: {', '.join(sorted(ESTIMATORS))})")
        if self.backend == "sagemaker" and self.sagemaker is None:
            raise ValueError("sagemaker: required when backend is 'sagemaker' (image_uri, role_arn)")
        if self.holdout_weeks >= self.window_weeks:
            raise ValueError(f"holdout_weeks ({self.holdout_weeks}) must be below window_weeks ({self.window_weeks})")
        return self


class PerformanceConfig(_Strict):
    """Performance decay: once labels arrive, the production model's metric on them is watched."""

    metric: str | None = Field(None, description="Metric to watch (default: the gate's primary metric).")
    floor: float | None = Field(None, description="Below this, retraining is requested like on drift (None: off).")
    window_weeks: int = Field(
        4, ge=1, le=26, description="Weeks of labelled batches the decay decision averages (rows-weighted)."
    )
    label_lookback_weeks: int = Field(
        12, ge=1, le=52, description="How far back a monitoring run looks for batches whose labels landed late."
    )
    label_delay_days: int | None = Field(
        None, ge=0, le=365, description="When labels usually land after their batch (shown in estimate alerts)."
    )
    labels_uri: str | None = Field(
        None,
        description="Where the labels of batch {date} land, e.g. s3://bucket/crm/churned/dt={date}/ "
        "(default: <model root>/labels/dt={date}/).",
    )

    @field_validator("labels_uri")
    @classmethod
    def _labels_layout(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.count("{date}") != 1 or not value.startswith("s3://"):
            raise ValueError(f"{value!r}: labels_uri must be an s3:// URI with exactly one {{date}} placeholder")
        if ".." in value.split("/"):
            raise ValueError(f"{value!r}: labels_uri must not contain '..'")
        return value if value.endswith("/") else value + "/"


class RegistryConfig(_Strict):
    """Where the model registry lives (default: s3://<data.bucket>/<data.prefix>/<name>/registry/)."""

    bucket: str | None = Field(None, description="Registry bucket (default: data.bucket).")
    prefix: str | None = Field(None, description="Registry prefix (default: <data.prefix>/<name>/registry).")
    sagemaker_model_package_group: str | None = Field(
        None, description="Mirror versions into this SageMaker Model Registry group (None: no mirror)."
    )

    @field_validator("prefix")
    @classmethod
    def _safe_prefix(cls, value: str | None) -> str | None:
        return None if value is None else check_prefix(value)


class IncidentsConfig(_Strict):
    """Incidents: one drift or decay episode = one alert and one retraining request (``incidents.policy``)."""

    max_retrains_per_30_days: int = Field(
        2, ge=0, description="Retrain budget: when it is used up and the incident is still open, escalate to a person."
    )
    escalate_metric_drop: float = Field(
        0.01, ge=0, description="An open incident escalates when the watched metric falls further than this."
    )


class MetricsConfig(_Strict):
    """CloudWatch metrics: the figures of every batch and deployment, published once per datapoint."""

    cloudwatch: bool = Field(True, description="Publish drift, validation and performance figures to CloudWatch.")
    namespace: str = Field("modelcare", pattern=r"^[^:].{0,254}$", description="CloudWatch namespace (not AWS/...).")


class ModelConfig(_Strict):
    """One production model and everything modelcare does for it."""

    name: str = Field(pattern=NAME_PATTERN, description="Model name: lowercase letters, digits, underscores.")
    task: Literal["classification", "regression"] = Field(description="What the model predicts: a class or a number.")
    description: str = Field("", description="Free text shown in the DAGs' docs.")
    data: DataConfig
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    schedules: Schedules = Field(default_factory=Schedules)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    deploy: DeployConfig | None = Field(None, description="Deployment targets (None: no deployment DAG).")

    @property
    def primary_metric(self) -> str:
        """The gate's deciding metric (task default when unset)."""
        return self.training.gate.primary_metric or ("roc_auc" if self.task == "classification" else "rmse")

    @model_validator(mode="after")
    def _rules_name_known_columns(self) -> ModelConfig:
        known = set(self.data.features.all) | {self.data.target, self.data.id_column}
        unknown = sorted(set(self.validation.columns) - known)
        if unknown:
            raise ValueError(f"validation.columns: unknown column(s) {', '.join(unknown)}")
        bad_critical = sorted(set(self.drift.critical_features) - set(self.data.features.all))
        if bad_critical:
            raise ValueError(f"drift.critical_features: not a feature: {', '.join(bad_critical)}")
        from include.modelcare.ml.estimators import ESTIMATORS, METRIC_SPECS, METRICS

        if ESTIMATORS[self.training.estimator].task != self.task:
            raise ValueError(f"training.estimator: {self.training.estimator} is not a {self.task} estimator")
        metrics = (
            ("training.gate.primary_metric", self.primary_metric),
            ("performance.metric", self.performance.metric),
        )
        for where, metric in metrics:
            if metric is not None and metric not in METRICS[self.task]:
                allowed = ", ".join(METRICS[self.task])
                raise ValueError(f"{where}: {metric!r} is not a {self.task} metric (one of: {allowed})")
        floors = (
            ("training.gate.floor", self.training.gate.floor, self.primary_metric),
            ("performance.floor", self.performance.floor, self.performance.metric or self.primary_metric),
        )
        for where, floor, metric in floors:
            spec = METRIC_SPECS[metric]
            if floor is not None and not spec.contains(floor):
                raise ValueError(f"{where}: {floor:g} is outside {metric}'s range {spec.range_text}")
        for metric in self.training.gate.guardrails.metrics:  # names and floor ranges: GuardrailsConfig
            if metric not in METRICS[self.task]:
                allowed = ", ".join(METRICS[self.task])
                where = "training.gate.guardrails.metrics"
                raise ValueError(f"{where}: {metric!r} is not a {self.task} metric (one of: {allowed})")
        delay = self.performance.label_delay_days
        labelled = self.training.window_weeks - -(-(delay or 0) // 7)  # weeks of the window whose labels landed
        if delay is not None and labelled < self.training.holdout_weeks + 1:
            raise ValueError(
                f"performance.label_delay_days: labels {delay} days late leave {max(labelled, 0)} labelled week(s) "
                f"in training.window_weeks {self.training.window_weeks}; retraining needs holdout_weeks "
                f"{self.training.holdout_weeks} + 1: widen training.window_weeks"
            )
        return self

    @property
    def paths(self) -> ModelPaths:
        from include.modelcare.config.paths import ModelPaths

        return ModelPaths(self)
