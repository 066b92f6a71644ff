//! The blueprint of the whole two-region stack: one acyclic graph, the
//! names and tags STACK.md demands, and a destroy order that honours the
//! rules table.

use drctl_core::graph::StackGraph;
use drctl_core::model::Address;
use drctl_core::ordering::{destroy_waits, Doomed};
use drctl_core::walk::{walk, NodeResult};
use drctl_stack::{blueprint, envplan, kinds};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn dev() -> envplan::EnvPlan {
    envplan::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans"),
        "dev",
    )
    .unwrap()
}

#[test]
fn both_regions_in_one_acyclic_graph() {
    let specs = blueprint::build(&dev(), Some("123456789012"));
    let graph = StackGraph::build(specs.clone()).unwrap();
    // Per region: network 15 (VPC, 4 subnets, IGW + attachment, EIP, NAT,
    // 2 route tables, 4 associations), 3 SGs, compute 6, database 3 (secret,
    // subnet group, DB), monitoring 5 (topic, subscription, 3 alarms) = 32;
    // primary adds bucket, replication, table; secondary replica bucket and
    // table replica. Global: 3 IAM, zone, 2 health checks, the records.
    let count = |r: &str| {
        specs
            .iter()
            .filter(|s| s.region.as_deref() == Some(r))
            .count()
    };
    assert_eq!(count("us-east-1"), 32 + 3);
    assert_eq!(count("us-west-2"), 32 + 2);
    assert_eq!(specs.iter().filter(|s| s.region.is_none()).count(), 3 + 4);
    assert_eq!(graph.len(), specs.len());
    for s in &specs {
        assert!(
            kinds::ALL.contains(&s.kind.as_str()),
            "{} has unknown kind {}",
            s.address,
            s.kind
        );
    }
    let dot = graph.to_dot();
    assert!(dot.contains("\"us-east-1/network/vpc\" -> \"us-east-1/network/public-subnet-1\""));
}

#[test]
fn names_and_tags_follow_stack_md() {
    let specs = blueprint::build(&dev(), Some("123456789012"));
    let name = |a: &str| {
        specs
            .iter()
            .find(|s| s.address.0 == a)
            .unwrap()
            .name
            .clone()
    };
    assert_eq!(name("us-east-1/network/vpc"), "trading-vpc-dev");
    assert_eq!(
        name("us-west-2/network/public-subnet-1"),
        "trading-public-1-dev"
    );
    assert_eq!(name("us-east-1/network/nat-eip"), "trading-nat-eip-dev");
    assert_eq!(name("us-east-1/security/rds-sg"), "trading-rds-sg-dev");
    assert_eq!(name("us-west-2/compute/asg"), "trading-asg-dev");
    assert_eq!(name("us-east-1/database/db"), "trading-db-dev");
    assert_eq!(
        name("us-east-1/database/subnet-group"),
        "trading-db-subnet-group-dev"
    );
    assert_eq!(name("global/iam/ec2-profile"), "trading-ec2-profile-dev");
    assert_eq!(
        name("global/iam/s3-replication-role"),
        "trading-s3-replication-role-dev"
    );
    assert_eq!(
        name("us-east-1/storage/data-bucket"),
        "trading-data-dev-123456789012"
    );
    assert_eq!(
        name("us-west-2/storage/replica-bucket"),
        "trading-data-dev-123456789012-replica"
    );
    assert_eq!(
        name("us-east-1/database/password-secret"),
        "trading-db-password-dev"
    );
    assert_eq!(
        name("us-west-2/monitoring/alerts-topic"),
        "trading-alerts-dev"
    );
    assert_eq!(
        name("us-east-1/monitoring/dynamodb-throttle-alarm"),
        "trading-dynamodb-throttle-dev"
    );
    for s in &specs {
        assert_eq!(s.tags["Name"], s.name);
        assert_eq!(s.tags["Environment"], "dev");
        assert_eq!(s.tags["Application"], "TradingPlatform");
        assert_eq!(s.tags["drctl:env"], "dev");
        assert_eq!(s.tags["drctl:address"], s.address.0);
        assert_eq!(s.tags["CostCenter"], "development");
    }
}

