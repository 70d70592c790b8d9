"""Performance records in the S3 format of issue 12 (``performance/{realised,estimated}/dt=D.json``), for the
page and CLI tests: what ``check_performance`` writes, put straight into an in-memory store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from include.modelcare.config.schema import ModelConfig
from tests.unit.registry.memory import MemoryStore

CALIBRATION = {"x": [0.0, 0.5, 1.0], "y": [0.05, 0.4, 0.95], "method": "isotonic", "rows": 500}
"""A version's ``calibration`` metadata (``ml.calibration.Calibrator.to_dict``)."""


def realised(day: dt.date, value: float, version: int, *, rows: int = 1000, **extra: Any) -> dict[str, Any]:
    """A realised record of the batch of ``day`` (revision 1 unless ``revision``/``previous`` are given)."""
    return {
        "model": "customer_churn",
        "day": day.isoformat(),
        "metric": "roc_auc",
        "value": value,
        "metrics": {"roc_auc": value},
        "rows": rows,
        "version": version,
        "version_id": f"v{version:04d}",
        "served_by": "recorded",
        "threshold": 0.3,
        "calibrated": True,
        "join": {
            "batch_rows": rows + 20,
            "label_rows": rows + 5,
            "matched": rows,
            "ids_without_labels": 20,
            "labels_without_ids": 5,
            "duplicate_label_ids": 0,
            "join_rate": rows / (rows + 20),
        },
        "labels": {"uri": f"s3://b/labels/dt={day.isoformat()}/", "files": [], "landed_at": "2026-04-01T00:00:00"},
        "fingerprint": f"fp-{day.isoformat()}",
        "revision": 1,
        "previous": [],
        "scored_at": "2026-04-01T00:00:00+00:00",
        "scored_by": {"dag_id": "modelcare_monitoring_customer_churn", "run_id": "scheduled__x"},
        **extra,
    }


def estimated(day: dt.date, value: float | None, version: int, *, note: str = "", **extra: Any) -> dict[str, Any]:
    """An estimated record (CBPE) of the batch of ``day``; ``value`` None is "not estimated" with ``note``."""
    return {
        "model": "customer_churn",
        "day": day.isoformat(),
        "metric": "roc_auc",
        "value": value,
        "metrics": {} if value is None else {"roc_auc": value},
        "rows": 1020,
        "version": version,
        "version_id": f"v{version:04d}",
        "method": "none" if value is None else "cbpe",
        "note": note,
        "threshold": 0.3,
        "estimated_at": f"{day.isoformat()}T06:00:00+00:00",
        "labels_expected_by": (day + dt.timedelta(days=21)).isoformat(),
        **extra,
    }


def put_records(
    store: MemoryStore,
    config: ModelConfig,
    realised_records: Sequence[dict[str, Any]] = (),
    estimated_records: Sequence[dict[str, Any]] = (),
) -> None:
    """Write the records where ``performance.series.read_records`` finds them."""
    for record in realised_records:
        store.put(config.paths.realised(dt.date.fromisoformat(record["day"])), record)
    for record in estimated_records:
        store.put(config.paths.estimated(dt.date.fromisoformat(record["day"])), record)
