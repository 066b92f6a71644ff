"""Smoke tests: elbv2 / autoscaling / rds reach moto and see LocalStack's EC2 network."""

import uuid

import pytest

REGIONS = ["us-east-1", "us-west-2"]


@pytest.fixture(params=REGIONS)
def network(request, client):
    region = request.param
    ec2 = client("ec2", region)
    suffix = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    azs = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=az)["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate(azs)
    ]
    sg = ec2.create_security_group(GroupName=f"sg-{suffix}", Description="t", VpcId=vpc)["GroupId"]
    return {"region": region, "vpc": vpc, "subnets": subnets, "sg": sg, "suffix": suffix}


def test_elbv2_load_balancer_in_localstack_vpc(client, network):
    elb = client("elbv2", network["region"])
    lb = elb.create_load_balancer(
        Name=f"trading-alb-{network['suffix']}",
        Subnets=network["subnets"],
        SecurityGroups=[network["sg"]],
        Scheme="internet-facing",
        Type="application",
        Tags=[{"Key": "drctl:env", "Value": "t"}],
    )["LoadBalancers"][0]
    assert lb["VpcId"] == network["vpc"]
    assert lb["DNSName"]
    tg = elb.create_target_group(
        Name=f"trading-tg-{network['suffix']}",
        Protocol="HTTP",
        Port=80,
        VpcId=network["vpc"],
        HealthCheckPath="/health",
    )["TargetGroups"][0]
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    found = elb.describe_load_balancers(Names=[lb["LoadBalancerName"]])["LoadBalancers"]
    assert [x["LoadBalancerArn"] for x in found] == [lb["LoadBalancerArn"]]


def test_autoscaling_group_in_localstack_subnets(client, network):
    ec2 = client("ec2", network["region"])
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"trading-lt-{network['suffix']}",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.large",
            "SecurityGroupIds": [network["sg"]],
        },
    )["LaunchTemplate"]
    asg = client("autoscaling", network["region"])
    name = f"trading-asg-{network['suffix']}"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        VPCZoneIdentifier=",".join(network["subnets"]),
        Tags=[{"Key": "drctl:env", "Value": "t", "PropagateAtLaunch": True}],
    )
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    assert len(groups) == 1
    assert set(groups[0]["VPCZoneIdentifier"].split(",")) == set(network["subnets"])


def test_rds_mysql_instance_in_localstack_subnets(client, network):
    rds = client("rds", network["region"])
    group = f"trading-db-subnet-group-{network['suffix']}"
    rds.create_db_subnet_group(
        DBSubnetGroupName=group, DBSubnetGroupDescription="t", SubnetIds=network["subnets"]
    )
    ident = f"trading-db-{network['suffix']}"
    db = rds.create_db_instance(
        DBInstanceIdentifier=ident,
        Engine="mysql",
        EngineVersion="8.0.35",
        DBInstanceClass="db.r6g.large",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="a-long-enough-password-1",
        DBSubnetGroupName=group,
        VpcSecurityGroupIds=[network["sg"]],
        MultiAZ=True,
        StorageEncrypted=True,
        BackupRetentionPeriod=7,
        PubliclyAccessible=False,
    )["DBInstance"]
    assert db["EngineVersion"] == "8.0.35"
    got = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    assert got["DBSubnetGroup"]["VpcId"] == network["vpc"]
    assert got["Engine"] == "mysql"
