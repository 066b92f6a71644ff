"""Resource Groups Tagging API GetResources as AWS answers it (the plugin's ``tagging``).

drctl reads a region's ownership tags with one paginated GetResources (TagFilters
``drctl:env=<env>``). On AWS that lists S3 buckets (in their own region), CloudWatch
alarms, RDS DB subnet groups, ELBv2 listeners, and, in us-east-1 only, Route53 hosted zones
and health checks, each with all its tags; pages hold up to ResourcesPerPage (100) items.
"""

import uuid

import pytest
from botocore.exceptions import ClientError

EAST, WEST = "us-east-1", "us-west-2"
REGIONS = [EAST, WEST]
ENV = "drctl:env"
ADDRESS = "drctl:address"


def _error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def _tags(env: str, address: str, **extra) -> list[dict]:
    tags = {ENV: env, ADDRESS: address, **extra}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _as_dict(tags: list[dict]) -> dict:
    return {t["Key"]: t["Value"] for t in tags}


def _all_pages(tagging, **kwargs) -> list[list[dict]]:
    pages = []
    token = None
    while True:
        args = dict(kwargs)
        if token:
            args["PaginationToken"] = token
        answer = tagging.get_resources(**args)
        pages.append(answer["ResourceTagMappingList"])
        token = answer.get("PaginationToken")
        if not token:
            return pages
        assert len(pages) < 1000, "pagination does not end"


def _get_all(tagging, **kwargs) -> dict[str, dict]:
    """ARN -> tags over every page; fails on a duplicate ARN."""
    found = {}
    for page in _all_pages(tagging, **kwargs):
        for m in page:
            assert m["ResourceARN"] not in found, f"duplicate {m['ResourceARN']}"
            found[m["ResourceARN"]] = _as_dict(m["Tags"])
    return found


def _network(ec2, cidr_prefix: str):
    vpc = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    azs = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr_prefix}.{i}.0/24", AvailabilityZone=az)[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate(azs)
    ]
    return vpc, subnets


@pytest.fixture(scope="module")
def account(client):
    return client("sts").get_caller_identity()["Account"]


