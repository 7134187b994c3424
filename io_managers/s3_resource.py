"""dagster-aws's S3 resource as the registry uses it (imported only when the registry is s3: it loads boto3)."""

from __future__ import annotations

from typing import Any

from dagster_aws.s3 import S3Resource


class NaosS3Resource(S3Resource):
    """dagster-aws's S3 resource plus botocore's adaptive retry mode (S3Resource always registers "standard")."""

    retry_mode: str = "standard"

    def get_client(self) -> Any:
        client = super().get_client()
        if self.retry_mode == "adaptive":  # what botocore itself adds on top of standard for mode="adaptive"
            from botocore.retries import adaptive

            adaptive.register_retry_handler(client)
        return client
