"""Machine learning: the estimator allowlist (``estimators``), training pipelines from config
(``training``), metrics (``evaluation``), the decision threshold (``threshold``), skops with an explicit
allowlist and sha256 (``serialization``), reproducible archives (``packaging``) and the SageMaker training
entry script (``sagemaker_entry``).

Imports config, errors and the scientific stack (inside functions). No Airflow: the SageMaker training
container runs it. Nothing is imported here on purpose: the serving packages ship ``serialization`` alone.
"""
