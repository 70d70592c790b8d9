"""Mirror of registry versions into a SageMaker Model Registry model package group.

One model package per version, created after the S3 commit (S3 stays the source of truth) with:

- ``ModelApprovalStatus`` = the version's status (Approved | Rejected | PendingManualApproval),
  updated with ``UpdateModelPackage`` on every status change (``ApprovalDescription`` = the reason);
- ``ModelPackageDescription`` = ``"modelcare <model> <vNNNN>: <metadata.json URI>"``, which is also how
  an existing package of a version is found again (idempotency after a crash between create and record);
- ``CustomerMetadataProperties``: model, version, metadata/model URIs, model sha256, run key
  (re-sent on every update: moto 5.2.5 drops them when an update omits them);
- ``ModelMetrics.ModelQuality.Statistics`` -> ``metrics.json`` when the version has one;
- no ``InferenceSpecification``: it is optional for versioned packages, and a modelcare model
  (``model.skops``) is not a ``model.tar.gz`` any SageMaker serving image loads as is, so an image
  here would be a placeholder. Deployment reads the model from the metadata URI.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import RegistryMirrorError

if TYPE_CHECKING:
    from include.modelcare.registry.records import VersionRecord

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w\s.:/=+\-@]")  # CustomerMetadataProperties' allowed characters


def _safe(value: object, limit: int = 256) -> str:
    return _UNSAFE.sub("_", str(value))[:limit] or "-"


class SageMakerMirror:
    """Creates and updates the model packages of one model's versions in one group."""

    def __init__(self, client: Any, group: str, *, model_name: str, registry_root: str) -> None:
        self.client = client
        self.group = group
        self.model_name = model_name
        self.registry_root = registry_root
        self._group_ready = False

    def _fail(self, what: str, record: VersionRecord | None, exc: Exception) -> RegistryMirrorError:
        response = getattr(exc, "response", None) or {}
        error = response.get("Error", {}) if isinstance(response, dict) else {}
        detail = f"{error.get('Code')}: {error.get('Message')}" if error else f"{type(exc).__name__}: {exc}"
        where = (
            f"; {record.version_id} is committed in S3 ({record.uri}): re-run register with the same run_key "
            "or call sync_mirror to finish mirroring it"
            if record is not None
            else ""
        )
        return RegistryMirrorError(f"SageMaker model package group {self.group!r}: {what} failed ({detail}){where}")

    def _errors(self) -> tuple[type[Exception], ...]:
        import botocore.exceptions

        return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)

    def ensure_group(self) -> None:
        """Create the model package group unless it exists (once per mirror object)."""
        if self._group_ready:
            return
        import botocore.exceptions

        try:
            try:
                self.client.describe_model_package_group(ModelPackageGroupName=self.group)
            except botocore.exceptions.ClientError as exc:
                if "does not exist" not in str(exc):
                    raise
                try:
                    self.client.create_model_package_group(
                        ModelPackageGroupName=self.group,
                        ModelPackageGroupDescription=f"modelcare: versions of {self.model_name} "
                        f"(source of truth: {self.registry_root})"[:1024],
                    )
                    log.info("created SageMaker model package group %s", self.group)
                except botocore.exceptions.ClientError:  # created concurrently? then it exists now
                    self.client.describe_model_package_group(ModelPackageGroupName=self.group)
        except self._errors() as exc:
            raise self._fail("ensuring the group exists", None, exc) from None
        self._group_ready = True

    def description(self, record: VersionRecord) -> str:
        return f"modelcare {self.model_name} {record.version_id}: {record.uri}metadata.json"[:1024]

    def properties(self, record: VersionRecord) -> dict[str, str]:
        artifacts = record.artifacts
        model = artifacts.get("model.skops", {})
        props = {
            "modelcare:model": record.metadata.get("model_name", self.model_name),
            "modelcare:version": record.version_id,
            "modelcare:metadata_uri": f"{record.uri}metadata.json",
            "modelcare:model_uri": model.get("uri", ""),
            "modelcare:model_sha256": model.get("sha256", ""),
            "modelcare:run_key": record.run_key or "",
        }
        return {k: _safe(v) for k, v in props.items()}

    def find_package(self, record: VersionRecord) -> str | None:
        """ARN of the version's package if one exists already (matched on the description)."""
        wanted = self.description(record)
        paginator = self.client.get_paginator("list_model_packages")
        pages = paginator.paginate(ModelPackageGroupName=self.group, SortBy="CreationTime", SortOrder="Descending")
        for page in pages:
            for summary in page.get("ModelPackageSummaryList", []):
                if summary.get("ModelPackageDescription") == wanted:
                    return str(summary["ModelPackageArn"])
        return None

    def ensure_package(self, record: VersionRecord) -> str:
        """The version's model package ARN, creating the package (and the group) when missing."""
        self.ensure_group()
        try:
            arn = self.find_package(record)
            if arn is not None:
                log.info("%s %s: found model package %s", self.model_name, record.version_id, arn)
                return arn
            request: dict[str, Any] = {
                "ModelPackageGroupName": self.group,
                "ModelPackageDescription": self.description(record),
                "ModelApprovalStatus": record.status,
                "CustomerMetadataProperties": self.properties(record),
                # Same token for the same version: SageMaker deduplicates a retried create.
                "ClientToken": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record.uri}metadata.json")),
            }
            metrics = record.artifacts.get("metrics.json")
            if metrics is not None:
                request["ModelMetrics"] = {
                    "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics["uri"]}}
                }
            arn = str(self.client.create_model_package(**request)["ModelPackageArn"])
        except self._errors() as exc:
            raise self._fail(f"creating the model package of {record.version_id}", record, exc) from None
        log.info("%s %s: created model package %s (%s)", self.model_name, record.version_id, arn, record.status)
        return arn

    def sync_status(self, record: VersionRecord) -> None:
        """Set the package's approval status (and the latest reason) to the version's."""
        arn = record.model_package_arn
        if arn is None:
            return
        history = record.metadata.get("status_history") or [{}]
        last = history[-1]
        reason = f"{last.get('by', '?')}: {last.get('why', '')}"
        try:
            self.client.update_model_package(
                ModelPackageArn=arn,
                ModelApprovalStatus=record.status,
                ApprovalDescription=reason[:1024],
                CustomerMetadataProperties=self.properties(record),
            )
        except self._errors() as exc:
            raise self._fail(f"updating the status of {record.version_id} to {record.status}", record, exc) from None
        log.info("%s %s: model package %s is %s", self.model_name, record.version_id, arn, record.status)
