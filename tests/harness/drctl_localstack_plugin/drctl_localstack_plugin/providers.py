"""LocalStack service providers that route whole AWS APIs to moto in-process.

The free LocalStack build has no elbv2 / autoscaling / rds provider, and its own DynamoDB
provider (DynamoDB Local) does not run here. LocalStack is built on moto, so each provider
below is a stub with one ``@handler`` per operation of the API that raises
``NotImplementedError``; ``MotoFallbackDispatcher`` turns that into a call to moto inside
the same process. Being one process, moto's ELB / ASG / RDS see the VPCs, subnets and
security groups made through LocalStack's EC2.

Imports of LocalStack / moto internals stay inside the factories: plux imports this module
while it resolves entry points, before LocalStack is fully configured.
"""

from localstack.services.plugins import aws_provider


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def moto_stub_class(api: str, base: type = object) -> type:
    """A provider class for ``api`` whose every operation falls through to moto.

    Operations that ``base`` already handles (methods decorated with ``@handler``) are left
    to ``base``. If ``base`` has a ``_route(context, request)`` method, each generated stub
    calls it first and returns its answer unless it is None. ``create_dispatch_table``
    looks handlers up by function *name*, so every generated function gets a distinct
    ``__name__`` (``op_<snake_case_operation>``).
    """
    import inspect

    from localstack.aws.api import handler
    from localstack.aws.spec import load_service

    handled = {
        getattr(fn, "operation", None) for _, fn in inspect.getmembers(base, inspect.isfunction)
    }
    cls_name = f"Moto{api.title().replace('-', '')}Provider"
    namespace: dict = {"service": api, "__module__": __name__}
    for op in load_service(api).operation_names:
        if op in handled:
            continue
        fn_name = f"op_{_snake(op)}"

        def _fallthrough(self, context, request, _op=op):
            route = getattr(self, "_route", None)
            if route is not None:
                result = route(context, request)
                if result is not None:
                    return result
            raise NotImplementedError(_op)  # MotoFallbackDispatcher -> moto

        _fallthrough.__name__ = fn_name
        _fallthrough.__qualname__ = f"{cls_name}.{fn_name}"
        namespace[fn_name] = handler(op, expand=False)(_fallthrough)
    return type(cls_name, (base,), namespace)


def _moto_service(api: str):
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service

    provider = moto_stub_class(api)()
    return Service.for_provider(provider, dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="elbv2", name="default")
def elbv2():
    from .name_keyed import patch_elbv2

    patch_elbv2()  # a repeated CreateLoadBalancer answers as AWS does (name_keyed.py)
    return _moto_service("elbv2")


@aws_provider(api="autoscaling", name="default")
def autoscaling():
    from .name_keyed import patch_autoscaling

    patch_autoscaling()  # AlreadyExists on a taken name; delete terminates (name_keyed.py)
    return _moto_service("autoscaling")


@aws_provider(api="ec2", name="drctl")
def ec2_drctl():
    """LocalStack's EC2 with dependencies held and released as on AWS (see
    ec2_dependencies.py). Selected with ``PROVIDER_OVERRIDE_EC2=drctl``.
    """
    from localstack.services.ec2.provider import Ec2Provider
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service

    from .ec2_dependencies import patch_ec2

    patch_ec2()
    return Service.for_provider(Ec2Provider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="rds", name="default")
def rds():
    return _moto_service("rds")


@aws_provider(api="dynamodbstreams", name="drctl")
def dynamodbstreams_drctl():
    """moto's DynamoDB Streams (reads the streams of moto's tables).

    LocalStack makes dynamodb depend on dynamodbstreams, and that on kinesis; their own
    providers need downloads. Selected with ``PROVIDER_OVERRIDE_DYNAMODBSTREAMS=drctl``.
    """
    return _moto_service("dynamodbstreams")


@aws_provider(api="kinesis", name="drctl")
def kinesis_drctl():
    """moto's Kinesis. Selected with ``PROVIDER_OVERRIDE_KINESIS=drctl``."""
    return _moto_service("kinesis")


@aws_provider(api="dynamodb", name="drctl")
def dynamodb_drctl():
    """moto-backed DynamoDB with emulated global-table replicas.

    Selected with ``PROVIDER_OVERRIDE_DYNAMODB=drctl``.
    """
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service

    from .dynamodb_global import make_provider

    return Service.for_provider(make_provider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="resourcegroupstaggingapi", name="drctl")
def resourcegroupstaggingapi_drctl():
    """Tagging API whose ``GetResources`` sees what AWS lists (S3 buckets, alarms, RDS
    subnet groups, Route53, ELBv2 listeners, ...) and pages like AWS; every other
    operation goes to moto. Selected with ``PROVIDER_OVERRIDE_RESOURCEGROUPSTAGGINGAPI=drctl``.
    """
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service

    from .tagging import make_provider

    return Service.for_provider(make_provider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="route53", name="drctl")
def route53_drctl():
    """LocalStack's Route53 plus health checkers that follow the endpoints' real health,
    ``GetHealthCheckStatus``, ``TestDNSAnswer`` over failover records, and an
    ``UpdateHealthCheck`` that can reset ``Inverted`` (see route53_health.py).

    Selected with ``PROVIDER_OVERRIDE_ROUTE53=drctl``.
    """
    from localstack.services.moto import MotoFallbackDispatcher
    from localstack.services.plugins import Service

    from .route53_health import make_provider

    return Service.for_provider(make_provider(), dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="s3", name="drctl")
def s3_drctl():
    """LocalStack's S3 plus replication of new objects (see s3_replication.py).

    Selected with ``PROVIDER_OVERRIDE_S3=drctl``.
    """
    from localstack.services.plugins import Service

    from .s3_replication import make_provider

    return Service.for_provider(make_provider())


@aws_provider(api="cloudwatch", name="drctl")
def cloudwatch_drctl():
    """LocalStack's CloudWatch (v2) with PutMetricAlarm's tags kept as AWS keeps them (see
    cloudwatch.py). Selected with ``PROVIDER_OVERRIDE_CLOUDWATCH=drctl``.
    """
    from localstack.services.plugins import Service

    from .cloudwatch import make_provider

    return Service.for_provider(make_provider())
