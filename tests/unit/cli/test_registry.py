"""``modelcare registry list/show`` beside an unreadable version: a warning line on stderr, the rest listed.

The registry is an in-memory store behind ``open_registry`` (the emulator-backed CLI walk-through is
in tests/unit/registry/test_store.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from include.modelcare.cli import registry as cli
from include.modelcare.config.catalog import get_model_config
from include.modelcare.registry.reader import RegistryReader
from tests.unit.registry.memory import MemoryStore, metadata, put_version

pytestmark = pytest.mark.unit


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """v0001 Approved, v0002 Rejected with a corrupt metadata.json, v0003 Pending; returns the corrupt key."""
    config = get_model_config("customer_churn")
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    metrics = {"candidate": {"roc_auc": 0.8}}
    put_version(store, reader, 1, metadata(1, dag_id="retrain", run_id="r1", metrics=metrics))
    corrupt = put_version(store, reader, 2, b'{"version": 2, "status": "Rejected", "crea')
    put_version(store, reader, 3, metadata(3, "PendingManualApproval", dag_id="retrain", run_id="r3"))
    monkeypatch.setattr(cli, "open_registry", lambda c, via: RegistryReader(c, store))  # type: ignore[arg-type]
    return {"corrupt": corrupt}


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["registry", *argv, "--model", "customer_churn"])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_warns_about_the_unreadable_version_and_lists_the_rest(
    registry: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, "list")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [
        ["v0001", "Approved"],
        ["v0003", "PendingManualApproval"],
    ]
    (warning,) = err.splitlines()
    assert warning.startswith(f"warning: {registry['corrupt']}: not valid JSON (")

    code, out, err = _cli(capsys, "list", "--json")
    assert code == 0 and [r["version"] for r in json.loads(out)] == [1, 3]  # stdout stays pure JSON
    assert err.startswith(f"warning: {registry['corrupt']}: ")


def test_show_reads_a_healthy_version_and_names_the_unreadable_one(
    registry: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, "show", "3")
    assert code == 0 and out.startswith("customer_churn v0003  PendingManualApproval") and err == ""
    code, out, err = _cli(capsys, "show", "2")
    assert code == 2 and out == ""
    assert err.startswith(f"modelcare: error: {registry['corrupt']}: not valid JSON (") and len(err.splitlines()) == 1


def test_show_lists_every_gate_metric_beside_the_champions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from include.modelcare.policy import gate

    config = get_model_config("customer_churn")
    candidate = {
        "roc_auc": 0.81,
        "accuracy": 0.5,
        "f1": 0.0,
        "log_loss": 0.4,
        "balanced_accuracy": 0.5,
        "min_class_recall": 0.0,
        "predicted_classes": 1.0,
    }
    champion = {**candidate, "roc_auc": 0.70, "f1": 0.16, "balanced_accuracy": 0.55, "min_class_recall": 0.2}
    decision = gate(config, candidate, champion, classes=2).to_dict()
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    doc = metadata(
        4,
        "Rejected",
        metrics={"candidate": candidate, "champion": champion},
        gate=decision,
        parent_version=1,
        holdout_days=["2026-03-02"],
        threshold=0.31,
        champion_threshold=None,
    )
    put_version(store, reader, 4, doc)
    monkeypatch.setattr(cli, "open_registry", lambda c, via: RegistryReader(c, store))  # type: ignore[arg-type]
    code, out, _ = _cli(capsys, "show", "4")
    assert code == 0
    assert "  gate       FAILED against champion v0001, holdout 2026-03-02" in out
    assert "  threshold  0.3100, champion 0.5 (predict)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("    ") and "  " in line}
    assert rows["roc_auc"][:4] == ["roc_auc", "*", "0.8100", "0.7000"]
    assert rows["f1"][1:3] == ["0.0000", "0.1600"] and rows["f1"][-1] == "NO"
    assert rows["balanced_accuracy"][-1] == "NO" and rows["log_loss"][-1] == "-"  # no rule on log_loss
