"""The suite: the policy under test (the sample model's config, adapted for the simulation), validation of the
weeks, every (scenario, seed) world in worker processes, and the per-scenario means.

Config changes for the simulation (``simulation_config``), each for a reason a real team would have:

* ``training.window_weeks`` 8 -> 4 (3 weeks train, 1 holdout): with 1,000-row weekly batches that is
  3,000 training rows (>= ``training.min_rows`` 1,000), and a short window adapts faster after a change;
* late labels (``label_delay`` weeks): ``training.window_weeks`` 4 + the delay, so that a window still holds
  4 labelled batches (the retraining DAG trains only on batches whose labels have landed; a team whose labels
  are 4 weeks late and whose window is 4 weeks could never train);
* ``training.threshold`` tuned -> a fixed ``FIXED_THRESHOLD`` (by default): tuning refits the pipeline on
  5 folds (~6x the fit) for every candidate, and the suite trains thousands; the fixed value is what tuning
  chose on clean simulated data (0.23-0.27). ``--tuned-threshold`` keeps ``tuned``.

Everything else (drift rule, performance floor, gate floor, min_improvement, guardrails, incidents budget,
cooldown) is the shipped config's.

Validation: Great Expectations costs ~0.14 s a batch here, too slow for every batch of every seed, so
``validate_frame`` runs on every week of the first ``validate_seeds`` seeds of each scenario; a week of a
later seed takes the verdict those seeds agreed on for the same week (the same simulator scenario; only the
random draw differs). If the sampled seeds disagree on a week, every seed is validated on that week.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from include.modelcare.dev.policy_eval import adapters
from include.modelcare.dev.policy_eval.replay import NEVER, PERSON, STRATEGIES, run_world
from include.modelcare.dev.policy_eval.scenarios import world

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)

CONFIG_PATH = "include/models/customer_churn.yaml"
FIXED_THRESHOLD = 0.25
ROWS = 1000
WINDOW_WEEKS = 4


def simulation_config(*, tuned_threshold: bool = False, path: str | None = None, label_delay: int = 0) -> ModelConfig:
    """The sample model's config with the simulation's changes (module docstring), validated like any config."""
    from pathlib import Path

    from include.modelcare.config.catalog import load_model_config
    from include.modelcare.config.schema import ModelConfig

    root = Path(__file__).resolve().parents[4]
    base = load_model_config(Path(path) if path else root / CONFIG_PATH)
    raw = base.model_dump(mode="python")
    raw["training"]["window_weeks"] = WINDOW_WEEKS + label_delay
    raw["training"]["holdout_weeks"] = 1
    if not tuned_threshold:
        raw["training"]["threshold"] = FIXED_THRESHOLD
    return ModelConfig.model_validate(raw)


def changed_settings(config: ModelConfig) -> dict[str, Any]:
    """The settings the table prints beside the results (what was changed, and the decision settings)."""
    return {
        "training.window_weeks": config.training.window_weeks,
        "training.holdout_weeks": config.training.holdout_weeks,
        "training.threshold": config.training.threshold,
        "performance.floor": config.performance.floor,
        "training.gate.floor": config.training.gate.floor,
        "training.gate.min_improvement": config.training.gate.min_improvement,
        "drift.retrain_cooldown_days": config.drift.retrain_cooldown_days,
        "incidents.max_retrains_per_30_days": config.incidents.max_retrains_per_30_days,
    }


def validity(
    name: str, weeks: int, seeds: Sequence[int], config: ModelConfig, *, rows: int, sample: int
) -> tuple[dict[int, dict[int, bool]], int]:
    """Validation verdict per seed and week (GX on the sampled seeds; see the module docstring), and how many
    batches GX validated."""
    spec = world(name, weeks)
    sampled = list(seeds[:sample]) or list(seeds[:1])
    verdicts: dict[int, dict[int, bool]] = {s: {} for s in seeds}
    runs = len(sampled) * weeks
    for seed in sampled:
        for w in range(weeks):
            verdicts[seed][w] = adapters.validate(spec.batch(w, seed, rows), config)
    for w in range(weeks):
        seen = {verdicts[s][w] for s in sampled}
        for seed in seeds:
            if seed in sampled:
                continue
            agreed = next(iter(seen)) if len(seen) == 1 else None
            if agreed is None:
                runs += 1
                agreed = adapters.validate(spec.batch(w, seed, rows), config)
            verdicts[seed][w] = agreed
    return verdicts, runs


Job = tuple[str, int, int, int, bool, dict[int, bool], tuple[str, ...]]


def _job(args: Job) -> tuple[str, dict[str, Any]]:
    name, seed, weeks, rows, tuned, valid, strategies = args
    logging.disable(logging.WARNING)
    _quiet()
    spec = world(name, weeks)
    config = simulation_config(tuned_threshold=tuned, label_delay=spec.label_delay)
    return name, run_world(spec, seed, config, rows, validity=valid, strategies=strategies)


def _quiet() -> None:
    import warnings

    warnings.filterwarnings("ignore")


def run_suite(
    scenarios: Sequence[str],
    *,
    seeds: int,
    weeks: int,
    rows: int = ROWS,
    jobs: int = 1,
    validate_seeds: int = 2,
    tuned_threshold: bool = False,
    strategies: tuple[str, ...] = STRATEGIES,
) -> dict[str, Any]:
    """Every scenario over ``seeds`` seeds: per scenario and strategy the mean of each count, and every run."""
    _quiet()
    started = time.perf_counter()
    config = simulation_config(tuned_threshold=tuned_threshold)
    seed_list = list(range(seeds))
    strategies = tuple(dict.fromkeys((*strategies, NEVER)))
    tasks: list[Job] = []
    gx_runs = 0
    for name in scenarios:
        verdicts, count = validity(name, weeks, seed_list, config, rows=rows, sample=validate_seeds)
        gx_runs += count
        tasks.extend((name, s, weeks, rows, tuned_threshold, verdicts[s], strategies) for s in seed_list)
    validated = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_job, tasks, chunksize=1))
    else:
        results = [_job(t) for t in tasks]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scenarios}
    for name, result in results:
        runs[name].append(result)
    return {
        "settings": {
            "seeds": seeds,
            "weeks": weeks,
            "rows_per_batch": rows,
            "validated_with_gx": f"validate_frame (GX) on every week of the first {min(validate_seeds, seeds)} seed(s) "
            f"per scenario, {gx_runs} batches in all; other seeds take the verdict those seeds agreed on for the "
            "same week (all agreed)"
            if gx_runs == len(scenarios) * min(validate_seeds, seeds) * weeks
            else f"validate_frame (GX) on {gx_runs} batches (sampled seeds disagreed on some weeks: all seeds "
            "validated there)",
            "config": changed_settings(config),
            "person": PERSON,
        },
        "scenarios": {
            name: {
                "description": world(name, weeks).description,
                "label_delay": world(name, weeks).label_delay,
                "strategies": {s: means([r["summaries"][s] for r in runs[name]]) for s in runs[name][0]["summaries"]},
                "runs": runs[name],
            }
            for name in scenarios
        },
        "seconds": {"validation": validated - started, "total": time.perf_counter() - started},
        "jobs": jobs,
    }


def means(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every numeric count over seeds; catches pooled (caught within one batch, delays)."""
    out: dict[str, Any] = {}
    for key, value in summaries[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = sum(s[key] for s in summaries) / len(summaries)
    out["max_open_alerts_per_incident"] = max(s["max_open_alerts_per_incident"] for s in summaries)
    out["retrains_on_faulty_weeks"] = sum(s["retrains_on_faulty_weeks"] for s in summaries)
    pooled = [c for s in summaries for c in s.get("catches", [])]
    if pooled:
        delays = [c["delay"] for c in pooled if c["delay"] is not None]
        out["changes"] = len(pooled)
        out["with_evidence"] = sum(1 for c in pooled if c["evidence"] is not None)
        out["caught_within_one"] = sum(1 for c in pooled if c["delay"] is not None and c["delay"] <= 1)
        out["max_delay"] = max(delays) if delays else None
    leads = [c for s in summaries for c in s.get("leads", [])]
    if leads:
        both = [c["lead"] for c in leads if c["lead"] is not None]
        out["estimate_warned"] = sum(1 for c in leads if c["estimate_warned"] is not None)
        out["realised_decayed"] = sum(1 for c in leads if c["realised_decayed"] is not None)
        out["estimate_lead_weeks"] = sum(both) / len(both) if both else None
        out["estimate_lead_runs"] = len(both)
        out["estimate_only_retrains"] = sum(s["estimate_only_retrains"] for s in summaries)
        out["retrain_weeks_differ"] = sum(1 for s in summaries if s["retrain_weeks_differ"])
    return out


def chosen(parser: Any, text: str, known: Sequence[str], what: str) -> list[str]:
    """The comma-separated choices of a command-line option, or ``parser.error`` naming the unknown ones;
    then quiet logging (the commands print their own table). Shared by both benchmarks' ``main``."""
    picked = [c.strip() for c in text.split(",") if c.strip()]
    unknown = sorted(set(picked) - set(known))
    if unknown:
        parser.error(f"unknown {what}(s) {', '.join(unknown)} (known: {', '.join(known)})")
    logging.basicConfig(level=logging.ERROR)
    logging.disable(logging.WARNING)
    return picked


def default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))
