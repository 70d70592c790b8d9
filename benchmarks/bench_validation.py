"""Benchmark of include.modelcare.quality.validation.validate_frame (a script, not a test).

A batch of N rows x 25 feature columns (20 numeric, 5 text) plus the id is written once as parquet
(text as strings, as upstream systems write it); each run, in a fresh subprocess so that the process
peak RSS is that run's alone, reads it with ``storage.tables.read_files`` and validates it with
``validate_frame`` against a reference of ``--reference-rows`` rows (ranges and value sets derived
from it, as in the monitoring DAG; built in memory with text as categories). Two ways to read:
``category`` (``read_files(..., categories=<text features>)``: pyarrow decodes the strings as
dictionaries) and ``object`` (the default read: one Python string per value). ``--repeats`` runs per
size and mode, min/median/max, with the load average before and after.

Target (issue 13, item 3): validate + drift at 5M rows x 25 columns <= 3 min wall and <= 4 GB peak RSS;
this prints validation's share of it (``bench_drift.py`` measures drift).

Run from the repo root: ``.venv/bin/python benchmarks/bench_validation.py [--sizes 1000000 5000000]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig

NUMERIC = [f"num_{i:02d}" for i in range(20)]
TEXT = [f"text_{i}" for i in range(5)]
LEVELS = [[f"level_{j}_{i}" for j in range(3 + 4 * i)] for i in range(5)]  # 3, 7, 11, 15, 19 levels
TARGET_WALL_S = 180.0  # validate + drift at 5M rows
TARGET_RSS_MB = 4096.0


def wide_frame(n: int, seed: int, text: str = "category") -> pd.DataFrame:
    """N rows: an int64 id, 20 float64/int64 columns (1% nulls in every fifth), 5 text columns
    (``category`` or ``object``, 1% nulls in the first)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {"row_id": np.arange(n, dtype="int64") + seed * 10_000_000_000}
    for i, name in enumerate(NUMERIC):
        values = rng.integers(0, 100, n) if i % 4 == 3 else rng.normal(10 * i, 1 + i, n)
        if i % 5 == 0:  # (an int column with nulls reads from parquet as float64)
            values = values.astype("float64")
            values[rng.random(n) < 0.01] = np.nan
        columns[name] = values
    for k, (name, levels) in enumerate(zip(TEXT, LEVELS, strict=True)):
        codes = rng.integers(0, len(levels), n).astype("int8")
        if k == 0:
            codes[rng.random(n) < 0.01] = -1
        values = pd.Categorical.from_codes(codes, categories=levels)
        columns[name] = values if text == "category" else np.asarray(values, dtype=object)
    return pd.DataFrame(columns, copy=False)  # no consolidation copy: the peak is the data's own size


def wide_config() -> ModelConfig:
    """customer_churn.yaml with the 25 benchmark features, no explicit column rules and no row limit."""
    from include.modelcare.config.catalog import load_model_config

    config = load_model_config(ROOT / "include" / "models" / "customer_churn.yaml")
    features = config.data.features.model_copy(update={"numerical": NUMERIC, "categorical": TEXT})
    data = config.data.model_copy(update={"id_column": "row_id", "features": features})
    validation = config.validation.model_copy(update={"columns": {}, "max_rows": None})
    return config.model_copy(update={"data": data, "validation": validation})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def write_batch(rows: int, path: Path) -> None:
    """The batch as parquet with text as plain strings (run in its own process: it needs memory)."""
    wide_frame(rows, 1, "object").to_parquet(path, index=False)


def one_run(path: Path, reference_rows: int, mode: str) -> dict[str, Any]:
    """In this (fresh) process: import GX, build the reference, read the batch, validate it once."""
    from include.modelcare.quality.validation import validate_frame
    from include.modelcare.storage.objects import ObjectStore
    from include.modelcare.storage.tables import read_files

    config = wide_config()
    validate_frame(wide_frame(600, 7), config, wide_frame(600, 8))  # GX import and first context
    reference = wide_frame(reference_rows, 2)
    start = time.perf_counter()
    categories = TEXT if mode == "category" else ()
    frame, _ = read_files([str(path)], "parquet", ObjectStore(), categories=categories)
    read_s = time.perf_counter() - start
    read_peak_mb = peak_rss_mb()
    start = time.perf_counter()
    result = validate_frame(frame, config, reference)
    return {
        "read_s": read_s,
        "validate_s": time.perf_counter() - start,
        "peak_rss_mb": peak_rss_mb(),
        "read_peak_mb": read_peak_mb,
        "success": result.success,
        "checks": len(result.checks),
        "headline": result.headline(),
    }


def subprocess_json(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def spread(values: list[float], fmt: str) -> str:
    return "/".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 5_000_000])
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="*", choices=("category", "object"), default=["category", "object"])
    parser.add_argument("--write", nargs=2, help=argparse.SUPPRESS)  # internal: ROWS PATH
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # internal: PATH MODE
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.write:
        write_batch(int(args.write[0]), Path(args.write[1]))
        print(json.dumps({"bytes": Path(args.write[1]).stat().st_size}))
        return
    if args.one:
        print(json.dumps(one_run(Path(args.one[0]), args.reference_rows, args.one[1])))
        return

    print(
        f"read_files + validate_frame: id + {len(NUMERIC)} numeric + {len(TEXT)} text columns, reference "
        f"{args.reference_rows:,} rows; {args.repeats} fresh processes each; min/median/max"
    )
    print(
        f"{'rows':>10} {'text as':>8} {'read s':>15} {'validate s':>15} {'peak RSS MB':>16} {'(after read)':>12}  "
        f"{'load before / after':<30} verdict"
    )
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        for rows in args.sizes:
            path = Path(tmp) / f"batch-{rows}.parquet"
            size = subprocess_json("--write", str(rows), str(path))["bytes"]
            for mode in args.modes:
                load_before = load()
                refs = ["--reference-rows", str(args.reference_rows)]
                runs = [subprocess_json("--one", str(path), mode, *refs) for _ in range(args.repeats)]
                reads, walls = [r["read_s"] for r in runs], [r["validate_s"] for r in runs]
                rss, read_rss = [r["peak_rss_mb"] for r in runs], [r["read_peak_mb"] for r in runs]
                verdict = "pass" if all(r["success"] for r in runs) else runs[0]["headline"][:60]
                print(
                    f"{rows:>10,} {mode:>8} {spread(reads, '.1f'):>15} {spread(walls, '.1f'):>15} "
                    f"{spread(rss, '.0f'):>16} {statistics.median(read_rss):>12.0f}  "
                    f"{load_before + ' / ' + load():<30} {verdict} "
                    f"({runs[0]['checks']} checks, file {size / 1e6:.0f} MB)"
                )
                if rows >= 5_000_000 and mode == "category":
                    total = statistics.median(reads) + statistics.median(walls)
                    print(
                        f"{'':>10} target: validate + drift <= {TARGET_WALL_S:.0f} s wall, <= {TARGET_RSS_MB:.0f} MB "
                        f"peak RSS. Validation (read + validate, median {total:.0f} s) uses "
                        f"{total / TARGET_WALL_S:.0%} of the wall budget; peak RSS {max(rss):.0f} MB "
                        f"({'within' if max(rss) <= TARGET_RSS_MB else 'over'} the RSS budget on its own)"
                    )


if __name__ == "__main__":
    main()
