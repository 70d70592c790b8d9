"""Parse time of dags/ for 1, 10 and 100 generated model configs (each in a fresh interpreter).

Prints the DagBag fill time (what the DAG processor pays per parse) and the per-file
durations Airflow records; the interpreter start and `import airflow` are excluded.
Run: make bench (or .venv/bin/python benchmarks/bench_parse.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = (REPO / "include" / "models" / "customer_churn.yaml").read_text()

CHILD = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t0
assert not bag.import_errors, bag.import_errors
heavy = [m for m in ("pandas", "numpy", "sklearn", "great_expectations", "evidently", "boto3") if m in sys.modules]
stats = {s.file.rsplit("/", 1)[-1]: s.duration.total_seconds() for s in bag.dagbag_stats}
print(json.dumps({"seconds": elapsed, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "files": stats, "heavy": heavy}))
"""


def run(n_models: int, repeats: int = 3) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as models, tempfile.TemporaryDirectory() as home:
        for i in range(n_models):
            name = f"model_{i:03d}"
            Path(models, f"{name}.yaml").write_text(SAMPLE.replace("name: customer_churn", f"name: {name}"))
        env = {
            **os.environ,
            "MODELCARE_MODELS_DIR": models,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        }
        runs = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(REPO / "dags")], env=env, capture_output=True, text=True, check=True
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    return {"models": n_models, **best}


def main() -> None:
    print(f"{'models':>6} {'dags':>5} {'tasks':>6} {'parse s (best of 3)':>20}  per file")
    for n in (1, 10, 100):
        r = run(n)
        per_file: dict[str, float] = r["files"]  # type: ignore[assignment]
        files = ", ".join(f"{k} {v:.2f}s" for k, v in per_file.items())
        print(f"{r['models']:>6} {r['dags']:>5} {r['tasks']:>6} {r['seconds']:>20.2f}  {files}  heavy={r['heavy']}")


if __name__ == "__main__":
    main()
