"""Which version served a batch (include.modelcare.tasks.performance): alias history at the day's start."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.tasks.performance import production_at, record_served
from tests.unit.performance.conftest import config_in

pytestmark = pytest.mark.unit


class History:
    """The one registry read ``production_at`` makes."""

    def __init__(self, *moves: tuple[str, int]) -> None:
        self.moves = [{"at": at, "version": v} for at, v in moves]

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        assert name == "production"
        return self.moves


@pytest.fixture
def config(fresh_bucket: str) -> ModelConfig:
    return config_in(fresh_bucket)


MOVES = History(("2026-09-01T10:00:00+00:00", 3), ("2026-10-20T09:00:00+00:00", 5))


def test_production_at_the_start_of_the_batch_day(config: ModelConfig) -> None:
    registry: Any = MOVES
    assert production_at(config, registry, dt.date(2026, 8, 31)) is None
    assert production_at(config, registry, dt.date(2026, 9, 14)) == 3
    assert production_at(config, registry, dt.date(2026, 10, 20)) == 3  # promoted during that day
    assert production_at(config, registry, dt.date(2026, 10, 21)) == 5


def test_the_start_of_the_day_is_in_the_models_timezone(config: ModelConfig) -> None:
    berlin = config.model_copy(update={"schedules": config.schedules.model_copy(update={"timezone": "Europe/Berlin"})})
    late_evening: Any = History(("2026-10-05T23:30:00+00:00", 7))  # 01:30 on the 6th in Berlin
    assert production_at(berlin, late_evening, dt.date(2026, 10, 6)) is None
    assert production_at(config, late_evening, dt.date(2026, 10, 6)) == 7


def test_a_backfill_records_the_version_of_its_date_not_todays(config: ModelConfig, s3_store: ObjectStore) -> None:
    registry: Any = MOVES
    assert record_served(config, s3_store, registry, dt.date(2026, 9, 14), current=5) == 3
    assert s3_store.read_json(config.paths.served(dt.date(2026, 9, 14)))["version_id"] == "v0003"
    assert record_served(config, s3_store, registry, dt.date(2026, 9, 14), current=9) == 3  # written once
    # before any recorded move (the first model, older batches): the current version
    assert record_served(config, s3_store, registry, dt.date(2026, 8, 3), current=5) == 5
