//! The resource kinds of the stack, and the destroy-order rules AWS enforces
//! beyond "dependents first". Each kind's reconciler lives in the AWS crate
//! at `<service>/<type>.rs` (`route53:health-check` is
//! `route53/health_check.rs`); the props it compares and the attrs it
//! returns are listed in [`crate::blueprint`].

use drctl_core::ordering::DestroyRule;

/// A VPC (Terraform `aws_vpc`), one per region; its CIDR is the plan's `*_vpc_cidr`.
pub const VPC: &str = "ec2:vpc";
/// A subnet (`aws_subnet`): two public and two private /24s per region.
pub const SUBNET: &str = "ec2:subnet";
/// An internet gateway (`aws_internet_gateway`), created detached.
pub const INTERNET_GATEWAY: &str = "ec2:internet-gateway";
/// The gateway's attachment to the VPC (`aws_internet_gateway_attachment`), a resource
/// of its own so destroy can detach it after the mapped public addresses are gone.
pub const IGW_ATTACHMENT: &str = "ec2:igw-attachment";
/// An Elastic IP allocation (`aws_eip`) for the NAT gateway.
pub const EIP: &str = "ec2:eip";
/// A NAT gateway (`aws_nat_gateway`) in a public subnet; the private subnets' way out.
pub const NAT_GATEWAY: &str = "ec2:nat-gateway";
/// A route table (`aws_route_table`) with its routes inline.
pub const ROUTE_TABLE: &str = "ec2:route-table";
/// A subnet's association with a route table (`aws_route_table_association`).
pub const ROUTE_TABLE_ASSOCIATION: &str = "ec2:route-table-association";
/// A security group (`aws_security_group`) with its rules inline (ALB, app, DB).
pub const SECURITY_GROUP: &str = "ec2:security-group";
/// A launch template (`aws_launch_template`) for the app instances.
pub const LAUNCH_TEMPLATE: &str = "ec2:launch-template";
/// An application load balancer (`aws_lb`) in the public subnets.
pub const LOAD_BALANCER: &str = "elbv2:load-balancer";
/// A target group (`aws_lb_target_group`) with the plan's `health_check_path`.
pub const TARGET_GROUP: &str = "elbv2:target-group";
/// The ALB's HTTP listener (`aws_lb_listener`).
pub const LISTENER: &str = "elbv2:listener";
/// The app's Auto Scaling group (`aws_autoscaling_group`) in each region, sized by
/// the plan's `min_size`, `max_size` and `desired_capacity`.
pub const AUTOSCALING_GROUP: &str = "autoscaling:group";
/// The group's target-tracking scaling policy (`aws_autoscaling_policy`, average CPU).
pub const SCALING_POLICY: &str = "autoscaling:scaling-policy";
/// The instances' IAM role (`aws_iam_role`, global: one per env, used by both regions).
pub const IAM_ROLE: &str = "iam:role";
/// The instance profile that carries the role (`aws_iam_instance_profile`, global).
pub const INSTANCE_PROFILE: &str = "iam:instance-profile";
/// The DB credentials' secret (`aws_secretsmanager_secret`); its value never reaches the state.
pub const SECRET: &str = "secretsmanager:secret";
/// The DB subnet group (`aws_db_subnet_group`) over the private subnets.
pub const DB_SUBNET_GROUP: &str = "rds:db-subnet-group";
/// A MySQL DB instance (`aws_db_instance`) in each region: Multi-AZ, encrypted, private.
pub const DB_INSTANCE: &str = "rds:db-instance";
/// The sessions table (`aws_dynamodb_table`) in the primary region, with streams and PITR.
pub const DYNAMODB_TABLE: &str = "dynamodb:table";
/// The sessions table's replica in the secondary region (`aws_dynamodb_table_replica`).
pub const DYNAMODB_REPLICA: &str = "dynamodb:replica";
/// An S3 bucket (`aws_s3_bucket`), one per region, versioned, encrypted, public access blocked.
pub const BUCKET: &str = "s3:bucket";
/// The primary bucket's replication to the secondary one (`aws_s3_bucket_replication_configuration`).
pub const BUCKET_REPLICATION: &str = "s3:replication";
/// A Route53 hosted zone (`aws_route53_zone`), only when the plan sets `create_hosted_zone`.
pub const HOSTED_ZONE: &str = "route53:hosted-zone";
/// A Route53 health check (`aws_route53_health_check`) on each region's ALB.
pub const HEALTH_CHECK: &str = "route53:health-check";
/// The PRIMARY/SECONDARY failover alias records of `domain_name`, as one resource (two
/// `aws_route53_record`s with `failover_routing_policy`): they change in one batch.
pub const FAILOVER_RECORDS: &str = "route53:failover-records";
/// The alert topic (`aws_sns_topic`), one per region.
pub const SNS_TOPIC: &str = "sns:topic";
/// The topic's email subscription to `alert_email` (`aws_sns_topic_subscription`).
pub const SNS_SUBSCRIPTION: &str = "sns:subscription";
/// A CloudWatch metric alarm (`aws_cloudwatch_metric_alarm`) that notifies the topic.
pub const ALARM: &str = "cloudwatch:alarm";

