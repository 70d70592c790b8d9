"""Reading and writing tabular batches (parquet or CSV) from S3 URIs or local paths."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any, Literal

from include.modelcare.errors import DataError, DataNotFound
from include.modelcare.storage.objects import ObjectStore

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

Format = Literal["parquet", "csv"]
SUFFIXES: dict[str, tuple[str, ...]] = {"parquet": (".parquet", ".pq"), "csv": (".csv",)}


def guess_format(uri: str, default: Format = "parquet") -> Format:
    """The format implied by a file name, else ``default``."""
    lowered = uri.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(SUFFIXES["parquet"]):
        return "parquet"
    return default


def _data_objects(store: ObjectStore, uri: str) -> list[str]:
    """Objects under a prefix that are data: names starting with '_' or '.' (markers, results) are not,
    as in Spark and pyarrow."""
    prefix = uri if uri.endswith("/") else uri + "/"
    found = []
    for name in store.list(prefix):
        relative = name[len(prefix) :] if name.startswith(prefix) else name.rsplit("/", 1)[-1]
        if not any(part.startswith(("_", ".")) for part in relative.split("/")):
            found.append(name)
    return found


def data_files(store: ObjectStore, uri: str, fmt: Format) -> list[str]:
    """Data files at a URI: the file itself, or the files of that format under a prefix/directory."""
    if uri.lower().endswith(SUFFIXES[fmt]):
        return [uri]
    return [name for name in _data_objects(store, uri) if name.lower().endswith(SUFFIXES[fmt])]


def other_files(store: ObjectStore, uri: str, fmt: Format) -> list[str]:
    """Data files under a prefix that are not of ``fmt`` (e.g. a CSV in a parquet model's batch)."""
    return [name for name in _data_objects(store, uri) if not name.lower().endswith(SUFFIXES[fmt])]


def parse_bytes(raw: bytes, fmt: Format, uri: str) -> pd.DataFrame:
    import pandas as pd

    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(raw))
        return pd.read_csv(io.BytesIO(raw))
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt input
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{uri}: cannot read as {fmt}: {first_line}") from None


def read_table(uri: str, fmt: Format | None = None, store: ObjectStore | None = None) -> pd.DataFrame:
    """Read one file or every data file under a prefix into one DataFrame.

    Raises ``DataNotFound`` when there is nothing to read and ``DataError`` when it is unreadable or empty.
    """
    import pandas as pd

    store = store or ObjectStore()
    fmt = fmt or guess_format(uri)
    files = data_files(store, uri, fmt)
    if not files:
        raise DataNotFound(f"{uri}: no {fmt} files found")
    frames = [parse_bytes(store.read_bytes(f), fmt, f) for f in files]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise DataError(f"{uri}: no rows ({len(files)} file(s) read)")
    log.info("read %d rows x %d columns from %d file(s) at %s", len(frame), frame.shape[1], len(files), uri)
    return frame


def read_files(files: list[str], fmt: Format, store: ObjectStore) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Read exactly these files into one DataFrame, with what was read: ``[{"uri", "etag", "bytes"}]``.

    The list is what a validation result records, so that a later reader (retraining) uses exactly the
    files that were validated, and notices one that changed since (``read_validated``).
    ``DataError`` when a file is unreadable or the batch has no rows.
    """
    import pandas as pd

    frames, manifest = [], []
    for uri in files:
        raw, etag = store.read_with_etag(uri)
        frames.append(parse_bytes(raw, fmt, uri))
        manifest.append({"uri": uri, "etag": etag, "bytes": len(raw)})
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise DataError(f"no rows ({len(files)} file(s) read: {', '.join(files)})")
    return frame, manifest


def validated_files(result: dict[str, Any], store: ObjectStore, uri: str, fmt: Format) -> list[dict[str, Any]]:
    """The files a validation result lists (``read_files``' manifest); a result written before results
    recorded their files stands for every data file under ``uri``."""
    files: list[dict[str, Any]] = result.get("files") or [{"uri": name} for name in data_files(store, uri, fmt)]
    return files


def read_validated(manifest: list[dict[str, object]], store: ObjectStore) -> list[tuple[str, bytes]]:
    """The bytes of each file a validation result lists; ``DataError`` when one changed since it was validated.

    An entry without an ETag (results written before validation recorded them) is read as it is.
    """
    out = []
    for entry in manifest:
        uri = str(entry["uri"])
        raw, etag = store.read_with_etag(uri)
        if "etag" in entry and etag != entry["etag"]:
            raise DataError(f"{uri} changed after it was validated (ETag {etag}, validated {entry['etag']})")
        out.append((uri, raw))
    return out


def to_bytes(frame: pd.DataFrame, fmt: Format) -> bytes:
    """Serialise a DataFrame as parquet or CSV."""
    buffer = io.BytesIO()
    if fmt == "parquet":
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def write_table(frame: pd.DataFrame, uri: str, fmt: Format | None = None, store: ObjectStore | None = None) -> None:
    """Write a DataFrame to one file (URI ends with the file name)."""
    store = store or ObjectStore()
    store.write_bytes(uri, to_bytes(frame, fmt or guess_format(uri)))
