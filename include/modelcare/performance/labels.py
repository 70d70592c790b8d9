"""Labels that arrive late: which batches have labels, whether they changed since they were scored, the join.

Why late: for churn, credit or fraud the truth about batch D is known weeks after D. The labels of D land
under ``config.paths.labels(D)`` (``labels/dt=D/`` or ``performance.labels_uri``) whenever they are known;
every monitoring run lists the label partitions of the last ``performance.label_lookback_weeks`` weeks and
scores each one whose files differ from what was scored (``LabelDrop.fingerprint``: URIs and ETags, read
from one listing, so an unchanged partition costs no read).

The join is on ``data.id_column``; what did not match is counted, not hidden: ids of the batch without a
label (not known yet, or lost), labels whose id is not in the batch (another batch's, or a typo), and ids
labelled twice (the one written last counts, as a correction would); empty labels (outcome not known yet)
are left out and counted. Ids are compared as text, so an export's integer ids meet the batch's strings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import DataError
from include.modelcare.storage.tables import SUFFIXES

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectInfo, ObjectStore


@dataclass(frozen=True)
class LabelDrop:
    """The label files of one batch date as listed now."""

    day: dt.date
    uri: str
    files: tuple[ObjectInfo, ...]

    @property
    def fingerprint(self) -> str:
        """Changes when a file is added, removed or rewritten (its ETag): what "arrived since" means."""
        text = "\n".join(f"{f.uri} {f.etag}" for f in sorted(self.files, key=lambda f: f.uri))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def landed_at(self) -> dt.datetime:
        """When the last of its files was written."""
        return max(f.modified for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """What a realised record says about its labels."""
        return {
            "uri": self.uri,
            "files": [{"uri": f.uri, "etag": f.etag, "size": f.size} for f in self.files],
            "landed_at": self.landed_at.isoformat(),
        }


def _layout(config: ModelConfig) -> tuple[str, str]:
    """The labels layout split at the date: ``(prefix before the date, rest after it)``."""
    sample = dt.date(2000, 1, 1)
    uri = config.paths.labels(sample)
    head, _, tail = uri.partition(sample.isoformat())
    return head, tail


def _is_data(relative: str, fmt: str) -> bool:
    parts = relative.split("/")
    return not any(p.startswith(("_", ".")) for p in parts) and relative.lower().endswith(SUFFIXES[fmt])


def label_drops(config: ModelConfig, store: ObjectStore, today: dt.date) -> list[LabelDrop]:
    """Label partitions of batch dates in ``[today - label_lookback_weeks, today]`` that hold data files of the
    model's format, oldest first. One listing of the layout's common prefix (not one call per day)."""
    head, tail = _layout(config)
    earliest = today - dt.timedelta(weeks=config.performance.label_lookback_weeks)
    by_day: dict[dt.date, list[ObjectInfo]] = {}
    for info in store.listing(head):
        rest = info.uri[len(head) :]
        try:
            day = dt.date.fromisoformat(rest[:10])
        except ValueError:
            continue
        if not rest[10:].startswith(tail) or not earliest <= day <= today:
            continue
        if _is_data(rest[10 + len(tail) :], config.data.format):
            by_day.setdefault(day, []).append(info)
    return [LabelDrop(day, config.paths.labels(day), tuple(files)) for day, files in sorted(by_day.items())]


@dataclass(frozen=True)
class JoinReport:
    """How the labels of a batch matched its rows."""

    batch_rows: int
    label_rows: int
    matched: int
    ids_without_labels: int
    labels_without_ids: int
    duplicate_label_ids: int
    unknown_labels: int = 0
    """Label rows whose label is empty (the outcome is not known yet): left out, not counted as labels."""

    @property
    def join_rate(self) -> float:
        """Share of the batch's rows that got a label."""
        return self.matched / self.batch_rows if self.batch_rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "join_rate": self.join_rate}

    def describe(self) -> str:
        return (
            f"{self.matched:,} of {self.batch_rows:,} rows labelled ({self.join_rate:.0%}); "
            f"{self.labels_without_ids:,} label(s) for ids not in the batch, "
            f"{self.duplicate_label_ids:,} id(s) labelled twice"
        )


def join_labels(batch: pd.DataFrame, labels: pd.DataFrame, config: ModelConfig) -> tuple[pd.DataFrame, JoinReport]:
    """The batch's rows that have a label, with the label as the target column, and the join report.

    ``DataError`` naming the missing column when the labels lack the id or target column, or the batch the id.
    """
    id_col, target = config.data.id_column, config.data.target
    for frame, what, columns in ((labels, "labels", (id_col, target)), (batch, "batch", (id_col,))):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{what} lack column(s) {', '.join(map(repr, missing))}: cannot join labels")
    # Ids compared as text: a CRM export's int64 ids must meet the batch's string ids (merge refuses
    # object vs int64, and a category never equals an int).
    labels = labels[[id_col, target]].assign(**{id_col: labels[id_col].astype(str)})
    unknown = int(labels[target].isna().sum())  # outcome not known yet: not a label
    labels = labels[labels[target].notna()]
    duplicated = int(labels[id_col].duplicated(keep="last").sum())
    labels = labels.drop_duplicates(subset=id_col, keep="last")
    features = batch.drop(columns=[target], errors="ignore")
    keys = features[id_col].astype(str)
    features = features.assign(**{id_col: keys})[~keys.duplicated(keep="last").to_numpy()]
    joined = features.merge(labels, on=id_col, how="inner")
    batch_ids = set(features[id_col].tolist())
    report = JoinReport(
        batch_rows=len(features),
        label_rows=len(labels),
        matched=len(joined),
        ids_without_labels=len(features) - len(joined),
        labels_without_ids=int((~labels[id_col].isin(batch_ids)).sum()),
        duplicate_label_ids=duplicated,
        unknown_labels=unknown,
    )
    return joined, report


def read_labels(drop: LabelDrop, config: ModelConfig, store: ObjectStore) -> pd.DataFrame:
    """The labels of one drop as one frame (``DataError`` for an unreadable file)."""
    import pandas as pd

    from include.modelcare.storage.tables import parse_bytes

    # Oldest file first, so that for an id labelled in two files the later-written label wins (a correction)
    frames: Sequence[pd.DataFrame] = [
        parse_bytes(store.read_bytes(f.uri), config.data.format, f.uri)
        for f in sorted(drop.files, key=lambda f: (f.modified, f.uri))
    ]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
