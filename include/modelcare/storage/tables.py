"""Reading and writing tabular batches (parquet or CSV) from S3 URIs or local paths."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Literal

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


def data_files(store: ObjectStore, uri: str, fmt: Format) -> list[str]:
    """Data files at a URI: the file itself, or the files of that format under a prefix/directory.

    Names starting with '_' or '.' (markers, results) are not data, as in Spark and pyarrow.
    """
    if uri.lower().endswith(SUFFIXES[fmt]):
        return [uri]
    prefix = uri if uri.endswith("/") else uri + "/"
    files = []
    for found in store.list(prefix):
        relative = found[len(prefix) :] if found.startswith(prefix) else found.rsplit("/", 1)[-1]
        if any(part.startswith(("_", ".")) for part in relative.split("/")):
            continue
        if found.lower().endswith(SUFFIXES[fmt]):
            files.append(found)
    return files


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
