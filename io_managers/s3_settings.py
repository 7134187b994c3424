"""Which registry backend this deployment uses, and its S3 settings, from the environment (docs/DEPLOY.md, "S3
artifact registry"). The S3 client is dagster-aws's `S3Resource` (s3_resource.py), so the endpoint is configured the Dagster way, and
the same resource backs the Dagster `io_manager` that Celery workers on other hosts share step outputs through.

Transient S3 errors are retried by botocore (NAOS_S3_MAX_ATTEMPTS attempts, NAOS_S3_RETRY_MODE), never by a loop here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # dagster_aws (boto3) is imported only when the registry is s3
    from dagster_aws.s3 import S3PickleIOManager

    from .s3_resource import NaosS3Resource

BACKENDS = ("local", "s3")
RETRY_MODES = ("standard", "adaptive")
DEFAULT_MAX_ATTEMPTS = 8
STEP_IO_PREFIX = "dagster-io"  # step outputs that are not artifacts: <NAOS_S3_PREFIX>/dagster-io/storage/<run>/<step>
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # the S3 bucket naming rules


class SettingsError(ValueError):
    """A registry variable is unset or invalid; the message starts with its name (`naos` exits 2 on it)."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem} (docs/DEPLOY.md, \"S3 artifact registry\")")
        self.variable = variable


def registry_backend(env: Mapping[str, str]) -> str:
    """NAOS_REGISTRY when set; else s3 under NAOS_PROFILE=production (workers on several hosts share it), else local."""
    value = (env.get("NAOS_REGISTRY") or "").strip().lower()
    if not value:
        return "s3" if (env.get("NAOS_PROFILE") or "").strip().lower() == "production" else "local"
    if value not in BACKENDS:
        raise SettingsError("NAOS_REGISTRY", f"must be local or s3, not {value!r}")
    return value


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # every attempt, the first included (1: no retry)
    retry_mode: str = "standard"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> S3Settings:
        """NAOS_S3_BUCKET (required), NAOS_S3_PREFIX, NAOS_S3_ENDPOINT_URL, NAOS_S3_MAX_ATTEMPTS, NAOS_S3_RETRY_MODE;
        credentials and region come from the AWS_* variables as boto3 reads them."""
        bucket = (env.get("NAOS_S3_BUCKET") or "").strip()
        if not bucket:
            raise SettingsError("NAOS_S3_BUCKET", "not set (NAOS_REGISTRY=s3 needs a bucket)")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise SettingsError("NAOS_S3_BUCKET", f"{bucket!r} is not an S3 bucket name (3-63 of a-z 0-9 . -)")
        endpoint = (env.get("NAOS_S3_ENDPOINT_URL") or "").strip() or None
        if endpoint is not None:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SettingsError("NAOS_S3_ENDPOINT_URL", f"{endpoint!r} is not an http(s)://host[:port] URL")
        text = (env.get("NAOS_S3_MAX_ATTEMPTS") or "").strip() or str(DEFAULT_MAX_ATTEMPTS)
        if not text.isdigit() or int(text) < 1:
            raise SettingsError("NAOS_S3_MAX_ATTEMPTS", f"{text!r} is not a whole number >= 1")
        mode = (env.get("NAOS_S3_RETRY_MODE") or "standard").strip().lower()
        if mode not in RETRY_MODES:
            raise SettingsError("NAOS_S3_RETRY_MODE", f"must be standard or adaptive, not {mode!r}")
        prefix = (env.get("NAOS_S3_PREFIX") or "").strip().strip("/")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise SettingsError("NAOS_S3_PREFIX", f"{prefix!r} has an empty, . or .. segment")
        return cls(bucket, prefix, endpoint, int(text), mode)

    def resource(self) -> NaosS3Resource:
        from .s3_resource import NaosS3Resource

        # S3Resource's max_attempts counts retries (botocore's legacy "max_attempts"); ours counts every attempt.
        return NaosS3Resource(endpoint_url=self.endpoint_url, max_attempts=self.max_attempts - 1,
                              retry_mode=self.retry_mode)

    def step_io_manager(self, resource: NaosS3Resource | None = None) -> S3PickleIOManager:
        """Dagster's default `io_manager` on the same bucket, for outputs that are not registry artifacts (the
        per-shot fan-out of render/assets.py), so a step on any host reads what a step on another wrote."""
        from dagster_aws.s3 import S3PickleIOManager

        prefix = f"{self.prefix}/{STEP_IO_PREFIX}" if self.prefix else STEP_IO_PREFIX
        return S3PickleIOManager(s3_resource=resource or self.resource(), s3_bucket=self.bucket, s3_prefix=prefix)


def step_io_manager_from_env(env: Mapping[str, str]) -> S3PickleIOManager | None:
    """The S3 pickle IO manager when the registry is s3; None keeps Dagster's default (files under DAGSTER_HOME)."""
    return S3Settings.from_env(env).step_io_manager() if registry_backend(env) == "s3" else None


def check_bucket(store) -> None:
    """For an S3 store: the bucket exists and these credentials may use it (one HEAD), else SettingsError naming
    NAOS_S3_BUCKET or NAOS_S3_ENDPOINT_URL. Any other store passes. Called by `naos` before a run writes anything."""
    bucket = getattr(store, "bucket", None)
    if bucket is None:
        return
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = store.client.meta.endpoint_url
    try:
        store.client.head_bucket(Bucket=bucket)
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        problem = {404: "does not exist", 403: "is not accessible with these credentials (AWS_* variables)"}.get(
            status, f"cannot be used ({err})")
        raise SettingsError("NAOS_S3_BUCKET", f"bucket {bucket!r} at {where} {problem}") from None
    except NoCredentialsError:
        raise SettingsError("AWS_ACCESS_KEY_ID", "no AWS credentials found (AWS_ACCESS_KEY_ID and "
                                                 "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)") from None
    except BotoCoreError as err:  # connection refused, DNS, timeouts, after botocore's retries
        raise SettingsError("NAOS_S3_ENDPOINT_URL", f"cannot reach {where}: {err}") from None
