"""Resource Groups Tagging API ``GetResources`` as AWS answers it, for what drctl tags.

LocalStack's own provider hands ``GetResources`` to moto's tagging backend, which (a) does
not see the stores of LocalStack's native providers (S3, CloudWatch), nor several moto
resources (RDS subnet groups, Route53, ELBv2 listeners, ...), and (b) cuts pages after
~100 *tags* whatever ``ResourcesPerPage`` says. This provider answers ``GetResources``
itself; every other operation of the API still falls through to moto.

The answer for a request in (account, region) is, deduplicated by ARN:

1. everything moto's tagging backend lists (all its pages);
2. plus what it misses, read from the emulator's stores, with all their tags:
   S3 buckets whose *own* region is this region (LocalStack's S3 store), CloudWatch metric
   and composite alarms (LocalStack's CloudWatch store), RDS subnet/parameter/option/
   security groups, event subscriptions, proxies, ... (moto's rds backend), ELBv2 listeners
   and listener rules (moto's elbv2 backend), EC2 Elastic IPs and launch templates (moto's
   ec2 backend), DynamoDB replica tables of the plugin's global tables
   (``dynamodb_global.REPLICA_TAGS``), and Route53 hosted zones and health checks (moto's
   global route53 backend; listed in the partition's global region only, us-east-1).

Then, as AWS:

* resources without any tag are left out (AWS also lists resources that *had* tags, with
  ``Tags: []``; the emulator does not remember those);
* ``TagFilters``: every filter must match; a filter matches when the key is present and,
  if ``Values`` is non-empty, the value is one of them;
* ``ResourceTypeFilters``: ``service`` or ``service:type`` (the ARN's service, and the
  part of the ARN's resource before the first ``/`` or ``:``; ``s3:bucket``,
  ``sns:topic`` for ARNs without one), e.g. ``s3``, ``ec2:instance``;
* ``ResourceARNList``: only those ARNs; may not be combined with the filters or the
  paging parameters (``InvalidParameterException``);
* pages hold ``ResourcesPerPage`` resources (default and maximum 100; outside 1..100 is an
  ``InvalidParameterException``, as on AWS), and no more tags than ``TagsPerPage`` if it
  is given (100..500; a resource is never split); ``PaginationToken`` is ``""`` on the
  last page.

Order and tokens: resources come sorted by ARN. A token is opaque (base64 of JSON) and
holds the last ARN returned plus a hash of the request's filters; the next page starts
after that ARN. No state is kept on the server, tokens never expire, and resources created
or deleted between two pages cannot make a page repeat or skip the others. A token used
with different filters, or that does not decode, is an ``InvalidParameterException``.

Imports of LocalStack / moto internals stay inside the functions (see providers.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator

from localstack.aws.api import RequestContext, handler

DEFAULT_RESOURCES_PER_PAGE = 100
MAX_RESOURCES_PER_PAGE = 100
MIN_TAGS_PER_PAGE, MAX_TAGS_PER_PAGE = 100, 500
MAX_ARN_LIST = 100

# the Region whose endpoint answers for a partition's global services (Route53)
GLOBAL_REGION = {"aws": "us-east-1", "aws-cn": "cn-northwest-1", "aws-us-gov": "us-gov-west-1"}

Tags = list[dict[str, str]]


# ---------------------------------------------------------------------------------------
# provider
# ---------------------------------------------------------------------------------------
def make_provider():
    from .providers import moto_stub_class

    return moto_stub_class("resourcegroupstaggingapi", base=GetResourcesMixin)()


class GetResourcesMixin:
    service = "resourcegroupstaggingapi"

    @handler("GetResources", expand=False)
    def get_resources(self, context: RequestContext, request: dict):
        return get_resources(context.account_id, context.region, request or {})


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
def _invalid(msg: str):
    from localstack.aws.api.resourcegroupstaggingapi import InvalidParameterException

    return InvalidParameterException(msg)


# ---------------------------------------------------------------------------------------
# the operation
# ---------------------------------------------------------------------------------------
def get_resources(account_id: str, region: str, request: dict) -> dict:
    tag_filters = request.get("TagFilters") or []
    type_filters = request.get("ResourceTypeFilters") or []
    arn_list = request.get("ResourceARNList")
    token = request.get("PaginationToken") or ""
    per_page = request.get("ResourcesPerPage")
    tags_per_page = request.get("TagsPerPage")

    if arn_list is not None:
        if tag_filters or type_filters:
            raise _invalid(
                "ResourceARNList cannot be combined with TagFilters or ResourceTypeFilters"
            )
        if token or per_page is not None or tags_per_page is not None:
            raise _invalid(
                "ResourceARNList cannot be combined with PaginationToken, ResourcesPerPage "
                "or TagsPerPage"
            )
        if not 1 <= len(arn_list) <= MAX_ARN_LIST:
            raise _invalid(f"ResourceARNList must hold 1 to {MAX_ARN_LIST} ARNs")
    if per_page is None:
        per_page = DEFAULT_RESOURCES_PER_PAGE
    if not 1 <= per_page <= MAX_RESOURCES_PER_PAGE:
        raise _invalid(f"ResourcesPerPage must be between 1 and {MAX_RESOURCES_PER_PAGE}")
    if tags_per_page is not None and not MIN_TAGS_PER_PAGE <= tags_per_page <= MAX_TAGS_PER_PAGE:
        raise _invalid(
            f"TagsPerPage must be between {MIN_TAGS_PER_PAGE} and {MAX_TAGS_PER_PAGE}"
        )
    for f in tag_filters:
        if not f.get("Key"):
            raise _invalid("Each TagFilter must have a Key")

    fingerprint = _fingerprint(tag_filters, type_filters)
    after = _decode_token(token, fingerprint) if token else None

    wanted = set(arn_list) if arn_list is not None else None
    matches = [
        (arn, tags)
        for arn, tags in collect(account_id, region).items()
        if tags
        and (wanted is None or arn in wanted)
        and _tags_match(tags, tag_filters)
        and _type_matches(arn, type_filters)
    ]
    matches.sort(key=lambda m: m[0])
    if after is not None:
        matches = [m for m in matches if m[0] > after]

    page: list[dict] = []
    tag_count = 0
    for arn, tags in matches:
        if len(page) >= per_page:
            break
        cost = max(len(tags), 1)  # AWS: a resource without tags counts as one
        if tags_per_page is not None and page and tag_count + cost > tags_per_page:
            break
        page.append({"ResourceARN": arn, "Tags": [dict(t) for t in tags]})
        tag_count += cost
    more = len(page) < len(matches)
    next_token = _encode_token(page[-1]["ResourceARN"], fingerprint) if more else ""
    return {"ResourceTagMappingList": page, "PaginationToken": next_token}


# ---------------------------------------------------------------------------------------
# filters and tokens
# ---------------------------------------------------------------------------------------
def _tags_match(tags: Tags, tag_filters: list[dict]) -> bool:
    have = {t["Key"]: t.get("Value", "") for t in tags}
    for f in tag_filters:
        key = f["Key"]
        if key not in have:
            return False
        values = f.get("Values") or []
        if values and have[key] not in values:
            return False
    return True


def resource_type(arn: str) -> str:
    """``service:type`` of an ARN (``ec2:instance``, ``s3:bucket``, ``rds:subgrp``)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ""
    service, resource = parts[2], parts[5]
    cut = [i for i in (resource.find("/"), resource.find(":")) if i >= 0]
    if cut:
        return f"{service}:{resource[: min(cut)]}"
    return {"s3": "s3:bucket", "sns": "sns:topic", "sqs": "sqs:queue"}.get(service, service)


