"""Finding late labels (include.modelcare.performance.labels): listing, fingerprints, the join report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import DataError
from include.modelcare.performance.labels import join_labels, label_drops, read_labels
from include.modelcare.storage.objects import ObjectStore
from include.modelcare.storage.tables import write_table
from tests.unit.performance.conftest import config_in

pytestmark = pytest.mark.unit

TODAY = dt.date(2026, 10, 26)


def _labels(ids: list[int], value: int = 1) -> Any:
    import pandas as pd

    return pd.DataFrame({"customer_id": ids, "churned": [value] * len(ids)})


def test_drops_inside_the_lookback_of_the_models_format_only(config: ModelConfig, s3_store: ObjectStore) -> None:
    paths = config.paths
    for weeks in (0, 3, 12, 13):
        day = TODAY - dt.timedelta(weeks=weeks)
        write_table(_labels([1, 2]), paths.labels(day) + "part-000.parquet", "parquet", s3_store)
    s3_store.write_bytes(paths.labels(TODAY) + "_SUCCESS", b"")
    s3_store.write_bytes(paths.labels(TODAY) + "notes.csv", b"a,b\n")
    s3_store.write_bytes(paths.labels(TODAY + dt.timedelta(days=7)) + "part-000.parquet", b"future")
    drops = label_drops(config, s3_store, TODAY)
    assert [d.day for d in drops] == [TODAY - dt.timedelta(weeks=w) for w in (12, 3, 0)]
    assert [f.uri.rsplit("/", 1)[-1] for f in drops[-1].files] == ["part-000.parquet"]


def test_fingerprint_changes_when_a_file_is_rewritten_or_added(config: ModelConfig, s3_store: ObjectStore) -> None:
    uri = config.paths.labels(TODAY) + "part-000.parquet"
    write_table(_labels([1, 2]), uri, "parquet", s3_store)
    first = label_drops(config, s3_store, TODAY)[0]
    assert label_drops(config, s3_store, TODAY)[0].fingerprint == first.fingerprint
    write_table(_labels([1, 2], value=0), uri, "parquet", s3_store)
    corrected = label_drops(config, s3_store, TODAY)[0]
    assert corrected.fingerprint != first.fingerprint
    write_table(_labels([3]), config.paths.labels(TODAY) + "part-001.parquet", "parquet", s3_store)
    more = label_drops(config, s3_store, TODAY)[0]
    assert more.fingerprint not in (first.fingerprint, corrected.fingerprint)
    assert len(read_labels(more, config, s3_store)) == 3


def test_a_configured_layout_is_listed(fresh_bucket: str, s3_store: ObjectStore) -> None:
    config = config_in(fresh_bucket, labels_uri=f"s3://{fresh_bucket}/crm/churned/day={{date}}/export/")
    write_table(_labels([1]), f"s3://{fresh_bucket}/crm/churned/day=2026-10-19/export/a.parquet", "parquet", s3_store)
    write_table(_labels([1]), f"s3://{fresh_bucket}/crm/churned/day=2026-10-19/other/b.parquet", "parquet", s3_store)
    drops = label_drops(config, s3_store, TODAY)
    assert [(d.day, len(d.files)) for d in drops] == [(dt.date(2026, 10, 19), 1)]
    assert drops[0].uri == f"s3://{fresh_bucket}/crm/churned/day=2026-10-19/export/"


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ("s3://b/labels/", "exactly one"),
        ("s3://b/{date}/{date}/", "exactly one"),
        ("labels/{date}/", "s3://"),
        ("s3://b/../x/{date}/", "'..'"),
    ],
)
def test_labels_uri_is_checked(layout: str, problem: str) -> None:
    from include.modelcare.config.schema import PerformanceConfig

    with pytest.raises(ValueError, match=problem):
        PerformanceConfig(labels_uri=layout)
    assert PerformanceConfig(labels_uri="s3://b/x/dt={date}").labels_uri == "s3://b/x/dt={date}/"


def test_join_reports_what_did_not_match(config: ModelConfig) -> None:
    import pandas as pd

    batch = pd.DataFrame({"customer_id": [1, 2, 3, 4], "tenure": [1, 2, 3, 4], "churned": [9, 9, 9, 9]})
    labels = pd.DataFrame({"customer_id": [1, 2, 2, 7], "churned": [1, 0, 1, 0]})
    joined, report = join_labels(batch, labels, config)
    assert report.batch_rows == 4 and report.label_rows == 3 and report.matched == 2
    assert report.ids_without_labels == 2 and report.labels_without_ids == 1 and report.duplicate_label_ids == 1
    assert report.join_rate == 0.5
    # the label, not the batch's own target column; a corrected duplicate keeps the last value
    assert joined.set_index("customer_id")["churned"].to_dict() == {"1": 1, "2": 1}
    assert "2 of 4 rows labelled (50%)" in report.describe()


def test_integer_label_ids_meet_string_batch_ids_and_empty_labels_are_not_labels(config: ModelConfig) -> None:
    import pandas as pd

    batch = pd.DataFrame({"customer_id": ["1", "2", "3"], "tenure": [1, 2, 3]})
    batch["customer_id"] = batch["customer_id"].astype("category")
    labels = pd.DataFrame({"customer_id": [1, 2, 3], "churned": [1.0, None, 0.0]})  # a CRM export: int ids
    joined, report = join_labels(batch, labels, config)
    assert report.matched == 2 and report.unknown_labels == 1 and report.ids_without_labels == 1
    assert sorted(joined["customer_id"]) == ["1", "3"]


def test_join_names_a_missing_column(config: ModelConfig) -> None:
    import pandas as pd

    batch = pd.DataFrame({"customer_id": [1]})
    with pytest.raises(DataError, match=r"labels lack column.*'churned'"):
        join_labels(batch, pd.DataFrame({"customer_id": [1]}), config)
    with pytest.raises(DataError, match=r"batch lack column.*'customer_id'"):
        join_labels(pd.DataFrame({"x": [1]}), _labels([1]), config)


def test_labels_later_than_the_training_window_are_refused(fresh_bucket: str) -> None:
    from include.modelcare.config.schema import ModelConfig

    raw = config_in(fresh_bucket).model_dump(by_alias=True)
    raw["training"] = {**raw["training"], "window_weeks": 4, "holdout_weeks": 1}
    ModelConfig.model_validate({**raw, "performance": {"label_delay_days": 14}})  # 2 labelled weeks: enough
    with pytest.raises(ValueError, match=r"label_delay_days: labels 21 days late leave 1 labelled week"):
        ModelConfig.model_validate({**raw, "performance": {"label_delay_days": 21}})
