"""``modelcare performance <model>``: the series table (realised, version, rows, join rate, estimated, floor
flag), the corrections, why there is no estimate, the rolling-window verdict; ``--json``; one-line errors.

S3 is an in-memory store holding records in the issue-12 format (``tests.unit.ui.records``)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from include.modelcare.cli import performance as cli
from include.modelcare.cli.main import main
from include.modelcare.config.catalog import get_model_config
from include.modelcare.registry.reader import RegistryReader
from tests.unit.registry.memory import MemoryStore, metadata, put_version
from tests.unit.ui.records import CALIBRATION, estimated, put_records, realised

pytestmark = pytest.mark.unit

W1, W2, W3, W4 = (dt.date(2026, 3, 2) + dt.timedelta(weeks=i) for i in range(4))


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    """v1 (before calibration) served W1; v2 (calibrated, production) W2..W4; W3 corrected; W4 not labelled."""
    config = get_model_config("customer_churn")
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    put_version(store, reader, 1, metadata(1))
    put_version(store, reader, 2, metadata(2, calibration=CALIBRATION))
    alias = {"alias": "production", "version": 2, "updated_at": "2026-03-08", "updated_by": "t", "history": []}
    store.put(reader.alias_uri("production"), alias)
    corrected = realised(W3, 0.66, 2, revision=2, previous=[{"revision": 1, "value": 0.71}])
    put_records(
        store,
        config,
        [realised(W1, 0.78, 1), realised(W2, 0.76, 2, rows=2000), corrected],
        [estimated(W2, 0.75, 2), estimated(W3, 0.73, 2), estimated(W4, 0.64, 2)],
    )
    monkeypatch.setattr(cli, "_store", lambda: store)
    monkeypatch.setattr(cli, "open_registry", lambda c, s, via: RegistryReader(c, s))
    return store


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["performance", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_shows_both_series_the_floor_and_the_window(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "customer_churn")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("customer_churn: roc_auc per batch, realised on labels and est. (estimated, CBPE)")
    assert lines[1].split() == ["DAY", "REALISED", "VERSION", "ROWS", "JOIN", "ESTIMATED", "FLOOR"]
    rows = {line.split()[0]: line.split() for line in lines[2:6]}
    assert rows[W4.isoformat()] == [W4.isoformat(), "-", "-", "-", "-", "0.6400", "est.", "below", "(est.)"]
    w3 = [W3.isoformat(), "0.6600*", "v0002", "1,000", "98%", "0.7300", "est.", "BELOW", "(realised)"]
    assert rows[W3.isoformat()] == w3
    assert rows[W2.isoformat()][1:5] == ["0.7600", "v0002", "2,000", "99%"] and rows[W2.isoformat()][-1] == "ok"
    assert rows[W1.isoformat()][1:3] == ["0.7800", "v0001"] and rows[W1.isoformat()][5] == "-"
    assert f"* {W3.isoformat()}: corrected labels, revision 2 (was 0.7100)" in lines
    assert "note: no estimate for v0001 (registered before calibration; the next registration adds one)" in lines
    # rows-weighted: (0.76 * 2000 + 0.66 * 1000) / 3000 = 0.7267, within the floor of 0.70
    assert lines[-1] == (
        "window (4 weeks, production v0002): ok: production v2 roc_auc 0.7267 reaches floor 0.7 over "
        "4 weeks 2026-02-17..2026-03-16 (2 labelled batches, 3,000 rows)"
    )


def test_json_and_weeks(store: MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "customer_churn", "--json", "--weeks", "2")
    assert code == 0
    doc = json.loads(out)
    assert doc["model"] == "customer_churn" and doc["weeks"] == 2 and doc["production"] == "v0002"
    assert [r["day"] for r in doc["rows"]] == [W4.isoformat(), W3.isoformat()]
    assert doc["rows"][0]["estimated"]["value"] == 0.64 and doc["rows"][0]["estimated"]["method"] == "cbpe"
    assert doc["window"]["status"] == "measured" and doc["window"]["decayed"] is False and doc["floor"] == 0.7


def test_a_model_without_records(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    empty = MemoryStore()
    monkeypatch.setattr(cli, "_store", lambda: empty)
    monkeypatch.setattr(cli, "open_registry", lambda c, s, via: RegistryReader(c, s))
    code, out, _ = _run(capsys, "customer_churn")
    assert code == 0
    assert out.splitlines()[1:] == [
        "  no batch scored or estimated yet",
        "window (4 weeks, production -): -: no batch scored or estimated yet",
    ]


def test_unknown_model_and_bad_weeks_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "no_such_model")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("modelcare: error: ") and "no config for model 'no_such_model'" in err
    code, out, err = _run(capsys)
    assert code == 2 and err.strip() == (
        "modelcare: error: performance: name a model (modelcare performance customer_churn) or give --config"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["performance", "customer_churn", "--weeks", "0"])
    assert exit_.value.code == 2 and "'0' is not a positive number of weeks" in capsys.readouterr().err
