"""The policy scenario suite, reduced: stable world and abrupt shift, few seeds, 13 weeks (issue 11, point 4).

It asserts the two scenarios' targets: on a stable world the policy neither retrains nor alerts (the full run's
target is <= 0.05 retrains and <= 0.1 alerts per 26 weeks; over 3 seeds x 13 weeks any one would exceed it),
and the abrupt shift is caught within one batch of the evidence, with one opening alert per incident.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.modelcare.dev.policy_eval.__main__ import main
from include.modelcare.dev.policy_eval.replay import NEVER, POLICY
from include.modelcare.dev.policy_eval.scenarios import world
from include.modelcare.dev.policy_eval.suite import run_suite, simulation_config
from include.modelcare.dev.policy_eval.table import targets

pytestmark = pytest.mark.unit

SEEDS, WEEKS = 3, 13


@pytest.fixture(scope="module")
def result() -> dict:
    return run_suite(
        ["stable", "abrupt_shift"], seeds=SEEDS, weeks=WEEKS, jobs=1, validate_seeds=1, strategies=(POLICY,)
    )


def test_stable_world_no_retrain_no_alert(result: dict) -> None:
    policy = result["scenarios"]["stable"]["strategies"][POLICY]
    assert policy["retrains"] == 0
    assert policy["alerts"] == 0
    checked = {t.name: t for t in targets(result)}
    assert checked["stable: mean retrains <= 0.05 per 26 weeks"].met
    assert checked["stable: mean drift alerts <= 0.1 per 26 weeks"].met


def test_abrupt_shift_caught_within_one_batch(result: dict) -> None:
    spec = world("abrupt_shift", WEEKS)
    policy = result["scenarios"]["abrupt_shift"]["strategies"][POLICY]
    assert policy["changes"] == SEEDS
    assert policy["with_evidence"] == SEEDS
    assert policy["caught_within_one"] == SEEDS
    assert policy["max_open_alerts_per_incident"] == 1
    for run in result["scenarios"]["abrupt_shift"]["runs"]:
        (catch,) = run["summaries"][POLICY]["catches"]
        assert catch["evidence"] in (spec.changes[0], spec.changes[0] + 1)
        weeks = run["weeks"][POLICY]
        assert [w["alert"] for w in weeks[: spec.changes[0]]] == [None] * spec.changes[0]
        assert weeks[catch["caught"]]["alert"] == "opened"
        assert weeks[catch["caught"]]["retrained"]  # the incident's one retraining request
        assert not any(w["drifted"] for w in run["weeks"][NEVER][: spec.changes[0]])
    checked = {t.name: t for t in targets(result)}
    assert checked["each change caught within one batch of the evidence"].met
    assert checked["at most one alert per incident plus escalations"].met


def test_simulation_config_changes_only_window_and_threshold() -> None:
    config = simulation_config()
    assert config.training.window_weeks == 4
    assert config.training.holdout_weeks == 1
    assert config.training.threshold == pytest.approx(0.25)
    assert config.performance.floor == 0.70
    assert config.training.gate.floor == 0.70


def test_cli_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "policy_eval.json"
    assert (
        main(["--seeds", "1", "--weeks", "6", "--scenarios", "faulty_batches", "--jobs", "1", "--json", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "faulty_batches" in printed and "Targets:" in printed
    payload = json.loads(out.read_text())
    strategies = payload["scenarios"]["faulty_batches"]["strategies"]
    assert set(strategies) == {"policy", "never", "weekly", "at_change"}
    for row in strategies.values():
        assert {"alerts", "retrains", "mean_metric", "weeks_below_floor"} <= set(row)
    assert strategies["policy"]["retrains_on_faulty_weeks"] == 0
