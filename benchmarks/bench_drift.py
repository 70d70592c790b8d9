"""Benchmark of include.modelcare.quality.drift (a script, not a test).

0. At scale (skip with ``--no-scale``): 1M current x 1M reference
   rows x 25 features (20 numeric, 5 text) from parquet, each measured 3 times in a fresh subprocess:
   a plain scipy/numpy computation of the same statistics, ``drift_verdict`` and ``compute_drift`` with its
   report, reading parquet included; CPU s, ratio to the baseline of the same round, peak RSS, score
   agreement, each beside its target; then the report's cost at 10k, 100k, 1M (and 5M) rows.
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


# -- 0. at scale: each measurement in a fresh subprocess ----------------------------------------------
NUMERIC = [f"num_{i:02d}" for i in range(20)]
TEXT = [f"cat_{j}" for j in range(5)]
DISCRETE = {"num_19"}  # at most 5 values: chi-square + Jensen-Shannon (the baseline is told, not counting)
TARGETS = {"ratio": 2.0, "rss_mb": 1200.0, "report_s": 10.0}


def wide_frame(n: int, seed: int, *, shift: bool = False) -> pd.DataFrame:
    """25 features: 18 continuous (normal, gamma, lognormal; some with 1% nulls), an integer age, a
    low-cardinality count, 5 text columns (3-20 levels); ``shift`` moves 3 numeric and 1 text column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(18):
        move = 0.3 if shift and i in (0, 5) else 0.05 if shift and i == 7 else 0.0
        values = (
            rng.normal(50 + 10 * move, 10, n)
            if i % 3 == 0
            else rng.gamma(2.0, 5.0, n) * (1 + move)
            if i % 3 == 1
            else rng.lognormal(0, 0.5 + 0.1 * move, n)
        )
        if i % 4 == 0:
            values[rng.random(n) < 0.01] = np.nan
        columns[f"num_{i:02d}"] = values
    columns["num_18"] = rng.integers(18, 80, n)
    columns["num_19"] = rng.poisson(0.6, n).clip(0, 4)
    for j, k in enumerate((3, 5, 8, 12, 20)):
        p = np.linspace(1, 3, k) / np.linspace(1, 3, k).sum()
        levels = np.array([f"level_{x}" for x in range(k)], dtype=object)
        columns[f"cat_{j}"] = rng.choice(levels, n, p=p[::-1] if shift and j == 1 else p)
    columns["customer_id"] = np.arange(n)  # not a feature: never read
    return pd.DataFrame(columns)


def scale_files(rows: int) -> tuple[Path, Path]:
    """Reference and current parquet files of ``rows`` rows (cached in the temp dir between runs)."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / "modelcare-bench-drift"
    folder.mkdir(exist_ok=True)
    paths = folder / f"reference_{rows}.parquet", folder / f"current_{rows}.parquet"
    for path, seed, shift in ((paths[0], 1, False), (paths[1], 2, True)):
        if not path.exists():
            wide_frame(rows, seed, shift=shift).to_parquet(path.with_suffix(".tmp"))
            path.with_suffix(".tmp").rename(path)
    return paths


def read_features(path: Path) -> pd.DataFrame:
    """Only the feature columns, text as pandas category (parquet dictionary), no consolidation copy."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=NUMERIC + TEXT, read_dictionary=TEXT)
    return table.to_pandas(split_blocks=True, self_destruct=True)


