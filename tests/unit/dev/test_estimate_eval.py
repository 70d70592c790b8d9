"""The estimate benchmark, reduced: structure of the result and JSON, and one robust statistical property
(issue 12, point 2: the estimate against the realised metric). No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.modelcare.dev.policy_eval.estimate_eval import BY_NAME, METRICS, main, render, run

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def result() -> dict:
    return run(models=1, trials=8, conditions=("no_shift", "concept_1.0"), jobs=1)


def test_structure(result: dict) -> None:
    assert result["settings"]["batches_per_condition"] == 8
    assert result["settings"]["floor"] == 0.70
    assert set(result["conditions"]) == {"no_shift", "concept_1.0"}
    for row in result["conditions"].values():
        for metric in METRICS:
            stats = row[metric]
            assert stats["batches"] == 8 and stats["not_estimated"] == 0
            assert stats["mae"] >= abs(stats["bias"]) - 1e-12
    assert result["conditions"]["no_shift"]["roc_auc"]["same_side_of_floor"] is not None
    assert result["conditions"]["no_shift"]["balanced_accuracy"]["same_side_of_floor"] is None
    text = render(result)
    assert "no_shift" in text and "concept" in text and "only labels reveal" in text


def test_estimate_is_close_without_shift_and_blind_to_a_concept_change(result: dict) -> None:
    clean = result["conditions"]["no_shift"]["roc_auc"]
    assert clean["mae"] < 0.05
    concept = result["conditions"]["concept_1.0"]["roc_auc"]
    # The estimate cannot see a concept change: it stays near the clean estimate while the labels collapse.
    assert concept["mean_estimated"] == pytest.approx(clean["mean_estimated"], abs=0.03)
    assert concept["realised_below_floor"] == 1.0 and concept["estimated_below_floor"] == 0.0


def test_cli_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "estimate_eval.json"
    assert (
        main(["--models", "1", "--trials", "2", "--conditions", "subpopulation", "--jobs", "1", "--json", str(out)])
        == 0
    )
    assert "subpopulation" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert set(payload["conditions"]) == {"subpopulation"} and "note" in payload
    assert BY_NAME["subpopulation"].narrow
