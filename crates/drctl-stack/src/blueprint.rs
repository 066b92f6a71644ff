//! The two-region DR stack of STACK.md as resource specs, one graph.
//!
//! Addresses are `<region>/<group>/<name>` or `global/<group>/<name>`. Props
//! are what each reconciler compares; references (`reference(addr, attr)`)
//! are other resources' attributes. Attributes each kind returns: `id`
//! always; `arn` for ARN-named kinds; `name`; load balancer: `dns_name`,
//! `canonical_hosted_zone_id`, `arn_suffix`; target group: `arn_suffix`;
//! launch template: `latest_version`; hosted zone: `name_servers`;
//! DB: `endpoint`; secret, topic, table, bucket, role: `arn`.

use crate::envplan::{Dns, EnvPlan};
use crate::kinds::*;
use drctl_core::model::{reference, Address, ResourceSpec, TAG_ADDRESS, TAG_ENV};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Which of the plan's two regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The region that serves traffic (`primary_region`).
    Primary,
    /// The standby region (`secondary_region`), promoted by a failover.
    Secondary,
}

impl Role {
    /// `primary` or `secondary`, as outputs and health-check addresses spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Secondary => "secondary",
        }
    }

    /// The plan's region for this role.
    pub fn region(self, plan: &EnvPlan) -> &str {
        match self {
            Role::Primary => &plan.primary_region,
            Role::Secondary => &plan.secondary_region,
        }
    }
}

/// One value `drctl output` shows for a region: its key and the resource
/// attribute it is read from (in the state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The key, as `drctl output <region>.<key>` takes it (`vpc_id`).
    pub key: &'static str,
    /// The resource it is read from.
    pub address: Address,
    /// `id` (the physical id), `name`, or one of the attributes the module
    /// documentation lists for the kind.
    pub attr: &'static str,
}

/// The outputs of the `role` region (the template's Outputs), in the order
/// `drctl output` lists them. Every address is one this blueprint builds
/// (a unit test holds it), so renaming a resource cannot silently empty an
/// output.
pub fn region_outputs(plan: &EnvPlan, role: Role) -> Vec<Output> {
    let region = role.region(plan);
    let at = |path: &str| address(Some(region), path);
    let (bucket, table, table_arn) = match role {
        Role::Primary => ("storage/data-bucket", "dynamodb/sessions-table", "arn"),
        // A replica's id is the replica table's ARN.
        Role::Secondary => ("storage/replica-bucket", "dynamodb/sessions-replica", "id"),
    };
    let out = |key, address, attr| Output { key, address, attr };
    vec![
        out("vpc_id", at("network/vpc"), "id"),
        out("alb_arn", at("compute/alb"), "id"),
        out("alb_dns_name", at("compute/alb"), "dns_name"),
        out("target_group_arn", at("compute/tg"), "id"),
        out("asg_name", at("compute/asg"), "name"),
        out("db_endpoint", at("database/db"), "endpoint"),
        out("table_name", at(table), "name"),
        out("table_arn", at(table), table_arn),
        out("bucket_name", at(bucket), "name"),
        out(
            "health_check_id",
            address(None, &format!("route53/health-check-{}", role.as_str())),
            "id",
        ),
        out("sns_topic_arn", at("monitoring/alerts-topic"), "id"),
    ]
}

/// The hosted zone drctl creates with `create_hosted_zone = true`: where
/// the `hosted_zone_id` output is read from then.
pub fn zone_address() -> Address {
    address(None, "route53/zone")
}

/// Where the `role` region's load balancer security group is: the group the
/// drill's `sg-block` fault closes (`drctl_aws::drill::topology` reads it).
pub fn alb_security_group_address(plan: &EnvPlan, role: Role) -> Address {
    address(Some(role.region(plan)), ALB_SG)
}

/// The path of the load balancer security group in a region.
const ALB_SG: &str = "security/alb-sg";

/// The AWS account id the names need; `None` (no credentials, e.g. `drctl
/// graph`) shows a placeholder.
pub fn build(plan: &EnvPlan, account: Option<&str>) -> Vec<ResourceSpec> {
    let b = Builder {
        plan,
        account: account.unwrap_or("ACCOUNT"),
        out: Vec::new(),
    };
    b.build()
}

