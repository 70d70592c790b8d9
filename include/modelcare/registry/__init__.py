"""The S3 model registry: records and naming (``records``), the compare-and-swap store (``store``), the one
factory that opens a model's registry (``factory``), deployment history and the SageMaker Model Registry mirror.

Imports config, storage and errors; never Airflow at module level.
"""
