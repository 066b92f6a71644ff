"""LocalStack plugin for the drctl test harness.

* ``providers``: LocalStack service providers (entry-point group ``localstack.aws.provider``)
  that hand every elbv2 / autoscaling / rds / dynamodb operation to moto in-process.
* ``dynamodb_global``: DynamoDB global tables (version 2019.11.21) on top of moto, which
  accepts ``UpdateTable ReplicaUpdates`` but ignores it.
* ``tagging``: the Resource Groups Tagging API's ``GetResources`` with what AWS lists and
  AWS's paging (moto's tagging backend misses LocalStack's S3 / CloudWatch and more).
"""
