"""Reading batches: every way a batch can be unreadable is a ``DataError`` naming the file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from include.modelcare.errors import DataError
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.storage.tables import Format, data_files, other_files, read_files, read_table, read_validated

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


# -- optional reading choices: only some columns, text as categories ----------------------------------
def _mixed() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "plan": ["basic", None, "premium", "basic"],
            "code": [10, 20, 10, 30],  # listed as a category below, but numbers stay numbers
            "note": ["a", "b", "c", "d"],
        }
    )


def test_by_default_text_reads_as_object_and_every_column_is_read(tmp_path: Path) -> None:
    path = tmp_path / "part-000.parquet"
    path.write_bytes(_parquet(_mixed()))
    frame, _ = read_files([str(path)], "parquet", ObjectStore())
    assert list(frame.columns) == ["id", "plan", "code", "note"]
    assert str(frame["plan"].dtype) == "object"


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_text_as_categories_and_only_given_columns(tmp_path: Path, fmt: Format) -> None:
    import pandas as pd

    path = tmp_path / f"part-000.{fmt}"
    path.write_bytes(_parquet(_mixed()) if fmt == "parquet" else _mixed().to_csv(index=False).encode())
    frame, manifest = read_files(
        [str(path)], fmt, ObjectStore(), columns=["id", "plan", "code", "absent"], categories=["plan", "code"]
    )
    assert list(frame.columns) == ["id", "plan", "code"]  # "absent" is left out for validation to report
    assert isinstance(frame["plan"].dtype, pd.CategoricalDtype)
    assert frame["plan"].tolist()[0] == "basic" and pd.isna(frame["plan"].tolist()[1])
    assert str(frame["code"].dtype) == "int64"
    assert manifest[0]["uri"] == str(path)

    with pytest.raises(DataError, match="none of the columns absent"):
        read_table(str(path), fmt, ObjectStore(), columns=["absent"])


def test_categories_stay_categories_across_files(tmp_path: Path) -> None:
    import pandas as pd

    first, second = _mixed(), _mixed()
    second["plan"] = ["gold", "gold", None, "basic"]
    for i, part in enumerate((first, second)):
        (tmp_path / f"part-{i:03d}.parquet").write_bytes(_parquet(part))
    files = [str(tmp_path / "part-000.parquet"), str(tmp_path / "part-001.parquet")]
    plain, _ = read_files(files, "parquet", ObjectStore())
    frame, _ = read_files(files, "parquet", ObjectStore(), categories=["plan"])
    assert isinstance(frame["plan"].dtype, pd.CategoricalDtype)
    assert set(frame["plan"].cat.categories) == {"basic", "premium", "gold"}
    assert frame["plan"].astype(object).where(frame["plan"].notna(), None).tolist() == plain["plan"].tolist()
    assert read_table(str(tmp_path), "parquet", ObjectStore(), categories=["plan"])["plan"].dtype == frame["plan"].dtype


@pytest.mark.parametrize("index", [None, "range from 100", "labels"])
def test_reading_with_choices_keeps_every_other_column_and_the_index_as_they_were(tmp_path: Path, index: str) -> None:
    import pandas as pd

    frame = _mixed().assign(
        ratio=[0.5, None, 1.0, 2.0], count=pd.array([1, None, 3, 4], dtype="Int64"), kind=pd.Categorical(list("ppqp"))
    )
    if index == "range from 100":
        frame.index = pd.RangeIndex(100, 104)
    elif index == "labels":
        frame.index = pd.Index(list("wxyz"))
    path = tmp_path / "part-000.parquet"
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=None if index else False)
    path.write_bytes(buffer.getvalue())
    plain = read_table(str(path), "parquet", ObjectStore())
    chosen = read_table(str(path), "parquet", ObjectStore(), categories=["plan"])
    assert chosen.index.equals(plain.index) and list(chosen.columns) == list(plain.columns)
    assert chosen.drop(columns="plan").equals(plain.drop(columns="plan"))
    assert chosen["plan"].astype(object).where(chosen["plan"].notna(), None).tolist() == plain["plan"].tolist()


def test_plain_text_gives_back_what_a_plain_read_gives_for_a_model() -> None:
    """A missing text value read as a category is NaN; plainly (training, serving) it is None."""
    import pandas as pd

    from include.modelcare.storage.tables import parse_bytes, plain_text, to_bytes

    raw = to_bytes(pd.DataFrame({"a": ["x", "y", None, "x"], "n": [1.0, 2.0, 3.0, 4.0]}), "parquet")
    plain = parse_bytes(raw, "parquet", "mem.parquet")
    as_categories = parse_bytes(raw, "parquet", "mem.parquet", categories=["a"])
    assert isinstance(as_categories["a"].dtype, pd.CategoricalDtype)
    back = plain_text(as_categories, ["a", "n"])
    assert back["a"].tolist() == plain["a"].tolist() == ["x", "y", None, "x"]
    assert back["a"].dtype == object and isinstance(as_categories["a"].dtype, pd.CategoricalDtype)  # not in place
