"""The sequential baseline of scripts/bench.sh: the dev stack (both regions, the
same 76 resources as plans/dev.toml) made by a plain boto3 script, one call after
another, the way the seed document's by-hand commands would: create, tag in the
create call where the API allows, wait where a dependent needs it. No reads
before creating (the script assumes an empty account), no state, no cleanup (the
benchmark's emulator is thrown away afterwards).

    python scripts/bench_baseline.py ENDPOINT ENV

Prints the number of resources it made on its last line.
"""

import json
import secrets
import sys

import boto3

endpoint, env = sys.argv[1], sys.argv[2]
PRIMARY, SECONDARY = "us-east-1", "us-west-2"
CIDRS = {PRIMARY: "10.20", SECONDARY: "10.21"}
made = 0


def client(service, region=PRIMARY):
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def name(what):
    return f"trading-{what}-{env}"


def tags(what, key="Key", value="Value"):
    return [{key: "Name", value: name(what)}, {key: "Environment", value: env},
            {key: "Application", value: "TradingPlatform"}]


def spec(rtype, what):
    return [{"ResourceType": rtype, "Tags": tags(what)}]


def count(n=1):
    global made
    made += n


iam = client("iam")
account = client("sts").get_caller_identity()["Account"]
table = name("sessions")
bucket = f"trading-data-{env}-{account}"
replica = f"{bucket}-replica"


def role(what, service, policy_name, policy):
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name(what), AssumeRolePolicyDocument=json.dumps(trust),
                          Tags=tags(what))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name(what), PolicyName=policy_name, PolicyDocument=json.dumps(policy))
    count()
    return arn


