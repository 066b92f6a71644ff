"""DynamoDB global tables (2019.11.21) as the emulator answers them.

drctl makes the table in the primary region, then ``UpdateTable ReplicaUpdates`` adds the
secondary region; PITR and tags are set on each replica separately.
"""

import uuid

import pytest
from botocore.exceptions import ClientError

EAST, WEST, OTHER = "us-east-1", "us-west-2", "eu-west-1"


def _name() -> str:
    return f"trading-sessions-{uuid.uuid4().hex[:10]}"


def _error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def _create(ddb, name, *, streams=True, billing="PAY_PER_REQUEST"):
    kwargs = dict(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
        BillingMode=billing,
        SSESpecification={"Enabled": True},
    )
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if streams:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    return ddb.create_table(**kwargs)["TableDescription"]


@pytest.fixture
def east(client):
    return client("dynamodb", EAST)


@pytest.fixture
def west(client):
    return client("dynamodb", WEST)


@pytest.fixture
def global_table(east):
    """A table in us-east-1 with a replica in us-west-2."""
    name = _name()
    _create(east, name)
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    return name


def test_add_replica_answer_lists_it(east):
    name = _name()
    _create(east, name)
    desc = east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])[
        "TableDescription"
    ]
    assert [r["RegionName"] for r in desc["Replicas"]] == [WEST]
    assert desc["Replicas"][0]["ReplicaStatus"] in ("CREATING", "ACTIVE")
    assert desc["GlobalTableVersion"] == "2019.11.21"