/// Every kind, for checks that each has a reconciler.
pub const ALL: &[&str] = &[
    VPC,
    SUBNET,
    INTERNET_GATEWAY,
    IGW_ATTACHMENT,
    EIP,
    NAT_GATEWAY,
    ROUTE_TABLE,
    ROUTE_TABLE_ASSOCIATION,
    SECURITY_GROUP,
    LAUNCH_TEMPLATE,
    LOAD_BALANCER,
    TARGET_GROUP,
    LISTENER,
    AUTOSCALING_GROUP,
    SCALING_POLICY,
    IAM_ROLE,
    INSTANCE_PROFILE,
    SECRET,
    DB_SUBNET_GROUP,
    DB_INSTANCE,
    DYNAMODB_TABLE,
    DYNAMODB_REPLICA,
    BUCKET,
    BUCKET_REPLICATION,
    HOSTED_ZONE,
    HEALTH_CHECK,
    FAILOVER_RECORDS,
    SNS_TOPIC,
    SNS_SUBSCRIPTION,
    ALARM,
];

/// Within one region: every resource of kind `first` is gone before any of
/// kind `then` is deleted. Each line names the AWS error it prevents.
/// Dependencies already order most pairs; these are the ones AWS enforces
/// through side effects (ENIs, mapped addresses, instances).
pub const DESTROY_RULES: &[DestroyRule] = &[
    DestroyRule { first: NAT_GATEWAY, then: EIP, prevents: "InvalidIPAddress.InUse: DeleteNatGateway does not release the EIP; it stays associated until the NAT is gone" },
    DestroyRule { first: NAT_GATEWAY, then: IGW_ATTACHMENT, prevents: "DependencyViolation: Network vpc-… has some mapped public address(es) (terraform#1303)" },
    DestroyRule { first: EIP, then: IGW_ATTACHMENT, prevents: "DependencyViolation: Network vpc-… has some mapped public address(es)" },
    DestroyRule { first: LOAD_BALANCER, then: IGW_ATTACHMENT, prevents: "DependencyViolation: the ALB's public addresses are mapped until it is gone" },
    DestroyRule { first: LOAD_BALANCER, then: SUBNET, prevents: "DependencyViolation: the ALB's network interfaces are in the subnet (terraform-provider-aws#9495)" },
    DestroyRule { first: LOAD_BALANCER, then: SECURITY_GROUP, prevents: "DependencyViolation: the ALB's network interfaces use the group" },
    DestroyRule { first: NAT_GATEWAY, then: SUBNET, prevents: "DependencyViolation: the NAT's network interface is in the subnet" },
    DestroyRule { first: AUTOSCALING_GROUP, then: SUBNET, prevents: "DependencyViolation: instances' network interfaces are in the subnet" },
    DestroyRule { first: AUTOSCALING_GROUP, then: SECURITY_GROUP, prevents: "DependencyViolation: instances' network interfaces use the group" },
    DestroyRule { first: AUTOSCALING_GROUP, then: TARGET_GROUP, prevents: "ResourceInUse: the target group is attached to the Auto Scaling group" },
    DestroyRule { first: DB_INSTANCE, then: SUBNET, prevents: "DependencyViolation: the DB's network interfaces are in the subnet" },
    DestroyRule { first: DB_INSTANCE, then: SECURITY_GROUP, prevents: "DependencyViolation: the DB's network interfaces use the group" },
    DestroyRule { first: DB_INSTANCE, then: DB_SUBNET_GROUP, prevents: "InvalidDBSubnetGroupStateFault: the subnet group is in use" },
    DestroyRule { first: LISTENER, then: TARGET_GROUP, prevents: "ResourceInUse: the target group is used by a listener" },
    DestroyRule { first: ROUTE_TABLE_ASSOCIATION, then: ROUTE_TABLE, prevents: "DependencyViolation: the route table has associations" },
    DestroyRule { first: ROUTE_TABLE, then: IGW_ATTACHMENT, prevents: "DependencyViolation: routes still target the internet gateway" },
    DestroyRule { first: IGW_ATTACHMENT, then: INTERNET_GATEWAY, prevents: "DependencyViolation: the internet gateway is still attached" },
    DestroyRule { first: ALARM, then: SNS_TOPIC, prevents: "alarms left pointing at a deleted topic" },
];

