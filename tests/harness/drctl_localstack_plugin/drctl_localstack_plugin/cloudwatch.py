"""CloudWatch with alarm tags kept where AWS keeps them.

LocalStack's CloudWatch (v2) provider stores ``PutMetricAlarm``'s ``Tags`` inside the alarm
record. Its CBOR serializer then fails on every later ``DescribeAlarms`` of that region
(``KeyError: 'Tags'`` -> ``InternalError``), and ``ListTagsForResource`` does not show them.
AWS applies ``PutMetricAlarm``'s tags when the call *creates* the alarm and ignores them
when it updates an existing one; they are then served by ``ListTagsForResource`` like those
of ``TagResource``. This provider does the same: the tags go to the provider's tag store
(the one ``TagResource`` uses), never into the alarm, and only on create.
"""


def make_provider():
    from localstack.aws.api import RequestContext, handler
    from localstack.aws.api.cloudwatch import PutMetricAlarmInput
    from localstack.services.cloudwatch.provider_v2 import CloudwatchProvider

    class DrctlCloudwatchProvider(CloudwatchProvider):
        @handler("PutMetricAlarm", expand=False)
        def put_metric_alarm(self, context: RequestContext, request: PutMetricAlarmInput) -> None:
            request = dict(request)
            tags = request.pop("Tags", None)
            store = self.get_store(context.account_id, context.region)
            name = request.get("AlarmName")

            def arn_of_name():
                for arn, alarm in list(store.alarms.items()):
                    if alarm.alarm.get("AlarmName") == name:
                        return arn
                return None

            existed = arn_of_name() is not None
            super().put_metric_alarm(context, request)
            arn = arn_of_name()
            if tags and arn and not existed:
                store.TAGS.tag_resource(arn, tags)

    return DrctlCloudwatchProvider()