struct Builder<'a> {
    plan: &'a EnvPlan,
    account: &'a str,
    out: Vec<ResourceSpec>,
}

/// The address of a resource at `path` (`<group>/<name>`) in `region`, or in `global/`
/// for `None` (IAM, which has no region).
pub fn address(region: Option<&str>, path: &str) -> Address {
    Address::new(format!("{}/{path}", region.unwrap_or("global")))
}

fn id(a: &Address) -> Value {
    reference(a, "id")
}

fn attr(a: &Address, name: &str) -> Value {
    reference(a, name)
}

impl Builder<'_> {
    fn name(&self, what: &str) -> String {
        format!("trading-{what}-{}", self.plan.env)
    }

    fn region(&self, role: Role) -> &str {
        match role {
            Role::Primary => &self.plan.primary_region,
            Role::Secondary => &self.plan.secondary_region,
        }
    }

    pub fn bucket_name(&self, role: Role) -> String {
        let base = format!("trading-data-{}-{}", self.plan.env, self.account);
        match role {
            Role::Primary => base,
            Role::Secondary => format!("{base}-replica"),
        }
    }

    fn table_name(&self) -> String {
        self.name("sessions")
    }

    /// Adds a resource; returns its address.
    fn add(
        &mut self,
        region: Option<&str>,
        path: &str,
        kind: &str,
        name: String,
        props: Value,
        depends_on: &[&Address],
    ) -> Address {
        let address = address(region, path);
        let mut tags: BTreeMap<String, String> = self.plan.tags.clone();
        tags.insert("Name".into(), name.clone());
        tags.insert("Environment".into(), self.plan.env.clone());
        tags.insert("Application".into(), "TradingPlatform".into());
        tags.insert(TAG_ENV.into(), self.plan.env.clone());
        tags.insert(TAG_ADDRESS.into(), address.to_string());
        let props = match props {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        self.out.push(ResourceSpec {
            address: address.clone(),
            kind: kind.into(),
            region: region.map(str::to_string),
            name,
            props,
            tags,
            depends_on: depends_on.iter().map(|a| (*a).clone()).collect(),
        });
        address
    }

    fn build(mut self) -> Vec<ResourceSpec> {
        let iam = self.iam();
        let mut albs = Vec::new();
        for role in [Role::Primary, Role::Secondary] {
            albs.push(self.region_stack(role, &iam));
        }
        self.storage(&iam);
        self.dynamodb();
        self.route53(&albs);
        self.out
    }

    /// The instances' role and profile, and S3's replication role (global).
    fn iam(&mut self) -> Iam {
        let ec2_policy = self.ec2_policy();
        let ec2_role = self.add(
            None,
            "iam/ec2-role",
            IAM_ROLE,
            self.name("ec2-role"),
            json!({
                "assume_role_service": "ec2.amazonaws.com",
                "inline_policy_name": "trading-app-access",
                "inline_policy": ec2_policy,
                "managed_policy_arns": [],
            }),
            &[],
        );
        let profile = self.add(
            None,
            "iam/ec2-profile",
            INSTANCE_PROFILE,
            self.name("ec2-profile"),
            json!({
                "role_name": attr(&ec2_role, "name"),
            }),
            &[],
        );
        let replication_policy = self.replication_policy();
        let replication_role = self.add(
            None,
            "iam/s3-replication-role",
            IAM_ROLE,
            self.name("s3-replication-role"),
            json!({
                "assume_role_service": "s3.amazonaws.com",
                "inline_policy_name": "trading-s3-replication",
                "inline_policy": replication_policy,
                "managed_policy_arns": [],
            }),
            &[],
        );
        Iam {
            profile,
            replication_role,
        }
    }

    /// The instances' inline policy, least privilege: the sessions table in
    /// both regions, and list, get and put on the primary bucket.
    fn ec2_policy(&self) -> Value {
        let p = self.plan;
        let table_arns: Vec<String> = [&p.primary_region, &p.secondary_region]
            .iter()
            .map(|r| {
                format!(
                    "arn:aws:dynamodb:{r}:{}:table/{}",
                    self.account,
                    self.table_name()
                )
            })
            .collect();
        let bucket = self.bucket_name(Role::Primary);
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "SessionsTable", "Effect": "Allow",
                 "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"],
                 "Resource": table_arns},
                {"Sid": "DataBucketList", "Effect": "Allow", "Action": ["s3:ListBucket"],
                 "Resource": [format!("arn:aws:s3:::{bucket}")]},
                {"Sid": "DataBucketObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                 "Resource": [format!("arn:aws:s3:::{bucket}/*")]}
            ]
        })
    }

    /// S3's replication policy: read the primary bucket's configuration and
    /// object versions, replicate into the replica bucket.
    fn replication_policy(&self) -> Value {
        let bucket = self.bucket_name(Role::Primary);
        let replica = self.bucket_name(Role::Secondary);
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "SourceConfig", "Effect": "Allow",
                 "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                 "Resource": [format!("arn:aws:s3:::{bucket}")]},
                {"Sid": "SourceObjects", "Effect": "Allow",
                 "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
                 "Resource": [format!("arn:aws:s3:::{bucket}/*")]},
                {"Sid": "Destination", "Effect": "Allow",
                 "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                 "Resource": [format!("arn:aws:s3:::{replica}/*")]}
            ]
        })
    }

    /// One region of STACK.md: network, security groups, compute, database
    /// and monitoring, in that order (each section a function below).
    fn region_stack(&mut self, role: Role, iam: &Iam) -> Alb {
        let region = self.region(role).to_string();
        let r = Some(region.as_str());
        let net = self.network(r, role);
        let sgs = self.security_groups(r, &net);
        let (alb, tg) = self.compute(r, role, iam, &net, &sgs);
        let db = self.database(r, &net, &sgs);
        self.monitoring(r, &alb, &tg, &db);
        Alb { region, alb }
    }

    /// VPC, four subnets, internet gateway and its attachment, NAT gateway
    /// with its EIP, two route tables and their associations (15 resources).
    fn network(&mut self, r: Option<&str>, role: Role) -> Network {
        let (vpc, public, private) = self.vpc_and_subnets(r, role);
        let gw = self.gateways(r, &vpc, &public[0]);
        let private_rt = self.route_tables(r, &vpc, &public, &private, &gw);
        Network {
            vpc,
            public,
            private,
            attachment: gw.attachment,
            nat: gw.nat,
            private_rt,
        }
    }

    /// The role's VPC and its subnets: public at .1 and .2, private at .11
    /// and .12 of the VPC range, one per AZ index (0, 1) each.
    fn vpc_and_subnets(
        &mut self,
        r: Option<&str>,
        role: Role,
    ) -> (Address, Vec<Address>, Vec<Address>) {
        let cidr = match role {
            Role::Primary => self.plan.primary_vpc_cidr,
            Role::Secondary => self.plan.secondary_vpc_cidr,
        };
        // Subnets: /24s at .1, .2 (public) and .11, .12 (private) of the VPC range.
        let o = cidr.network().octets();
        let subnet_cidr =
            |third: u8| format!("{}.{}.{}.0/24", o[0], o[1], o[2].wrapping_add(third));
        let vpc = self.add(r, "network/vpc", VPC, self.name("vpc"), json!({
            "cidr_block": cidr.to_string(), "enable_dns_support": true, "enable_dns_hostnames": true,
        }), &[]);
        let mut public = Vec::new();
        let mut private = Vec::new();
        for (i, third) in [(1usize, 1u8), (2, 2)] {
            public.push(self.add(r, &format!("network/public-subnet-{i}"), SUBNET, self.name(&format!("public-{i}")), json!({
                "vpc_id": id(&vpc), "cidr_block": subnet_cidr(third), "az_index": i - 1, "map_public_ip_on_launch": false,
            }), &[]));
        }
        for (i, third) in [(1usize, 11u8), (2, 12)] {
            private.push(self.add(r, &format!("network/private-subnet-{i}"), SUBNET, self.name(&format!("private-{i}")), json!({
                "vpc_id": id(&vpc), "cidr_block": subnet_cidr(third), "az_index": i - 1, "map_public_ip_on_launch": false,
            }), &[]));
        }
        (vpc, public, private)
    }

    /// The internet gateway, its attachment to `vpc`, and the NAT gateway
    /// (with its EIP) in `public_subnet`; the EIP and the NAT gateway wait
    /// for the attachment.
    fn gateways(&mut self, r: Option<&str>, vpc: &Address, public_subnet: &Address) -> Gateways {
        let igw = self.add(
            r,
            "network/igw",
            INTERNET_GATEWAY,
            self.name("igw"),
            json!({}),
            &[],
        );
        let attachment = self.add(
            r,
            "network/igw-attachment",
            IGW_ATTACHMENT,
            self.name("igw"),
            json!({
                "internet_gateway_id": id(&igw), "vpc_id": id(vpc),
            }),
            &[],
        );
        let eip = self.add(
            r,
            "network/nat-eip",
            EIP,
            self.name("nat-eip"),
            json!({"domain": "vpc"}),
            &[&attachment],
        );
        let nat = self.add(r, "network/nat", NAT_GATEWAY, self.name("nat"), json!({
            "subnet_id": id(public_subnet), "allocation_id": id(&eip), "connectivity_type": "public",
        }), &[&attachment]);
        Gateways {
            igw,
            attachment,
            nat,
        }
    }

    /// The public route table (default route to the internet gateway, after
    /// the attachment) and the private one (default route to the NAT
    /// gateway), each associated with its two subnets. Returns the private one.
    fn route_tables(
        &mut self,
        r: Option<&str>,
        vpc: &Address,
        public: &[Address],
        private: &[Address],
        gw: &Gateways,
    ) -> Address {
        let public_rt = self.add(
            r,
            "network/public-rt",
            ROUTE_TABLE,
            self.name("public-rt"),
            json!({
                "vpc_id": id(vpc),
                "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": id(&gw.igw)}],
            }),
            &[&gw.attachment],
        );
        let private_rt = self.add(
            r,
            "network/private-rt",
            ROUTE_TABLE,
            self.name("private-rt"),
            json!({
                "vpc_id": id(vpc),
                "routes": [{"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": id(&gw.nat)}],
            }),
            &[],
        );
        for (rt, subnets, label) in [
            (&public_rt, public, "public"),
            (&private_rt, private, "private"),
        ] {
            for (i, s) in subnets.iter().enumerate() {
                self.add(
                    r,
                    &format!("network/{label}-rt-assoc-{}", i + 1),
                    ROUTE_TABLE_ASSOCIATION,
                    self.name(&format!("{label}-rt-assoc-{}", i + 1)),
                    json!({
                        "route_table_id": id(rt), "subnet_id": id(s),
                    }),
                    &[],
                );
            }
        }
        private_rt
    }

    /// The ALB, instance and database groups (STACK.md section 2).
    fn security_groups(&mut self, r: Option<&str>, net: &Network) -> SecurityGroups {
        let vpc = &net.vpc;
        // Exactly the rules of STACK.md section 2.
        let alb_sg = self.add(
            r,
            ALB_SG,
            SECURITY_GROUP,
            self.name("alb-sg"),
            json!({
                "vpc_id": id(vpc),
                "description": "Trading ALB: HTTP and HTTPS from the internet",
                "ingress": [
                    {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"},
                    {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"},
                ],
            }),
            &[],
        );
        let ec2_sg = self.add(r, "security/ec2-sg", SECURITY_GROUP, self.name("ec2-sg"), json!({
            "vpc_id": id(vpc),
            "description": "Trading instances: HTTP from the ALB only",
            "ingress": [{"protocol": "tcp", "from_port": 80, "to_port": 80, "source_security_group_id": id(&alb_sg)}],
        }), &[]);
        let rds_sg = self.add(r, "security/rds-sg", SECURITY_GROUP, self.name("rds-sg"), json!({
            "vpc_id": id(vpc),
            "description": "Trading database: MySQL from the instances only",
            "ingress": [{"protocol": "tcp", "from_port": 3306, "to_port": 3306, "source_security_group_id": id(&ec2_sg)}],
        }), &[]);

        SecurityGroups {
            alb: alb_sg,
            ec2: ec2_sg,
            rds: rds_sg,
        }
    }

    /// ALB, target group, listener, launch template, Auto Scaling group and
    /// its scaling policy; returns the ALB and the target group.
    fn compute(
        &mut self,
        r: Option<&str>,
        role: Role,
        iam: &Iam,
        net: &Network,
        sgs: &SecurityGroups,
    ) -> (Address, Address) {
        let Network {
            vpc,
            public,
            private,
            attachment,
            nat,
            private_rt,
        } = net;
        let (alb_sg, ec2_sg) = (&sgs.alb, &sgs.ec2);
        let alb = self.add(
            r,
            "compute/alb",
            LOAD_BALANCER,
            self.name("alb"),
            json!({
                "scheme": "internet-facing", "type": "application", "ip_address_type": "ipv4",
                "vpc_id": id(vpc),
                "subnet_ids": [id(&public[0]), id(&public[1])],
                "security_group_ids": [id(alb_sg)],
            }),
            &[attachment],
        );
        let tg = self.add(
            r,
            "compute/tg",
            TARGET_GROUP,
            self.name("tg"),
            json!({
                "vpc_id": id(vpc), "protocol": "HTTP", "port": 80, "target_type": "instance",
                "health_check_path": self.plan.health_check_path, "health_check_protocol": "HTTP",
                "health_check_interval_seconds": 30, "health_check_timeout_seconds": 5,
                "healthy_threshold_count": 2, "unhealthy_threshold_count": 3, "matcher": "200",
            }),
            &[],
        );
        self.add(r, "compute/listener", LISTENER, self.name("listener"), json!({
            "load_balancer_arn": id(&alb), "protocol": "HTTP", "port": 80, "target_group_arn": id(&tg),
        }), &[]);
        let instance_type = match role {
            Role::Primary => &self.plan.instance_type,
            Role::Secondary => &self.plan.secondary_instance_type,
        };
        let lt = self.add(
            r,
            "compute/launch-template",
            LAUNCH_TEMPLATE,
            self.name("lt"),
            json!({
                "instance_type": instance_type,
                "image": self.plan.image_id.clone().unwrap_or_else(|| "al2023-latest".into()),
                "instance_profile_name": attr(&iam.profile, "name"),
                "security_group_ids": [id(ec2_sg)],
                "user_data": user_data(&self.plan.health_check_path),
            }),
            &[],
        );
        let asg = self.add(r, "compute/asg", AUTOSCALING_GROUP, self.name("asg"), json!({
            "launch_template_id": id(&lt), "launch_template_version": attr(&lt, "latest_version"),
            "min_size": self.plan.min_size, "max_size": self.plan.max_size, "desired_capacity": self.plan.desired_capacity,
            "subnet_ids": [id(&private[0]), id(&private[1])],
            "target_group_arns": [id(&tg)],
            "health_check_type": "ELB", "health_check_grace_period": 300,
        }), &[nat, private_rt]);
        self.add(r, "compute/cpu-policy", SCALING_POLICY, self.name("cpu-policy"), json!({
            "auto_scaling_group_name": attr(&asg, "name"), "policy_type": "TargetTrackingScaling",
            "predefined_metric": "ASGAverageCPUUtilization", "target_value": 70.0,
        }), &[]);

        (alb, tg)
    }

    /// The DB password's secret, the DB subnet group and the DB instance;
    /// returns the DB.
    fn database(&mut self, r: Option<&str>, net: &Network, sgs: &SecurityGroups) -> Address {
        let (vpc, private, rds_sg) = (&net.vpc, &net.private, &sgs.rds);
        let secret = self.add(
            r,
            "database/password-secret",
            SECRET,
            self.name("db-password"),
            json!({
                "description": "RDS MySQL master password for the trading platform DR stack",
                "force_delete_without_recovery": self.plan.secret_force_delete,
            }),
            &[],
        );
        let subnet_group = self.add(
            r,
            "database/subnet-group",
            DB_SUBNET_GROUP,
            self.name("db-subnet-group"),
            json!({
                "description": "Trading database: private subnets",
                "vpc_id": id(vpc),
                "subnet_ids": [id(&private[0]), id(&private[1])],
            }),
            &[],
        );
        self.add(r, "database/db", DB_INSTANCE, self.name("db"), json!({
            "engine": "mysql", "engine_version": self.plan.db_engine_version,
            "instance_class": self.plan.db_instance_class, "allocated_storage": self.plan.db_allocated_storage,
            "multi_az": true, "storage_encrypted": true, "backup_retention_period": 7,
            "publicly_accessible": false, "master_username": "admin",
            "password_secret_arn": id(&secret),
            "db_subnet_group_name": attr(&subnet_group, "name"),
            "vpc_security_group_ids": [id(rds_sg)],
            "deletion_protection": self.plan.db_deletion_protection,
            "skip_final_snapshot": self.plan.db_skip_final_snapshot,
        }), &[])
    }

    /// The alert topic, its email subscription and three alarms.
    fn monitoring(&mut self, r: Option<&str>, alb: &Address, tg: &Address, db: &Address) {
        let topic = self.add(
            r,
            "monitoring/alerts-topic",
            SNS_TOPIC,
            self.name("alerts"),
            json!({}),
            &[],
        );
        self.add(
            r,
            "monitoring/email-subscription",
            SNS_SUBSCRIPTION,
            self.name("alerts-email"),
            json!({
                "topic_arn": id(&topic), "protocol": "email", "endpoint": self.plan.alert_email,
            }),
            &[],
        );
        self.add(r, "monitoring/alb-unhealthy-alarm", ALARM, self.name("alb-unhealthy"), json!({
            "namespace": "AWS/ApplicationELB", "metric_name": "UnHealthyHostCount", "statistic": "Maximum",
            "dimensions": {"LoadBalancer": attr(alb, "arn_suffix"), "TargetGroup": attr(tg, "arn_suffix")},
            "comparison_operator": "GreaterThanOrEqualToThreshold", "threshold": 1.0,
            "period": 60, "evaluation_periods": 2, "treat_missing_data": "notBreaching",
            "alarm_actions": [id(&topic)],
        }), &[]);
        self.add(
            r,
            "monitoring/rds-cpu-alarm",
            ALARM,
            self.name("rds-cpu"),
            json!({
                "namespace": "AWS/RDS", "metric_name": "CPUUtilization", "statistic": "Average",
                "dimensions": {"DBInstanceIdentifier": attr(db, "name")},
                "comparison_operator": "GreaterThanThreshold", "threshold": 80.0,
                "period": 300, "evaluation_periods": 2, "treat_missing_data": "missing",
                "alarm_actions": [id(&topic)],
            }),
            &[],
        );
        self.add(r, "monitoring/dynamodb-throttle-alarm", ALARM, self.name("dynamodb-throttle"), json!({
            "namespace": "AWS/DynamoDB", "metric_name": "ReadThrottleEvents", "statistic": "Sum",
            "dimensions": {"TableName": self.table_name()},
            "comparison_operator": "GreaterThanThreshold", "threshold": 10.0,
            "period": 300, "evaluation_periods": 1, "treat_missing_data": "notBreaching",
            "alarm_actions": [id(&topic)],
        }), &[]);
    }

    fn storage(&mut self, iam: &Iam) {
        let primary = self.plan.primary_region.clone();
        let secondary = self.plan.secondary_region.clone();
        let bucket_props = json!({
            "versioning": "Enabled", "sse_algorithm": "AES256",
            "block_public_acls": true, "ignore_public_acls": true,
            "block_public_policy": true, "restrict_public_buckets": true,
        });
        let replica = self.add(
            Some(&secondary),
            "storage/replica-bucket",
            BUCKET,
            self.bucket_name(Role::Secondary),
            bucket_props.clone(),
            &[],
        );
        let bucket = self.add(
            Some(&primary),
            "storage/data-bucket",
            BUCKET,
            self.bucket_name(Role::Primary),
            bucket_props,
            &[],
        );
        self.add(Some(&primary), "storage/replication", BUCKET_REPLICATION, self.name("data-replication"), json!({
            "bucket": attr(&bucket, "name"),
            "role_arn": attr(&iam.replication_role, "arn"),
            "destination_bucket_arn": attr(&replica, "arn"),
            "rule_id": "replicate-all", "replication_time_minutes": 15, "storage_class": "STANDARD",
        }), &[]);
    }

    fn dynamodb(&mut self) {
        let primary = self.plan.primary_region.clone();
        let secondary = self.plan.secondary_region.clone();
        let table = self.add(Some(&primary), "dynamodb/sessions-table", DYNAMODB_TABLE, self.table_name(), json!({
            "hash_key": "session_id", "hash_key_type": "S", "billing_mode": "PAY_PER_REQUEST",
            "stream_view_type": "NEW_AND_OLD_IMAGES", "sse_enabled": true, "point_in_time_recovery": true,
        }), &[]);
        self.add(Some(&secondary), "dynamodb/sessions-replica", DYNAMODB_REPLICA, self.table_name(), json!({
            "table_name": attr(&table, "name"), "source_region": primary, "point_in_time_recovery": true,
        }), &[]);
    }

    fn route53(&mut self, albs: &[Alb]) {
        let zone_id: Value = match &self.plan.dns {
            Dns::ExistingZone(z) => json!(z),
            Dns::CreateZone => {
                let domain = self.plan.domain_name.clone();
                let zone = self.add(None, "route53/zone", HOSTED_ZONE, domain.clone(), json!({
                    "domain_name": domain, "comment": format!("trading platform DR ({})", self.plan.env),
                }), &[]);
                id(&zone)
            }
        };
        let mut records = serde_json::Map::new();
        for (alb, role) in albs.iter().zip(["primary", "secondary"]) {
            let check = self.add(
                None,
                &format!("route53/health-check-{role}"),
                HEALTH_CHECK,
                self.name(&format!("health-{role}")),
                json!({
                    "type": "HTTP", "fqdn": attr(&alb.alb, "dns_name"), "port": 80,
                    "resource_path": self.plan.health_check_path,
                    "request_interval": 30, "failure_threshold": 3, "inverted": false, "region_of_target": alb.region,
                }),
                &[],
            );
            records.insert(
                role.into(),
                json!({
                    "alb_dns_name": attr(&alb.alb, "dns_name"),
                    "alb_zone_id": attr(&alb.alb, "canonical_hosted_zone_id"),
                    "health_check_id": id(&check),
                    "evaluate_target_health": true,
                }),
            );
        }
        let mut props = json!({"hosted_zone_id": zone_id, "domain_name": self.plan.domain_name});
        if let Value::Object(m) = &mut props {
            m.extend(records);
        }
        self.add(
            None,
            "route53/failover-records",
            FAILOVER_RECORDS,
            self.plan.domain_name.clone(),
            props,
            &[],
        );
    }
}

struct Iam {
    profile: Address,
    replication_role: Address,
}

struct Alb {
    region: String,
    alb: Address,
}

/// What the later sections of a region attach to.
struct Network {
    vpc: Address,
    public: Vec<Address>,
    private: Vec<Address>,
    attachment: Address,
    nat: Address,
    private_rt: Address,
}

/// The region's internet and NAT gateways.
struct Gateways {
    igw: Address,
    attachment: Address,
    nat: Address,
}

/// The region's three security groups.
struct SecurityGroups {
    alb: Address,
    ec2: Address,
    rds: Address,
}

/// Boots an instance that answers the health path with 200 (no secret in it).
pub fn user_data(health_path: &str) -> String {
    format!(
        "#!/bin/bash\nset -euo pipefail\ndnf install -y nginx\ncat > /etc/nginx/default.d/health.conf <<'CONF'\nlocation = {health_path} {{ return 200 'ok'; add_header Content-Type text/plain; }}\nCONF\nsystemctl enable --now nginx\n"
    )
}
