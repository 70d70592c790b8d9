"""The Model Registry page (FastAPI, mounted by ``plugins/modelcare_registry.py``): overview, model
pages, JSON API and stored reports, every route behind Airflow's authenticated user.

Imports config, registry and storage; read-only (approvals and deployments stay in Airflow).
"""