def baseline_scores(current: pd.DataFrame, reference: pd.DataFrame) -> dict[str, tuple[float, float, bool]]:
    """Plain scipy/numpy: KS + Wasserstein / chi-square contingency + Jensen-Shannon (bias-corrected) per
    column, Benjamini-Hochberg at alpha 0.05 and the 0.1 floors; (p-value, effect, drifted) per column."""
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, false_discovery_control, ks_2samp, wasserstein_distance

    stats: dict[str, tuple[float, float]] = {}
    for name in NUMERIC + TEXT:
        if name in NUMERIC:
            r, c = reference[name].to_numpy(dtype=float), current[name].to_numpy(dtype=float)
            r, c = r[np.isfinite(r)], c[np.isfinite(c)]
            if name not in DISCRETE:
                effect = wasserstein_distance(r, c) / max(float(np.std(r)), 0.001)
                stats[name] = (float(ks_2samp(r, c).pvalue), float(effect))
                continue
            ref_counts, cur_counts = pd.Series(r).value_counts(), pd.Series(c).value_counts()
        else:
            ref_counts, cur_counts = reference[name].value_counts(), current[name].value_counts()
        ref_counts, cur_counts = ref_counts[ref_counts > 0], cur_counts[cur_counts > 0]
        index = ref_counts.index.astype(object).union(cur_counts.index.astype(object))
        table = np.vstack([ref_counts.reindex(index, fill_value=0), cur_counts.reindex(index, fill_value=0)])
        table = table.astype(float)
        js = float(jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum()))
        bias = (table.shape[1] - 1) * (1 / table[0].sum() + 1 / table[1].sum()) / 8
        p_value = float(chi2_contingency(table, correction=False).pvalue)
        stats[name] = (p_value, float(np.sqrt(max(js**2 - bias, 0.0))))
    adjusted = false_discovery_control([p for p, _ in stats.values()], method="bh")
    return {n: (p, e, bool(a <= 0.05 and e >= 0.1)) for (n, (p, e)), a in zip(stats.items(), adjusted, strict=True)}


