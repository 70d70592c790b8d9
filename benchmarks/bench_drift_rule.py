"""Benchmark of the drift rule (a script, not a test): false alarms and detection, per column and per batch.

A batch has 25 features: 20 numerical (standard normal) and 5 categorical (10 levels, probabilities
proportional to 1..3). Reference and current have the same number of rows n. The columns' statistics are
computed once per trial with the library's own code (``include.modelcare.quality.stattests``: KS p-value and
normed Wasserstein; chi-square contingency p-value and Jensen-Shannon), and every rule is applied to the
same statistics:

* ``today``: the rule before this change: at n <= 1,000 rows p-value tests at alpha / 25 (Bonferroni; KS at
  p <= level, chi-square at p < level), above 1,000 rows Wasserstein >= 0.1 / Jensen-Shannon >= 0.1
  (Evidently's plug-in Jensen-Shannon; the new rule uses the bias-corrected one);
* ``bonferroni``, ``holm``, ``bh``: the new rule (p-value <= corrected level AND effect >= the floor) with
  each multiple-testing correction.

Levels: ``null`` (no column shifted: the global null) and ``0.5x``/``1x``/``2x``: the shift's population
effect is that multiple of the floor, in 6 of the 25 columns (num_0..num_4 and cat_0: a partial null;
the other 19 are unshifted). Numerical: a mean shift of k * floor sd (normed Wasserstein of N(0,1) and
N(d,1) is d). Categorical: q = (1 - t) p + t e_0 with t solved so that JS(p, q) = k * floor. The dataset
verdict is the library's: share of drifted features >= drift_share (0.3, as customer_churn.yaml) or a
critical feature (num_0, cat_0) drifted.

Trials: 1,000 per cell at n = 200, 500, 1,000, 5,000 and 100 at 50,000, all full 25-column batches.
At 1,000,000 rows: 100 trials per level of ONE numerical column (the numerical per-column figures) and of
all 5 categorical columns (their counts drawn as multinomials, which is exactly the distribution of the
counts of n draws); batch figures at 1M are composed from those draws: each of 100 batches takes 20
distinct numerical draws (the shifted ones from the level's draws, the rest from the null draws) without
replacement from the pools of 100, so the columns of one batch are independent but batches share draws.

Run from the repo root: ``.venv/bin/python benchmarks/bench_drift_rule.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

N_NUM, N_CAT, N_LEVELS_CAT = 20, 5, 10
SHIFTED_NUM, SHIFTED_CAT = 5, 1  # num_0..num_4, cat_0
CRITICAL = (0, N_NUM)  # num_0, cat_0
DRIFT_SHARE = 0.3
LEVELS = {"null": 0.0, "0.5x": 0.5, "1x": 1.0, "2x": 2.0}
RULES = ("today", "bonferroni", "holm", "bh")
SEED = 20261201


def defaults() -> tuple[float, float, float, str]:
    """(alpha, numerical floor, categorical floor, correction): the shipped defaults of ``DriftConfig``."""
    from include.modelcare.config.schema import DriftConfig

    rule = DriftConfig()
    return rule.alpha, rule.num_threshold, rule.cat_threshold, rule.multiple_testing


def base_probs() -> NDArray[np.float64]:
    import numpy as np

    weights = np.linspace(1, 3, N_LEVELS_CAT)
    return np.asarray(weights / weights.sum())


def shifted_probs(target_js: float) -> NDArray[np.float64]:
    """q = (1 - t) p + t e_0 with JS(p, q) = target (the least likely level gains the mass)."""
    import numpy as np
    from scipy.optimize import brentq
    from scipy.spatial import distance

    p = base_probs()
    if target_js == 0:
        return p
    e0 = np.eye(N_LEVELS_CAT)[0]
    t = brentq(lambda t: distance.jensenshannon(p, (1 - t) * p + t * e0) - target_js, 0.0, 1.0, xtol=1e-14)
    return np.asarray((1 - t) * p + t * e0)


def simulate(n: int, level: str, trials: int, numerical: int, categorical: int) -> tuple[Any, Any, Any]:
    """(p-values, effects, Evidently's plug-in effects) of ``trials`` trials, each (trials, columns) arrays;
    the plug-in effects differ for categorical columns only (Evidently's Jensen-Shannon, today's rule)."""
    import numpy as np

    from include.modelcare.quality.stattests import categorical_stats, jensenshannon, numerical_stats

    _, num_floor, cat_floor, _ = defaults()
    k = LEVELS[level]
    rng = np.random.default_rng([SEED, n, list(LEVELS).index(level), numerical, categorical])
    num_shift = np.zeros(numerical)
    num_shift[: min(SHIFTED_NUM, numerical)] = k * num_floor
    p, q = base_probs(), shifted_probs(k * cat_floor)
    pvalues = np.empty((trials, numerical + categorical))
    effects = np.empty_like(pvalues)
    plug_in = np.empty((trials, categorical))
    for trial in range(trials):
        for j in range(numerical):
            ref = np.sort(rng.standard_normal(n))
            cur = np.sort(rng.standard_normal(n) + num_shift[j])
            pvalues[trial, j], effects[trial, j] = numerical_stats(ref, cur)
        ref_counts = rng.multinomial(n, p, size=categorical).astype(float)
        for j in range(categorical):
            cur_counts = rng.multinomial(n, q if j < SHIFTED_CAT else p).astype(float)
            pvalues[trial, numerical + j], effects[trial, numerical + j] = categorical_stats(ref_counts[j], cur_counts)
            plug_in[trial, j] = jensenshannon(ref_counts[j], cur_counts)
    return pvalues, effects, np.concatenate([effects[:, :numerical], plug_in], axis=1)


def compose(n: int, level: str, trials: int) -> tuple[Any, Any, Any]:
    """The 1M plan: pools of one numerical column (null and the level) and full categorical draws, composed
    into batches; returns (batch p-values, batch effects, batch plug-in effects)."""
    import numpy as np

    null_p, null_e, _ = simulate(n, "null", trials, 1, 0)
    if level == "null":
        lvl_p, lvl_e = null_p, null_e
    else:
        lvl_p, lvl_e, _ = simulate(n, level, trials, 1, 0)
    cat_p, cat_e, cat_plug = simulate(n, level, trials, 0, N_CAT)
    rng = np.random.default_rng([SEED, n, 99, list(LEVELS).index(level)])
    n_shift = SHIFTED_NUM if level != "null" else 0
    batch_p = np.empty((trials, N_NUM + N_CAT))
    batch_e = np.empty_like(batch_p)
    for trial in range(trials):
        shifted = rng.choice(trials, n_shift, replace=False)
        rest = rng.choice(trials, N_NUM - n_shift, replace=False)
        batch_p[trial, :n_shift], batch_e[trial, :n_shift] = lvl_p[shifted, 0], lvl_e[shifted, 0]
        batch_p[trial, n_shift:N_NUM], batch_e[trial, n_shift:N_NUM] = null_p[rest, 0], null_e[rest, 0]
    batch_plug = batch_e.copy()
    batch_p[:, N_NUM:], batch_e[:, N_NUM:], batch_plug[:, N_NUM:] = cat_p, cat_e, cat_plug
    return batch_p, batch_e, batch_plug


def run_cell(n: int, level: str, trials: int) -> dict[str, Any]:
    start = time.process_time()
    pooled = n >= 1_000_000
    batch_p, batch_e, batch_plug = compose(n, level, trials) if pooled else simulate(n, level, trials, N_NUM, N_CAT)
    return {
        "n": n,
        "level": level,
        "trials": trials,
        "p": batch_p.tolist(),
        "e": batch_e.tolist(),
        "e_plug_in": batch_plug.tolist(),
        "pooled": pooled,
        "cpu_s": time.process_time() - start,
    }


def flags_of(
    rule: str, n: int, pvalues: NDArray[np.float64], effects: NDArray[np.float64], plug_in: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Per-column verdicts of a rule on (trials, features) statistics (``plug_in``: Evidently's effects)."""
    import numpy as np

    from include.modelcare.quality.stattests import decide_many

    alpha, num_floor, cat_floor, _ = defaults()
    m = pvalues.shape[1]
    n_num = m - N_CAT if m == N_NUM + N_CAT else m
    if rule == "today":
        if n <= 1000:  # small-sample p-value tests at alpha / 25 (KS inclusive, chi-square exclusive)
            level = alpha / (N_NUM + N_CAT)
            flags = np.empty(pvalues.shape, dtype=bool)
            flags[:, :n_num] = pvalues[:, :n_num] <= level
            flags[:, n_num:] = pvalues[:, n_num:] < level
            return flags
        return plug_in >= 0.1  # Evidently's distances (plug-in Jensen-Shannon) at their default thresholds
    floors = np.array([num_floor] * n_num + [cat_floor] * (m - n_num))
    return decide_many(pvalues, effects, floors, alpha, rule)  # type: ignore[arg-type]


def summarise(cell: dict[str, Any]) -> dict[str, dict[str, Any]]:
    import numpy as np

    n, level, trials = cell["n"], cell["level"], cell["trials"]
    pvalues, effects, plug_in = np.asarray(cell["p"]), np.asarray(cell["e"]), np.asarray(cell["e_plug_in"])
    shifted = level != "null"
    num_shift = np.arange(N_NUM) < (SHIFTED_NUM if shifted else 0)
    cat_shift = np.arange(N_CAT) < (SHIFTED_CAT if shifted else 0)
    out: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        flags = flags_of(rule, n, pvalues, effects, plug_in)
        num, cat = flags[:, :N_NUM], flags[:, N_NUM:]
        share = flags.mean(axis=1)
        verdict = (share >= DRIFT_SHARE) | flags[:, list(CRITICAL)].any(axis=1)
        row: dict[str, Any] = {
            "batch": (float(verdict.mean()), trials),
            "any_column": (float(flags.any(axis=1).mean()), trials),
            "num_null_fa": (float(num[:, ~num_shift].mean()), int(num[:, ~num_shift].size)),
            "cat_null_fa": (float(cat[:, ~cat_shift].mean()), int(cat[:, ~cat_shift].size)),
        }
        if shifted:
            row["num_det"] = (float(num[:, num_shift].mean()), int(num[:, num_shift].size))
            row["cat_det"] = (float(cat[:, cat_shift].mean()), int(cat[:, cat_shift].size))
        if cell["pooled"]:  # 1M: the numerical columns are 100 distinct draws, reused across batches
            row["num_null_fa"] = (row["num_null_fa"][0], trials)
            if shifted:
                row["num_det"] = (row["num_det"][0], trials)
        out[rule] = row
    return out


def se(rate: float, trials: int) -> float:
    return math.sqrt(max(rate * (1 - rate), 1e-12) / trials)


def fmt(value: tuple[float, int] | None) -> str:
    if value is None:
        return f"{'-':>7}"
    return f"{value[0]:>7.1%}"


def print_tables(results: dict[tuple[int, str], dict[str, dict[str, Any]]], sizes: list[int], chosen: str) -> None:
    alpha, num_floor, cat_floor, _ = defaults()
    print(
        f"\nDrift rule: p <= corrected level (alpha {alpha:g}) AND effect >= floor (Wasserstein {num_floor:g}, "
        f"Jensen-Shannon {cat_floor:g}); 25 features (20 numerical, 5 categorical x 10 levels); "
        f"batch verdict: share >= {DRIFT_SHARE:g} or num_0/cat_0 (critical) drifted"
    )
    cols = ("num_null_fa", "cat_null_fa", "batch", "num_det", "cat_det")
    heads = ("col FA num", "col FA cat", "batch", "det num", "det cat")
    for rule_pair in (("today", chosen),):
        print(f"\nMain table: today's rule vs the new rule ({chosen}); rates over trials (col FA: unshifted columns)")
        header = f"{'shift':>6} {'n':>9} {'trials':>6} | " + " | ".join(
            " ".join(f"{h:>10}" for h in heads) for _ in rule_pair
        )
        print(" " * 25 + " | ".join(f"{r:^54}" for r in rule_pair))
        print(header)
        for level in LEVELS:
            for n in sizes:
                cell = results.get((n, level))
                if cell is None:
                    continue
                trials = cell[chosen]["batch"][1]
                parts = [" ".join(f"{fmt(cell[r].get(c)):>10}" for c in cols) for r in rule_pair]
                print(f"{level:>6} {n:>9,} {trials:>6} | " + " | ".join(parts))
    print("\nCorrections compared (same statistics): batch rate | unshifted-column FA | det num | det cat")
    print(f"{'shift':>6} {'n':>9} | " + " | ".join(f"{r:^35}" for r in ("bonferroni", "holm", "bh")))
    for level in LEVELS:
        for n in sizes:
            cell = results.get((n, level))
            if cell is None:
                continue
            parts = []
            for rule in ("bonferroni", "holm", "bh"):
                row = cell[rule]
                fa_n, fa_w = row["num_null_fa"], row["cat_null_fa"]
                fa = (fa_n[0] * fa_n[1] + fa_w[0] * fa_w[1]) / (fa_n[1] + fa_w[1])
                parts.append(f"{row['batch'][0]:>7.1%} {fa:>7.2%} {fmt(row.get('num_det'))} {fmt(row.get('cat_det'))}")
            print(f"{level:>6} {n:>9,} | " + " | ".join(parts))


def check_targets(
    results: dict[tuple[int, str], dict[str, dict[str, Any]]], sizes: list[int], rule: str
) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def add(target: str, ok: bool, detail: str) -> None:
        checks.append({"target": target, "met": bool(ok), "detail": detail})

    for n in sizes:
        null = results[(n, "null")][rule]
        for key, bound in (("num_null_fa", 0.01), ("cat_null_fa", 0.01), ("batch", 0.05)):
            add(f"null {key} <= {bound:.0%} at n={n:,}", null[key][0] <= bound, f"{null[key][0]:.2%}")
    for level in ("1x", "2x"):
        for key in ("num_det", "cat_det", "batch"):
            for a, b in itertools.pairwise(sizes):
                ra, rb = results[(a, level)][rule][key], results[(b, level)][rule][key]
                margin = 2 * math.hypot(se(*ra), se(*rb))
                add(
                    f"{level} {key} non-decreasing {a:,} -> {b:,}",
                    rb[0] >= ra[0] - margin,
                    f"{ra[0]:.1%} -> {rb[0]:.1%} (2 SE {margin:.1%})",
                )
    for n in sizes:
        if n >= 5000:
            for key in ("num_det", "cat_det"):
                r = results[(n, "2x")][rule][key]
                add(f"2x {key} >= 95% at n={n:,}", r[0] >= 0.95, f"{r[0]:.1%}")
        elif n <= 1000:
            for key in ("num_det", "cat_det", "batch"):
                ours, today = results[(n, "2x")][rule][key], results[(n, "2x")]["today"][key]
                margin = 2 * math.hypot(se(*ours), se(*today))
                add(
                    f"2x {key} >= today's at n={n:,}",
                    ours[0] >= today[0] - margin,
                    f"{ours[0]:.1%} vs today {today[0]:.1%} (2 SE {margin:.1%})",
                )
    for key in ("num_det", "cat_det"):
        r = results[(sizes[-1], "0.5x")][rule][key]
        add(f"0.5x {key} -> 0 at n={sizes[-1]:,} (by design)", r[0] <= 0.01, f"{r[0]:.1%}")
    return checks


def to_json(results: dict[tuple[int, str], dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {
            "n": n,
            "level": level,
            "rules": {
                rule: {key: {"rate": rate, "count": count} for key, (rate, count) in row.items()}
                for rule, row in results[(n, level)].items()
            },
        }
        for (n, level) in sorted(results)
    ]


def from_json(cells: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, dict[str, Any]]]:
    return {
        (cell["n"], cell["level"]): {
            rule: {key: (v["rate"], v["count"]) for key, v in row.items()} for rule, row in cell["rules"].items()
        }
        for cell in cells
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100 trials per cell, no 1M cells (a smoke run)")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument("--from-json", type=Path, help="print the tables of a JSON written before (no trials)")
    parser.add_argument("--rule", choices=RULES[1:], help="the correction of the main table (default: the config's)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    alpha, num_floor, cat_floor, chosen = defaults()
    chosen = args.rule or chosen
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        results = from_json(saved["cells"])
        sizes = sorted({n for n, _ in results})
        print_tables(results, sizes, chosen)
        report_checks(check_targets(results, sizes, chosen), chosen)
        print(f"\n(from {args.from_json}: wall {saved['wall_s']:.0f} s, CPU {saved['cpu_s']:.0f} s)")
        return
    plan = [(200, 1000), (500, 1000), (1000, 1000), (5000, 1000), (50_000, 100), (1_000_000, 100)]
    if args.quick:
        plan = [(n, 100) for n, _ in plan[:5]]
    start, cpu_start = time.perf_counter(), time.process_time()
    jobs = [(n, level, trials) for n, trials in reversed(plan) for level in LEVELS]
    raw: dict[tuple[int, str], dict[str, Any]] = {}
    cpu = 0.0
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for cell in pool.map(run_cell, *zip(*jobs, strict=True)):
            raw[(cell["n"], cell["level"])] = cell
            cpu += cell["cpu_s"]
    results = {key: summarise(cell) for key, cell in raw.items()}
    sizes = [n for n, _ in plan]
    print_tables(results, sizes, chosen)
    checks = check_targets(results, sizes, chosen)
    report_checks(checks, chosen)
    wall = time.perf_counter() - start
    cpu += time.process_time() - cpu_start
    trials = sum(t for _, t in plan) * len(LEVELS)
    print(f"\n{trials:,} trials per rule; wall {wall:.0f} s, CPU {cpu:.0f} s ({args.workers} workers)")
    if args.json:
        payload = {
            "defaults": {"alpha": alpha, "num_floor": num_floor, "cat_floor": cat_floor, "correction": chosen},
            "cells": to_json(results),
            "targets": checks,
            "wall_s": wall,
            "cpu_s": cpu,
        }
        args.json.write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")


def report_checks(checks: list[dict[str, Any]], rule: str) -> None:
    print(f"\nTargets ({rule}):")
    for check in checks:
        print(f"  {'met   ' if check['met'] else 'MISSED'} {check['target']}: {check['detail']}")


if __name__ == "__main__":
    main()
