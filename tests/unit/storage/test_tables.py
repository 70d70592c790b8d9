"""Reading batches: every way a batch can be unreadable is a ``DataError`` naming the file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from include.modelcare.errors import DataError
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.storage.tables import data_files, other_files, read_files, read_validated

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.unit


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _good() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"id": [1, 2, 3], "x": [0.1, 0.2, 0.3]})


def _unreadable(kind: str) -> bytes:
    return {
        "zero rows": lambda: _parquet(_good().head(0)),
        "truncated parquet": lambda: _parquet(_good())[:40],
        "random bytes": lambda: bytes(range(256)) * 8,
        "csv named parquet": lambda: _good().to_csv(sep=";", index=False).encode(),
        "empty file": lambda: b"",
    }[kind]()


@pytest.mark.parametrize("kind", ["zero rows", "truncated parquet", "random bytes", "csv named parquet", "empty file"])
def test_an_unreadable_batch_is_a_data_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "part-000.parquet"
    path.write_bytes(_unreadable(kind))
    with pytest.raises(DataError) as err:
        read_files([str(path)], "parquet", ObjectStore())
    assert "\n" not in str(err.value)
    assert "no rows" in str(err.value) or str(path) in str(err.value)


def test_read_files_records_what_it_read_and_read_validated_notices_a_change(tmp_path: Path) -> None:
    store = ObjectStore()
    path = tmp_path / "part-000.parquet"
    path.write_bytes(_parquet(_good()))
    frame, manifest = read_files([str(path)], "parquet", store)
    assert len(frame) == 3 and manifest[0]["uri"] == str(path) and manifest[0]["bytes"] == path.stat().st_size
    assert read_validated(manifest, store) == [(str(path), path.read_bytes())]
    path.write_bytes(_parquet(_good().head(2)))
    with pytest.raises(DataError, match="changed after it was validated"):
        read_validated(manifest, store)


def test_files_of_another_format_are_told_apart_from_markers(tmp_path: Path) -> None:
    store = ObjectStore()
    (tmp_path / "part-000.csv").write_text("id\n1\n")
    (tmp_path / "_modelcare").mkdir()
    (tmp_path / "_modelcare" / "validation.json").write_text("{}")
    (tmp_path / ".hidden.parquet").write_bytes(b"")
    assert data_files(store, str(tmp_path), "parquet") == []
    assert other_files(store, str(tmp_path), "parquet") == [str(tmp_path / "part-000.csv")]