@pytest.fixture(scope="module")
def stack(client, account):
    """One tagged resource of each kind per region (Route53: once, global), all tagged
    ``drctl:env=<env>`` (unique per run), ``drctl:address=<kind>.<region>`` and
    ``team=<a in us-east-1, b in us-west-2>``. Returns env and, per region, ARN -> tags."""
    env = f"tagtest-{uuid.uuid4().hex[:10]}"
    suffix = uuid.uuid4().hex[:8]
    expected = {EAST: {}, WEST: {}}
    cleanup = []

    def add(region, arn, address, tags):
        expected[region][arn] = _as_dict(tags)
        assert _as_dict(tags)[ADDRESS] == address

    for n, region in enumerate(REGIONS):
        team = "a" if region == EAST else "b"

        def t(kind, region=region, team=team):
            return _tags(env, f"{kind}.{region}", team=team)

        # S3 bucket (us-west-2 with a location constraint)
        s3 = client("s3", region)
        bucket = f"drctl-tag-{suffix}-{region}"
        kwargs = {"Bucket": bucket}
        if region != EAST:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": t("bucket")})
        add(region, f"arn:aws:s3:::{bucket}", f"bucket.{region}", t("bucket"))
        cleanup.append(lambda s3=s3, b=bucket: s3.delete_bucket(Bucket=b))

        # CloudWatch alarm: PutMetricAlarm without Tags, then TagResource (see README)
        cw = client("cloudwatch", region)
        alarm = f"drctl-tag-{suffix}-cpu"
        cw.put_metric_alarm(
            AlarmName=alarm,
            MetricName="CPUUtilization",
            Namespace="AWS/EC2",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=80.0,
            ComparisonOperator="GreaterThanThreshold",
        )
        alarm_arn = cw.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmArn"]
        assert alarm_arn == f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"
        cw.tag_resource(ResourceARN=alarm_arn, Tags=t("alarm"))
        add(region, alarm_arn, f"alarm.{region}", t("alarm"))
        cleanup.append(lambda cw=cw, a=alarm: cw.delete_alarms(AlarmNames=[a]))

        # network: VPC + 2 subnets (untagged: not listed) and a tagged security group
        ec2 = client("ec2", region)
        vpc, subnets = _network(ec2, f"10.{40 + n}")
        cleanup.append(lambda ec2=ec2, v=vpc: ec2.delete_vpc(VpcId=v))
        for subnet in subnets:
            cleanup.append(lambda ec2=ec2, s=subnet: ec2.delete_subnet(SubnetId=s))
        sg = ec2.create_security_group(
            GroupName=f"drctl-tag-{suffix}",
            Description="t",
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": t("sg")}],
        )["GroupId"]
        add(region, f"arn:aws:ec2:{region}:{account}:security-group/{sg}", f"sg.{region}", t("sg"))
        cleanup.append(lambda ec2=ec2, g=sg: ec2.delete_security_group(GroupId=g))

        # RDS DB subnet group
        rds = client("rds", region)
        group = rds.create_db_subnet_group(
            DBSubnetGroupName=f"drctl-tag-{suffix}",
            DBSubnetGroupDescription="t",
            SubnetIds=subnets,
            Tags=t("subgrp"),
        )["DBSubnetGroup"]
        assert group["DBSubnetGroupArn"] == (
            f"arn:aws:rds:{region}:{account}:subgrp:drctl-tag-{suffix}"
        )
        add(region, group["DBSubnetGroupArn"], f"subgrp.{region}", t("subgrp"))
        cleanup.append(
            lambda rds=rds, g=group["DBSubnetGroupName"]: rds.delete_db_subnet_group(
                DBSubnetGroupName=g
            )
        )

        # ALB, target group, listener (all tagged)
        elb = client("elbv2", region)
        lb = elb.create_load_balancer(
            Name=f"tag-alb-{suffix}",
            Subnets=subnets,
            SecurityGroups=[sg],
            Scheme="internet-facing",
            Type="application",
            Tags=t("alb"),
        )["LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(
            Name=f"tag-tg-{suffix}",
            Protocol="HTTP",
            Port=80,
            VpcId=vpc,
            Tags=t("tg"),
        )["TargetGroups"][0]["TargetGroupArn"]
        listener = elb.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
            Tags=t("listener"),
        )["Listeners"][0]["ListenerArn"]
        add(region, lb, f"alb.{region}", t("alb"))
        add(region, tg, f"tg.{region}", t("tg"))
        add(region, listener, f"listener.{region}", t("listener"))
        # undone in reverse order: listener, then target group, then load balancer
        cleanup.append(lambda elb=elb, lb=lb: elb.delete_load_balancer(LoadBalancerArn=lb))
        cleanup.append(lambda elb=elb, tg=tg: elb.delete_target_group(TargetGroupArn=tg))
        cleanup.append(lambda elb=elb, x=listener: elb.delete_listener(ListenerArn=x))

    # Route53 (global; the API is called through us-east-1): a health check and a zone
    r53 = client("route53", EAST)
    check = r53.create_health_check(
        CallerReference=f"drctl-tag-{suffix}",
        HealthCheckConfig={
            "Type": "HTTP",
            "FullyQualifiedDomainName": "example.com",
            "Port": 80,
            "ResourcePath": "/health",
        },
    )["HealthCheck"]["Id"]
    hc_tags = _tags(env, "hc.global", team="a")
    r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check, AddTags=hc_tags)
    add(EAST, f"arn:aws:route53:::healthcheck/{check}", "hc.global", hc_tags)
    cleanup.append(lambda: r53.delete_health_check(HealthCheckId=check))
    zone = r53.create_hosted_zone(
        Name=f"{suffix}.drctl-test.example.", CallerReference=f"drctl-tag-{suffix}"
    )["HostedZone"]["Id"].rsplit("/", 1)[-1]
    zone_tags = _tags(env, "zone.global", team="a")
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone, AddTags=zone_tags)
    add(EAST, f"arn:aws:route53:::hostedzone/{zone}", "zone.global", zone_tags)
    cleanup.append(lambda: r53.delete_hosted_zone(Id=zone))

    yield {"env": env, "expected": expected}

    for undo in reversed(cleanup):
        try:
            undo()
        except ClientError:
            pass  # best effort: each emulator start has fresh state anyway


@pytest.mark.parametrize("region", REGIONS)
def test_env_filter_lists_every_kind_with_all_tags(client, stack, region):
    found = _get_all(
        client("resourcegroupstaggingapi", region),
        TagFilters=[{"Key": ENV, "Values": [stack["env"]]}],
    )
    assert found == stack["expected"][region]


def test_kinds_listed_per_region(stack):
    """What the fixture expects: each kind once per region, Route53 in us-east-1 only."""
    kinds = {
        region: sorted(tags[ADDRESS].split(".")[0] for tags in stack["expected"][region].values())
        for region in REGIONS
    }
    regional = ["alarm", "alb", "bucket", "listener", "sg", "subgrp", "tg"]
    assert kinds[WEST] == regional
    assert kinds[EAST] == sorted(regional + ["hc", "zone"])


