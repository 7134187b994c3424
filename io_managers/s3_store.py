"""The artifact registry's S3 backend: the same layout as LocalStore (objects/, refs/, records/, cache/, audit/) under
`s3://<bucket>/<prefix>/`.

Transient S3 errors (5xx, throttling, dropped connections) are retried by botocore itself (retry mode "standard" by
default, NAOS_S3_MAX_ATTEMPTS total attempts, default 8), never by hand-written loops here.

What S3 gives and what it does not (docs/DEPLOY.md, "S3 artifact registry"):
  * a PUT is atomic: readers see the old object or the whole new one, never part of it (so no temp + rename);
  * there is no rename; plain PUTs race and the last writer wins (refs and cache entries, as locally; objects are
    content-addressed). Where the first writer must win (audit records, birth-certificate records) `put_if_absent`
    sends a conditional PUT (`If-None-Match: *`, AWS since 2024-08, MinIO, moto): 412 means the key was there.

Plain Python; boto3 is imported here only, so the local backend never needs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections import defaultdict
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
_TAKEN = {"PreconditionFailed", "ConditionalRequestConflict"}  # 412: the key exists; 409: a racing conditional PUT
_TRANSFER = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=16 << 20)


def _taken(err: ClientError) -> bool:
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(err.response.get("Error", {}).get("Code")) in _TAKEN or status in (409, 412)


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

    def put_if_absent(self, key: str, data: bytes) -> bool:
        # A 409 (another conditional PUT of this key in flight) counts as taken too: callers re-read and move on.
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except ClientError as err:
            if _taken(err):
                return False
            raise
        return True

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

    def iter_bytes(self, key: str, version_id: str | None = None) -> Iterator[bytes]:
        extra = {"VersionId": version_id} if version_id else {}
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except ClientError as err:
            if _missing(err):
                raise FileNotFoundError(f"s3://{self.bucket}/{self._key(key)}") from err
            raise
        with contextlib.closing(response["Body"]) as body:
            yield from body.iter_chunks(1 << 20)

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

    def temp_keys(self) -> Iterator[str]:
        """Keys named like temp files (no NAOS writer makes them) and multipart uploads never completed or aborted
        (invisible as keys, but they hold storage until a lifecycle rule or an abort removes them)."""
        for key in self.list(""):
            if key.rsplit("/", 1)[-1].startswith(".tmp-"):
                yield key
        strip = len(f"{self.prefix}/") if self.prefix else 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
            for upload in page.get("Uploads", []):
                yield f"{upload['Key'][strip:]} (unfinished multipart upload {upload['UploadId']})"

    def versioned(self) -> bool:
        """Whether the bucket keeps old versions (versioning enabled now, or suspended after it was)."""
        return self.client.get_bucket_versioning(Bucket=self.bucket).get("Status") in ("Enabled", "Suspended")

    def rewrites(self, folder: str) -> Iterator[tuple[str, int]]:
        """Keys under `folder` the bucket holds in two or more versions with different bytes, with their version
        count. Versions with equal ETags are equal; different ETags (a multipart upload's ETag is not an MD5) are
        settled by hashing each version, streamed."""
        if not self.versioned():
            return
        strip = len(f"{self.prefix}/") if self.prefix else 0
        versions: dict[str, list[tuple[str, str]]] = defaultdict(list)
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self._key(folder.strip('/'))}/"):
            for v in page.get("Versions", []):  # delete markers are listed apart and hold no bytes
                versions[v["Key"][strip:]].append((v["VersionId"], v["ETag"]))
        for key, found in sorted(versions.items()):
            if len({etag for _, etag in found}) > 1 and len({self._version_sha(key, vid) for vid, _ in found}) > 1:
                yield key, len(found)

    def _version_sha(self, key: str, version_id: str) -> str:
        h = hashlib.sha256()
        for chunk in self.iter_bytes(key, version_id):
            h.update(chunk)
        return h.hexdigest()
