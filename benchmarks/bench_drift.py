"""Benchmark of include.modelcare.quality.drift (a script, not a test).

1. Wall time (and process peak RSS) of ``drift_verdict`` (the single-pass verdict, no Evidently),
   ``compute_drift`` (verdict + Evidently's report run) and ``report_html`` on 10k and 100k rows
   (reference and current of the same size) x the 10 churn features.
2. False-alarm rate of the dataset verdict (share_drifted >= the threshold drift_share, or a critical
   feature drifted; customer_churn.yaml: 0.3, monthly_charges/contract) over seeded trials where reference
   (500 rows) and current (500 rows) come from the same distribution, for:
   - modelcare's rule (p-value at the corrected level AND effect >= floor), with the default correction;
   - the same rule at alpha per column (multiple_testing: none);
   - Evidently's defaults (DataDriftPreset without methods: KS / chisquare / Z at p < 0.05).
   The rule's full benchmark (every size, shifts below/at/above the floor) is ``bench_drift_rule.py``.

Run from the repo root: ``.venv/bin/python benchmarks/bench_drift.py [--trials 30]``.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig


def churn_frame(n: int, seed: int) -> pd.DataFrame:
    """Churn-like rows with the columns of customer_churn.yaml (same generator as tests/unit/test_drift.py)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 73, n)
    charges = rng.normal(70, 20, n).clip(0, 500)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "total_charges": tenure * charges + rng.normal(0, 50, n),
            "support_calls": rng.poisson(0.6, n).clip(0, 4),
            "data_usage_gb": rng.gamma(2.0, 5.0, n),
            "age": rng.integers(18, 80, n),
            "plan": rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2]),
            "contract": rng.choice(["month_to_month", "one_year", "two_year"], n, p=[0.55, 0.25, 0.20]),
            "payment_method": rng.choice(["card", "bank", "check", "wallet"], n),
            "region": rng.choice(["north", "south", "east", "west", "central"], n),
            "churned": rng.integers(0, 2, n),
        }
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def bench_speed(config: ModelConfig, sizes: list[int]) -> None:
    from include.modelcare.quality.drift import compute_drift, drift_verdict, report_html

    features, rule = config.data.features, config.drift
    compute_drift(churn_frame(300, 0), churn_frame(300, 1), features, rule)  # warm-up (imports, registration)
    print(
        f"\n{'rows (ref = cur)':>16} {'drift_verdict s':>16} {'compute_drift s':>16} {'report_html s':>14} "
        f"{'peak RSS MB':>12}"
    )
    for n in sizes:
        current, reference = churn_frame(n, 10), churn_frame(n, 11)
        start = time.perf_counter()
        drift_verdict(current, reference, features, rule)
        verdict_s = time.perf_counter() - start
        start = time.perf_counter()
        _, snapshot = compute_drift(current, reference, features, rule)
        compute_s = time.perf_counter() - start
        start = time.perf_counter()
        html = report_html(snapshot)
        html_s = time.perf_counter() - start
        print(
            f"{n:>16,} {verdict_s:>16.2f} {compute_s:>16.2f} {html_s:>14.2f} {peak_rss_mb():>12.0f}"
            f"  (html {len(html) / 1e6:.1f} MB)"
        )


def evidently_default_flags(
    current: pd.DataFrame, reference: pd.DataFrame, config: ModelConfig
) -> tuple[dict[str, bool], dict[str, str]]:
    """Per-feature drift flags and methods of DataDriftPreset with Evidently's own default tests and thresholds."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from include.modelcare.quality.drift_report import parse_value_drift

    features = config.data.features
    names = features.all
    definition = DataDefinition(numerical_columns=features.numerical, categorical_columns=features.categorical)
    snapshot = Report([DataDriftPreset(columns=names)], include_tests=True).run(
        Dataset.from_pandas(current[names], data_definition=definition),
        Dataset.from_pandas(reference[names], data_definition=definition),
    )
    parsed = parse_value_drift(snapshot.dict())
    missing = [name for name in names if parsed[name][3] is None]
    if missing:
        raise RuntimeError(f"no Evidently test status for {', '.join(missing)}")
    return {name: bool(parsed[name][3]) for name in names}, {name: parsed[name][0] for name in names}


def verdict(flags: dict[str, bool], config: ModelConfig) -> bool:
    share = sum(flags.values()) / len(flags)
    return share >= config.drift.drift_share or any(flags[c] for c in config.drift.critical_features)


def bench_false_alarms(config: ModelConfig, trials: int, rows: int) -> None:
    from include.modelcare.quality.drift import drift_verdict

    no_correction = config.model_copy(update={"drift": config.drift.model_copy(update={"multiple_testing": "none"})})
    arms: dict[str, list[dict[str, bool]]] = {
        f"modelcare ({config.drift.multiple_testing})": [],
        "modelcare, no correction": [],
        "Evidently defaults": [],
    }
    default_methods: dict[str, str] = {}
    start = time.perf_counter()
    for trial in range(trials):
        reference, current = churn_frame(rows, 1000 + 2 * trial), churn_frame(rows, 1001 + 2 * trial)
        for label, cfg in (
            (f"modelcare ({config.drift.multiple_testing})", config),
            ("modelcare, no correction", no_correction),
        ):
            result = drift_verdict(current, reference, cfg.data.features, cfg.drift)
            arms[label].append({n: c.drifted for n, c in result.columns.items()})
        flags, default_methods = evidently_default_flags(current, reference, config)
        arms["Evidently defaults"].append(flags)
    elapsed = time.perf_counter() - start

    n_features = len(config.data.features.all)
    print(
        f"\nIdentical distributions, {trials} seeded trials, {rows} reference vs {rows} current rows, "
        f"{n_features} features; verdict = share >= {config.drift.drift_share:g} or critical "
        f"({', '.join(config.drift.critical_features)}) drifted  [{elapsed:.0f} s]"
    )
    print(f"{'rule':>26} {'verdict false alarms':>21} {'any column flagged':>19} {'column flag rate':>17}")
    for label, runs in arms.items():
        alarms = sum(verdict(flags, config) for flags in runs)
        any_flag = sum(any(flags.values()) for flags in runs)
        column_rate = sum(sum(flags.values()) for flags in runs) / (len(runs) * n_features)
        print(
            f"{label:>26} {alarms:>9}/{len(runs)} = {alarms / len(runs):>5.0%} "
            f"{any_flag:>7}/{len(runs)} = {any_flag / len(runs):>4.0%} {column_rate:>17.1%}"
        )
    by_column: dict[str, int] = {}
    for flags in arms["Evidently defaults"]:
        for name, flagged in flags.items():
            by_column[name] = by_column.get(name, 0) + flagged
    print(
        "Evidently defaults, flags per column (method):",
        ", ".join(f"{k} {v} ({default_methods.get(k)})" for k, v in by_column.items()),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--rows", type=int, default=500, help="reference and current rows in the false-alarm trials")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # Evidently's chisquare divides by zero expected counts for values seen only in the current sample.
    warnings.filterwarnings("ignore", category=RuntimeWarning)

    from include.modelcare.config.catalog import load_model_config

    config = load_model_config(ROOT / "include" / "models" / "customer_churn.yaml")
    start = time.perf_counter()
    import evidently  # noqa: F401 - timed on its own

    print(f"import evidently: {time.perf_counter() - start:.1f} s")
    bench_speed(config, args.sizes)
    bench_false_alarms(config, args.trials, args.rows)


if __name__ == "__main__":
    main()
