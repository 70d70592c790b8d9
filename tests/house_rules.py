"""House rules the tests check, read from where they are configured (tests only).

``HEAVY_MODULES`` is ruff's ``banned-module-level-imports`` in pyproject.toml: the one list of heavy
modules, used by the DAG parse test, the serving-package tests and ruff itself.
"""

from __future__ import annotations

import tomllib

from tests.airflow_env import REPO

_TIDY_IMPORTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["flake8-tidy-imports"]
HEAVY_MODULES: tuple[str, ...] = tuple(_TIDY_IMPORTS["banned-module-level-imports"])
