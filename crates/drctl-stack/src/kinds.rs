//! The resource kinds of the stack, and the destroy-order rules AWS enforces
//! beyond "dependents first". Each kind's reconciler lives in the AWS crate
//! in a module of the same name; the props it compares and the attrs it
//! returns are listed in [`crate::blueprint`].

use drctl_core::ordering::DestroyRule;

pub const VPC: &str = "ec2:vpc";
pub const SUBNET: &str = "ec2:subnet";
pub const INTERNET_GATEWAY: &str = "ec2:internet-gateway";
pub const IGW_ATTACHMENT: &str = "ec2:igw-attachment";
pub const EIP: &str = "ec2:eip";
pub const NAT_GATEWAY: &str = "ec2:nat-gateway";
pub const ROUTE_TABLE: &str = "ec2:route-table";
pub const ROUTE_TABLE_ASSOCIATION: &str = "ec2:route-table-association";
pub const SECURITY_GROUP: &str = "ec2:security-group";
pub const LAUNCH_TEMPLATE: &str = "ec2:launch-template";
pub const LOAD_BALANCER: &str = "elbv2:load-balancer";
pub const TARGET_GROUP: &str = "elbv2:target-group";
pub const LISTENER: &str = "elbv2:listener";
pub const AUTOSCALING_GROUP: &str = "autoscaling:group";
pub const SCALING_POLICY: &str = "autoscaling:scaling-policy";
pub const IAM_ROLE: &str = "iam:role";
pub const INSTANCE_PROFILE: &str = "iam:instance-profile";
pub const SECRET: &str = "secretsmanager:secret";
pub const DB_SUBNET_GROUP: &str = "rds:db-subnet-group";
pub const DB_INSTANCE: &str = "rds:db-instance";
pub const DYNAMODB_TABLE: &str = "dynamodb:table";
pub const DYNAMODB_REPLICA: &str = "dynamodb:replica";
pub const BUCKET: &str = "s3:bucket";
pub const BUCKET_REPLICATION: &str = "s3:replication";
pub const HOSTED_ZONE: &str = "route53:hosted-zone";
pub const HEALTH_CHECK: &str = "route53:health-check";
pub const FAILOVER_RECORDS: &str = "route53:failover-records";
pub const SNS_TOPIC: &str = "sns:topic";
pub const SNS_SUBSCRIPTION: &str = "sns:subscription";
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
