"""The per-model S3 layout: one place, so every module agrees on where a run reads and writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig


@dataclass(frozen=True)
class ModelPaths:
    """The model's S3 layout (one place, so every module agrees on it)."""

    config: ModelConfig

    @property
    def root(self) -> str:
        d = self.config.data
        return f"s3://{d.bucket}/{d.prefix}/{self.config.name}" if d.prefix else f"s3://{d.bucket}/{self.config.name}"

    @staticmethod
    def partition(day: dt.date) -> str:
        return f"dt={day.isoformat()}"

    def incoming(self, day: dt.date) -> str:
        return f"{self.root}/incoming/{self.partition(day)}/"

    def validation_result(self, day: dt.date) -> str:
        # '_'-prefixed names are ignored by parquet dataset readers, so this sits beside the batch safely.
        return f"{self.incoming(day)}_modelcare/validation.json"

    def quarantine(self, day: dt.date) -> str:
        return f"{self.root}/quarantine/{self.partition(day)}/"

    def reports(self, day: dt.date) -> str:
        return f"{self.root}/reports/{self.partition(day)}/"

    def retrain_requests(self) -> str:
        return f"{self.root}/retrain_requests/"

    def retrain_request(self, day: dt.date) -> str:
        return f"{self.retrain_requests()}{self.partition(day)}.json"

    def alert_marker(self, day: dt.date, kind: str) -> str:
        return f"{self.root}/alerts/{self.partition(day)}/{kind}.json"

    def incidents(self) -> str:
        """One JSON document per incident (``incidents/inc-YYYY-MM-DD.json``, the date it opened)."""
        return f"{self.root}/incidents/"

    def incident(self, incident_id: str) -> str:
        return f"{self.incidents()}{incident_id}.json"

    def incident_alert_marker(self, marker: str) -> str:
        """De-duplication marker of an incident's alert (``marker``: ``<incident id>.<event>``)."""
        return f"{self.root}/alerts/incidents/{marker}.json"

    @property
    def registry_root(self) -> str:
        reg = self.config.registry
        bucket = reg.bucket or self.config.data.bucket
        prefix = reg.prefix.strip("/") if reg.prefix is not None else self.root.split("/", 3)[3] + "/registry"
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def labels(self, day: dt.date) -> str:
        """Where the labels of the batch of ``day`` land (``performance.labels_uri``, default ``labels/dt=D/``)."""
        layout = self.config.performance.labels_uri
        if layout:
            return layout.replace("{date}", day.isoformat())
        return f"{self.root}/labels/{self.partition(day)}/"

    def performance(self) -> str:
        """The performance series: ``realised/dt=D.json`` (labels scored) and ``estimated/dt=D.json`` (CBPE)."""
        return f"{self.root}/performance/"

    def realised(self, day: dt.date) -> str:
        return f"{self.performance()}realised/{self.partition(day)}.json"

    def estimated(self, day: dt.date) -> str:
        return f"{self.performance()}estimated/{self.partition(day)}.json"

    def served(self, day: dt.date) -> str:
        """Which version served the batch of ``day`` (written once, when the batch is monitored)."""
        return f"{self.performance()}served/{self.partition(day)}.json"

    def metric_marker(self, day: dt.date, metric: str, revision: int) -> str:
        """Write-once marker of one CloudWatch datapoint (batch, metric, revision): published at most once."""
        return f"{self.root}/metrics/{self.partition(day)}/{metric}.r{revision}.json"

    def training_run(self, run_key: str) -> str:
        return f"{self.root}/training/{run_key}/"

    def handoffs(self) -> str:
        return f"{self.root}/handoffs/"

    def deploy_run(self, run_slug: str) -> str:
        """Working folder of one deployment run (its plan and failure notes)."""
        return f"{self.root}/deploy_runs/{run_slug}/"

    def baseline_reference(self) -> str:
        return self.config.drift.reference_uri or f"{self.root}/baseline/reference.{self.config.data.format}"
