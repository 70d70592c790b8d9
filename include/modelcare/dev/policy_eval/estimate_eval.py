"""The estimate benchmark (``make policy-eval``): the label-free estimate against the realised metric.

``python -m include.modelcare.dev.policy_eval.estimate_eval [--models N] [--trials N] [--json PATH]``

Question: how close is confidence-based performance estimation (``performance.estimate``, CBPE) to the
metric the labels later show, with and without shift, and does it land on the right side of the floor?
Method, with the library's own functions throughout: a model is trained on clean simulated weeks exactly as
the policy suite's first production model (``replay.World``, the sample config with the suite's changes),
calibrated on its holdout (``ml.calibration.fit_calibrator``), and served as ``c(score) >= c(threshold)``.
On each fresh seeded batch (1,000 rows) of a condition the estimate (``estimate_metric`` on the calibrated
probabilities and the served decisions) is compared with the realised metric of the same served predictor
on the batch's labels (``ml.evaluation.evaluate`` with the calibrator, as the realised series scores it).
Conditions share the customers of a trial (``dev.simulate``: same seed, same customers), so they differ only
by the change. Several models (training seeds), so that the calibration's own noise (one 1,000-row holdout)
is part of the error, as it is in production.

What it should show, honestly: under covariate shift (P(churn | x) unchanged) the estimate follows the
realised metric; under a concept change the probabilities do not move, so the estimate does not either and
misses the change entirely: only labels reveal it (the policy suite's ``concept_late*`` scenarios).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.modelcare.dev.policy_eval import adapters
from include.modelcare.dev.policy_eval.replay import INITIAL, World
from include.modelcare.dev.policy_eval.scenarios import CLEAN, CONCEPT, SHIFT, narrow_batch, world
from include.modelcare.dev.policy_eval.suite import chosen, default_jobs, simulation_config
from include.modelcare.dev.simulate import Scenario, generate_batch

if TYPE_CHECKING:
    import pandas as pd

ROWS = 1000
MODELS, TRIALS = 8, 40
"""Full run: 8 models x 40 batches = 320 batches per condition."""
METRICS = ("roc_auc", "balanced_accuracy")
"""The monitored metric and one threshold metric (the served decisions)."""


@dataclass(frozen=True)
class Condition:
    """One kind of batch: a simulator scenario, or the ``NARROW`` sub-population (a selection on features)."""

    name: str
    description: str
    scenario: Scenario
    narrow: bool = False

    def batch(self, rows: int, seed: int) -> pd.DataFrame:
        if self.narrow:
            return narrow_batch(rows, seed, self.scenario)
        return generate_batch(rows, seed, self.scenario)


CONDITIONS: tuple[Condition, ...] = (
    Condition("no_shift", "clean batches (the training distribution)", CLEAN),
    Condition(
        "covariate_0.5", "charges/usage +0.5 sd, contract/payment mix 25%", Scenario(0.5, categorical_shift=0.25)
    ),
    Condition("covariate_1.0", "charges/usage +1 sd, contract/payment mix 50% (the suite's abrupt shift)", SHIFT),
    Condition("covariate_2.0", "charges/usage +2 sd, contract/payment mix 100%", Scenario(2.0, categorical_shift=1.0)),
    Condition("subpopulation", "month-to-month customers under 2 years' tenure only", CLEAN, narrow=True),
    Condition(
        "concept_0.5", "label relation half-way to the changed one; features unchanged", Scenario(concept_drift=0.5)
    ),
    Condition("concept_1.0", "the changed label relation (the suite's concept change)", CONCEPT),
)
BY_NAME = {c.name: c for c in CONDITIONS}


def _model_job(args: tuple[int, int, int, tuple[str, ...]]) -> dict[str, dict[str, list[float]]]:
    """One model (training seed): the realised and estimated metrics of every trial of every condition."""
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    model_seed, trials, rows, names = args
    config = simulation_config()
    version = World(world("stable", 1), model_seed, config, rows).version(INITIAL)
    if version is None or version.calibrator is None:
        raise RuntimeError(f"model seed {model_seed}: no calibrated model")
    out: dict[str, dict[str, list[float]]] = {}
    for name in names:
        condition = BY_NAME[name]
        series: dict[str, list[float]] = {f"{k}_{m}": [] for k in ("realised", "estimated") for m in METRICS}
        for trial in range(trials):
            frame = condition.batch(rows, 900_000_000 + model_seed * 100_000 + trial)
            realised = adapters.measure(version.model, frame, config, version.threshold, version.calibrator)
            for metric in METRICS:
                found = adapters.estimate(
                    version.model, version.calibrator, version.threshold, frame, config, metric=metric
                )
                series[f"estimated_{metric}"].append(float("nan") if found.value is None else found.value)
                series[f"realised_{metric}"].append(realised[metric])
        out[name] = series
    return out


def _stats(realised: Sequence[float], estimated: Sequence[float], floor: float | None) -> dict[str, Any]:
    import numpy as np

    r, e = np.asarray(realised, dtype="float64"), np.asarray(estimated, dtype="float64")
    ok = ~np.isnan(e)
    r, e = r[ok], e[ok]
    error = e - r
    out: dict[str, Any] = {
        "batches": len(r),
        "not_estimated": int((~ok).sum()),
        "mean_realised": float(r.mean()),
        "mean_estimated": float(e.mean()),
        "mae": float(np.abs(error).mean()),
        "bias": float(error.mean()),
        "p90_abs_error": float(np.quantile(np.abs(error), 0.9)),
        "same_side_of_floor": None,
        "realised_below_floor": None,
        "estimated_below_floor": None,
    }
    if floor is not None:
        out["same_side_of_floor"] = float(np.mean((e < floor) == (r < floor)))
        out["realised_below_floor"] = float(np.mean(r < floor))
        out["estimated_below_floor"] = float(np.mean(e < floor))
    return out


def run(
    *,
    models: int = MODELS,
    trials: int = TRIALS,
    rows: int = ROWS,
    conditions: Sequence[str] = tuple(BY_NAME),
    jobs: int = 1,
) -> dict[str, Any]:
    """Every condition over ``models`` x ``trials`` batches: per metric MAE, bias, same side of the floor."""
    started = time.perf_counter()
    unknown = sorted(set(conditions) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown condition(s) {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    config = simulation_config()
    floor = config.performance.floor
    tasks = [(m, trials, rows, tuple(conditions)) for m in range(models)]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            parts = list(pool.map(_model_job, tasks, chunksize=1))
    else:
        parts = [_model_job(t) for t in tasks]
    result: dict[str, Any] = {
        "settings": {
            "models": models,
            "trials_per_model": trials,
            "batches_per_condition": models * trials,
            "rows_per_batch": rows,
            "monitored_metric": adapters.performance_metric(config),
            "floor": floor,
            "threshold": config.training.threshold,
            "training": f"the policy suite's first model: {config.training.window_weeks} clean weeks "
            f"({config.training.window_weeks - config.training.holdout_weeks} train + "
            f"{config.training.holdout_weeks} holdout, {rows:,} rows each), calibrated on the holdout",
        },
        "conditions": {},
    }
    for name in conditions:
        merged = {k: [v for part in parts for v in part[name][k]] for k in parts[0][name]}
        result["conditions"][name] = {
            "description": BY_NAME[name].description,
            **{
                metric: _stats(
                    merged[f"realised_{metric}"],
                    merged[f"estimated_{metric}"],
                    floor if metric == adapters.performance_metric(config) else None,
                )
                for metric in METRICS
            },
        }
    result["seconds"] = time.perf_counter() - started
    result["jobs"] = jobs
    return result


NOTE = (
    "The estimate is CBPE on the calibrated probabilities of the served model; 'realised' is the same served "
    "predictor scored on the batch's labels. Under covariate shift and the sub-population (P(churn | x) "
    "unchanged) it follows the realised metric. Under a concept change it does NOT: the features and so the "
    "probabilities do not move, the estimate stays where it was while the realised roc_auc falls far below "
    "the floor -- only labels reveal a concept change (the policy suite's concept_late* scenarios), which is "
    "why an estimate may warn but never requests a retrain. balanced_accuracy has no floor in the config."
)


def render(result: dict[str, Any]) -> str:
    """The table: per condition, roc_auc (realised, estimated, MAE, bias, same side of the floor) and the
    threshold metric (realised, estimated, MAE, bias)."""
    s = result["settings"]
    floor = s["floor"]
    lines = [
        f"Estimate benchmark: CBPE vs realised, {s['batches_per_condition']} batches per condition "
        f"({s['models']} models x {s['trials_per_model']}), {s['rows_per_batch']:,} rows a batch; {s['training']}",
        "",
        f"{'condition':<15} {'auc real':>8} {'auc est':>8} {'MAE':>6} {'bias':>7} {'side ' + str(floor):>9} "
        f"{'real<fl':>7} {'bacc real':>9} {'bacc est':>8} {'MAE':>6} {'bias':>7}",
    ]
    for name, row in result["conditions"].items():
        auc, ba = row["roc_auc"], row["balanced_accuracy"]
        lines.append(
            f"{name:<15} {auc['mean_realised']:>8.3f} {auc['mean_estimated']:>8.3f} {auc['mae']:>6.3f} "
            f"{auc['bias']:>+7.3f} {auc['same_side_of_floor']:>9.0%} {auc['realised_below_floor']:>7.0%} "
            f"{ba['mean_realised']:>9.3f} {ba['mean_estimated']:>8.3f} {ba['mae']:>6.3f} {ba['bias']:>+7.3f}"
        )
    lines += [
        "",
        f"side {floor}: share of batches where the estimate is on the same side of performance.floor as the realised "
        "roc_auc; real<fl: share realised below it. bias = estimated - realised.",
        NOTE,
        "",
        f"Wall time {result['seconds']:.0f} s, {result['jobs']} process(es).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="estimate-eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=MODELS, help="models (training seeds)")
    parser.add_argument("--trials", type=int, default=TRIALS, help="batches per model and condition")
    parser.add_argument("--rows", type=int, default=ROWS, help="rows per batch")
    parser.add_argument("--conditions", default=",".join(BY_NAME), help=f"comma-separated: {', '.join(BY_NAME)}")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes")
    parser.add_argument("--json", type=Path, help="write the table's figures here")
    args = parser.parse_args(argv)
    conditions = chosen(parser, args.conditions, list(BY_NAME), "condition")
    result = run(models=args.models, trials=args.trials, rows=args.rows, conditions=conditions, jobs=args.jobs)
    sys.stdout.write(render(result) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "note": NOTE}, indent=1) + "\n")
        sys.stdout.write(f"JSON: {args.json}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
