"""docker-compose.yaml, Dockerfile and .env.example: what can be checked without a Docker engine.

Besides the schema and the paths: the secrets are required and shared by every service, ``.env`` is
ignored by git, the admin logs in with the password from ``.env``, and no container installs
anything when it starts (issue 10, point 8).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yaml"
DEV = "requirements-dev.txt"


def _pin(package: str, requirements: str = "requirements.txt") -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / requirements).read_text(), re.MULTILINE)
    assert match, f"{package} is not pinned in {requirements}"
    return match.group(1)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


SECRETS = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
ADMIN_PASSWORD = "_AIRFLOW_WWW_USER_PASSWORD"
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(LookupError):
    """What ``docker compose`` reports for ``${NAME:?message}`` when NAME is unset or empty."""


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of the forms this file uses: ``$$``, ``${N}``, ``${N:-default}``, ``${N:?error}``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name, "")
        if op == ":?" and not value:
            raise MissingVariable(f"required variable {name} is missing a value: {arg}")
        return value or (arg if op == ":-" else "")

    return _VARIABLE.sub(one, text)


def _filled_env() -> dict[str, str]:
    return {**dict.fromkeys(SECRETS, "x" * 44), ADMIN_PASSWORD: "s3cret pass'word", "AIRFLOW_UID": "1000"}


def _interpolated(env: dict[str, str] | None = None) -> dict[str, Any]:
    return yaml.safe_load(_interpolate(COMPOSE.read_text(), _filled_env() if env is None else env))


def _airflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from x-airflow-common (they share its environment)."""
    return {name: s for name, s in compose["services"].items() if "AIRFLOW__CORE__EXECUTOR" in s.get("environment", {})}


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _dockerfile_stages() -> list[tuple[str, str, str]]:
    """(base image, stage name, the stage's text) for every FROM of the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text()
    parts = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    stages = []
    for part in parts:
        head, _, body = part.partition("\n")
        match = re.fullmatch(r"(\S+)(?: AS (\S+))?", head.strip())
        assert match, f"unexpected FROM line: FROM {head}"
        stages.append((match.group(1), match.group(2) or "", body))
    return stages


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
    assert _dockerfile_stages()[0][0] == f"apache/airflow:{airflow}-python3.11"
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
    for service in _compose()["services"].values():
        mounts += [v.split(":")[0] for v in service.get("volumes", []) if v.startswith(".")]
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


def test_dotenv_is_ignored_by_git_and_the_example_is_not() -> None:
    """.env.example tells people to put credentials in .env: git must never pick that file up."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def ignored(path: str) -> bool:
        done = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, capture_output=True, check=False
        )
        assert done.returncode in (0, 1), done.stderr
        return done.returncode == 0

    assert ignored(".env"), ".env is not in .gitignore"
    assert not ignored(".env.example")


@pytest.mark.parametrize("name", SECRETS)
def test_each_secret_is_required_and_the_same_for_every_airflow_service(name: str) -> None:
    """No empty Fernet key (connections unencrypted) and no per-container JWT secret (apache/airflow#59373)."""
    common = _compose()["x-airflow-common"]["environment"]
    assert re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", common[name]), f"{name} must be required: {common[name]!r}"
    assert name in _env_example(), f".env.example does not name {name}"
    assert _env_example()[name] == "", f".env.example must not ship a value for {name}"
    with pytest.raises(MissingVariable, match=name):
        _interpolated({k: v for k, v in _filled_env().items() if k != name})
    services = _airflow_services(_interpolated())
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-worker", "airflow-triggerer"} <= set(services)
    assert {s["environment"][name] for s in services.values()} == {"x" * 44}


def test_the_commands_in_env_example_make_valid_secrets() -> None:
    from cryptography.fernet import Fernet

    commands = re.findall(r"^#\s+(python -c .+)$", (ROOT / ".env.example").read_text(), re.MULTILINE)
    fernet = [c for c in commands if "Fernet.generate_key()" in c]
    assert fernet, ".env.example does not say how to make a Fernet key"
    assert any("secrets.token_urlsafe" in c for c in commands), ".env.example does not say how to make the secrets"
    for command in commands:
        code = re.fullmatch(r'python -c "(.+)"', command)
        assert code, command
        value = subprocess.run(
            [sys.executable, "-c", code.group(1)], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert len(value) >= 32
        if command in fernet:
            Fernet(value.encode())  # raises on a malformed key


def test_the_admin_logs_in_with_the_password_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """airflow-init writes .env's password to SimpleAuthManager's password file, which the API server mounts."""
    compose = _interpolated()
    services = compose["services"]
    init, api = services["airflow-init"], services["airflow-apiserver"]
    password_file = api["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    folder = str(Path(password_file).parent)
    shared = {v.split(":")[0] for v in init["volumes"] if v.endswith(f":{folder}")}
    assert shared and shared == {v.split(":")[0] for v in api["volumes"] if v.endswith(f":{folder}")}
    assert shared <= set(compose["volumes"]), "the password file must live on a named volume"
    assert init["environment"][ADMIN_PASSWORD] == "s3cret pass'word"
    with pytest.raises(MissingVariable, match=ADMIN_PASSWORD):
        _interpolated({k: v for k, v in _filled_env().items() if k != ADMIN_PASSWORD})

    script = [
        line for line in init["command"][1].splitlines() if "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in line
    ]
    written = tmp_path / "passwords.json"
    env = {**os.environ, **init["environment"], "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(written)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = [line for line in script if not line.lstrip().startswith("chown")]  # root only
    subprocess.run(["bash", "-euc", "\n".join(script)], env=env, check=True, capture_output=True)
    assert json.loads(written.read_text()) == {"admin": "s3cret pass'word"}

    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(written))
    monkeypatch.setenv(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", api["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    )
    assert [(u.username, u.role) for u in SimpleAuthManager.get_users()] == [("admin", "admin")]
    assert SimpleAuthManager.get_passwords() == {"admin": "s3cret pass'word"}
    assert "created by airflow-init" not in (ROOT / ".env.example").read_text()


def test_no_container_installs_anything_when_it_starts() -> None:
    """The emulator's moto and aiosmtpd come from the Dockerfile's emulator stage, with requirements-dev.txt's pins."""
    compose = _compose()
    for name, service in compose["services"].items():
        started = json.dumps([service.get("entrypoint"), service.get("command")])
        assert "pip install" not in started, f"{name} runs pip install at start"
        assert not service.get("environment", {}).get("_PIP_ADDITIONAL_REQUIREMENTS"), name
    stages = _dockerfile_stages()
    names = [stage for _, stage, _ in stages]
    emulator = compose["services"]["modelcare-emulator"]
    assert emulator["build"]["target"] == "emulator" in names
    assert compose["x-airflow-common"]["build"]["target"] == names[-1], (
        "a plain `docker build .` must give the Airflow image"
    )
    assert emulator["image"] != compose["x-airflow-common"]["image"], "two targets cannot share one tag"
    body = stages[names.index("emulator")][2]
    pattern = re.search(r"grep -E '([^']+)' /opt/modelcare/requirements-dev.txt", body)
    assert pattern and "pip install" in body
    dev = (ROOT / DEV).read_text().splitlines()
    picked = [line for line in dev if re.search(pattern.group(1), line)]
    assert picked == [f"moto[server]=={_pin('moto[server]', DEV)}", f"aiosmtpd=={_pin('aiosmtpd', DEV)}"]
