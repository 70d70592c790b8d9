"""Object storage over S3 URIs and local paths, through one small interface.

Inside Airflow the S3 client comes from the amazon provider's hook (so the
``aws_default`` connection decides the endpoint); on the command line it is a
plain boto3 client that honours the standard AWS environment (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import DataNotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover
else:
    S3Client = Any

log = logging.getLogger(__name__)


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``."""
    if not is_s3(uri):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in URI: {uri}")
    return bucket, key


def hook_s3_client(aws_conn_id: str | None) -> S3Client:
    """S3 client from the amazon provider's hook for an Airflow connection."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def env_s3_client() -> S3Client:
    """S3 client from the standard AWS environment (used by the CLI, outside Airflow)."""
    import boto3

    return boto3.client("s3")


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its URI, ETag, size in bytes and last-modified time (UTC)."""

    uri: str
    etag: str
    size: int
    modified: dt.datetime


class ObjectStore:
    """Read, write and list objects by URI (``s3://...`` or a local path)."""

    def __init__(self, s3_client: S3Client | None = None) -> None:
        self._s3 = s3_client

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = env_s3_client()
        return self._s3

    # -- reading -----------------------------------------------------------------
    def read_bytes(self, uri: str) -> bytes:
        if not is_s3(uri):
            try:
                return Path(uri).read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                raise DataNotFound(f"{uri}: no such file") from None
        bucket, key = split_s3(uri)
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise DataNotFound(f"{uri}: no such object") from None
        except self.s3.exceptions.NoSuchBucket:
            raise DataNotFound(f"{uri}: no such bucket {bucket!r}") from None

    def read_json(self, uri: str) -> Any:
        return json.loads(self.read_bytes(uri))

    def read_with_etag(self, uri: str) -> tuple[bytes, str]:
        """The object's bytes and its ETag (for ``replace_if_match``); locally the ETag is the content's md5."""
        if not is_s3(uri):
            data = self.read_bytes(uri)
            return data, _local_etag(data)
        bucket, key = split_s3(uri)
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            raise DataNotFound(f"{uri}: no such object") from None
        except self.s3.exceptions.NoSuchBucket:
            raise DataNotFound(f"{uri}: no such bucket {bucket!r}") from None
        return response["Body"].read(), response["ETag"]

    def exists(self, uri: str) -> bool:
        if not is_s3(uri):
            return Path(uri).exists()
        bucket, key = split_s3(uri)
        response = self.s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(o["Key"] == key for o in response.get("Contents", []))

    def list(self, prefix_uri: str) -> list[str]:
        """URIs of every object under a prefix (a local directory lists its files recursively)."""
        if not is_s3(prefix_uri):
            root = Path(prefix_uri)
            if root.is_file():
                return [str(root)]
            return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        bucket, prefix = split_s3(prefix_uri)
        uris: list[str] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                uris.extend(f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", []))
        except self.s3.exceptions.NoSuchBucket:
            raise DataNotFound(f"{prefix_uri}: no such bucket {bucket!r}") from None
        return sorted(uris)

    def listing(self, prefix_uri: str) -> builtins.list[ObjectInfo]:
        """Every object under a prefix with its ETag, size and last-modified time (local files: mtime, and a
        size-and-mtime token for the ETag). One listing answers "what changed since", without reading."""
        if not is_s3(prefix_uri):
            out = []
            for uri in self.list(prefix_uri):
                stat = Path(uri).stat()
                modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
                out.append(ObjectInfo(uri, f"{stat.st_size}-{stat.st_mtime_ns}", stat.st_size, modified))
            return out
        bucket, prefix = split_s3(prefix_uri)
        infos: builtins.list[ObjectInfo] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                infos.extend(
                    ObjectInfo(f"s3://{bucket}/{o['Key']}", o["ETag"], int(o["Size"]), o["LastModified"])
                    for o in page.get("Contents", [])
                )
        except self.s3.exceptions.NoSuchBucket:
            raise DataNotFound(f"{prefix_uri}: no such bucket {bucket!r}") from None
        return sorted(infos, key=lambda i: i.uri)

    # -- writing -----------------------------------------------------------------
    def write_bytes(self, uri: str, data: bytes, *, content_type: str | None = None) -> None:
        if not is_s3(uri):
            path = Path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return
        bucket, key = split_s3(uri)
        extra = {"ContentType": content_type} if content_type else {}
        self.s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)

    def write_json(self, uri: str, payload: Any) -> None:
        self.write_bytes(
            uri, json.dumps(payload, indent=2, sort_keys=True, default=str).encode(), content_type="application/json"
        )

    def create_exclusive(self, uri: str, data: bytes, *, content_type: str | None = None) -> bool:
        """Write only if the object does not exist yet (S3 ``If-None-Match: *``); True when this call created it.

        Survives "applied, but the reply was lost": when S3 applied the PUT but the reply was lost (503 or a
        reset after the write), botocore retries and the retry gets 412 for the write that succeeded. Every
        conditional write therefore carries a fresh write token in its user metadata; after a 412/409 the
        object is read back (HEAD) and a matching token means the write was ours (True).
        """
        if not is_s3(uri):
            path = Path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with path.open("xb") as fh:
                    fh.write(data)
            except FileExistsError:
                return False
            return True
        bucket, key = split_s3(uri)
        token = _write_token()
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*", **_put_extra(content_type, token))
        except Exception as exc:
            if not _lost_condition(exc, _REFUSED, {409, 412}):
                raise
            return self._written_by(bucket, key, token)
        return True

    def replace_if_match(self, uri: str, data: bytes, etag: str, *, content_type: str | None = None) -> bool:
        """Overwrite only if the object still has this ETag (S3 ``If-Match``); True when this call replaced it.

        False when the object changed or vanished since it was read (412, 409 or 404): re-read and retry.
        A 412 for our own write whose reply was lost is recognised by its write token (see ``create_exclusive``).
        Local paths compare and replace without a lock (single-writer use only).
        """
        if not is_s3(uri):
            path = Path(uri)
            try:
                current = path.read_bytes()
            except FileNotFoundError:
                return False
            if _local_etag(current) != etag:
                return False
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            return True
        bucket, key = split_s3(uri)
        token = _write_token()
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=data, IfMatch=etag, **_put_extra(content_type, token))
        except Exception as exc:
            if not _lost_condition(
                exc, {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"}, {404, 409, 412}
            ):
                raise
            return self._written_by(bucket, key, token)
        return True

    def _written_by(self, bucket: str, key: str, token: str) -> bool:
        """Whether the object now holds the write carrying ``token`` (our PUT applied, its reply lost)."""
        import botocore.exceptions

        try:
            head = self.s3.head_object(Bucket=bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise
        ours = head.get("Metadata", {}).get(WRITE_TOKEN_KEY) == token
        if ours:
            log.info(
                "s3://%s/%s: conditional write applied although its reply was lost (recognised by token)", bucket, key
            )
        return ours

    def copy(self, src: str, dst: str) -> None:
        if is_s3(src) and is_s3(dst):
            sb, sk = split_s3(src)
            db, dk = split_s3(dst)
            self.s3.copy_object(Bucket=db, Key=dk, CopySource={"Bucket": sb, "Key": sk})
        else:
            self.write_bytes(dst, self.read_bytes(src))

    def delete(self, uri: str) -> None:
        if not is_s3(uri):
            Path(uri).unlink(missing_ok=True)
            return
        bucket, key = split_s3(uri)
        self.s3.delete_object(Bucket=bucket, Key=key)


_REFUSED = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
WRITE_TOKEN_KEY = "modelcare-write-token"
"""User-metadata key (``x-amz-meta-modelcare-write-token``) of the token every conditional write carries."""


def _write_token() -> str:
    import uuid

    return uuid.uuid4().hex


def _put_extra(content_type: str | None, token: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"Metadata": {WRITE_TOKEN_KEY: token}}
    if content_type:
        extra["ContentType"] = content_type
    return extra


def _lost_condition(exc: Exception, codes: frozenset[str] | set[str], statuses: set[int]) -> bool:
    """Whether ``exc`` is S3 refusing a conditional write (precondition failed or a concurrent conflict)."""
    import botocore.exceptions

    if not isinstance(exc, botocore.exceptions.ClientError):
        return False
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in codes or status in statuses


def _local_etag(data: bytes) -> str:
    """ETag-like fingerprint of a local file's content (quoted md5 hex, as S3 gives for single-part objects)."""
    import hashlib

    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
