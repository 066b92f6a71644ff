"""What ``drctl drill`` observes: Route53 health checkers following an ALB's real health,
``Inverted``, ``TestDNSAnswer`` over failover records, and S3 replication of new objects.

The emulator runs with ``DRCTL_HEALTH_CHECK_TIME_SCALE=0.02`` (localstack.sh's default):
a 30 s interval is 0.6 s, so 3 failures take about 1.8 s.
"""

import time
import uuid

import pytest

EAST, WEST = "us-east-1", "us-west-2"


def _wait(pred, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _alb(client, region, suffix, *, instances=1):
    """VPC, open SG, ALB, listener 80 -> target group, ASG registering `instances`."""
    ec2, elb, asg = client("ec2", region), client("elbv2", region), client("autoscaling", region)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    azs = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"][:2]]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for i, az in enumerate(azs)
    ]
    sg = ec2.create_security_group(GroupName=f"alb-{suffix}", Description="t", VpcId=vpc)["GroupId"]
    rule = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[rule])
    lb = elb.create_load_balancer(Name=f"alb-{suffix}", Subnets=subnets, SecurityGroups=[sg])[
        "LoadBalancers"
    ][0]
    tg = elb.create_target_group(Name=f"tg-{suffix}", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"lt-{suffix}", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"asg-{suffix}", MinSize=instances, MaxSize=4, DesiredCapacity=instances,
        LaunchTemplate={"LaunchTemplateId": lt}, VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[tg],
    )
    return {"dns": lb["DNSName"], "zone": lb["CanonicalHostedZoneId"], "sg": sg, "asg": f"asg-{suffix}", "rule": rule}


def _check(r53, dns):
    return r53.create_health_check(
        CallerReference=uuid.uuid4().hex,
        HealthCheckConfig={
            "Type": "HTTP", "FullyQualifiedDomainName": dns, "Port": 80, "ResourcePath": "/health",
            "RequestInterval": 30, "FailureThreshold": 3,
        },
    )["HealthCheck"]["Id"]


@pytest.fixture
def failover(client):
    s = uuid.uuid4().hex[:8]
    primary, secondary = _alb(client, EAST, f"p{s}"), _alb(client, WEST, f"s{s}")
    r53 = client("route53")
    zone = r53.create_hosted_zone(Name=f"{s}.example.com", CallerReference=s)["HostedZone"]["Id"]
    checks = {}
    changes = []
    for role, alb in (("PRIMARY", primary), ("SECONDARY", secondary)):
        checks[role] = _check(r53, alb["dns"])
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": f"app.{s}.example.com", "Type": "A", "SetIdentifier": role.lower(), "Failover": role,
            "HealthCheckId": checks[role],
            "AliasTarget": {"HostedZoneId": alb["zone"], "DNSName": alb["dns"], "EvaluateTargetHealth": True},
        }})
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": changes})

    def answer():
        a = r53.test_dns_answer(HostedZoneId=zone, RecordName=f"app.{s}.example.com", RecordType="A")
        return a["RecordData"]

    def status(role):
        obs = r53.get_health_check_status(HealthCheckId=checks[role])["HealthCheckObservations"]
        return [o["StatusReport"]["Status"] for o in obs]

    return {"primary": primary, "secondary": secondary, "checks": checks, "answer": answer,
            "status": status, "r53": r53}


def test_answers_primary_while_healthy(failover):
    assert failover["answer"]() == [failover["primary"]["dns"]]
    assert _wait(lambda: all(s.startswith("Success") for s in failover["status"]("PRIMARY")))


