"""Creates keyed by name, repeated after a lost answer, ASG deletion and PutScalingPolicy's
answer, as AWS answers them (the plugin's ``name_keyed`` patches of moto's ELBv2 and Auto
Scaling)."""

import uuid

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def network(client):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24", AvailabilityZone=f"us-east-1{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    yield vpc, subnets
    for s in subnets:
        ec2.delete_subnet(SubnetId=s)
    ec2.delete_vpc(VpcId=vpc)


def test_a_repeated_create_load_balancer_returns_the_first_one(client, network):
    elb = client("elbv2")
    _, subnets = network
    name = f"drctl-nk-{uuid.uuid4().hex[:8]}"
    first = elb.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    again = elb.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
    with pytest.raises(ClientError) as e:
        elb.create_load_balancer(Name=name, Subnets=subnets[:1])
    assert e.value.response["Error"]["Code"] == "DuplicateLoadBalancerName"
    found = elb.describe_load_balancers(Names=[name])["LoadBalancers"]
    assert len(found) == 1

    lb = first["LoadBalancerArn"]
    action = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    one = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=action)
    two = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=action)
    assert one["Listeners"][0]["ListenerArn"] == two["Listeners"][0]["ListenerArn"]
    assert len(elb.describe_listeners(LoadBalancerArn=lb)["Listeners"]) == 1
    elb.delete_listener(ListenerArn=one["Listeners"][0]["ListenerArn"])
    elb.delete_load_balancer(LoadBalancerArn=first["LoadBalancerArn"])


def test_asg_name_taken_is_already_exists_and_delete_terminates_instances(client, network):
    ec2 = client("ec2")
    asg = client("autoscaling")
    _, subnets = network
    name = f"drctl-nk-{uuid.uuid4().hex[:8]}"
    lt = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    args = dict(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=2,
        MaxSize=3,
        DesiredCapacity=2,
        VPCZoneIdentifier=",".join(subnets),
    )
    asg.create_auto_scaling_group(**args)
    with pytest.raises(ClientError) as e:
        asg.create_auto_scaling_group(**args)
    assert e.value.response["Error"]["Code"] == "AlreadyExists"
    # PutScalingPolicy answers with the ARN, as on AWS (moto's answer was empty).
    policy = dict(
        AutoScalingGroupName=name,
        PolicyName="cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 50.0,
        },
    )
    arn = asg.put_scaling_policy(**policy)["PolicyARN"]
    (listed,) = asg.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    assert listed["PolicyARN"] == arn
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    ids = [i["InstanceId"] for i in group["Instances"]]
    assert len(ids) == 2, "the second create did not replace the group"
    # One instance protected from scale in: AWS's ForceDelete terminates it too.
    asg.set_instance_protection(
        AutoScalingGroupName=name, InstanceIds=ids[:1], ProtectedFromScaleIn=True
    )
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert set(states) == set(ids)
    assert all(s in ("shutting-down", "terminated") for s in states.values()), states
    ec2.delete_launch_template(LaunchTemplateId=lt)


def test_asg_moved_to_other_subnets_moves_its_instances_and_frees_the_old_subnet(client, network):
    ec2 = client("ec2")
    asg = client("autoscaling")
    vpc, (old, new) = network
    name = f"drctl-nk-{uuid.uuid4().hex[:8]}"
    lt = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        VPCZoneIdentifier=old,
    )

    def instances():
        (g,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        ids = [i["InstanceId"] for i in g["Instances"]]
        return {
            i["InstanceId"]: i.get("SubnetId")
            for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
            for i in r["Instances"]
        }

    (first,) = instances().values()
    assert first == old
    # AWS refuses to delete a subnet an instance uses.
    with pytest.raises(ClientError) as e:
        ec2.delete_subnet(SubnetId=old)
    assert e.value.response["Error"]["Code"] == "DependencyViolation"
    # Moved to the other subnet: the instances follow, the old subnet is free.
    asg.update_auto_scaling_group(AutoScalingGroupName=name, VPCZoneIdentifier=new)
    now = instances()
    assert list(now.values()) == [new], now
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    ec2.delete_launch_template(LaunchTemplateId=lt)
