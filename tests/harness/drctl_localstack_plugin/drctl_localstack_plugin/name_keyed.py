"""Creates keyed by name answer as AWS does (moto's ELBv2 and Auto Scaling backends).

A create whose answer was lost is sent again (by the SDK, or by drctl after re-reading).
AWS never makes a second resource of the same name:

- ``CreateLoadBalancer`` is idempotent: the same name with the same settings returns the
  existing load balancer; other settings get ``DuplicateLoadBalancerName``. moto keys its
  duplicate check on an ARN with a random id, so it made a second ALB of the same name.
- ``CreateListener`` is idempotent too: the same port and protocol return the existing
  listener; another protocol on a taken port gets ``DuplicateListener``. moto compared the
  port with listener ARNs, so it added a second listener on the same port.
- ``CreateAutoScalingGroup`` on an existing name fails with ``AlreadyExists``. moto
  replaced the group, leaving the first group's instances running with no group.
- ``DeleteAutoScalingGroup`` terminates the group's instances (with ``ForceDelete``, or
  once the group is empty) and AWS stops listing terminated instances in the tagging API.
  moto left instances launched for an earlier desired capacity, or protected from scale
  in, running after the group was gone.
- ``UpdateAutoScalingGroup`` with other subnets replaces the instances of the subnets it
  left with instances in its subnets (AWS rebalances); moto left them where they were.
- ``PutScalingPolicy`` answers with the policy's ``PolicyARN``. moto put it under
  ``PolicyArn``, which the serializer dropped, so the answer was empty and a client had to
  read the policy back to learn its ARN.

Patched once, in the provider factories (moto is imported lazily there).
"""


def _bound(fn, self, args, kwargs) -> dict:
    import inspect

    b = inspect.signature(fn).bind(self, *args, **kwargs)
    b.apply_defaults()
    return b.arguments


def patch_elbv2() -> None:
    from moto.elbv2.exceptions import DuplicateListenerError, DuplicateLoadBalancerName
    from moto.elbv2.models import ELBv2Backend

    orig = ELBv2Backend.create_load_balancer
    if getattr(orig, "_drctl", False):
        return

    def create_load_balancer(self, *args, **kwargs):
        a = _bound(orig, self, args, kwargs)
        wanted = sorted(
            list(a.get("subnet_ids") or [])
            + [m["SubnetId"] for m in a.get("subnet_mappings") or []]
        )
        for lb in self.load_balancers.values():
            if lb.name != a["name"]:
                continue
            same = sorted(s.id for s in lb.subnets) == wanted and (
                a.get("scheme") in (None, lb.scheme)
            )
            if same:
                return lb
            raise DuplicateLoadBalancerName()
        return orig(self, *args, **kwargs)

    orig_listener = ELBv2Backend.create_listener

    def create_listener(self, *args, **kwargs):
        a = _bound(orig_listener, self, args, kwargs)
        lb = self.load_balancers.get(a["load_balancer_arn"])
        for listener in list(lb.listeners.values()) if lb else []:
            if str(listener.port) != str(a["port"]):
                continue
            if listener.protocol == (a.get("protocol") or "").upper():
                return listener
            raise DuplicateListenerError()
        return orig_listener(self, *args, **kwargs)

    create_load_balancer._drctl = True
    ELBv2Backend.create_load_balancer = create_load_balancer
    ELBv2Backend.create_listener = create_listener


def patch_autoscaling() -> None:
    from moto.autoscaling.exceptions import AutoscalingClientError
    from moto.autoscaling.models import AutoScalingBackend

    orig_create = AutoScalingBackend.create_auto_scaling_group
    if getattr(orig_create, "_drctl", False):
        return

    class AlreadyExists(AutoscalingClientError):
        code = "AlreadyExists"

    def create_auto_scaling_group(self, *args, **kwargs):
        a = _bound(orig_create, self, args, kwargs)
        name = a["name"]
        if name in self.autoscaling_groups:
            raise AlreadyExists(
                f"AutoScalingGroup by this name already exists - A group with the name {name} already exists"
            )
        return orig_create(self, *args, **kwargs)

    orig_delete = AutoScalingBackend.delete_auto_scaling_group

    def delete_auto_scaling_group(self, group_name: str) -> None:
        group = self.autoscaling_groups.get(group_name)
        ids = [s.instance.id for s in group.instance_states] if group else []
        orig_delete(self, group_name)
        running = [
            i
            for i in ids
            if self.ec2_backend.get_instance(i).state not in ("terminated", "shutting-down")
        ]
        if running:
            self.ec2_backend.terminate_instances(running)

    orig_update = AutoScalingBackend.update_auto_scaling_group

    def update_auto_scaling_group(self, *args, **kwargs):
        group = orig_update(self, *args, **kwargs)
        # Instances in subnets the group no longer uses are replaced in its
        # subnets (AWS rebalances them); moto left them where they were.
        subnets = set(filter(None, (group.vpc_zone_identifier or "").split(",")))
        moved = [
            s
            for s in group.instance_states
            if subnets and getattr(s.instance, "subnet_id", None) not in subnets
        ]
        if moved:
            self.ec2_backend.terminate_instances([s.instance.id for s in moved])
            group.instance_states = [s for s in group.instance_states if s not in moved]
            group.set_desired_capacity(group.desired_capacity)
        return group

    create_auto_scaling_group._drctl = True
    AutoScalingBackend.create_auto_scaling_group = create_auto_scaling_group
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
    AutoScalingBackend.update_auto_scaling_group = update_auto_scaling_group
    _patch_put_scaling_policy()


def _patch_put_scaling_policy() -> None:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult

    orig = AutoScalingResponse.put_scaling_policy

    def put_scaling_policy(self):
        out = orig(self)
        result = dict(getattr(out, "result", None) or {})
        if "PolicyArn" in result:
            result["PolicyARN"] = result.pop("PolicyArn")
        return ActionResult(result)

    AutoScalingResponse.put_scaling_policy = put_scaling_policy
