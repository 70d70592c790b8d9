"""The package layout's rules: module size, documented packages, a config/ without Airflow, dev/ fenced off.

Each rule keeps the package navigable as it grows: a reader finds a module by its folder's docstring,
reads it in one sitting, and can trust that what ships (DAG parsing, SageMaker, Lambda) never drags in
development tools.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "include" / "modelcare"
MAX_LINES = 500
DEV = "include.modelcare.dev"
# Production code outside these folders may not import dev/ (the CLI's dev commands may).
MAY_IMPORT_DEV = (PACKAGE / "dev", PACKAGE / "cli")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _packages() -> list[Path]:
    return sorted({p.parent for p in _modules()})


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _modules()}
    over = {path: lines for path, lines in sorted(sizes.items(), key=lambda kv: -kv[1]) if lines > MAX_LINES}
    if over:
        print("modules over", MAX_LINES, "lines:")
        for path, lines in over.items():
            print(f"  {lines:5d}  {path}")
    assert not over, f"modules over {MAX_LINES} lines: " + ", ".join(f"{p} ({n})" for p, n in over.items())


@pytest.mark.parametrize("package", _packages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_package_says_what_it_holds(package: Path) -> None:
    init = package / "__init__.py"
    assert init.is_file(), f"{package.relative_to(ROOT)} has no __init__.py"
    docstring = (ast.get_docstring(ast.parse(init.read_text())) or "").strip()
    assert docstring and docstring.upper() != "TODO", f"{init.relative_to(ROOT)} has no docstring"


def test_config_imports_no_airflow() -> None:
    """check-config and the CLI load configs without Airflow (``airflow.sdk`` alone takes seconds)."""
    script = (
        "import json, sys\n"
        "import include.modelcare.config.catalog, include.modelcare.config.schema\n"
        "import include.modelcare.config.paths, include.modelcare.config.reference\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in the tree, at any depth (functions included); relative
    imports resolved against ``package``, ``from a import b`` counted as ``a`` and ``a.b``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                prefix = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{prefix}.{base}" if base else prefix
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def test_production_code_never_imports_dev() -> None:
    """The same fence as ruff's TID251 rule in pyproject.toml (DAG files and plugins included), for runs
    of the tests alone."""
    shipped = [*_modules(), *sorted((ROOT / "dags").glob("*.py")), *sorted((ROOT / "plugins").glob("*.py"))]
    offenders = []
    for path in shipped:
        if any(path.is_relative_to(allowed) for allowed in MAY_IMPORT_DEV):
            continue
        name = _name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for line, imported in _imported(ast.parse(path.read_text()), package):
            if imported == DEV or imported.startswith(DEV + "."):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not offenders, "dev/ is development-only:\n" + "\n".join(offenders)
