"""The artifact registry's S3 backend: the same layout as LocalStore (objects/, refs/, records/, cache/, audit/) under
`s3://<bucket>/<prefix>/`.

Transient S3 errors (5xx, throttling, dropped connections) are retried by botocore itself (retry mode "standard" by
default, NAOS_S3_MAX_ATTEMPTS total attempts, default 8), never by hand-written loops here.

What S3 gives and what it does not (docs/DEPLOY.md, "S3 artifact registry"):
  * a PUT is atomic: readers see the old object or the whole new one, never part of it (so no temp + rename);
  * there is no rename and no compare-and-swap here: two writers of one key race, last writer wins. The registry
    only relies on that for refs and cache entries (last writer wins locally too); objects are content-addressed.

Plain Python; boto3 is imported here only, so the local backend never needs it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from .registry import ObjectStore

DEFAULT_MAX_ATTEMPTS = 8
_MISSING = {"404", "NoSuchKey", "NotFound"}
_TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=16 << 20)


def _missing(err: ClientError) -> bool:
    error = err.response.get("Error", {})
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in _MISSING or status == 404


def make_client(*, endpoint_url: str | None = None, region_name: str | None = None,
                max_attempts: int = DEFAULT_MAX_ATTEMPTS, retry_mode: str = "standard",
                addressing_style: str | None = None, **kwargs: Any):
    """A boto3 S3 client with botocore's own retries. `max_attempts` counts every attempt, the first included
    (1: no retry), like AWS_MAX_ATTEMPTS. Credentials and the region come from the usual AWS_* variables unless given.
    Path-style addressing is the default when an endpoint is given (MinIO, moto, Ceph...)."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    config = Config(
        retries={"mode": retry_mode, "total_max_attempts": max_attempts},
        s3={"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
        connect_timeout=10, read_timeout=60,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region_name, config=config,
                                          **kwargs)


class S3Store(ObjectStore):
    """Keys live at `<prefix>/<key>` in `bucket`. Pass a ready client (e.g. `dagster_aws.s3.S3Resource(...)
    .get_client()`, or `make_client(...)`), or let one be built from `endpoint_url` and the AWS_* environment."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None, endpoint_url: str | None = None,
                 region_name: str | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 retry_mode: str = "standard", page_size: int = 1000):
        if not bucket:
            raise ValueError("S3Store needs a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.page_size = page_size
        self.transfer = _TRANSFER  # multipart thresholds for put_file / local_path
        self.client = client if client is not None else make_client(
            endpoint_url=endpoint_url, region_name=region_name, max_attempts=max_attempts, retry_mode=retry_mode)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Store:
        """NAOS_S3_BUCKET (required), NAOS_S3_PREFIX (default ""), NAOS_S3_ENDPOINT_URL (optional),
        NAOS_S3_MAX_ATTEMPTS (default 8), NAOS_S3_RETRY_MODE (standard | adaptive, default standard);
        credentials and region from the standard AWS_* variables (or any other boto3 source)."""
        env = os.environ if env is None else env
        bucket = env.get("NAOS_S3_BUCKET", "").strip()
        if not bucket:
            raise ValueError("NAOS_REGISTRY=s3 needs NAOS_S3_BUCKET")
        return cls(bucket, env.get("NAOS_S3_PREFIX", ""),
                   endpoint_url=env.get("NAOS_S3_ENDPOINT_URL") or None,
                   max_attempts=int(env.get("NAOS_S3_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS),
                   retry_mode=env.get("NAOS_S3_RETRY_MODE") or "standard")

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.bucket}/{self.prefix})"

    def _key(self, key: str) -> str:
        key = key.strip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _head(self, key: str) -> dict:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(f"s3://{self.bucket}/{self._key(key)}") from err
            raise

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def put_bytes(self, key: str, data: bytes) -> None:
        # One PUT is atomic on S3: readers see the previous object or all of this one.
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        # Streams; multipart above 64 MiB (a multipart upload only becomes visible once completed, so still atomic).
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(path)
        self.client.upload_file(str(path), self.bucket, self._key(key), Config=self.transfer)

    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(f"s3://{self.bucket}/{self._key(key)}") from err
            raise
        with contextlib.closing(response["Body"]) as body:
            return body.read()

    def local_path(self, key: str, scratch: Path) -> Path:
        """A copy in `scratch/s3/<bucket>/<prefix>/<key>`, downloaded to a temp name and renamed into place. A copy
        already there is reused when its size and the object's ETag (kept beside it) still match the bucket."""
        head = self._head(key)
        target = Path(scratch) / "s3" / self.bucket / self._key(key)
        etag_file = target.with_name(f".{target.name}.etag")
        etag = str(head.get("ETag", ""))
        with contextlib.suppress(OSError):
            if target.stat().st_size == head["ContentLength"] and etag_file.read_text() == etag:
                return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        os.close(fd)
        try:
            self.client.download_file(self.bucket, self._key(key), tmp, Config=self.transfer)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        etag_file.write_text(etag)
        return target

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under the folder `prefix` (like LocalStore: "refs" lists refs/..., not "refsX"), in key order."""
        folder = prefix.strip("/")
        full = f"{self._key(folder)}/" if folder else (f"{self.prefix}/" if self.prefix else "")
        strip = len(f"{self.prefix}/") if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full,
                                       PaginationConfig={"PageSize": self.page_size}):
            for item in page.get("Contents", []):
                yield item["Key"][strip:]

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as err:
            if not _missing(err):
                raise

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])
