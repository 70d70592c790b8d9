"""Training figures: fit time, skops size and dump/load time per estimator on simulated churn data.

Run: make bench (or .venv/bin/python benchmarks/bench_training.py). Medians of 3 fits.
"""

from __future__ import annotations

import statistics
import time

from include.modelcare.config.catalog import get_model_config
from include.modelcare.dev.simulate import generate_batch
from include.modelcare.ml.evaluation import evaluate
from include.modelcare.ml.serialization import dump_model, load_model
from include.modelcare.ml.training import fit, validate_params

ESTIMATORS = {
    "LogisticRegression": {"C": 1.0, "max_iter": 1000},
    "HistGradientBoostingClassifier": {"early_stopping": False, "max_iter": 100},
}


def main() -> None:
    base = get_model_config("customer_churn")
    holdout = generate_batch(10_000, seed=999)
    print(f"{'estimator':<32} {'rows':>7} {'fit s':>7} {'dump ms':>8} {'load ms':>8} {'KiB':>7} {'roc_auc':>8}")
    for name, params in ESTIMATORS.items():
        training = base.training.model_copy(update={"estimator": name, "params": params})
        config = base.model_copy(update={"training": training})
        checked = validate_params(config, {})
        for rows in (10_000, 50_000):
            train = generate_batch(rows, seed=1)
            fits = []
            for _ in range(3):
                model, seconds = fit(config, checked, train)
                fits.append(seconds)
            t0 = time.perf_counter()
            blob = dump_model(model)
            t1 = time.perf_counter()
            load_model(blob)
            t2 = time.perf_counter()
            auc = evaluate(model, holdout, config)["roc_auc"]
            print(
                f"{name:<32} {rows:>7,} {statistics.median(fits):>7.2f} {(t1 - t0) * 1e3:>8.1f} "
                f"{(t2 - t1) * 1e3:>8.1f} {len(blob) / 1024:>7.0f} {auc:>8.3f}"
            )


if __name__ == "__main__":
    main()
