"""docker-compose.yaml, Dockerfile and .env.example: what can be checked without a Docker engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yaml"


def _pin(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_validates_against_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_tags_match_the_pinned_airflow_version() -> None:
    airflow = _pin("apache-airflow")
    base = re.search(r"^FROM (\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base and base.group(1) == f"apache/airflow:{airflow}-python3.11"
    common = _compose()["x-airflow-common"]
    assert common["image"].split(":")[1].startswith(airflow)


def test_compose_has_the_celery_stack() -> None:
    services = _compose()["services"]
    for name in ("postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"):
        assert name in services
    assert {"airflow-worker", "airflow-triggerer", "airflow-init"} <= set(services)
    assert services["modelcare-emulator"]["profiles"] == ["emulator"]
    assert _compose()["x-airflow-common"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_every_mounted_and_copied_path_exists() -> None:
    mounts = [v.split(":")[0] for v in _compose()["x-airflow-common"]["volumes"]]
    assert {"./dags", "./include", "./plugins"} <= set(mounts)
    for source in mounts:
        assert (ROOT / source).exists(), f"{source} is mounted but does not exist"
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                if not source.startswith("--"):
                    assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_environment_names_match_what_the_code_reads() -> None:
    from include.modelcare.config.schema import AirflowSettings

    code = "\n".join(p.read_text() for p in (ROOT / "include" / "modelcare").rglob("*.py"))
    names = set(_compose()["x-airflow-common"]["environment"])
    example = (ROOT / ".env.example").read_text()
    names |= {line.lstrip("# ").split("=", 1)[0] for line in example.splitlines() if "=" in line}
    for name in sorted(n for n in names if n.startswith("MODELCARE_")):
        assert name in code, f"{name} is set but never read by include/modelcare"
    defaults = AirflowSettings()
    for conn_id in (defaults.aws_conn_id, defaults.smtp_conn_id):
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in names, f"no connection {conn_id} in .env.example"
    assert "MODELCARE_MODELS_DIR" in names
