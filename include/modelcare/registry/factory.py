"""The one way to open a model's registry: ``open_registry`` (the store factory lives with the stores, as in mlflow).

Inside Airflow (task bodies, the Registry page) S3 and the optional SageMaker mirror client come from the
amazon provider's hooks and the model's ``airflow.aws_conn_id``; outside it (the CLI) from the standard AWS
environment. Either way the caller gets the same typed ``ModelRegistry``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

Credentials = Literal["airflow", "environment"]


def _sagemaker_client(config: ModelConfig, via: Credentials) -> Any | None:
    """A SageMaker client only when the registry is mirrored into a model package group."""
    if not config.registry.sagemaker_model_package_group:
        return None
    if via == "airflow":
        from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

        return SageMakerHook(aws_conn_id=config.airflow.aws_conn_id).conn
    import boto3

    return boto3.client("sagemaker")


def open_registry(
    config: ModelConfig, store: ObjectStore | None = None, *, via: Credentials = "airflow"
) -> ModelRegistry:
    """The model's registry over ``store`` (default: S3 through ``via``), with the SageMaker mirror when configured."""
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore, hook_s3_client

    if store is None:
        store = ObjectStore(hook_s3_client(config.airflow.aws_conn_id)) if via == "airflow" else ObjectStore()
    return ModelRegistry(config, store, sagemaker_client=_sagemaker_client(config, via))
