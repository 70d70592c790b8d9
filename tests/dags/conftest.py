from collections.abc import Iterator

import pytest

from tests.airflow_env import configure_airflow

configure_airflow()


@pytest.fixture(autouse=True)
def shipped_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DAG tests parse the catalog shipped in include/models unless a test points elsewhere."""
    monkeypatch.delenv("MODELCARE_MODELS_DIR", raising=False)
    yield
