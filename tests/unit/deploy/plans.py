"""Deployment plans for unit tests, built the way ``resolve_version`` builds them (without a registry)."""

from __future__ import annotations

from typing import Any

from include.modelcare.config.schema import ModelConfig
from include.modelcare.deploy.plan import DeploymentPlan, Live, deploy_settings
from include.modelcare.deploy.targets.base import target_kind


def make_plan(config: ModelConfig, target: str = "sagemaker", **overrides: Any) -> DeploymentPlan:
    """A plan of v0002 of ``config`` to ``target`` (no previous version unless ``previous=`` is given)."""
    assert config.deploy is not None
    kind = target_kind(target)
    fields: dict[str, Any] = {
        "model": config.name,
        "version": 2,
        "version_id": "v0002",
        "status": "Approved",
        "force": False,
        "dry_run": False,
        "target": target,
        **deploy_settings(config.deploy, {}),
        "classifier": config.task == "classification",
        "model_uri": "s3://b/registry/versions/v0002/model.skops",
        "model_sha256": "ab" * 32,
        "features": {"numerical": config.data.features.numerical, "categorical": config.data.features.categorical},
        "previous": Live(version=None, ref=None, exists=False),
        "production": None,
        "reason": "test",
        "requested_by": "tester",
        "started_at": "2026-03-02T09:00:00+00:00",
        "run_id": "manual__test",
        "dag_id": f"modelcare_deploy_{config.name}",
        "run_url": "http://localhost:8080/dags/x/runs/y",
        "emulated": None,
        "aws_conn_id": config.airflow.aws_conn_id,
        "target_settings": kind.settings(config) or {},
        "package_uri": "s3://b/registry/packages/v0002/model.tar.gz" if kind.packaged else None,
    }
    fields.update(overrides)
    return DeploymentPlan.model_validate(fields)
