"""Reading and writing tabular batches (parquet or CSV) from S3 URIs or local paths.

The readers take two optional, keyword-only choices; without them a file reads as pandas reads it.
``columns``: only these columns (those a file lacks are left out, not an error, so that validation
reports them missing). ``categories``: these columns, when they hold text, as pandas ``category``: a
parquet string column is decoded by pyarrow as a dictionary, without a Python string per value (about
half the read time at 5M rows, see benchmarks/bench_validation.py), and validation settles its type
from the dtype. A column of numbers stays numbers, so verdicts do not change. With either choice a
parquet file is read one column at a time (about 1 GB less peak memory at 5M rows x 26 columns).
``concat_frames`` joins files parsed that way without losing the categories.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
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


def parse_bytes(
    raw: bytes, fmt: Format, uri: str, *, columns: Sequence[str] | None = None, categories: Sequence[str] = ()
) -> pd.DataFrame:
    """One file's bytes as a DataFrame (``columns`` and ``categories``: see the module docstring)."""
    import pandas as pd

    try:
        if fmt == "parquet":
            if columns is None and not categories:
                return pd.read_parquet(io.BytesIO(raw))
            return _read_parquet(raw, columns, categories)
        if columns is None and not categories:
            return pd.read_csv(io.BytesIO(raw))
        wanted = None if columns is None else set(columns)
        frame = pd.read_csv(io.BytesIO(raw), usecols=None if wanted is None else lambda c: c in wanted)
        return _text_as_categories(frame, categories)
    except Exception as exc:  # pyarrow/pandas raise many types for corrupt input
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{uri}: cannot read as {fmt}: {first_line}") from None


def _read_parquet(raw: bytes, columns: Sequence[str] | None, categories: Sequence[str]) -> pd.DataFrame:
    """pyarrow's read, as ``pd.read_parquet`` does it, but one column at a time into a frame that is not
    consolidated into 2-D blocks: at 5M rows x 26 columns half the read time (no copy of the whole frame)
    and about 1 GB less peak memory (never the whole decoded Arrow table beside the frame)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = pq.ParquetFile(pa.BufferReader(raw), read_dictionary=list(categories) or None)
    names = file.schema_arrow.names
    present = names if columns is None else [c for c in columns if c in names]  # pyarrow refuses absent ones
    index_columns = (file.schema_arrow.pandas_metadata or {}).get("index_columns", [])
    if any(isinstance(c, str) for c in index_columns):  # an index stored as columns: pandas rebuilds it whole
        table = file.read(columns=present, use_pandas_metadata=True)
        whole: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=True)
        return whole
    parts = {}
    for name in present:
        # read_dictionary applies to string/binary columns only; numbers are read as numbers.
        parts[name] = file.read(columns=[name]).to_pandas(split_blocks=True, self_destruct=True)[name]
    if not parts:
        return pd.DataFrame(index=pd.RangeIndex(file.metadata.num_rows))
    return pd.DataFrame(parts, copy=False)  # each part carries the file's (range) index


def _text_as_categories(frame: pd.DataFrame, categories: Sequence[str]) -> pd.DataFrame:
    """CSV: the listed columns pandas parsed as text (object), as ``category``."""
    import pandas as pd

    for col in categories:
        if col in frame.columns and pd.api.types.is_object_dtype(frame[col].dtype):
            frame[col] = frame[col].astype("category")
    return frame


def plain_text(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with its ``category`` columns among ``columns`` back to what a plain read gives: object
    values, ``None`` where missing. For anything a model scores: a missing text value read as a category is
    ``NaN``, read plainly (as in training and serving) ``None``, and an imputer fills one and not the other."""
    import pandas as pd

    out = frame
    for col in columns:
        if col in frame.columns and isinstance(frame[col].dtype, pd.CategoricalDtype):
            if out is frame:
                out = frame.copy(deep=False)
            values = frame[col].astype(object)
            out[col] = values.where(values.notna(), None)
    return out


def concat_frames(frames: list[pd.DataFrame], categories: Sequence[str]) -> pd.DataFrame:
    """One frame; a ``category`` column stays one across files (pandas makes differing categories object).

    The listed columns of ``frames`` are re-coded in place to the union of their categories."""
    import pandas as pd

    if len(frames) == 1:
        return frames[0]
    for col in categories:
        parts = [f[col] for f in frames if col in f.columns]
        if len(parts) == len(frames) and all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            union = pd.Index(pd.unique(pd.concat([p.cat.categories.to_series() for p in parts], ignore_index=True)))
            for frame in frames:
                frame[col] = frame[col].cat.set_categories(union)
    return pd.concat(frames, ignore_index=True)


def read_table(
    uri: str,
    fmt: Format | None = None,
    store: ObjectStore | None = None,
    *,
    columns: Sequence[str] | None = None,
    categories: Sequence[str] = (),
) -> pd.DataFrame:
    """Read one file or every data file under a prefix into one DataFrame.

    Raises ``DataNotFound`` when there is nothing to read and ``DataError`` when it is unreadable or empty.
    """
    store = store or ObjectStore()
    fmt = fmt or guess_format(uri)
    files = data_files(store, uri, fmt)
    if not files:
        raise DataNotFound(f"{uri}: no {fmt} files found")
    frames = [parse_bytes(store.read_bytes(f), fmt, f, columns=columns, categories=categories) for f in files]
    frame = concat_frames(frames, categories)
    if columns is not None and frame.shape[1] == 0:
        raise DataError(f"{uri}: none of the columns {', '.join(columns)} ({len(files)} file(s) read)")
    if frame.empty:
        raise DataError(f"{uri}: no rows ({len(files)} file(s) read)")
    log.info("read %d rows x %d columns from %d file(s) at %s", len(frame), frame.shape[1], len(files), uri)
    return frame


def read_files(
    files: list[str],
    fmt: Format,
    store: ObjectStore,
    *,
    columns: Sequence[str] | None = None,
    categories: Sequence[str] = (),
) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Read exactly these files into one DataFrame, with what was read: ``[{"uri", "etag", "bytes"}]``.

    The list is what a validation result records, so that a later reader (retraining) uses exactly the
    files that were validated, and notices one that changed since (``read_validated``).
    ``DataError`` when a file is unreadable or the batch has no rows.
    """
    frames, manifest = [], []
    for uri in files:
        raw, etag = store.read_with_etag(uri)
        frames.append(parse_bytes(raw, fmt, uri, columns=columns, categories=categories))
        manifest.append({"uri": uri, "etag": etag, "bytes": len(raw)})
    frame = concat_frames(frames, categories)
    if columns is not None and frame.shape[1] == 0:
        raise DataError(f"none of the columns {', '.join(columns)} ({len(files)} file(s) read: {', '.join(files)})")
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
