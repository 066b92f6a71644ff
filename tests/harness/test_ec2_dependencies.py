"""EC2 objects holding and releasing one another as on AWS (the plugin's
``ec2_dependencies`` patches of moto's EC2 backend)."""

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def subnet(client):
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.78.1.0/24")["Subnet"]["SubnetId"]
    yield sub
    ec2.delete_subnet(SubnetId=sub)
    ec2.delete_vpc(VpcId=vpc)


def test_a_deleted_nat_gateway_releases_its_elastic_ip(client, subnet):
    ec2 = client("ec2")
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    first = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    ec2.delete_nat_gateway(NatGatewayId=first["NatGatewayId"])
    (address,) = ec2.describe_addresses(AllocationIds=[eip])["Addresses"]
    assert "AssociationId" not in address, address
    # A replacement gateway takes the same address (AWS; moto: AlreadyAssociated).
    second = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]
    ec2.delete_nat_gateway(NatGatewayId=second["NatGatewayId"])
    ec2.release_address(AllocationId=eip)


def test_a_subnet_running_instances_use_cannot_be_deleted(client, subnet):
    ec2 = client("ec2")
    (instance,) = ec2.run_instances(
        ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet
    )["Instances"]
    with pytest.raises(ClientError) as e:
        ec2.delete_subnet(SubnetId=subnet)
    assert e.value.response["Error"]["Code"] == "DependencyViolation"
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])


def test_an_auto_scaling_group_launches_from_a_new_template_version_with_user_data(client, subnet):
    import base64
    import uuid

    ec2 = client("ec2")
    asg = client("autoscaling")
    name = f"drctl-ec2dep-{uuid.uuid4().hex[:8]}"
    data = {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    lt = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)[
        "LaunchTemplate"
    ]["LaunchTemplateId"]
    user_data = base64.b64encode(b"#!/bin/sh\necho v2\n").decode()
    ec2.create_launch_template_version(
        LaunchTemplateId=lt, LaunchTemplateData={**data, "UserData": user_data}
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "2"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet,
    )
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    assert len(group["Instances"]) == 1, group
    asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    ec2.delete_launch_template(LaunchTemplateId=lt)


def test_a_launch_template_serves_its_tags_as_they_are_now(client):
    import uuid

    ec2 = client("ec2")
    name = f"drctl-lt-tags-{uuid.uuid4().hex[:8]}"
    lt = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        TagSpecifications=[
            {
                "ResourceType": "launch-template",
                "Tags": [{"Key": "CostCenter", "Value": "old"}, {"Key": "Gone", "Value": "x"}],
            }
        ],
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_tags(Resources=[lt], Tags=[{"Key": "CostCenter", "Value": "new"}])
    ec2.delete_tags(Resources=[lt], Tags=[{"Key": "Gone"}])

    def tags(answer):
        return {t["Key"]: t["Value"] for t in answer.get("Tags", [])}

    described = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [lt]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in described} == {"CostCenter": "new"}
    (by_id,) = ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"]
    assert tags(by_id) == {"CostCenter": "new"}, by_id
    (by_name,) = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
    assert tags(by_name) == {"CostCenter": "new"}, by_name
    ec2.delete_launch_template(LaunchTemplateId=lt)
