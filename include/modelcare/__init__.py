"""modelcare: keeps a small team's production ML models healthy from Airflow 3.

The folders are the map (``docs/architecture.md`` has one line per module):

- ``config/``: the model config schema, the catalog loader, the S3 layout. No Airflow.
- ``storage/``: objects by URI with conditional writes; tables (parquet/CSV).
- ``quality/``: data validation (Great Expectations) and drift (Evidently statistics).
- ``ml/``: estimators, training, evaluation, serialization (skops allowlist), packaging.
- ``policy``: the decisions (retrain or not, decay, gate, initial status), pure functions;
  ``guardrails``: the gate's guardrails (metrics in, checks out), also pure.
- ``registry/``: the S3 model registry (compare-and-swap), its factory, deployment history, the SageMaker mirror.
- ``deploy/``: the deployment plan, exact AWS requests, targets behind one protocol.
- ``tasks/``: the task bodies of the DAGs, the run context and the single error boundary.
- ``operators/``: Airflow adapters: DAG defaults, Param forms, the bake and approval operators, alerts.
- ``serving/``, ``ui/``, ``cli/``: online inference, the Registry page, the ``modelcare`` command.
- ``dev/``: development tools (emulator, simulator, demo, ``make up``); nothing outside ``dev/`` and
  ``cli/`` imports them (ruff TID251 and ``tests/unit/test_layout.py``).
"""