def child(spec: str) -> None:
    """One measurement in this (fresh) process; prints one JSON line. ``spec``: ``what:rows``."""
    import json
    import os

    import numpy as np  # noqa: F401 - imports are not timed (each arm imports the same)
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401

    from include.modelcare.config.schema import DriftConfig, Features
    from include.modelcare.quality.drift import compute_drift, drift_verdict, report_html

    what, size = spec.split(":", maxsplit=1)
    rows = int(size)
    features, rule = Features(numerical=NUMERIC, categorical=TEXT), DriftConfig()
    out: dict[str, object] = {"what": what, "rows": rows}
    if what in ("report", "report_only"):
        import evidently  # noqa: F401 - its import is not counted

        compute_drift(wide_frame(300, 3), wide_frame(300, 4), features, rule)  # registration, first-use costs
    if what == "report_only":  # the report of a verdict already made, at any size (frames built in memory)
        current, reference = wide_frame(rows, 2, shift=True), wide_frame(rows, 1)
        for frame in (current, reference):
            for name in TEXT:
                frame[name] = frame[name].astype("category")
        result = drift_verdict(current, reference, features, rule)
        cpu, wall = time.process_time(), time.perf_counter()
        from include.modelcare.quality.drift_report import evidently_report

        html = report_html(evidently_report(current, reference, features, result, drift_share=rule.drift_share))
        out.update(cpu_s=time.process_time() - cpu, wall_s=time.perf_counter() - wall, html_mb=len(html) / 1e6)
    else:
        ref_path, cur_path = scale_files(rows)
        times = os.times()
        cpu, wall = times.user + times.system, time.perf_counter()
        current, reference = read_features(cur_path), read_features(ref_path)
        if what == "baseline":
            scores = baseline_scores(current, reference)
        else:
            result, report = compute_drift(current, reference, features, rule, with_report=what == "report")
            if report is not None:
                out["html_mb"] = len(report_html(report)) / 1e6
            scores = {n: (c.p_value, c.score, c.drifted) for n, c in result.columns.items()}
        times = os.times()
        out.update(cpu_s=times.user + times.system - cpu, wall_s=time.perf_counter() - wall, scores=scores)
    out["rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def measure(spec: str) -> dict[str, object]:
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", spec],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{spec} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def spread(values: list[float], fmt: str = ".1f") -> str:
    import statistics

    return f"{min(values):{fmt}} / {statistics.median(values):{fmt}} / {max(values):{fmt}}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def run_scale(rows: int, report_sizes: list[int], repeats: int) -> None:
    """The 1M x 25 measurement and the report's cost by size; prints each figure beside its target."""
    start = time.perf_counter()
    scale_files(rows)
    print(
        f"\nDrift at scale: {rows:,} current x {rows:,} reference rows x 25 features (20 numeric, 5 text), "
        f"parquet; {repeats} rounds, each arm in a fresh process (min / median / max); load {loadavg()}"
    )
    arms = ("baseline", "verdict", "report")
    runs: dict[str, list[dict[str, object]]] = {arm: [] for arm in arms}
    for _ in range(repeats):
        for arm in arms:
            runs[arm].append(measure(f"{arm}:{rows}"))
    base_cpu = [float(str(r["cpu_s"])) for r in runs["baseline"]]
    print(f"{'':>34} {'CPU s':>22} {'ratio to baseline':>22} {'peak RSS MB':>22}  target")
    labels = {
        "baseline": "plain scipy/numpy (baseline)",
        "verdict": "drift_verdict",
        "report": "compute_drift + report",
    }
    for arm in arms:
        cpu = [float(str(r["cpu_s"])) for r in runs[arm]]
        rss = [float(str(r["rss_mb"])) for r in runs[arm]]
        ratio = [c / b for c, b in zip(cpu, base_cpu, strict=True)]
        target = (
            ""
            if arm == "baseline"
            else (
                f"ratio <= {TARGETS['ratio']:g}: {'met' if max(ratio) <= TARGETS['ratio'] else 'NOT met'}; "
                f"RSS <= {TARGETS['rss_mb']:.0f} MB: {'met' if max(rss) <= TARGETS['rss_mb'] else 'NOT met'}"
            )
        )
        print(f"{labels[arm]:>34} {spread(cpu):>22} {spread(ratio, '.2f'):>22} {spread(rss, '.0f'):>22}  {target}")
    base = runs["baseline"][0]["scores"]
    assert isinstance(base, dict)
    for arm in ("verdict", "report"):
        worst_p = worst_e = 0.0
        same = True
        for run in runs[arm]:
            scores = run["scores"]
            assert isinstance(scores, dict)
            for name, (p, e, drifted) in scores.items():
                bp, be, bd = base[name]
                worst_p, worst_e = max(worst_p, abs(p - bp)), max(worst_e, abs(e - be))
                same = same and drifted == bd
        print(
            f"{labels[arm]:>34}: verdicts {'identical' if same else 'DIFFER'} to the baseline's; max abs "
            f"difference p-values {worst_p:.1e}, scores {worst_e:.1e}  (target: identical verdicts, scores)"
        )
    drifted = sorted(n for n, v in base.items() if v[2])
    print(f"{'':>34}  drifted columns: {', '.join(drifted)}; load {loadavg()}")
    print(
        f"\nHTML report (Evidently on a seeded sample; the verdict and Evidently's import not counted), "
        f"target <= {TARGETS['report_s']:g} s at any size; load {loadavg()}"
    )
    print(f"{'rows (ref = cur)':>18} {'wall s':>22} {'CPU s':>22} {'peak RSS MB':>14}  target")
    for size in report_sizes:
        done = [measure(f"report_only:{size}") for _ in range(repeats)]
        wall = [float(str(r["wall_s"])) for r in done]
        cpu = [float(str(r["cpu_s"])) for r in done]
        peak = max(float(str(r["rss_mb"])) for r in done)
        met = "met" if max(wall) <= TARGETS["report_s"] else "NOT met"
        print(
            f"{size:>18,} {spread(wall):>22} {spread(cpu):>22} {peak:>14.0f}  <= {TARGETS['report_s']:g} s: {met}"
            f"  (load {loadavg()})"
        )
    print(f"[scale benchmark {time.perf_counter() - start:.0f} s]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--rows", type=int, default=500, help="reference and current rows in the false-alarm trials")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--no-scale", action="store_true", help="skip the 1M x 25 measurement")
    parser.add_argument("--scale-only", action="store_true", help="only the 1M x 25 measurement")
    parser.add_argument("--scale-rows", type=int, default=1_000_000)
    parser.add_argument("--report-sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000, 5_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, JSON on stdout
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return
    if not args.no_scale:
        run_scale(args.scale_rows, args.report_sizes, args.repeats)
        if args.scale_only:
            return
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
