"""Model performance in production: labels that arrive late (``labels``), the per-batch performance series and
its rolling window (``series``), and an estimate before labels arrive (``estimate``, confidence-based).

Imports config, errors, storage, ml and the scientific stack (inside functions); no Airflow. The task bodies
that call it are ``tasks.performance``; the decisions on its figures are pure functions in ``policy``.
"""
