"""Point Airflow at a throw-away home and this repo's dags/ before airflow is imported (tests only)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"


def configure_airflow(models_dir: Path | None = None) -> Path:
    """Set the Airflow environment once per process; returns AIRFLOW_HOME."""
    if os.environ.get("MODELCARE_TEST_AIRFLOW_HOME"):
        return Path(os.environ["MODELCARE_TEST_AIRFLOW_HOME"])
    home = Path(tempfile.mkdtemp(prefix="modelcare-airflow-"))
    os.environ.update(
        {
            "MODELCARE_TEST_AIRFLOW_HOME": str(home),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__BASE_URL": "http://localhost:8080",
        }
    )
    if models_dir is not None:
        os.environ["MODELCARE_MODELS_DIR"] = str(models_dir)
    return home
