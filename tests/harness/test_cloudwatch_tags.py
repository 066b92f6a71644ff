"""PutMetricAlarm's Tags as AWS keeps them (the plugin's ``cloudwatch`` provider).

AWS applies the tags of the PutMetricAlarm call that creates an alarm, serves them through
ListTagsForResource (and the tagging API), and ignores Tags on a put that updates an
existing alarm. Plain LocalStack kept them inside the alarm, after which DescribeAlarms
failed for the Rust SDK (CBOR) and a killed drctl run could poison the region.
"""

import uuid

ENV = "drctl:env"


def _alarm(cw, name: str, **extra):
    args = {
        "AlarmName": name,
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 80.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cw.put_metric_alarm(**{**args, **extra})


def test_put_metric_alarm_tags_are_applied_on_create_only(client):
    cw = client("cloudwatch")
    tagging = client("resourcegroupstaggingapi")
    name = f"drctl-cwtags-{uuid.uuid4().hex[:8]}"
    _alarm(cw, name, Tags=[{"Key": ENV, "Value": "t1"}, {"Key": "Name", "Value": name}])
    alarms = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(alarms) == 1
    assert "Tags" not in alarms[0], "tags are not part of the alarm"
    arn = alarms[0]["AlarmArn"]
    tags = {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert tags == {ENV: "t1", "Name": name}

    # An update's Tags are ignored; the alarm keeps its tags and stays describable.
    _alarm(cw, name, Threshold=90.0, Tags=[{"Key": ENV, "Value": "other"}])
    (alarm,) = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert alarm["Threshold"] == 90.0
    tags = {t["Key"]: t["Value"] for t in cw.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert tags == {ENV: "t1", "Name": name}

    found = tagging.get_resources(TagFilters=[{"Key": ENV, "Values": ["t1"]}])
    assert arn in [m["ResourceARN"] for m in found["ResourceTagMappingList"]]
    cw.delete_alarms(AlarmNames=[name])
