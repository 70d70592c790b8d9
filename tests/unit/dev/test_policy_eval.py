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
from include.modelcare.dev.policy_eval.replay import ESTIMATE, NEVER, POLICY
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


LATE_SEEDS, LATE_WEEKS = 2, 14


@pytest.fixture(scope="module")
def late() -> dict:
    return run_suite(
        ["concept_late2", "narrow_late2"],
        seeds=LATE_SEEDS,
        weeks=LATE_WEEKS,
        jobs=1,
        validate_seeds=1,
        strategies=(POLICY,),
    )


def test_late_labels_concept_change_caught_from_the_week_its_labels_land(late: dict) -> None:
    spec = world("concept_late2", LATE_WEEKS)
    assert spec.label_delay == 2 and spec.evidence == "labels"
    scenario = late["scenarios"]["concept_late2"]
    assert scenario["label_delay"] == 2
    assert set(scenario["strategies"]) == {POLICY, ESTIMATE, NEVER}
    assert scenario["strategies"][POLICY]["caught_within_one"] == LATE_SEEDS
    for run in scenario["runs"]:
        (catch,) = run["summaries"][POLICY]["catches"]
        assert catch["evidence"] >= spec.changes[0] + spec.label_delay  # counted from the labels landing
        weeks = run["weeks"][POLICY]
        # Nothing can be decided on labels before they land: no decay verdict before week change + delay.
        assert not any(w["decayed"] for w in weeks[: spec.changes[0] + spec.label_delay])
        requests = [w for w in weeks if w["cause"]]
        assert requests and all("performance decay" in w["cause"] for w in requests)
        # The estimate cannot see a concept change: it never warns.
        (lead,) = run["summaries"][ESTIMATE]["leads"]
        assert lead["estimate_warned"] is None and lead["realised_decayed"] is not None


def test_late_labels_estimate_warns_first_and_causes_no_retrain(late: dict) -> None:
    row = late["scenarios"]["narrow_late2"]["strategies"][ESTIMATE]
    # Seeded: seed 0's estimate crosses the floor at the shift; seed 1's version, calibrated on one 1,000-row
    # holdout, over-estimates the sub-population by ~0.05 and stays above it (the full run reports the share).
    assert row["estimate_warned"] >= 1
    for run in late["scenarios"]["narrow_late2"]["runs"]:
        (lead,) = run["summaries"][ESTIMATE]["leads"]
        if lead["estimate_warned"] is not None:
            assert lead["estimate_warned"] == lead["change"]  # the week the sub-population arrives
            assert lead["lead"] is not None and lead["lead"] >= 2  # before the labels could have said anything
    for name in ("concept_late2", "narrow_late2"):
        estimate = late["scenarios"][name]["strategies"][ESTIMATE]
        assert estimate["estimate_only_retrains"] == 0 and estimate["retrain_weeks_differ"] == 0
        for run in late["scenarios"][name]["runs"]:
            for w in run["weeks"][ESTIMATE]:
                assert not w["retrained"] or w["cause"] or w["forced"]  # drift or realised decay, or the person
    checked = {t.name: t for t in targets(late)}
    assert checked["the estimate causes no retrain on its own (late-label scenarios)"].met
    assert checked["each change caught within one batch of the evidence"].met


def test_late_label_config_widens_the_training_window() -> None:
    assert simulation_config(label_delay=4).training.window_weeks == 8
