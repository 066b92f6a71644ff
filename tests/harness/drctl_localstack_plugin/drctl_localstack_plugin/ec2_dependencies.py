"""EC2 objects that hold or release one another as on AWS (moto's EC2 backend).

- ``DeleteSubnet`` of a subnet that running instances use fails with
  ``DependencyViolation``; moto deleted it under them, so a tool deleting a subnet before
  the Auto Scaling group had moved out of it passed here and failed on AWS.
- ``DeleteNatGateway`` releases the gateway's Elastic IP (AWS disassociates it once the
  gateway is deleted); moto kept it associated, so a new NAT gateway with the same
  allocation failed with ``Resource.AlreadyAssociated``.
- ``CreateLaunchTemplateVersion`` keeps ``UserData`` as AWS does (base64); moto stored the
  raw string and failed (500, ``AssertionError``) whenever an Auto Scaling group launched an
  instance from such a version (a scale-out or a move to other subnets after an update).
- ``DescribeLaunchTemplates`` (and the other launch template answers) serve the template's
  tags as they are now, as AWS does; moto kept a copy taken at ``CreateLaunchTemplate``, so
  after ``CreateTags``/``DeleteTags`` ``DescribeTags`` said one thing and
  ``DescribeLaunchTemplates`` another, and a tag change never settled.

Patched once, in the EC2 provider factory (``ec2:drctl``; moto is imported lazily there).
"""


def patch_ec2() -> None:
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models.nat_gateways import NatGatewayBackend
    from moto.ec2.models.subnets import SubnetBackend

    orig_delete_subnet = SubnetBackend.delete_subnet
    if getattr(orig_delete_subnet, "_drctl", False):
        return

    def delete_subnet(self, subnet_id: str):
        users = [
            i.id
            for i in self.all_instances()
            if i.subnet_id == subnet_id and i.state not in ("terminated", "shutting-down")
        ]
        if users:
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        return orig_delete_subnet(self, subnet_id)

    orig_delete_nat = NatGatewayBackend.delete_nat_gateway

    def delete_nat_gateway(self, nat_gateway_id: str):
        nat = orig_delete_nat(self, nat_gateway_id)
        eni = getattr(nat, "_eni", None)
        for eip in self.addresses:
            if eni is not None and eip.eni is eni:
                eip.eni = None
                eip.instance = None
                eip.association_id = None
        return nat

    from moto.core.types import Base64EncodedString
    from moto.ec2.models.launch_templates import LaunchTemplateVersion

    def user_data(self):
        data = self.data.get("UserData")
        return Base64EncodedString(data) if isinstance(data, str) else data

    LaunchTemplateVersion.user_data = property(user_data)

    from moto.ec2.models.launch_templates import LaunchTemplate

    def template_tags(self):
        return [{"Key": t["key"], "Value": t["value"]} for t in self.get_tags()]

    # A data descriptor wins over the copy moto's __init__ assigns to the instance.
    LaunchTemplate.tags = property(template_tags, lambda self, _value: None)

    delete_subnet._drctl = True
    SubnetBackend.delete_subnet = delete_subnet
    NatGatewayBackend.delete_nat_gateway = delete_nat_gateway
