"""DynamoDB on moto, with global tables (version 2019.11.21) emulated on top.

moto accepts ``UpdateTable ReplicaUpdates`` and ignores it. This provider keeps the
replication state itself, the way LocalStack's own DynamoDB provider does:

* ``TABLE_REGION[(account, table)]`` is the region whose moto backend holds the single real
  copy of a global table (its "home"); ``REPLICAS[(account, table)]`` maps every *other*
  region of the global table to its ``ReplicaDescription``. Both exist only while the table
  has at least one replica.
* A request made in a replica region for that table is served from the home region's moto
  backend (so an item written in one region is read in the other), and the answer is
  rewritten to look like the replica's (ARNs carry the replica region, ``Replicas`` lists
  the other regions).
* Settings AWS keeps per replica and drctl must set on each replica itself are kept per
  replica here: point-in-time recovery (``REPLICA_PITR``) and tags (``REPLICA_TAGS``).
  Everything else (TTL, billing, streams, deletion protection, ...) is shared, i.e. it
  acts like a synchronised setting.

Deleting: on AWS each replica is a table of its own region, and ``DeleteTable`` in a
region deletes only that region's replica; the other replicas stay (with two replicas the
survivor becomes a single-Region table). This provider does the same: ``DeleteTable`` in a
replica region drops that replica, and ``DeleteTable`` in the home region moves the real
copy (items included) to one of the replicas, which becomes the new home.

Error *codes* follow AWS; the messages of the validation errors raised here are this
emulator's own wording, so reconcilers must match on codes, never on text.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone

from localstack.aws.api import CommonServiceException, RequestContext, handler

# ---------------------------------------------------------------------------------------
# state (module level, guarded by one lock)
# ---------------------------------------------------------------------------------------
_LOCK = threading.RLock()
Key = tuple  # (account_id, table_name)

TABLE_REGION: dict[Key, str] = {}
REPLICAS: dict[Key, dict[str, dict]] = {}
# (account_id, region, table_name) -> list of {"Key", "Value"}
REPLICA_TAGS: dict[tuple, list[dict]] = {}
# (account_id, region, table_name) -> ContinuousBackupsDescription
REPLICA_PITR: dict[tuple, dict] = {}

GLOBAL_TABLE_VERSION = "2019.11.21"


def reset_state() -> None:
    with _LOCK:
        TABLE_REGION.clear()
        REPLICAS.clear()
        REPLICA_TAGS.clear()
        REPLICA_PITR.clear()


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
def _validation(msg: str) -> CommonServiceException:
    return CommonServiceException("ValidationException", msg, status_code=400, sender_fault=True)


def _not_found(name: str) -> CommonServiceException:
    return CommonServiceException(
        "ResourceNotFoundException",
        f"Requested resource not found: Table: {name} not found",
        status_code=400,
        sender_fault=True,
    )


def _table_not_found(name: str) -> CommonServiceException:
    return CommonServiceException(
        "TableNotFoundException", f"Table not found: {name}", status_code=400, sender_fault=True
    )


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
_ARN_RE = re.compile(r"^arn:[^:]+:dynamodb:([^:]*):([^:]*):table/([^/]+)")
_PARTIQL_TABLE_RE = re.compile(r'(?i)\b(?:from|into|update)\s+"?([A-Za-z0-9_.\-]+)"?')


def _parse_ref(ref: str) -> tuple[str, str | None, str | None]:
    """A TableName or table ARN -> (name, arn_region, arn_account)."""
    m = _ARN_RE.match(ref or "")
    if m:
        return m.group(3), m.group(1) or None, m.group(2) or None
    return ref, None, None


def _backend(account_id: str, region: str):
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id][region]


def _moto_table(account_id: str, region: str, name: str):
    return _backend(account_id, region).tables.get(name)


def _home_for(account_id: str, region: str, name: str) -> str | None:
    """The home region if ``region`` holds a *replica* of global table ``name``."""
    with _LOCK:
        reps = REPLICAS.get((account_id, name))
        if reps and region in reps:
            return TABLE_REGION[(account_id, name)]
    return None


def _call(context: RequestContext, operation: str, params: dict, region: str) -> dict:
    """Call moto's ``operation`` in ``region`` for the caller's account, in-process."""
    from localstack.aws.forwarder import create_aws_request_context
    from localstack.services.moto import call_moto
    from werkzeug.datastructures import Headers

    ctx = create_aws_request_context("dynamodb", operation, parameters=params, region=region)
    headers = Headers(ctx.request.headers)
    # moto takes the account from this header before the access key (see LocalStack's auth handler)
    headers["x-moto-account-id"] = context.account_id
    ctx.request.headers = headers
    ctx.account_id = context.account_id
    return call_moto(ctx)


def _swap_region(value, old: str, new: str):
    if isinstance(value, str) and value.startswith("arn:"):
        return value.replace(f":{old}:", f":{new}:", 1)
    return value


def _decorate(desc: dict, account_id: str, region: str, name: str) -> dict:
    """Make a moto TableDescription look like the one AWS returns in ``region``."""
    if not desc:
        return desc
    with _LOCK:
        key = (account_id, name)
        reps = REPLICAS.get(key)
        if not reps:
            return desc
        home = TABLE_REGION[key]
        members = [{"RegionName": home, "ReplicaStatus": "ACTIVE"}] + [
            dict(d) for d in reps.values()
        ]
    # AWS lists the *other* regions of the global table, not the one asked.
    desc["Replicas"] = [m for m in members if m["RegionName"] != region]
    desc["GlobalTableVersion"] = GLOBAL_TABLE_VERSION
    if region != home:
        for field in ("TableArn", "LatestStreamArn"):
            if field in desc:
                desc[field] = _swap_region(desc[field], home, region)
        sse = desc.get("SSEDescription")
        if sse and "KMSMasterKeyArn" in sse:  # a replica's key lives in its own region
            sse["KMSMasterKeyArn"] = _swap_region(sse["KMSMasterKeyArn"], home, region)
    return desc


def _describe(context: RequestContext, name: str, home: str) -> dict:
    return _call(context, "DescribeTable", {"TableName": name}, home)["Table"]


def _default_pitr() -> dict:
    return {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
    }


def _valid_regions() -> set[str]:
    from localstack.utils.aws.aws_stack import get_valid_regions_for_service

    return set(get_valid_regions_for_service("dynamodb"))


def _drop_replica(account_id: str, name: str, region: str) -> None:
    """Remove one replica region (not the home). Caller holds the lock."""
    key = (account_id, name)
    REPLICAS.get(key, {}).pop(region, None)
    REPLICA_TAGS.pop((account_id, region, name), None)
    REPLICA_PITR.pop((account_id, region, name), None)
    if not REPLICAS.get(key):
        REPLICAS.pop(key, None)
        TABLE_REGION.pop(key, None)


def _drop_home(account_id: str, name: str) -> str:
    """Delete the home-region replica: move the real copy to another replica region.

    Caller holds the lock and has checked that the table has at least one replica.
    Returns the new home region.
    """
    key = (account_id, name)
    old_home = TABLE_REGION[key]
    new_home = next(iter(REPLICAS[key]))
    table = _backend(account_id, old_home).tables.pop(name)
    table.region_name = new_home
    table.table_arn = table._generate_arn(name)
    table.tags = REPLICA_TAGS.pop((account_id, new_home, name), [])
    table.continuous_backups = _for_moto(
        REPLICA_PITR.pop((account_id, new_home, name), _default_pitr())
    )
    _backend(account_id, new_home).tables[name] = table
    REPLICAS[key].pop(new_home)
    TABLE_REGION[key] = new_home
    if not REPLICAS[key]:
        REPLICAS.pop(key, None)
        TABLE_REGION.pop(key, None)
    return new_home


def _for_moto(state: dict) -> dict:
    """moto serialises continuous backups with json: datetimes become epoch seconds."""
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            v = _for_moto(v)
        elif isinstance(v, datetime):
            v = v.timestamp()
        out[k] = v
    return out


def _table_names_in(op: str, request: dict) -> list[str] | None:
    """Table names (or ARNs) a data-plane request touches; None if it names no table."""
    if "TableName" in request:
        return [request["TableName"]]
    if "RequestItems" in request:  # BatchGetItem / BatchWriteItem
        return list(request["RequestItems"].keys())
    if "TransactItems" in request:  # TransactGetItems / TransactWriteItems / ExecuteTransaction
        names = []
        for item in request["TransactItems"]:
            for action in item.values():
                if isinstance(action, dict) and "TableName" in action:
                    names.append(action["TableName"])
                elif isinstance(action, str):  # ExecuteTransaction: {"Statement": "..."}
                    names.extend(_PARTIQL_TABLE_RE.findall(action))
        return names
    if "Statement" in request:  # ExecuteStatement
        return _PARTIQL_TABLE_RE.findall(request["Statement"])
    if "Statements" in request:  # BatchExecuteStatement
        names = []
        for st in request["Statements"]:
            names.extend(_PARTIQL_TABLE_RE.findall(st.get("Statement", "")))
        return names
    for field in ("ResourceArn", "TableArn"):
        if field in request:
            return [request[field]]
    return None


# ---------------------------------------------------------------------------------------
# provider
# ---------------------------------------------------------------------------------------
def make_provider():
    from .providers import moto_stub_class

    return moto_stub_class("dynamodb", base=GlobalTablesMixin)()


class GlobalTablesMixin:
    """The operations that need global-table logic; ``_route`` serves every other
    table-scoped operation made in a replica region from the home region."""

    service = "dynamodb"

    def _route(self, context: RequestContext, request: dict):
        """Serve a request from the home region if it names a replica; None = not ours."""
        refs = _table_names_in(context.operation.name, request or {})
        if not refs:
            return None
        targets = set()
        rewritten = dict(request)
        for ref in refs:
            name, arn_region, _ = _parse_ref(ref)
            home = _home_for(context.account_id, arn_region or context.region, name)
            targets.add(home or context.region)
            if home and ref != name and rewritten.get("TableName") == ref:
                rewritten["TableName"] = name  # moto matches ARNs against the home ARN
        if targets == {context.region}:
            return None
        if len(targets) > 1:
            raise _validation(
                "drctl emulator: one request cannot mix replica tables with tables of "
                "another home region"
            )
        (home,) = targets
        return _call(context, context.operation.name, rewritten, home)

    # ----- tables --------------------------------------------------------------------
    @handler("CreateTable", expand=False)
    def create_table(self, context: RequestContext, request: dict):
        name = request["TableName"]
        if _home_for(context.account_id, context.region, name):
            raise CommonServiceException(
                "ResourceInUseException", f"Table already exists: {name}", sender_fault=True
            )
        raise NotImplementedError  # moto creates it

    @handler("DescribeTable", expand=False)
    def describe_table(self, context: RequestContext, request: dict):
        name, arn_region, _ = _parse_ref(request["TableName"])
        region = arn_region or context.region
        home = _home_for(context.account_id, region, name) or region
        desc = _call(context, "DescribeTable", {"TableName": name}, home)["Table"]
        return {"Table": _decorate(desc, context.account_id, region, name)}

    @handler("ListTables", expand=False)
    def list_tables(self, context: RequestContext, request: dict):
        account, region = context.account_id, context.region
        names = set(_backend(account, region).tables.keys())
        with _LOCK:
            for (acct, name), reps in REPLICAS.items():
                if acct == account and region in reps:
                    names.add(name)
        ordered = sorted(names)
        start = request.get("ExclusiveStartTableName")
        if start:
            ordered = [n for n in ordered if n > start]
        limit = request.get("Limit") or 100
        page = ordered[:limit]
        result = {"TableNames": page}
        if len(ordered) > limit:
            result["LastEvaluatedTableName"] = page[-1]
        return result

    @handler("UpdateTable", expand=False)
    def update_table(self, context: RequestContext, request: dict):
        account, region = context.account_id, context.region
        name, _, _ = _parse_ref(request["TableName"])
        updates = request.get("ReplicaUpdates") or []
        others = {k: v for k, v in request.items() if k not in ("TableName", "ReplicaUpdates")}
        with _LOCK:
            key = (account, name)
            home = _home_for(account, region, name) or region
            table = _moto_table(account, home, name)
            if table is None:
                raise _not_found(name)
            reps = REPLICAS.get(key, {})
            spec = request.get("StreamSpecification")
            if spec is not None and not spec.get("StreamEnabled") and reps:
                raise _validation(
                    f"Table {name} has replicas: DynamoDB Streams cannot be disabled on a "
                    "global table"
                )
            creates, deletes = self._check_replica_updates(account, name, home, table, updates)

            if others:
                fwd = dict(others, TableName=name)
                result = _call(context, "UpdateTable", fwd, home)
                desc = result["TableDescription"]
            else:
                desc = None

            for target, details in creates:
                if not (table.stream_specification or {}).get("StreamEnabled"):
                    # AWS turns streams on (NEW_AND_OLD_IMAGES) when a replica is added
                    table.set_stream_specification(
                        {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
                    )
                replica = {"RegionName": target, "ReplicaStatus": "ACTIVE"}
                if details.get("KMSMasterKeyId"):
                    replica["KMSMasterKeyId"] = details["KMSMasterKeyId"]
                if details.get("TableClassOverride"):
                    replica["ReplicaTableClassSummary"] = {
                        "TableClass": details["TableClassOverride"]
                    }
                REPLICAS.setdefault(key, {})[target] = replica
                TABLE_REGION[key] = home
                REPLICA_TAGS[(account, target, name)] = []
                REPLICA_PITR[(account, target, name)] = _default_pitr()

            holder = home  # the region whose moto backend holds the table
            for target in deletes:
                if target == holder:
                    holder = _drop_home(account, name)
                else:
                    _drop_replica(account, name, target)

            if desc is None or creates or deletes:
                visible = region == holder or region in REPLICAS.get(key, {})
                desc = _describe(context, name, holder) if visible else None
            desc = _decorate(desc, account, region, name) if desc else desc
            if desc and (creates or deletes):
                # the immediate answer shows the transition, as on AWS; a later
                # DescribeTable shows ACTIVE (everything is ready at once here)
                listed = {r["RegionName"]: r for r in desc.get("Replicas", [])}
                for target, _ in creates:
                    if target in listed:
                        listed[target]["ReplicaStatus"] = "CREATING"
                for target in deletes:
                    if target != region:
                        desc.setdefault("Replicas", []).append(
                            {"RegionName": target, "ReplicaStatus": "DELETING"}
                        )
            if desc is None:
                # the region asked just stopped holding the table (it deleted its own replica)
                desc = {"TableName": name, "TableStatus": "DELETING"}
        return {"TableDescription": desc}

    @staticmethod
    def _check_replica_updates(account, name, home, table, updates):
        """Validate ReplicaUpdates before anything changes; return (creates, deletes)."""
        key = (account, name)
        reps = REPLICAS.get(key, {})
        creates: list[tuple[str, dict]] = []
        deletes: list[str] = []
        valid = _valid_regions()
        for update in updates:
            if len([k for k in update if update[k] is not None]) != 1:
                raise _validation("Each ReplicaUpdate must have exactly one of Create, Update, Delete")
            for action, details in update.items():
                target = (details or {}).get("RegionName")
                if target not in valid:
                    raise _validation(f"Region {target} is not supported for DynamoDB")
                if action == "Create":
                    already = (
                        target == home
                        or target in reps
                        or target in [c[0] for c in creates]
                        or _moto_table(account, target, name) is not None
                    )
                    if already:
                        raise _validation(
                            f"Failed to create a new replica of table with name: '{name}' "
                            "because one or more replicas already existed as tables."
                        )
                    if (table.billing_mode or "PROVISIONED") != "PAY_PER_REQUEST":
                        raise _validation(
                            "Table write capacity should either be Pay-Per-Request or AutoScaled."
                        )
                    view = (table.stream_specification or {}).get("StreamViewType")
                    enabled = (table.stream_specification or {}).get("StreamEnabled")
                    if enabled and view != "NEW_AND_OLD_IMAGES":
                        raise _validation(
                            "A global table replica requires DynamoDB Streams with "
                            "StreamViewType NEW_AND_OLD_IMAGES"
                        )
                    creates.append((target, details or {}))
                elif action in ("Delete", "Update"):
                    member = target in reps or (target == home and reps)
                    if not member or target in deletes:
                        raise _validation(
                            "Update global table operation failed because one or more replicas "
                            "were not part of the global table."
                        )
                    if action == "Delete":
                        deletes.append(target)
                else:
                    raise _validation(f"Unknown replica update action {action}")
        return creates, deletes

    @handler("DeleteTable", expand=False)
    def delete_table(self, context: RequestContext, request: dict):
        account, region = context.account_id, context.region
        name, _, _ = _parse_ref(request["TableName"])
        with _LOCK:
            key = (account, name)
            reps = REPLICAS.get(key)
            if not reps:
                raise NotImplementedError  # a plain regional table: moto deletes it
            home = TABLE_REGION[key]
            if region not in reps and region != home:
                raise NotImplementedError  # some other table of the same name
            table = _moto_table(account, home, name)
            if table is None:
                raise _not_found(name)
            if table.deletion_protection_enabled:
                raise _validation(
                    f"1 validation error detected: Table '{name}' can't be deleted while "
                    "DeletionProtectionEnabled is set to True"
                )
            desc = _decorate(_describe(context, name, home), account, region, name)
            desc["TableStatus"] = "DELETING"
            desc.pop("Replicas", None)
            desc.pop("GlobalTableVersion", None)
            if region == home:
                _drop_home(account, name)
            else:
                _drop_replica(account, name, region)
        return {"TableDescription": desc}

    # ----- per-replica settings: PITR -----------------------------------------------
    @handler("DescribeContinuousBackups", expand=False)
    def describe_continuous_backups(self, context: RequestContext, request: dict):
        name, arn_region, _ = _parse_ref(request["TableName"])
        region = arn_region or context.region
        with _LOCK:
            if _home_for(context.account_id, region, name):
                state = REPLICA_PITR.setdefault((context.account_id, region, name), _default_pitr())
                return {"ContinuousBackupsDescription": _copy(state)}
        raise NotImplementedError

    @handler("UpdateContinuousBackups", expand=False)
    def update_continuous_backups(self, context: RequestContext, request: dict):
        name, arn_region, _ = _parse_ref(request["TableName"])
        region = arn_region or context.region
        spec = request.get("PointInTimeRecoverySpecification") or {}
        with _LOCK:
            if not _home_for(context.account_id, region, name):
                raise NotImplementedError
            state = REPLICA_PITR.setdefault((context.account_id, region, name), _default_pitr())
            desc = state["PointInTimeRecoveryDescription"]
            if spec.get("PointInTimeRecoveryEnabled"):
                if desc.get("PointInTimeRecoveryStatus") != "ENABLED":
                    now = datetime.now(timezone.utc)
                    # same fields moto answers for a regional table
                    state["PointInTimeRecoveryDescription"] = {
                        "PointInTimeRecoveryStatus": "ENABLED",
                        "EarliestRestorableDateTime": now,
                        "LatestRestorableDateTime": now,
                    }
                    if "RecoveryPeriodInDays" in spec:
                        desc = state["PointInTimeRecoveryDescription"]
                        desc["RecoveryPeriodInDays"] = spec["RecoveryPeriodInDays"]
                elif "RecoveryPeriodInDays" in spec:
                    desc["RecoveryPeriodInDays"] = spec["RecoveryPeriodInDays"]
            else:
                state["PointInTimeRecoveryDescription"] = {"PointInTimeRecoveryStatus": "DISABLED"}
            return {"ContinuousBackupsDescription": _copy(state)}

    # ----- per-replica settings: tags (AWS semantics: a key is set, not appended) ---
    def _tag_target(self, context: RequestContext, arn: str):
        """-> ("replica", key) or ("table", moto_table); raises ResourceNotFound."""
        name, arn_region, arn_account = _parse_ref(arn)
        account = arn_account or context.account_id
        region = arn_region or context.region
        if _home_for(account, region, name):
            return "replica", (account, region, name)
        table = _moto_table(account, region, name)
        if table is None or table.table_arn != arn:
            raise CommonServiceException(
                "ResourceNotFoundException",
                f"Requested resource not found: ResourcArn: {arn} not found",
                sender_fault=True,
            )
        return "table", table

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict):
        with _LOCK:
            kind, target = self._tag_target(context, request["ResourceArn"])
            tags = REPLICA_TAGS.setdefault(target, []) if kind == "replica" else target.tags
            for tag in request.get("Tags") or []:
                tags[:] = [t for t in tags if t["Key"] != tag["Key"]]
                tags.append({"Key": tag["Key"], "Value": tag["Value"]})
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict):
        with _LOCK:
            kind, target = self._tag_target(context, request["ResourceArn"])
            tags = REPLICA_TAGS.setdefault(target, []) if kind == "replica" else target.tags
            drop = set(request.get("TagKeys") or [])
            tags[:] = [t for t in tags if t["Key"] not in drop]
        return {}

    @handler("ListTagsOfResource", expand=False)
    def list_tags_of_resource(self, context: RequestContext, request: dict):
        with _LOCK:
            kind, target = self._tag_target(context, request["ResourceArn"])
            tags = REPLICA_TAGS.get(target, []) if kind == "replica" else target.tags
            return {"Tags": [dict(t) for t in tags]}


def _copy(state: dict) -> dict:
    return {
        k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()
    }
