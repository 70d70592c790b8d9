"""Airflow plugin: the Model Registry page (a FastAPI app under /modelcare and a link in the navigation).

The app lives in ``include.modelcare.ui.app``; every route requires Airflow's authenticated user.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.modelcare.ui.app import PREFIX, create_app


class ModelcareRegistryPlugin(AirflowPlugin):
    """Registers the page with the API server and the UI."""

    name = "modelcare_registry"
    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "modelcare Model Registry"}]
    external_views = [
        {
            "name": "Model Registry",
            "href": f"{PREFIX}/",
            "url_route": "modelcare",
            "destination": "nav",
            "category": "browse",
        }
    ]