def _type_matches(arn: str, type_filters: list[str]) -> bool:
    if not type_filters:
        return True
    kind = resource_type(arn)
    service = kind.split(":", 1)[0]
    return any(f == service or f == kind for f in type_filters)


def _fingerprint(tag_filters: list[dict], type_filters: list[str]) -> str:
    norm = {
        "t": sorted(
            [f["Key"], sorted(f.get("Values") or [])] for f in tag_filters
        ),
        "r": sorted(type_filters),
    }
    return hashlib.sha256(json.dumps(norm, sort_keys=True).encode()).hexdigest()[:16]


def _encode_token(last_arn: str, fingerprint: str) -> str:
    raw = json.dumps({"v": 1, "after": last_arn, "f": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_token(token: str, fingerprint: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after, got = data["after"], data["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _invalid("The PaginationToken is not valid") from None
    if got != fingerprint or not isinstance(after, str):
        raise _invalid("The PaginationToken was issued for a request with other filters")
    return after


# ---------------------------------------------------------------------------------------
# collecting: ARN -> tags, from moto's tagging backend and the stores it does not see
# ---------------------------------------------------------------------------------------
def collect(account_id: str, region: str) -> dict[str, Tags]:
    found: dict[str, Tags] = {}
    sources = (
        _moto_tagging,
        _s3_buckets,
        _cloudwatch_alarms,
        _rds_resources,
        _elbv2_listeners,
        _ec2_extra,
        _dynamodb_replicas,
        _route53,
    )
    for source in sources:
        for arn, tags in source(account_id, region):
            if arn and arn not in found:
                found[arn] = _normalise(tags)
    return found


def _normalise(tags) -> Tags:
    if isinstance(tags, dict):
        return [{"Key": k, "Value": v if v is not None else ""} for k, v in tags.items()]
    return [{"Key": t["Key"], "Value": t.get("Value") or ""} for t in tags or []]


def _moto_tagging(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """Every page of moto's own answer, unfiltered (filters are applied later)."""
    from moto.resourcegroupstaggingapi.models import resourcegroupstaggingapi_backends

    backend = resourcegroupstaggingapi_backends[account_id][region]
    token = None
    while True:
        token, items = backend.get_resources(
            pagination_token=token,
            resources_per_page=1_000_000,
            tags_per_page=1_000_000_000,
            tag_filters=[],
            resource_type_filters=[],
        )
        for item in items:
            yield item["ResourceARN"], item.get("Tags") or []
        if not token:
            return


def _s3_buckets(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """LocalStack's S3 store: ``buckets`` is shared by all regions of an account (each
    bucket knows its ``bucket_region``); tags live in the store's ``TAGS`` service (one
    for all accounts), keyed by the bucket ARN."""
    from localstack.services.s3.models import s3_stores

    store = s3_stores[account_id][region]
    for bucket in list(store.buckets.values()):
        if bucket.bucket_region != region:
            continue
        tags = store.TAGS.list_tags_for_resource(bucket.bucket_arn)["Tags"]
        yield bucket.bucket_arn, tags


def _cloudwatch_alarms(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """LocalStack's CloudWatch (v2) store: ``alarms`` by ARN per region; tags in the
    account-wide ``TAGS`` service (TagResource). Tags given to PutMetricAlarm are kept in
    the alarm itself only; they are merged in below TagResource's."""
    from localstack.services.cloudwatch.models import cloudwatch_stores

    store = cloudwatch_stores[account_id][region]
    for arn, alarm in list(store.alarms.items()):
        tags = {t["Key"]: t.get("Value", "") for t in alarm.alarm.get("Tags") or []}
        for t in store.TAGS.list_tags_for_resource(arn)["Tags"]:
            tags[t["Key"]] = t["Value"]
        yield arn, tags


def _rds_resources(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """moto's rds backend: every regional resource kind of its ``resource_map``
    (instances, clusters and snapshots are already in moto's tagging answer)."""
    from moto.rds.models import rds_backends

    backend = rds_backends[account_id][region]
    for model, resources in list(backend.resource_map.items()):
        if model.__name__ in ("GlobalCluster", "ExportTask"):
            continue  # global ARN / not taggable
        for resource in list(resources.values()):
            yield resource.arn, resource.get_tags()


def _elbv2_listeners(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """moto's elbv2 backend: listeners and listener rules (tags in ``tagging_service``)."""
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[account_id][region]
    for lb in list(backend.load_balancers.values()):
        for listener in list(lb.listeners.values()):
            yield listener.arn, _moto_tags(backend.tagging_service, listener.arn)
            for rule_arn in list(getattr(listener, "_non_default_rules", {})):
                yield rule_arn, _moto_tags(backend.tagging_service, rule_arn)


def _moto_tags(tagging_service, arn: str) -> Tags:
    return tagging_service.list_tags_for_resource(arn)["Tags"]


def _ec2_extra(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """moto's ec2 backend: Elastic IPs and launch templates (tags in ``ec2_backend.tags``)."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account_id][region]
    prefix = f"arn:{_partition(region)}:ec2:{region}:{account_id}"
    for address in list(backend.addresses):
        if address.allocation_id:
            tags = backend.tags.get(address.allocation_id, {})
            yield f"{prefix}:elastic-ip/{address.allocation_id}", tags
    for template_id in list(backend.launch_templates):
        yield f"{prefix}:launch-template/{template_id}", backend.tags.get(template_id, {})


def _dynamodb_replicas(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """Replica tables of the plugin's global tables (moto holds only the home table)."""
    from . import dynamodb_global as g

    with g._LOCK:
        replicas = [
            (name, list(tags))
            for (account, reg, name), tags in g.REPLICA_TAGS.items()
            if account == account_id and reg == region
        ]
    for name, tags in replicas:
        yield f"arn:{_partition(region)}:dynamodb:{region}:{account_id}:table/{name}", tags


def _route53(account_id: str, region: str) -> Iterator[tuple[str, Tags]]:
    """moto's route53 backend is global: ``route53_backends[account][partition]``; tags
    are in ``resource_tags[<zone or health check id>]``. AWS answers for them in the
    partition's global region only."""
    partition = _partition(region)
    if GLOBAL_REGION.get(partition) != region:
        return
    from moto.route53.models import route53_backends

    backend = route53_backends[account_id][partition]
    for zone_id in list(backend.zones):
        bare = zone_id.rsplit("/", 1)[-1]
        tags = backend.resource_tags.get(bare) or backend.resource_tags.get(zone_id) or {}
        yield f"arn:{partition}:route53:::hostedzone/{bare}", dict(tags)
    for check_id in list(backend.health_checks):
        tags = backend.resource_tags.get(check_id) or {}
        yield f"arn:{partition}:route53:::healthcheck/{check_id}", dict(tags)


def _partition(region: str) -> str:
    from localstack.utils.aws.arns import get_partition

    return get_partition(region)

