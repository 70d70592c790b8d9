"""Model configs: the pydantic schema (``schema``; the gate's guardrails in ``gate``), the catalog loader
(``catalog``), the per-model S3 layout (``paths``) and the generated config reference (``reference``).

Imports pydantic, PyYAML and ``errors`` only: no Airflow (``check-config`` and the CLI load it, and
``airflow.sdk`` alone costs seconds) and nothing heavy (DAG files parse it). Only ``ModelConfig``'s
cross-checks import ``ml.estimators`` (a table of names, no scikit-learn) lazily.
"""
