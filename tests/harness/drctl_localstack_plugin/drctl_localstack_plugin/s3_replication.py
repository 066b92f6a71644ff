"""S3 with cross-region replication of new objects (LocalStack stores the configuration
and copies nothing).

After a ``PutObject`` into a bucket whose replication configuration has an ``Enabled``
rule matching the key (``Filter.Prefix`` / ``Prefix``; tag filters are not evaluated),
a background thread copies the object (body, content type, user metadata) to each such
rule's destination bucket, ``DRCTL_S3_REPLICATION_DELAY`` seconds later (default 0.2),
as the account's own internal client. Only new objects written with PutObject are
replicated: no multipart uploads, copies, delete markers, replica status headers or RTC
metrics.
"""

from __future__ import annotations

import os
import threading

from localstack.aws.api import RequestContext, handler

DELAY_ENV = "DRCTL_S3_REPLICATION_DELAY"


def _delay() -> float:
    try:
        return max(0.0, float(os.environ.get(DELAY_ENV, "0.2")))
    except ValueError:
        return 0.2


def _rule_matches(rule: dict, key: str) -> bool:
    if rule.get("Status") != "Enabled":
        return False
    flt = rule.get("Filter")
    prefix = rule.get("Prefix")
    if flt is not None:
        prefix = flt.get("Prefix") or (flt.get("And") or {}).get("Prefix")
    return key.startswith(prefix or "")


def _replicate(account: str, region: str, bucket: str, key: str, version_id, dest: str) -> None:
    from localstack.aws.connect import connect_to

    try:
        src = connect_to(aws_access_key_id=account, region_name=region).s3
        args = {"Bucket": bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        obj = src.get_object(**args)
        dst = connect_to(aws_access_key_id=account, region_name=region).s3
        dst.put_object(
            Bucket=dest,
            Key=key,
            Body=obj["Body"].read(),
            ContentType=obj.get("ContentType") or "binary/octet-stream",
            Metadata=obj.get("Metadata") or {},
        )
    except Exception:  # noqa: BLE001 - the source or destination went away meanwhile
        pass


def make_provider():
    from localstack.services.s3.provider import S3Provider

    class DrctlS3Provider(S3Provider):
        @handler("PutObject", expand=False)
        def put_object(self, context: RequestContext, request):
            answer = super().put_object(context, request)
            try:
                _, s3_bucket = self._get_cross_account_bucket(context, request["Bucket"])
                config = s3_bucket.replication or {}
            except Exception:  # noqa: BLE001
                config = {}
            for rule in config.get("Rules", []) or []:
                if not _rule_matches(rule, request["Key"]):
                    continue
                dest = str(rule.get("Destination", {}).get("Bucket", "")).split(":::")[-1]
                if not dest or dest == request["Bucket"]:
                    continue
                t = threading.Timer(
                    _delay(),
                    _replicate,
                    args=(
                        context.account_id,
                        context.region,
                        request["Bucket"],
                        request["Key"],
                        answer.get("VersionId"),
                        dest,
                    ),
                )
                t.daemon = True
                t.start()
            return answer

    return DrctlS3Provider()
