"""The Model Registry page (FastAPI, mounted by ``plugins/modelcare_registry.py``): overview, model
pages (with the performance series, ``ui.performance``), JSON API and stored reports, every route behind
Airflow's authenticated user.

Imports config, registry, performance and storage; read-only (approvals and deployments stay in Airflow).
"""