def test_blocked_security_group_fails_over_after_the_threshold_and_back(client, failover):
    ec2 = client("ec2", EAST)
    p = failover["primary"]
    t0 = time.monotonic()
    ec2.revoke_security_group_ingress(GroupId=p["sg"], IpPermissions=[p["rule"]])
    assert _wait(lambda: failover["answer"]() == [failover["secondary"]["dns"]])
    took = time.monotonic() - t0
    # 3 failures x 0.6 s: never at once, and not much later either
    assert took >= 1.0, took
    assert failover["status"]("PRIMARY")[0].startswith("Failure: Connection timed out")
    ec2.authorize_security_group_ingress(GroupId=p["sg"], IpPermissions=[p["rule"]])
    assert _wait(lambda: failover["answer"]() == [p["dns"]])


def test_asg_at_zero_fails_over_and_capacity_brings_it_back(client, failover):
    asg = client("autoscaling", EAST)
    p = failover["primary"]
    asg.update_auto_scaling_group(AutoScalingGroupName=p["asg"], MinSize=0, DesiredCapacity=0)
    # EvaluateTargetHealth sees the empty target group at once; the checkers soon after
    assert _wait(lambda: failover["answer"]() == [failover["secondary"]["dns"]])
    assert _wait(lambda: failover["status"]("PRIMARY")[0].startswith("Failure: HTTP Status Code 503"))
    asg.update_auto_scaling_group(AutoScalingGroupName=p["asg"], MinSize=1, DesiredCapacity=1)
    assert _wait(lambda: failover["answer"]() == [p["dns"]])


def test_inverted_check_fails_over_and_can_be_reset(failover):
    r53 = failover["r53"]
    hc = failover["checks"]["PRIMARY"]
    r53.update_health_check(HealthCheckId=hc, Inverted=True)
    assert r53.get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckConfig"]["Inverted"] is True
    assert _wait(lambda: failover["answer"]() == [failover["secondary"]["dns"]])
    # the checkers still see the endpoint up: observations are not inverted
    assert failover["status"]("PRIMARY")[0].startswith("Success")
    r53.update_health_check(HealthCheckId=hc, Inverted=False)
    assert r53.get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckConfig"]["Inverted"] is False
    assert _wait(lambda: failover["answer"]() == [failover["primary"]["dns"]])


def test_a_new_check_sent_inverted_false_reads_back_false(failover):
    r53 = failover["r53"]
    hc = r53.create_health_check(
        CallerReference=uuid.uuid4().hex,
        HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": "x.example.com", "Port": 80,
                           "ResourcePath": "/", "RequestInterval": 30, "FailureThreshold": 3,
                           "Inverted": False},
    )["HealthCheck"]["Id"]
    config = r53.get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckConfig"]
    assert config["Inverted"] is False and config["Disabled"] is False


def test_unknown_health_check_status_is_not_found(client):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as e:
        client("route53").get_health_check_status(HealthCheckId=str(uuid.uuid4()))
    assert e.value.response["Error"]["Code"] == "NoSuchHealthCheck"


def test_new_objects_are_replicated_to_the_destination_bucket(client):
    s = uuid.uuid4().hex[:8]
    east, west = client("s3", EAST), client("s3", WEST)
    src, dst = f"src-{s}", f"dst-{s}"
    east.create_bucket(Bucket=src)
    west.create_bucket(Bucket=dst, CreateBucketConfiguration={"LocationConstraint": WEST})
    for b, c in ((src, east), (dst, west)):
        c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    east.put_bucket_replication(Bucket=src, ReplicationConfiguration={
        "Role": "arn:aws:iam::000000000000:role/r",
        "Rules": [{"ID": "all", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": f"arn:aws:s3:::{dst}"}}],
    })
    east.put_object(Bucket=src, Key="canary/a.txt", Body=b"hello", ContentType="text/plain")

    def copied():
        try:
            return west.get_object(Bucket=dst, Key="canary/a.txt")["Body"].read() == b"hello"
        except Exception:  # noqa: BLE001
            return False

    assert _wait(copied, timeout=10)
    # a bucket without replication copies nothing
    east.put_object(Bucket=dst, Key="only-here", Body=b"x")
    time.sleep(0.5)
    assert "Contents" not in east.list_objects_v2(Bucket=src, Prefix="only-here")