def test_describe_in_both_regions(east, west, global_table):
    home = east.describe_table(TableName=global_table)["Table"]
    assert home["Replicas"] == [{"RegionName": WEST, "ReplicaStatus": "ACTIVE"}]
    assert home["GlobalTableVersion"] == "2019.11.21"
    assert f":{EAST}:" in home["TableArn"]

    replica = west.describe_table(TableName=global_table)["Table"]
    assert replica["Replicas"] == [{"RegionName": EAST, "ReplicaStatus": "ACTIVE"}]
    assert replica["GlobalTableVersion"] == "2019.11.21"
    assert replica["TableStatus"] == "ACTIVE"
    assert replica["TableArn"] == home["TableArn"].replace(f":{EAST}:", f":{WEST}:")
    assert f":{WEST}:" in replica["LatestStreamArn"]
    assert replica["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert replica["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_items_replicate_both_ways(east, west, global_table):
    east.put_item(TableName=global_table, Item={"session_id": {"S": "a"}, "v": {"N": "1"}})
    got = west.get_item(TableName=global_table, Key={"session_id": {"S": "a"}}, ConsistentRead=True)
    assert got["Item"]["v"] == {"N": "1"}

    west.put_item(TableName=global_table, Item={"session_id": {"S": "b"}, "v": {"N": "2"}})
    got = east.get_item(TableName=global_table, Key={"session_id": {"S": "b"}})
    assert got["Item"]["v"] == {"N": "2"}

    assert west.scan(TableName=global_table)["Count"] == 2
    batch = west.batch_get_item(
        RequestItems={global_table: {"Keys": [{"session_id": {"S": "a"}}, {"session_id": {"S": "b"}}]}}
    )
    assert len(batch["Responses"][global_table]) == 2


def test_list_tables_in_replica_region(client, west, global_table):
    assert global_table in west.list_tables()["TableNames"]
    assert global_table not in client("dynamodb", OTHER).list_tables()["TableNames"]


def test_pitr_is_per_replica(east, west, global_table):
    def status(ddb):
        cb = ddb.describe_continuous_backups(TableName=global_table)["ContinuousBackupsDescription"]
        return cb["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]

    east.update_continuous_backups(
        TableName=global_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    assert status(east) == "ENABLED"
    assert status(west) == "DISABLED"  # AWS does not copy PITR to replicas: drctl sets it on each
    out = west.update_continuous_backups(
        TableName=global_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    pitr = out["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"
    assert status(west) == "ENABLED"


def test_tags_on_replica_arn(east, west, global_table):
    home_arn = east.describe_table(TableName=global_table)["Table"]["TableArn"]
    replica_arn = west.describe_table(TableName=global_table)["Table"]["TableArn"]
    east.tag_resource(ResourceArn=home_arn, Tags=[{"Key": "drctl:env", "Value": "home"}])
    west.tag_resource(ResourceArn=replica_arn, Tags=[{"Key": "drctl:env", "Value": "x"}])
    west.tag_resource(ResourceArn=replica_arn, Tags=[{"Key": "drctl:env", "Value": "replica"}])
    assert west.list_tags_of_resource(ResourceArn=replica_arn)["Tags"] == [
        {"Key": "drctl:env", "Value": "replica"}
    ]
    assert east.list_tags_of_resource(ResourceArn=home_arn)["Tags"] == [
        {"Key": "drctl:env", "Value": "home"}
    ]
    west.untag_resource(ResourceArn=replica_arn, TagKeys=["drctl:env"])
    assert west.list_tags_of_resource(ResourceArn=replica_arn)["Tags"] == []


def test_duplicate_replica_is_rejected(east, west, global_table):
    for ddb in (east, west):
        with pytest.raises(ClientError) as err:
            ddb.update_table(
                TableName=global_table, ReplicaUpdates=[{"Create": {"RegionName": WEST}}]
            )
        assert _error_code(err.value) == "ValidationException"


def test_home_region_replica_is_rejected(east):
    name = _name()
    _create(east, name)
    with pytest.raises(ClientError) as err:
        east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": EAST}}])
    assert _error_code(err.value) == "ValidationException"


def test_provisioned_table_without_autoscaling_is_rejected(east):
    name = _name()
    _create(east, name, billing="PROVISIONED")
    with pytest.raises(ClientError) as err:
        east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert _error_code(err.value) == "ValidationException"


def test_adding_a_replica_turns_streams_on(east):
    name = _name()
    _create(east, name, streams=False)
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    spec = east.describe_table(TableName=name)["Table"]["StreamSpecification"]
    assert spec == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_create_table_where_a_replica_exists_conflicts(west, global_table):
    with pytest.raises(ClientError) as err:
        _create(west, global_table)
    assert _error_code(err.value) == "ResourceInUseException"


def test_delete_unknown_replica_is_rejected(east, global_table):
    with pytest.raises(ClientError) as err:
        east.update_table(TableName=global_table, ReplicaUpdates=[{"Delete": {"RegionName": OTHER}}])
    assert _error_code(err.value) == "ValidationException"


def test_replica_delete(client, east, west, global_table):
    east.update_table(TableName=global_table, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    with pytest.raises(ClientError) as err:
        west.describe_table(TableName=global_table)
    assert _error_code(err.value) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        west.get_item(TableName=global_table, Key={"session_id": {"S": "a"}})
    assert _error_code(err.value) == "ResourceNotFoundException"
    assert global_table not in west.list_tables()["TableNames"]
    home = east.describe_table(TableName=global_table)["Table"]
    assert "Replicas" not in home and "GlobalTableVersion" not in home
    # the region is free again: it can become a replica anew
    east.update_table(TableName=global_table, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert west.describe_table(TableName=global_table)["Table"]["TableStatus"] == "ACTIVE"


def test_table_delete_after_replicas(east, west, global_table):
    east.update_table(TableName=global_table, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    out = east.delete_table(TableName=global_table)["TableDescription"]
    assert out["TableStatus"] in ("DELETING", "ACTIVE")
    for ddb in (east, west):
        with pytest.raises(ClientError) as err:
            ddb.describe_table(TableName=global_table)
        assert _error_code(err.value) == "ResourceNotFoundException"
        assert global_table not in ddb.list_tables()["TableNames"]


def test_delete_table_in_replica_region_drops_only_that_replica(east, west, global_table):
    west.delete_table(TableName=global_table)
    with pytest.raises(ClientError):
        west.describe_table(TableName=global_table)
    assert "Replicas" not in east.describe_table(TableName=global_table)["Table"]


def test_delete_table_in_home_region_keeps_the_replica(east, west, global_table):
    """As on AWS, DeleteTable deletes one region's replica; the other stays with the data."""
    east.put_item(TableName=global_table, Item={"session_id": {"S": "kept"}})
    west_arn = west.describe_table(TableName=global_table)["Table"]["TableArn"]
    west.update_continuous_backups(
        TableName=global_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    west.tag_resource(ResourceArn=west_arn, Tags=[{"Key": "k", "Value": "v"}])

    east.delete_table(TableName=global_table)
    with pytest.raises(ClientError) as err:
        east.describe_table(TableName=global_table)
    assert _error_code(err.value) == "ResourceNotFoundException"

    survivor = west.describe_table(TableName=global_table)["Table"]
    assert survivor["TableArn"] == west_arn
    assert "Replicas" not in survivor
    assert west.get_item(TableName=global_table, Key={"session_id": {"S": "kept"}})["Item"]
    cb = west.describe_continuous_backups(TableName=global_table)["ContinuousBackupsDescription"]
    assert cb["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert west.list_tags_of_resource(ResourceArn=west_arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    west.delete_table(TableName=global_table)
    assert global_table not in west.list_tables()["TableNames"]


def test_full_drctl_lifecycle(east, west):
    """The order drctl uses: create, replica, PITR both, tags both, then destroy."""
    name = _name()
    _create(east, name)
    east.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    west.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    for ddb in (east, west):
        table = ddb.describe_table(TableName=name)["Table"]
        assert table["Replicas"][0]["ReplicaStatus"] == "ACTIVE"
        ddb.tag_resource(ResourceArn=table["TableArn"], Tags=[{"Key": "drctl:env", "Value": "t"}])
    east.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    east.delete_table(TableName=name)
    assert name not in east.list_tables()["TableNames"]
    assert name not in west.list_tables()["TableNames"]


def test_replica_updates_can_delete_the_home_replica(east, west, global_table):
    east.put_item(TableName=global_table, Item={"session_id": {"S": "kept"}})
    out = west.update_table(
        TableName=global_table, ReplicaUpdates=[{"Delete": {"RegionName": EAST}}]
    )["TableDescription"]
    assert out["TableStatus"] == "ACTIVE"
    assert f":{WEST}:" in out["TableArn"]
    assert {"RegionName": EAST, "ReplicaStatus": "DELETING"} in out["Replicas"]
    with pytest.raises(ClientError):
        east.describe_table(TableName=global_table)
    assert west.get_item(TableName=global_table, Key={"session_id": {"S": "kept"}})["Item"]
    assert "Replicas" not in west.describe_table(TableName=global_table)["Table"]