def test_bucket_and_alarm_only_in_their_region(client, stack):
    west = _get_all(
        client("resourcegroupstaggingapi", WEST),
        TagFilters=[{"Key": ENV, "Values": [stack["env"]]}],
    )
    for arn in stack["expected"][EAST]:
        assert arn not in west
    assert not any(":route53:" in arn for arn in west)


def test_second_filter_narrows(client, stack):
    tagging = client("resourcegroupstaggingapi", EAST)
    env = stack["env"]
    expected = stack["expected"][EAST]
    only_bucket = _get_all(
        tagging,
        TagFilters=[
            {"Key": ENV, "Values": [env]},
            {"Key": ADDRESS, "Values": [f"bucket.{EAST}", "no-such-address"]},
        ],
    )
    assert list(only_bucket) == [a for a, t in expected.items() if t[ADDRESS] == f"bucket.{EAST}"]
    mine = {"Key": ENV, "Values": [env]}
    # a key without values: the key must be present, any value
    assert _get_all(tagging, TagFilters=[mine, {"Key": "team"}]) == expected
    # a key no resource has: nothing
    assert _get_all(tagging, TagFilters=[mine, {"Key": "nope"}]) == {}
    # the other region's team value: nothing here
    assert _get_all(tagging, TagFilters=[mine, {"Key": "team", "Values": ["b"]}]) == {}


def test_resource_type_filters(client, stack):
    tagging = client("resourcegroupstaggingapi", EAST)
    env_filter = [{"Key": ENV, "Values": [stack["env"]]}]
    expected = stack["expected"][EAST]

    def kinds(types):
        found = _get_all(tagging, TagFilters=env_filter, ResourceTypeFilters=types)
        assert all(found[a] == expected[a] for a in found)
        return sorted(t[ADDRESS].split(".")[0] for t in found.values())

    assert kinds(["s3"]) == ["bucket"]
    assert kinds(["ec2:security-group"]) == ["sg"]
    assert kinds(["cloudwatch:alarm", "rds"]) == ["alarm", "subgrp"]
    assert kinds(["elasticloadbalancing:listener"]) == ["listener"]
    assert kinds(["elasticloadbalancing"]) == ["alb", "listener", "tg"]
    assert kinds(["route53"]) == ["hc", "zone"]
    assert kinds(["route53:hostedzone"]) == ["zone"]
    assert kinds(["ec2:instance"]) == []


@pytest.mark.parametrize("region", REGIONS)
def test_small_pages_lose_and_repeat_nothing(client, stack, region):
    tagging = client("resourcegroupstaggingapi", region)
    pages = _all_pages(
        tagging, TagFilters=[{"Key": ENV, "Values": [stack["env"]]}], ResourcesPerPage=2
    )
    expected = stack["expected"][region]
    assert [len(p) for p in pages] == [2] * (len(expected) // 2) + (
        [len(expected) % 2] if len(expected) % 2 else []
    )
    arns = [m["ResourceARN"] for p in pages for m in p]
    assert len(arns) == len(set(arns))
    assert {m["ResourceARN"]: _as_dict(m["Tags"]) for p in pages for m in p} == expected


