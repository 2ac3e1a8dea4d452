"""S3-compatible storage (AWS S3, MinIO, Ceph, R2): the same keys as LocalStorage, under a prefix.

`STORAGE_URL=s3://bucket/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1`
Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile,
an instance role); never from the URL, so they never end up in logs or the settings table.

A PUT is atomic (a reader sees the old object or the whole new one), which gives the same
"never half-written" guarantee as LocalStorage's rename. `local_path` is None: the web app
streams (or redirects to) the object instead of serving a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from worker.storage.base import StorageError, check_key, content_type


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    addressing_style: str | None


def parse_url(url: str) -> S3Location:
    """`s3://bucket[/prefix][?endpoint_url=...&region=...&addressing_style=path]`."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StorageError(f"STORAGE_URL must look like s3://bucket/prefix, got {url!r}")
    if parts.username or parts.password:
        raise StorageError("put S3 credentials in the environment (AWS_*), not in STORAGE_URL")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"endpoint_url", "region", "addressing_style"}
    if unknown:
        raise StorageError(f"unknown STORAGE_URL option(s): {', '.join(sorted(unknown))}")
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    return S3Location(
        bucket=parts.netloc,
        prefix=prefix,
        endpoint_url=query.get("endpoint_url"),
        region=query.get("region"),
        addressing_style=query.get("addressing_style"),
    )


@dataclass(frozen=True)
class ObjectStat:
    size: int
    etag: str  # S3's own, quoted: a strong validator for this version of the object
    last_modified: datetime | None


class ObjectChanged(Exception):
    """The object was replaced between its HEAD and its ranged GET."""


def _chunks(body: Any, size: int = 256 * 1024) -> Iterator[bytes]:
    try:
        while chunk := body.read(size):
            yield chunk
    finally:
        body.close()


class S3Storage:
    """The `worker.storage.Storage` protocol on one bucket and prefix."""

    def __init__(
        self, location: S3Location, client: Any | None = None, page_size: int = 1000
    ) -> None:
        self.location = location
        self.page_size = page_size
        self.bucket = location.bucket
        self.prefix = location.prefix
        if client is None:
            config = Config(
                retries={"max_attempts": 5, "mode": "standard"},
                s3={"addressing_style": location.addressing_style or "auto"},
            )
            client = boto3.client(
                "s3",
                endpoint_url=location.endpoint_url,
                region_name=location.region,
                config=config,
            )
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> S3Storage:
        return cls(parse_url(url))

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _strip(self, object_key: str) -> str:
        return object_key[len(self.prefix) + 1 :] if self.prefix else object_key

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._object_key(key),
            Body=data,
            ContentType=content_type(key),
        )

    def read_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        body: bytes = response["Body"].read()
        return body

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(
                Bucket=self.bucket, Key=self._object_key(key)
            )
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return head

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def stat(self, key: str) -> ObjectStat | None:
        """Size and validators from one HEAD (no body is read); None when missing."""
        head = self._head(key)
        if head is None:
            return None
        return ObjectStat(int(head["ContentLength"]), str(head["ETag"]), head.get("LastModified"))

    def open_range(self, key: str, first: int, last: int, etag: str) -> Iterator[bytes]:
        """Bytes first..last (inclusive) of the object, fetched with a ranged GET, in chunks.

        `IfMatch` pins the version `stat` described: an object replaced in between raises
        ObjectChanged instead of mixing one version's length with another's bytes."""
        try:
            response = self.client.get_object(
                Bucket=self.bucket,
                Key=self._object_key(key),
                Range=f"bytes={first}-{last}",
                IfMatch=etag,
            )
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from exc
            if str(exc.response.get("Error", {}).get("Code", "")) in {"412", "PreconditionFailed"}:
                raise ObjectChanged(key) from exc
            raise
        return _chunks(response["Body"])

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(key)
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        # S3 DELETE of a missing key succeeds, like LocalStorage's unlink(missing_ok=True)
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under `prefix` (a folder-like key prefix, or "" for everything), sorted."""
        if prefix:
            base = self._object_key(prefix.rstrip("/")) + "/"
        else:
            base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self.bucket, Prefix=base, PaginationConfig={"PageSize": self.page_size}
        ):
            for item in page.get("Contents", []):
                key = self._strip(item["Key"])
                # match LocalStorage: temporary/hidden files are not listed
                if not key.rsplit("/", 1)[-1].startswith("."):
                    yield key

    def local_path(self, key: str) -> Path | None:
        check_key(key)
        return None

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (deploy-time helper and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if not _missing(exc):
                raise
            options: dict[str, Any] = {}
            region = self.location.region
            if region and region != "us-east-1":
                options["CreateBucketConfiguration"] = {"LocationConstraint": region}
            self.client.create_bucket(Bucket=self.bucket, **options)


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
