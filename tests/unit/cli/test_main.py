"""The modelcare CLI: exit codes, JSON shape, and one-line errors for bad input (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from include.modelcare.cli.main import main
from include.modelcare.dev.simulate import Scenario, generate_batch
from include.modelcare.storage.tables import write_table

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli")
    frames = {
        "reference": generate_batch(3000, seed=1),
        "clean": generate_batch(1500, seed=2).drop(columns=["churned"]),
        "drifted": generate_batch(1500, seed=2, scenario=Scenario.drifted()).drop(columns=["churned"]),
        "faulty": generate_batch(1500, seed=2, scenario=Scenario.faulty()).drop(columns=["churned"]),
    }
    paths = {name: str(root / f"{name}.parquet") for name in frames}
    for name, frame in frames.items():
        write_table(frame, paths[name])
    write_table(frames["clean"], str(root / "clean.csv"))
    paths["csv"] = str(root / "clean.csv")
    paths["wrong_columns"] = str(root / "wrong.parquet")
    write_table(frames["clean"].drop(columns=["region", "plan"]), paths["wrong_columns"])
    paths["empty"] = str(root / "empty.parquet")
    write_table(frames["clean"].head(0), paths["empty"])
    paths["garbage"] = str(root / "garbage.parquet")
    Path(paths["garbage"]).write_bytes(b"this is not parquet")
    return paths


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "check-config", str(SAMPLE))
    assert code == 0 and out.startswith("ok")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntask: classification\n")
    code, out, _ = _run(capsys, "check-config", str(SAMPLE), str(bad))
    assert code == 1 and "INVALID" in out and "bad.yaml: data: Field required" in out


def test_validate_exit_codes(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, out, _ = _run(capsys, "validate", "--config", str(SAMPLE), "--data", files["clean"])
    assert code == 0 and out.startswith("VALID")
    code, out, _ = _run(capsys, "validate", "--config", str(SAMPLE), "--data", files["csv"])
    assert code == 0
    code, out, _ = _run(capsys, "validate", "--config", str(SAMPLE), "--data", files["faulty"], "--json")
    result = json.loads(out)
    assert code == 1 and result["success"] is False
    failed = {c["column"] for c in result["checks"] if not c["success"]}
    assert {"customer_id", "monthly_charges"} <= failed


def test_drift_json_shape(capsys: pytest.CaptureFixture[str], files: dict[str, str], tmp_path: Path) -> None:
    args = ["drift", "--config", str(SAMPLE), "--reference", files["reference"], "--json"]
    code, out, _ = _run(capsys, *args, "--current", files["clean"])
    clean = json.loads(out)
    assert code == 0 and clean["drift_detected"] is False
    code, out, _ = _run(capsys, *args, "--current", files["drifted"], "--report", str(tmp_path), "--fail-on-drift")
    drifted = json.loads(out)
    assert code == 1 and drifted["drift_detected"] is True
    assert 0 < drifted["drift_share"] <= 1
    assert set(drifted["columns"]["monthly_charges"]) == {"score", "method", "threshold", "drifted"}
    assert drifted["columns"]["monthly_charges"]["drifted"] is True
    assert (tmp_path / "drift.html").read_bytes().lstrip()[:1] == b"<"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("garbage", "cannot read as parquet"),
        ("wrong_columns", "region"),
        ("empty", "no rows"),
    ],
)
def test_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], case: str, message: str
) -> None:
    data = files.get(case, "/nonexistent/batch.parquet")
    code, out, err = _run(
        capsys, "drift", "--config", str(SAMPLE), "--current", data, "--reference", files["reference"]
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("modelcare: error: ") and message in err


def test_unknown_model_and_bad_config(capsys: pytest.CaptureFixture[str], files: dict[str, str]) -> None:
    code, _, err = _run(capsys, "validate", "--model", "no_such_model", "--data", files["clean"])
    assert code == 2 and "no config for model 'no_such_model'" in err


def test_installed_entry_point_prints_no_traceback(files: dict[str, str]) -> None:
    exe = Path(sys.executable).with_name("modelcare")
    proc = subprocess.run(
        [str(exe), "validate", "--config", str(SAMPLE), "--data", files["garbage"]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "cannot read as parquet" in proc.stderr