#[test]
fn security_groups_are_exactly_the_documented_ones() {
    let specs = blueprint::build(&dev(), None);
    let ingress =
        |a: &str| specs.iter().find(|s| s.address.0 == a).unwrap().props["ingress"].clone();
    let alb = ingress("us-east-1/security/alb-sg");
    assert_eq!(alb.as_array().unwrap().len(), 2);
    assert_eq!(alb[0]["cidr"], "0.0.0.0/0");
    assert_eq!(
        (alb[0]["from_port"].as_i64(), alb[1]["from_port"].as_i64()),
        (Some(80), Some(443))
    );
    let ec2 = ingress("us-east-1/security/ec2-sg");
    assert_eq!(ec2.as_array().unwrap().len(), 1);
    assert!(ec2[0].get("cidr").is_none());
    assert_eq!(
        ec2[0]["source_security_group_id"]["$ref"],
        "us-east-1/security/alb-sg"
    );
    let rds = ingress("us-east-1/security/rds-sg");
    assert_eq!(rds[0]["to_port"], 3306);
    assert_eq!(
        rds[0]["source_security_group_id"]["$ref"],
        "us-east-1/security/ec2-sg"
    );
}

/// Simulates a destroy of the whole stack and returns the deletion order.
async fn destroy_order() -> Vec<String> {
    let specs = blueprint::build(&dev(), Some("123456789012"));
    let doomed: Vec<Doomed> = specs
        .iter()
        .map(|s| Doomed {
            address: s.address.clone(),
            kind: s.kind.clone(),
            region: s.region.clone(),
            dependencies: s.dependencies(),
        })
        .collect();
    let waits = destroy_waits(&doomed, kinds::DESTROY_RULES);
    let order = Arc::new(Mutex::new(Vec::new()));
    let results = walk(&waits, 1, None, |a: Address| {
        let order = order.clone();
        async move {
            order.lock().unwrap().push(a.0);
            Ok::<_, String>(())
        }
    })
    .await;
    assert!(
        results.values().all(|r| matches!(r, NodeResult::Done(_))),
        "the rules form no cycle with the graph"
    );
    let v = order.lock().unwrap().clone();
    v
}

#[tokio::test]
async fn destroy_order_honours_every_rule_and_dependency() {
    let order = destroy_order().await;
    let pos = |a: &str| {
        order
            .iter()
            .position(|x| x == a)
            .unwrap_or_else(|| panic!("{a} missing"))
    };
    for r in ["us-east-1", "us-west-2"] {
        let p = |x: &str| pos(&format!("{r}/{x}"));
        assert!(
            p("network/nat") < p("network/nat-eip"),
            "NAT gone before its EIP is released"
        );
        assert!(
            p("network/nat-eip") < p("network/igw-attachment"),
            "EIP released before the IGW is detached"
        );
        assert!(
            p("network/igw-attachment") < p("network/igw"),
            "detached before deleted"
        );
        assert!(p("compute/alb") < p("network/public-subnet-1"));
        assert!(p("compute/alb") < p("security/alb-sg"));
        assert!(p("compute/asg") < p("compute/launch-template"));
        assert!(p("compute/asg") < p("security/ec2-sg"));
        assert!(p("compute/listener") < p("compute/tg"));
        assert!(p("compute/listener") < p("compute/alb"));
        assert!(p("database/db") < p("database/subnet-group"));
        assert!(p("database/db") < p("security/rds-sg"));
        assert!(p("network/private-subnet-2") < p("network/vpc"));
    }
    assert!(
        pos("us-west-2/dynamodb/sessions-replica") < pos("us-east-1/dynamodb/sessions-table"),
        "replica first"
    );
    assert!(pos("global/route53/failover-records") < pos("global/route53/health-check-primary"));
    assert!(pos("global/route53/failover-records") < pos("global/route53/zone"));
    assert!(pos("global/iam/ec2-profile") < pos("global/iam/ec2-role"));
    assert!(pos("us-east-1/storage/replication") < pos("us-west-2/storage/replica-bucket"));
}

#[test]
fn every_output_is_read_from_a_resource_the_blueprint_builds() {
    let prod = envplan::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans"),
        "prod-dr",
    )
    .unwrap();
    for plan in [dev(), prod] {
        let graph = StackGraph::build(blueprint::build(&plan, Some("123456789012"))).unwrap();
        for role in [blueprint::Role::Primary, blueprint::Role::Secondary] {
            let outputs = blueprint::region_outputs(&plan, role);
            assert_eq!(outputs.len(), 11);
            let sg = blueprint::alb_security_group_address(&plan, role);
            assert!(graph.get(&sg).is_some(), "{}: {sg}", plan.env);
            for o in outputs {
                assert!(
                    graph.get(&o.address).is_some(),
                    "{}: output {} reads {}, which the blueprint does not build",
                    plan.env,
                    o.key,
                    o.address
                );
            }
        }
        let zone = graph.get(&blueprint::zone_address());
        assert_eq!(
            zone.is_some(),
            plan.dns == envplan::Dns::CreateZone,
            "{}: the zone output's address",
            plan.env
        );
    }
}
