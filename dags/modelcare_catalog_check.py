"""Surface broken model configs in the Airflow UI as a DAG import error (the 'DAG Import Errors' banner).

The monitoring DAGs of valid models are built by ``modelcare_monitoring.py`` regardless, so one bad
file never takes the other models down. This file defines no DAG of its own (an airflow DAG file is
only parsed when it mentions both 'airflow' and 'dag').
"""

from __future__ import annotations

from include.modelcare.config.catalog import load_catalog
from include.modelcare.errors import ConfigError

_errors = load_catalog().errors
if _errors:
    raise ConfigError(
        f"{len(_errors)} invalid model config(s); their DAGs are not built:\n" + "\n".join(sorted(_errors.values()))
    )