def test_pages_are_filled_up_to_resources_per_page(client):
    """AWS fills a page up to ResourcesPerPage (default 100), whatever the tag count."""
    ec2 = client("ec2", WEST)
    tagging = client("resourcegroupstaggingapi", WEST)
    env = f"tagpages-{uuid.uuid4().hex[:10]}"
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    groups = set()
    for i in range(25):
        tags = _tags(env, f"sg.{i}", a="1", b="2", c="3", d="4", e="5")
        sg = ec2.create_security_group(
            GroupName=f"pages-{env}-{i}",
            Description="t",
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
        groups.add(sg)
    env_filter = [{"Key": ENV, "Values": [env]}]

    first = tagging.get_resources(TagFilters=env_filter)
    assert len(first["ResourceTagMappingList"]) == 25  # 175 tags: one page all the same
    assert first.get("PaginationToken", "") == ""
    assert {m["ResourceARN"].rsplit("/", 1)[-1] for m in first["ResourceTagMappingList"]} == groups

    pages = _all_pages(tagging, TagFilters=env_filter, ResourcesPerPage=10)
    assert [len(p) for p in pages] == [10, 10, 5]
    assert len({m["ResourceARN"] for p in pages for m in p}) == 25

    # TagsPerPage (100..500) also bounds a page; a resource is never split (7 tags each)
    pages = _all_pages(tagging, TagFilters=env_filter, TagsPerPage=100)
    assert [len(p) for p in pages] == [14, 11]

    for sg in groups:
        ec2.delete_security_group(GroupId=sg)
    ec2.delete_vpc(VpcId=vpc)


def test_without_filters_envs_are_not_confused(client, stack):
    """No filter lists every tagged resource of the region; each keeps its own tags."""
    s3 = client("s3", EAST)
    other_env = f"other-{uuid.uuid4().hex[:10]}"
    bucket = f"drctl-other-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tags(other_env, "bucket.other")})
    try:
        tagging = client("resourcegroupstaggingapi", EAST)
        everything = _get_all(tagging)
        for arn, tags in stack["expected"][EAST].items():
            assert everything[arn] == tags
        assert everything[f"arn:aws:s3:::{bucket}"] == {ENV: other_env, ADDRESS: "bucket.other"}
        assert all(tags for tags in everything.values()), "untagged resources are not listed"

        mine = _get_all(tagging, TagFilters=[{"Key": ENV, "Values": [stack["env"]]}])
        assert f"arn:aws:s3:::{bucket}" not in mine
        both = _get_all(tagging, TagFilters=[{"Key": ENV, "Values": [stack["env"], other_env]}])
        assert set(both) == set(mine) | {f"arn:aws:s3:::{bucket}"}
    finally:
        s3.delete_bucket_tagging(Bucket=bucket)
        s3.delete_bucket(Bucket=bucket)


def test_deleted_resources_are_not_listed(client):
    env = f"tagdel-{uuid.uuid4().hex[:10]}"
    env_filter = [{"Key": ENV, "Values": [env]}]
    s3, cw, r53 = client("s3", WEST), client("cloudwatch", WEST), client("route53", EAST)
    bucket = f"drctl-del-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": WEST})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tags(env, "bucket")})
    cw.put_metric_alarm(
        AlarmName=bucket,
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.tag_resource(
        ResourceARN=cw.describe_alarms(AlarmNames=[bucket])["MetricAlarms"][0]["AlarmArn"],
        Tags=_tags(env, "alarm"),
    )
    check = r53.create_health_check(
        CallerReference=bucket,
        HealthCheckConfig={"Type": "TCP", "IPAddress": "10.0.0.1", "Port": 80},
    )["HealthCheck"]["Id"]
    r53.change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=check, AddTags=_tags(env, "hc")
    )
    west, east = client("resourcegroupstaggingapi", WEST), client("resourcegroupstaggingapi", EAST)
    assert len(_get_all(west, TagFilters=env_filter)) == 2
    assert len(_get_all(east, TagFilters=env_filter)) == 1

    s3.delete_bucket(Bucket=bucket)
    cw.delete_alarms(AlarmNames=[bucket])
    r53.delete_health_check(HealthCheckId=check)
    assert _get_all(west, TagFilters=env_filter) == {}
    assert _get_all(east, TagFilters=env_filter) == {}


def test_resource_arn_list(client, stack):
    tagging = client("resourcegroupstaggingapi", EAST)
    expected = stack["expected"][EAST]
    some = sorted(expected)[:3]
    answer = tagging.get_resources(ResourceARNList=some + ["arn:aws:s3:::no-such-bucket-x"])
    got = {m["ResourceARN"]: _as_dict(m["Tags"]) for m in answer["ResourceTagMappingList"]}
    assert got == {a: expected[a] for a in some}
    with pytest.raises(ClientError) as err:
        tagging.get_resources(
            ResourceARNList=some, TagFilters=[{"Key": ENV, "Values": [stack["env"]]}]
        )
    assert _error_code(err.value) == "InvalidParameterException"


def test_bad_paging_parameters(client, stack):
    tagging = client("resourcegroupstaggingapi", EAST)
    env_filter = [{"Key": ENV, "Values": [stack["env"]]}]
    for bad in (0, 101):
        with pytest.raises(ClientError) as err:
            tagging.get_resources(TagFilters=env_filter, ResourcesPerPage=bad)
        assert _error_code(err.value) == "InvalidParameterException"
    with pytest.raises(ClientError) as err:
        tagging.get_resources(TagFilters=env_filter, PaginationToken="not-a-token")
    assert _error_code(err.value) == "InvalidParameterException"
    # a token only continues the request it came from
    token = tagging.get_resources(TagFilters=env_filter, ResourcesPerPage=1)["PaginationToken"]
    assert token
    with pytest.raises(ClientError) as err:
        tagging.get_resources(PaginationToken=token)
    assert _error_code(err.value) == "InvalidParameterException"
    # an empty token is the first page
    first = tagging.get_resources(TagFilters=env_filter, PaginationToken="", ResourcesPerPage=1)
    assert first["ResourceTagMappingList"][0]["ResourceARN"] == sorted(stack["expected"][EAST])[0]


def test_other_operations_still_reach_moto(client, stack):
    tagging = client("resourcegroupstaggingapi", EAST)
    assert ENV in tagging.get_tag_keys()["TagKeys"]  # moto's answer (EC2 tags)
