"""``python -m include.modelcare.dev.policy_eval [--seeds N] [--weeks N] [--scenarios a,b] [--json PATH]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from include.modelcare.dev.policy_eval.scenarios import BUILDERS
from include.modelcare.dev.policy_eval.suite import chosen, default_jobs, run_suite
from include.modelcare.dev.policy_eval.table import render, targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="policy-eval", description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--scenarios", default=",".join(BUILDERS), help=f"comma-separated: {', '.join(BUILDERS)}")
    parser.add_argument("--rows", type=int, default=1000, help="rows per weekly batch")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes")
    parser.add_argument("--validate-seeds", type=int, default=2, help="seeds whose every batch GX validates")
    parser.add_argument("--tuned-threshold", action="store_true", help="keep training.threshold: tuned (slow)")
    parser.add_argument("--json", type=Path, help="write the table, targets and every run here")
    parser.add_argument("--runs", action="store_true", help="include every run's week records in the JSON")
    args = parser.parse_args(argv)
    scenarios = chosen(parser, args.scenarios, list(BUILDERS), "scenario")
    result = run_suite(
        scenarios,
        seeds=args.seeds,
        weeks=args.weeks,
        rows=args.rows,
        jobs=args.jobs,
        validate_seeds=args.validate_seeds,
        tuned_threshold=args.tuned_threshold,
    )
    checked = targets(result)
    sys.stdout.write(render(result, checked) + "\n")
    if args.json:
        if not args.runs:
            for scenario in result["scenarios"].values():
                for run in scenario["runs"]:
                    run.pop("weeks")
        payload = {**result, "targets": [t.to_dict() for t in checked]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1, default=str) + "\n")
        sys.stdout.write(f"JSON: {args.json}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