ec2_role_arn = role("ec2-role", "ec2.amazonaws.com", "trading-app-access", {
    "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
         "Resource": [f"arn:aws:dynamodb:{r}:{account}:table/{table}" for r in (PRIMARY, SECONDARY)]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": [f"arn:aws:s3:::{bucket}/*"]}]})
iam.create_instance_profile(InstanceProfileName=name("ec2-profile"), Tags=tags("ec2-profile"))
iam.add_role_to_instance_profile(InstanceProfileName=name("ec2-profile"), RoleName=name("ec2-role"))
iam.get_instance_profile(InstanceProfileName=name("ec2-profile"))  # wait until visible
count()
replication_role_arn = role("s3-replication-role", "s3.amazonaws.com", "trading-s3-replication", {
    "Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
         "Resource": [f"arn:aws:s3:::{bucket}"]},
        {"Effect": "Allow", "Action": ["s3:ReplicateObject"], "Resource": [f"arn:aws:s3:::{replica}/*"]}]})

albs = {}
for region in (PRIMARY, SECONDARY):
    ec2, elb = client("ec2", region), client("elbv2", region)
    asg, rds = client("autoscaling", region), client("rds", region)
    sns, cw, sm = client("sns", region), client("cloudwatch", region), client("secretsmanager", region)
    c = CIDRS[region]
    azs = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    vpc = ec2.create_vpc(CidrBlock=f"{c}.0.0/16", TagSpecifications=spec("vpc", "vpc"))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    count()
    subnets = {}
    for i, kind in enumerate(["public-1", "public-2", "private-1", "private-2"]):
        subnets[kind] = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{c}.{i + 1}.0/24", AvailabilityZone=azs[i % 2],
                                          TagSpecifications=spec("subnet", kind))["Subnet"]["SubnetId"]
        count()
    igw = ec2.create_internet_gateway(TagSpecifications=spec("internet-gateway", "igw"))[
        "InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    count(2)
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=spec("elastic-ip", "nat-eip"))["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=subnets["public-1"], AllocationId=eip,
                                 TagSpecifications=spec("natgateway", "nat"))["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat], WaiterConfig={"Delay": 1})
    count(2)
    for rt_name, route, kinds in [("public-rt", {"GatewayId": igw}, ["public-1", "public-2"]),
                                  ("private-rt", {"NatGatewayId": nat}, ["private-1", "private-2"])]:
        rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=spec("route-table", rt_name))[
            "RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", **route)
        count()
        for k in kinds:
            ec2.associate_route_table(RouteTableId=rt, SubnetId=subnets[k])
            count()

    def sg(what, desc, perms):
        gid = ec2.create_security_group(GroupName=name(what), Description=desc, VpcId=vpc,
                                        TagSpecifications=spec("security-group", what))["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
        count()
        return gid

    alb_sg = sg("alb-sg", "Trading ALB", [
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for p in (80, 443)])
    ec2_sg = sg("ec2-sg", "Trading instances", [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [{"GroupId": alb_sg}]}])
    rds_sg = sg("rds-sg", "Trading database", [
        {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "UserIdGroupPairs": [{"GroupId": ec2_sg}]}])

    lb = elb.create_load_balancer(Name=name("alb"), Subnets=[subnets["public-1"], subnets["public-2"]],
                                  SecurityGroups=[alb_sg], Scheme="internet-facing", Type="application",
                                  Tags=tags("alb"))["LoadBalancers"][0]
    elb.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                     WaiterConfig={"Delay": 1})
    albs[region] = lb
    count()
    tg = elb.create_target_group(Name=name("tg"), Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
                                 HealthCheckPath="/health", Matcher={"HttpCode": "200"},
                                 Tags=tags("tg"))["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    count(2)
    images = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-2023.*-x86_64"]}])["Images"]
    image = images[0]["ImageId"] if images else "ami-12345678"
    lt = ec2.create_launch_template(LaunchTemplateName=name("lt"), LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": name("ec2-profile")},
        "SecurityGroupIds": [ec2_sg]}, TagSpecifications=spec("launch-template", "lt"))["LaunchTemplate"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name("asg"), MinSize=1, MaxSize=2, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
        VPCZoneIdentifier=f"{subnets['private-1']},{subnets['private-2']}", TargetGroupARNs=[tg],
        HealthCheckType="ELB", HealthCheckGracePeriod=300,
        Tags=[{"Key": t["Key"], "Value": t["Value"], "PropagateAtLaunch": True} for t in tags("asg")])
    asg.put_scaling_policy(AutoScalingGroupName=name("asg"), PolicyName=name("cpu-policy"),
                           PolicyType="TargetTrackingScaling", TargetTrackingConfiguration={
                               "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                               "TargetValue": 70.0})
    count(3)
    password = secrets.token_urlsafe(24)
    secret_arn = sm.create_secret(Name=name("db-password"), SecretString=json.dumps({"password": password}),
                                  Tags=tags("db-password"))["ARN"]
    rds.create_db_subnet_group(DBSubnetGroupName=name("db-subnet-group"), DBSubnetGroupDescription="private",
                               SubnetIds=[subnets["private-1"], subnets["private-2"]], Tags=tags("db-subnet-group"))
    rds.create_db_instance(DBInstanceIdentifier=name("db"), Engine="mysql", DBInstanceClass="db.t3.micro",
                           AllocatedStorage=20, MultiAZ=True, StorageEncrypted=True, BackupRetentionPeriod=7,
                           PubliclyAccessible=False, MasterUsername="admin", MasterUserPassword=password,
                           DBSubnetGroupName=name("db-subnet-group"), VpcSecurityGroupIds=[rds_sg],
                           Tags=tags("db"))
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=name("db"), WaiterConfig={"Delay": 1})
    count(3)
    topic = sns.create_topic(Name=name("alerts"), Tags=tags("alerts"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="dev-alerts@example.com")
    count(2)
    lb_suffix = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    tg_suffix = tg.split(":")[-1]
    for what, ns, metric, dims in [
            ("alb-unhealthy", "AWS/ApplicationELB", "UnHealthyHostCount",
             [{"Name": "LoadBalancer", "Value": lb_suffix}, {"Name": "TargetGroup", "Value": tg_suffix}]),
            ("rds-cpu", "AWS/RDS", "CPUUtilization", [{"Name": "DBInstanceIdentifier", "Value": name("db")}]),
            ("dynamodb-throttle", "AWS/DynamoDB", "ReadThrottleEvents", [{"Name": "TableName", "Value": table}])]:
        cw.put_metric_alarm(AlarmName=name(what), Namespace=ns, MetricName=metric, Dimensions=dims,
                            Statistic="Maximum", Period=60, EvaluationPeriods=2, Threshold=1.0,
                            ComparisonOperator="GreaterThanOrEqualToThreshold", AlarmActions=[topic],
                            Tags=tags(what))
        count()

# Storage: replica bucket first (replication needs it), then the primary one.
for b, region in [(replica, SECONDARY), (bucket, PRIMARY)]:
    s3 = client("s3", region)
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=b, **kwargs)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": tags("data")})
    count()
client("s3").put_bucket_replication(Bucket=bucket, ReplicationConfiguration={
    "Role": replication_role_arn, "Rules": [{
        "ID": "replicate-all", "Status": "Enabled", "Priority": 1, "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{replica}", "StorageClass": "STANDARD",
                        "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                        "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}}}]})
count()

# DynamoDB global table: the table, then its replica.
ddb = client("dynamodb")
ddb.create_table(TableName=table, AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                 SSESpecification={"Enabled": True}, Tags=tags("sessions"))
ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
ddb.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
ddb.describe_table(TableName=table)  # the replica is ACTIVE at once on the emulator
client("dynamodb", SECONDARY).update_continuous_backups(
    TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
count(2)

# Route53: the zone, a health check per region, the failover records.
r53 = client("route53")
zone = r53.create_hosted_zone(Name="dev.trading.example.com", CallerReference=f"{env}-zone")["HostedZone"]["Id"]
r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone.split("/")[-1], AddTags=tags("zone"))
count()
checks = {}
for region, role_name in [(PRIMARY, "primary"), (SECONDARY, "secondary")]:
    checks[region] = r53.create_health_check(CallerReference=f"{env}-{role_name}", HealthCheckConfig={
        "Type": "HTTP", "FullyQualifiedDomainName": albs[region]["DNSName"], "Port": 80,
        "ResourcePath": "/health", "RequestInterval": 30, "FailureThreshold": 3})["HealthCheck"]["Id"]
    r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=checks[region],
                                 AddTags=tags(f"health-{role_name}"))
    count()
change = r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
    {"Action": "UPSERT", "ResourceRecordSet": {
        "Name": "dev.trading.example.com", "Type": "A", "SetIdentifier": role_name, "Failover": role_name.upper(),
        "HealthCheckId": checks[region],
        "AliasTarget": {"HostedZoneId": albs[region]["CanonicalHostedZoneId"],
                        "DNSName": albs[region]["DNSName"], "EvaluateTargetHealth": True}}}
    for region, role_name in [(PRIMARY, "primary"), (SECONDARY, "secondary")]]})
r53.get_change(Id=change["ChangeInfo"]["Id"])
count()

print(f"{made} resources, one call after another")