/// The id `drctl import ADDR ID` takes for a kind: the form `terraform
/// import` takes for the matching Terraform resource (so a Terraform user
/// passes what they know), which is also what `drctl state list` shows.
pub struct ImportId {
    /// The drctl kind (one of this module's constants).
    pub kind: &'static str,
    /// The Terraform resource type of the same AWS object.
    pub terraform: &'static str,
    /// What to pass, with an example.
    pub form: &'static str,
}

/// [`ImportId`] of every importable kind (the taggable ones).
pub const IMPORT_IDS: &[ImportId] = &[
    ImportId {
        kind: VPC,
        terraform: "aws_vpc",
        form: "the VPC id (vpc-0a1b2c3d)",
    },
    ImportId {
        kind: SUBNET,
        terraform: "aws_subnet",
        form: "the subnet id (subnet-0a1b2c3d)",
    },
    ImportId {
        kind: INTERNET_GATEWAY,
        terraform: "aws_internet_gateway",
        form: "the gateway id (igw-0a1b2c3d)",
    },
    ImportId {
        kind: EIP,
        terraform: "aws_eip",
        form: "the allocation id (eipalloc-0a1b2c3d)",
    },
    ImportId {
        kind: NAT_GATEWAY,
        terraform: "aws_nat_gateway",
        form: "the NAT gateway id (nat-0a1b2c3d)",
    },
    ImportId {
        kind: ROUTE_TABLE,
        terraform: "aws_route_table",
        form: "the route table id (rtb-0a1b2c3d)",
    },
    ImportId {
        kind: SECURITY_GROUP,
        terraform: "aws_security_group",
        form: "the group id (sg-0a1b2c3d)",
    },
    ImportId {
        kind: LAUNCH_TEMPLATE,
        terraform: "aws_launch_template",
        form: "the launch template id (lt-0a1b2c3d)",
    },
    ImportId {
        kind: LOAD_BALANCER,
        terraform: "aws_lb",
        form: "the load balancer ARN",
    },
    ImportId {
        kind: TARGET_GROUP,
        terraform: "aws_lb_target_group",
        form: "the target group ARN",
    },
    ImportId {
        kind: LISTENER,
        terraform: "aws_lb_listener",
        form: "the listener ARN",
    },
    ImportId {
        kind: AUTOSCALING_GROUP,
        terraform: "aws_autoscaling_group",
        form: "the group name",
    },
    ImportId {
        kind: IAM_ROLE,
        terraform: "aws_iam_role",
        form: "the role name",
    },
    ImportId {
        kind: INSTANCE_PROFILE,
        terraform: "aws_iam_instance_profile",
        form: "the instance profile name",
    },
    ImportId {
        kind: SECRET,
        terraform: "aws_secretsmanager_secret",
        form: "the secret ARN",
    },
    ImportId {
        kind: DB_SUBNET_GROUP,
        terraform: "aws_db_subnet_group",
        form: "the DB subnet group name",
    },
    ImportId {
        kind: DB_INSTANCE,
        terraform: "aws_db_instance",
        form: "the DB instance identifier",
    },
    ImportId {
        kind: DYNAMODB_TABLE,
        terraform: "aws_dynamodb_table",
        form: "the table name",
    },
    ImportId {
        kind: DYNAMODB_REPLICA,
        terraform: "aws_dynamodb_table_replica",
        form: "the replica table's ARN (in the replica's region)",
    },
    ImportId {
        kind: BUCKET,
        terraform: "aws_s3_bucket",
        form: "the bucket name",
    },
    ImportId {
        kind: HOSTED_ZONE,
        terraform: "aws_route53_zone",
        form: "the zone id (Z0123456789ABC, /hostedzone/ prefix optional)",
    },
    ImportId {
        kind: HEALTH_CHECK,
        terraform: "aws_route53_health_check",
        form: "the health check id",
    },
    ImportId {
        kind: SNS_TOPIC,
        terraform: "aws_sns_topic",
        form: "the topic ARN",
    },
    ImportId {
        kind: ALARM,
        terraform: "aws_cloudwatch_metric_alarm",
        form: "the alarm name",
    },
];

/// The id form `drctl import` takes for `kind` ([`IMPORT_IDS`]).
pub fn import_id(kind: &str) -> Option<&'static ImportId> {
    IMPORT_IDS.iter().find(|i| i.kind == kind)
}

