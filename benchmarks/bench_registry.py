"""Benchmark of include.modelcare.registry.store against the in-process AWS emulator (a script, not a test).

Times, over ``--repeats`` runs each (median and p95, milliseconds):

- ``register``: a fitted churn pipeline (ColumnTransformer + LogisticRegression, skops bytes via
  include.modelcare.ml.serialization) + a 5,000-row reference sample + metrics.json, a new run each time
  (so the registry grows by one version per repeat: the idempotency scan reads every visible version);
- ``register`` again with the same run key (the idempotent path);
- ``get`` by number, ``latest``, ``latest-approved`` and alias; ``versions()``;
- ``load_model_bytes`` (sha256-verified), ``load_model`` (+ skops load), ``load_reference``;
- ``set_status`` and ``set_alias`` (compare-and-swap).

With ``--grow N`` it then adds N small versions and times ``register`` and ``versions()`` again.

Run from the repo root: ``.venv/bin/python benchmarks/bench_registry.py [--repeats 20] [--grow 200]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig


def fitted_model_bytes(config: ModelConfig, frame: pd.DataFrame) -> bytes:
    """skops bytes of a fitted imputer/scaler/one-hot + LogisticRegression pipeline (else 200 KB of bytes)."""
    try:
        from include.modelcare.ml.serialization import dump_model
    except ImportError:
        return bytes(200_000)
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = config.data.features
    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), features.numerical),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
             features.categorical),
        ]
    )  # fmt: skip
    model = Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))])
    model.fit(frame[features.all], frame[config.data.target])
    return dump_model(model)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    samples, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def row(label: str, samples: list[float], note: str = "") -> None:
    print(f"{label:<44} {statistics.median(samples):>9.1f} {p95(samples):>9.1f}  {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rows", type=int, default=5000, help="rows of the reference sample")
    parser.add_argument("--grow", type=int, default=0, help="then add this many small versions and re-time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from include.modelcare.config.catalog import get_model_config
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.dev.simulate import generate_batch
    from include.modelcare.registry.store import ModelRegistry
    from include.modelcare.storage.objects import ObjectStore

    base = get_model_config("customer_churn")
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    config = base.model_copy(update={"data": base.data.model_copy(update={"bucket": bucket})})
    frame = generate_batch(args.rows, seed=7)
    reference = frame[config.data.features.all]
    model_bytes = fitted_model_bytes(config, frame)
    metrics = json.dumps({"candidate": {"roc_auc": 0.8}}).encode()

    with DevStack() as stack:
        stack.client("s3").create_bucket(Bucket=bucket)
        registry = ModelRegistry(config, ObjectStore(stack.client("s3")))
        counter = iter(range(10**9))

        def register(run_key: str | None = None, status: str = "Approved") -> Any:
            return registry.register(
                model_bytes=model_bytes,
                reference=reference,
                metadata={"metrics": {"candidate": {"roc_auc": 0.8}}, "dag_id": "bench", "run_id": "x"},
                status=status,
                reasons=["bench"],
                run_key=run_key or f"bench/{next(counter)}",
                actor="bench",
                extra_artifacts={"metrics.json": metrics},
            )

        register("bench/warm-up")  # imports, connection pool
        print(
            f"registry {registry.root}; model.skops {len(model_bytes) / 1e3:.0f} KB, reference "
            f"{args.rows} rows x {reference.shape[1]} cols; {args.repeats} repeats; emulator in-process"
        )
        print(f"{'operation':<44} {'median ms':>9} {'p95 ms':>9}")
        samples, last = timed(register, args.repeats)
        row("register (new run; registry grows 2->21)", samples, f"-> {last.version_id}")
        row("register (same run_key: idempotent)", timed(lambda: register("bench/warm-up"), args.repeats)[0])
        registry.set_alias("production", last.version, by="bench", why="bench")
        n = last.version
        row("get(number)", timed(lambda: registry.get(n), args.repeats)[0])
        row("get('latest')", timed(lambda: registry.get("latest"), args.repeats)[0])
        row("get('latest-approved')", timed(lambda: registry.get("latest-approved"), args.repeats)[0])
        row("get('production')  (alias)", timed(lambda: registry.get("production"), args.repeats)[0])
        row(f"versions()  ({n} versions)", timed(registry.versions, args.repeats)[0])
        record = registry.get(n)
        row(
            "load_model_bytes(record)  (sha256 checked)",
            timed(lambda: registry.load_model_bytes(record), args.repeats)[0],
        )
        row("load_model('production')", timed(lambda: registry.load_model("production"), args.repeats)[0])
        row("load_reference(record)", timed(lambda: registry.load_reference(record), args.repeats)[0])
        flips = iter(["Rejected", "Approved"] * args.repeats)
        row(
            "set_status (CAS, alternating revoke/force)",
            timed(lambda: registry.set_status(1, next(flips), by="b", why="b", force=True), args.repeats)[0],
        )
        targets = iter([2, 3] * args.repeats)
        row(
            "set_alias (CAS)",
            timed(lambda: registry.set_alias("staging", next(targets), by="b", why="b"), args.repeats)[0],
        )

        if args.grow:
            small = b"x" * 1000
            tiny = reference.head(10)
            start = time.perf_counter()
            for i in range(args.grow):
                registry.register(
                    model_bytes=small, reference=tiny, metadata={}, status="Approved", reasons=[],
                    run_key=f"grow/{i}", actor="bench",
                )  # fmt: skip
            grown = registry.get("latest").version
            print(f"-- grew to {grown} versions in {time.perf_counter() - start:.1f} s")
            row(f"register (new run, {grown}+ versions)", timed(register, args.repeats)[0])
            row(f"versions()  ({grown}+ versions)", timed(registry.versions, args.repeats)[0])
            row("get(number)", timed(lambda: registry.get(n), args.repeats)[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
