"""Incidents: one drift or decay episode of a model, from its first alert to its close.

``policy`` decides (pure functions: facts in, decision out), ``store`` keeps incidents in S3 by
compare-and-swap. Monitoring opens, updates, escalates and closes them; people acknowledge or snooze
them (CLI ``modelcare incidents``, DAG ``modelcare_incidents``).
"""