/// The tags drctl puts on every resource besides the plan file's `[tags]`
/// (see the blueprint); they count toward AWS's tag limits.
pub const OWN_TAGS: &[&str] = &[
    "Name",
    "Environment",
    "Application",
    "drctl:env",
    "drctl:address",
];

/// Tags a kind's reconciler adds on top of [`OWN_TAGS`] (bookkeeping).
pub const BOOKKEEPING_TAGS: &[(&str, &[&str])] =
    &[(LAUNCH_TEMPLATE, &["drctl:image", "drctl:image-id"])];

/// How many tags drctl itself puts on a resource of `kind`.
pub fn own_tag_count(kind: &str) -> usize {
    OWN_TAGS.len()
        + BOOKKEEPING_TAGS
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t.len())
            .sum::<usize>()
}

/// AWS's limit of tags per resource of a kind (`aws:` tags do not count),
/// with its source. A `[tags]` table that, with [`OWN_TAGS`], exceeds one
/// is a plan-file error: AWS would refuse the create or the tag write, or
/// (Route53) drctl would show the same `~ tags` on every plan.
pub struct TagLimit {
    /// The kinds that share the limit (one AWS service's resources).
    pub kinds: &'static [&'static str],
    /// Most tags AWS accepts on one resource, not counting `aws:` tags.
    pub max: usize,
    /// What the kinds are called in the error.
    pub what: &'static str,
    /// Where the figure comes from (the AWS document and its wording).
    pub source: &'static str,
}

/// Every kind's [`TagLimit`], as data, once.
pub const TAG_LIMITS: &[TagLimit] = &[
    TagLimit { kinds: &[HOSTED_ZONE, HEALTH_CHECK], max: 10, what: "a Route53 hosted zone or health check", source: "Route 53 API reference, ChangeTagsForResource: \"You can add a maximum of 10 tags to a health check or a hosted zone\"" },
    TagLimit { kinds: &[VPC, SUBNET, INTERNET_GATEWAY, EIP, NAT_GATEWAY, ROUTE_TABLE, SECURITY_GROUP, LAUNCH_TEMPLATE], max: 50, what: "an EC2 resource", source: "Amazon EC2 User Guide, tag restrictions: maximum number of tags per resource 50" },
    TagLimit { kinds: &[LOAD_BALANCER, TARGET_GROUP, LISTENER], max: 50, what: "a load balancer, target group or listener", source: "Elastic Load Balancing API reference, AddTags (TooManyTags): up to 50 tags per resource" },
    TagLimit { kinds: &[AUTOSCALING_GROUP], max: 50, what: "an Auto Scaling group", source: "Amazon EC2 Auto Scaling User Guide, tag restrictions: 50 tags per Auto Scaling group" },
    TagLimit { kinds: &[IAM_ROLE, INSTANCE_PROFILE], max: 50, what: "an IAM role or instance profile", source: "IAM User Guide, IAM and AWS STS quotas: tags per IAM role 50" },
    TagLimit { kinds: &[SECRET], max: 50, what: "a Secrets Manager secret", source: "Secrets Manager API reference, TagResource: maximum 50 tags per secret" },
    TagLimit { kinds: &[DB_SUBNET_GROUP, DB_INSTANCE], max: 50, what: "an RDS resource", source: "Amazon RDS User Guide, tagging: up to 50 tags per resource" },
    TagLimit { kinds: &[DYNAMODB_TABLE, DYNAMODB_REPLICA], max: 50, what: "a DynamoDB table", source: "Amazon DynamoDB Developer Guide, tagging restrictions: maximum 50 tags per resource" },
    TagLimit { kinds: &[BUCKET], max: 50, what: "an S3 bucket", source: "Amazon S3 User Guide, bucket tags: a bucket can have up to 50 tags" },
    TagLimit { kinds: &[SNS_TOPIC], max: 50, what: "an SNS topic", source: "Amazon SNS Developer Guide, tag restrictions: maximum 50 tags per topic" },
    TagLimit { kinds: &[ALARM], max: 50, what: "a CloudWatch alarm", source: "CloudWatch API reference, TagResource: up to 50 tags per alarm" },
];

/// The tightest limit over `kinds`: the kind that leaves `[tags]` the
/// fewest keys, with its [`TagLimit`] and how many keys that is.
pub fn tightest_tag_limit<'a>(
    kinds: impl IntoIterator<Item = &'a str>,
) -> Option<(&'a str, &'static TagLimit, usize)> {
    kinds
        .into_iter()
        .filter_map(|k| {
            let l = TAG_LIMITS.iter().find(|l| l.kinds.contains(&k))?;
            Some((k, l, l.max.saturating_sub(own_tag_count(k))))
        })
        .min_by_key(|(_, _, allowed)| *allowed)
}
