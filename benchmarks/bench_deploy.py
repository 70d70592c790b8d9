"""Deployment wall time per target on the embedded stack: the deployment DAG under dag.test().

For each target: one first deployment (new endpoint / new alias), then updates alternating between
two registered versions (blue/green UpdateEndpoint / canary alias shift), bake 0 s, alarms checked.
Each smoke test really runs the packaged model in a fresh interpreter (emulator extension), which is
most of the time; dag.test() adds ~0.1 s per task. Run: make bench (or .venv/bin/python benchmarks/bench_deploy.py).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".bench-deploy"
UPDATES = 3


def main() -> int:
    shutil.rmtree(STATE, ignore_errors=True)
    sys.path.insert(0, str(REPO))
    from include.modelcare.dev.demo import configure_airflow

    configure_airflow(STATE / "airflow")
    from include.modelcare.config.catalog import get_model_config
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.dev.simulate import register_simulated_version
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

    with DevStack(mail_dir=STATE / "mail") as stack:
        os.environ.update(stack.env())
        config = get_model_config("customer_churn")
        stack.bootstrap(config)
        registry = ModelRegistry(config, ObjectStore(stack.client("s3")))
        versions = [register_simulated_version(registry, config, seed=s).version_id for s in (1, 2)]
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(REPO / "dags")).dags["modelcare_deploy_customer_churn"]
        defaults = {k: dag.params[k] for k in dag.params}
        when = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
        print("deployment DAG wall time on the embedded stack (dag.test, bake 0 s)")
        for target in ("sagemaker", "lambda"):
            seconds = []
            for i in range(1 + UPDATES):
                when += dt.timedelta(hours=1)
                conf = {**defaults, "version": versions[i % 2], "target": target, "bake_minutes": 0}
                started = time.perf_counter()
                dr = dag.test(logical_date=when, run_after=when, run_conf=conf)
                seconds.append(time.perf_counter() - started)
                assert str(dr.state) == "success", f"{target} run {i} ended {dr.state}"
            print(
                f"  {target:<9} first deployment {seconds[0]:.1f} s; "
                f"update median {statistics.median(seconds[1:]):.1f} s (of {UPDATES}: "
                f"{', '.join(f'{s:.1f}' for s in seconds[1:])})"
            )
    shutil.rmtree(STATE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
