"""RegistryReader's tolerant read (``scan``) beside its strict one (``versions``), on an in-memory store.

One unreadable ``metadata.json`` (not JSON, not an object, missing fields) must not hide the other
versions from the views that only show them; code that decides from the whole registry keeps the
strict read and its one-line error naming the key.
"""

from __future__ import annotations

import pytest

from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataError
from include.modelcare.registry.reader import Problem, RegistryReader
from tests.unit.registry.memory import MemoryStore, metadata, put_version

pytestmark = pytest.mark.unit


@pytest.fixture
def config() -> ModelConfig:
    return get_model_config("customer_churn")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def reader(config: ModelConfig, store: MemoryStore) -> RegistryReader:
    return RegistryReader(config, store)  # type: ignore[arg-type]


def test_scan_skips_each_unreadable_metadata_with_its_key_and_reason(
    store: MemoryStore, reader: RegistryReader
) -> None:
    put_version(store, reader, 1, metadata(1))
    corrupt = put_version(store, reader, 2, b'{"version": 2, "status": "Rej')
    listed = put_version(store, reader, 3, [1, 2, 3])
    missing = put_version(store, reader, 4, {"version": 4, "status": "Rejected"})
    bad_number = put_version(store, reader, 5, metadata(5) | {"version": "five"})
    not_utf8 = put_version(store, reader, 6, b"\xff\xfe\x00garbage")
    put_version(store, reader, 7, metadata(7, "PendingManualApproval"))
    store.put(reader.object_uri(8, "_claim.json"), {"run_key": "in flight"})  # claimed, not committed

    records, problems = reader.scan()

    assert [r.version for r in records] == [1, 7]
    assert [p.key for p in problems] == [corrupt, listed, missing, bad_number, not_utf8]
    reasons = dict(problems)
    assert reasons[corrupt].startswith("not valid JSON (")
    assert reasons[listed] == "expected a JSON object, got list"
    assert reasons[missing] == "not a registry metadata document (bad or missing field 'version_id')"
    assert reasons[bad_number].startswith("not a registry metadata document (bad or missing field invalid literal")
    assert reasons[not_utf8].startswith("not valid JSON (")
    assert all(isinstance(p, Problem) and not p.reason.startswith("s3://") for p in problems)


def test_versions_stays_strict_and_names_the_key(store: MemoryStore, reader: RegistryReader) -> None:
    put_version(store, reader, 1, metadata(1))
    corrupt = put_version(store, reader, 2, b"not json")
    with pytest.raises(DataError) as raised:
        reader.versions()
    assert str(raised.value).startswith(f"{corrupt}: not valid JSON (")
    # A single version is still readable by number beside its corrupt sibling; the corrupt one is an error.
    assert reader.get(1).version == 1
    with pytest.raises(DataError, match="not valid JSON"):
        reader.get(2)


def test_scan_of_a_healthy_or_empty_registry(store: MemoryStore, reader: RegistryReader) -> None:
    assert reader.scan() == ([], [])
    for number in (1, 2, 3):
        put_version(store, reader, number, metadata(number))
    records, problems = reader.scan()
    assert problems == [] and records == reader.versions()
