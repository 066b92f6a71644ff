//! The network and security groups of both regions (STACK.md sections 1
//! and 2) against the emulator, checked through the EC2 API: create, a
//! second plan that changes nothing, lookup by ownership tags with a lost
//! state, drift (an extra ingress rule, a deleted route) shown and repaired,
//! destroy that leaves nothing of the env and spares a look-alike VPC
//! without ownership tags.

use aws_sdk_ec2::types::{Filter, IpPermission, NatGatewayState, Tag};
use drctl_core::plan::{Action, Plan};
use drctl_testkit::{dev_stack, slice, unique_env, Run};
use std::collections::{BTreeMap, BTreeSet};

const REGIONS: [(&str, &str); 2] = [("us-east-1", "10.20"), ("us-west-2", "10.21")];

fn tags(t: &[Tag]) -> BTreeMap<String, String> {
    t.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn env_filter(env: &str) -> Filter {
    filter("tag:drctl:env", env)
}

/// `(protocol, from, to, source)` of every ingress rule, sorted.
fn rules(perms: &[IpPermission]) -> Vec<(String, i32, i32, String)> {
    let mut out = Vec::new();
    for p in perms {
        let head = (
            p.ip_protocol().unwrap_or_default().to_string(),
            p.from_port().unwrap_or(-1),
            p.to_port().unwrap_or(-1),
        );
        for r in p.ip_ranges() {
            out.push((
                head.0.clone(),
                head.1,
                head.2,
                r.cidr_ip().unwrap().to_string(),
            ));
        }
        for r in p.ipv6_ranges() {
            out.push((
                head.0.clone(),
                head.1,
                head.2,
                r.cidr_ipv6().unwrap().to_string(),
            ));
        }
        for g in p.user_id_group_pairs() {
            out.push((
                head.0.clone(),
                head.1,
                head.2,
                g.group_id().unwrap().to_string(),
            ));
        }
        for l in p.prefix_list_ids() {
            out.push((
                head.0.clone(),
                head.1,
                head.2,
                l.prefix_list_id().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

fn tcp(port: i32, source: &str) -> (String, i32, i32, String) {
    ("tcp".into(), port, port, source.into())
}

/// The non-NoOp changes of a plan, by address.
fn changed(plan: &Plan) -> BTreeMap<String, &drctl_core::plan::ResourceChange> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp || c.adopt)
        .map(|c| (c.address.to_string(), c))
        .collect()
}

/// Everything STACK.md sections 1 and 2 ask of one region; returns the VPC id.
async fn check_region(run: &Run, region: &str, net: &str) -> String {
    let env = &run.env;
    let ec2 = run.aws.ec2(region);
    let name = |what: &str| format!("trading-{what}-{env}");

    // VPC with DNS support and hostnames.
    let vpcs = ec2
        .describe_vpcs()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "{region}: one VPC of the env");
    let vpc = &vpcs.vpcs()[0];
    let vpc_id = vpc.vpc_id().unwrap().to_string();
    assert_eq!(vpc.cidr_block(), Some(format!("{net}.0.0/16").as_str()));
    assert_eq!(tags(vpc.tags())["Name"], name("vpc"));
    for attr in [
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsSupport,
        aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames,
    ] {
        let a = ec2
            .describe_vpc_attribute()
            .vpc_id(&vpc_id)
            .attribute(attr.clone())
            .send()
            .await
            .unwrap();
        let on = a
            .enable_dns_support()
            .or(a.enable_dns_hostnames())
            .and_then(|b| b.value());
        assert_eq!(on, Some(true), "{region}: {attr:?}");
    }

    // Four subnets in the first two zones, with the derived CIDRs.
    let mut zones: Vec<String> = ec2
        .describe_availability_zones()
        .send()
        .await
        .unwrap()
        .availability_zones()
        .iter()
        .filter(|z| z.state() == Some(&aws_sdk_ec2::types::AvailabilityZoneState::Available))
        .map(|z| z.zone_name().unwrap().to_string())
        .collect();
    zones.sort();
    let subnets = ec2
        .describe_subnets()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    assert_eq!(subnets.subnets().len(), 4, "{region}: four subnets");
    let mut subnet_ids = BTreeMap::new();
    for s in subnets.subnets() {
        let t = tags(s.tags());
        subnet_ids.insert(t["Name"].clone(), s.subnet_id().unwrap().to_string());
        let (third, zone) = match t["Name"].strip_suffix(&format!("-{env}")).unwrap() {
            "trading-public-1" => (1, 0),
            "trading-public-2" => (2, 1),
            "trading-private-1" => (11, 0),
            "trading-private-2" => (12, 1),
            other => panic!("unexpected subnet {other}"),
        };
        assert_eq!(s.vpc_id(), Some(vpc_id.as_str()));
        assert_eq!(s.cidr_block(), Some(format!("{net}.{third}.0/24").as_str()));
        assert_eq!(s.availability_zone(), Some(zones[zone].as_str()));
        assert_eq!(s.map_public_ip_on_launch(), Some(false));
        assert_eq!(t["drctl:env"], *env);
        assert_eq!(t["Application"], "TradingPlatform");
    }
    let subnet = |n: &str| subnet_ids[&name(n)].clone();

    // Internet gateway, attached.
    let igws = ec2
        .describe_internet_gateways()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    assert_eq!(igws.internet_gateways().len(), 1);
    let igw = &igws.internet_gateways()[0];
    let igw_id = igw.internet_gateway_id().unwrap().to_string();
    assert_eq!(tags(igw.tags())["Name"], name("igw"));
    assert!(igw
        .attachments()
        .iter()
        .any(|a| a.vpc_id() == Some(vpc_id.as_str())));

    // Elastic IP and one NAT gateway in public subnet 1.
    let eips = ec2
        .describe_addresses()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    assert_eq!(eips.addresses().len(), 1);
    let eip = &eips.addresses()[0];
    assert_eq!(eip.domain().map(|d| d.as_str()), Some("vpc"));
    assert_eq!(tags(eip.tags())["Name"], name("nat-eip"));
    let nats = ec2
        .describe_nat_gateways()
        .filter(filter("vpc-id", &vpc_id))
        .send()
        .await
        .unwrap();
    let live: Vec<_> = nats
        .nat_gateways()
        .iter()
        .filter(|n| n.state() != Some(&NatGatewayState::Deleted))
        .collect();
    assert_eq!(live.len(), 1, "{region}: one NAT gateway");
    let nat = live[0];
    let nat_id = nat.nat_gateway_id().unwrap().to_string();
    assert_eq!(nat.state(), Some(&NatGatewayState::Available));
    assert_eq!(nat.subnet_id(), Some(subnet("public-1").as_str()));
    assert_eq!(
        nat.nat_gateway_addresses()[0].allocation_id(),
        eip.allocation_id()
    );
    assert_eq!(tags(nat.tags())["Name"], name("nat"));
    assert_eq!(tags(nat.tags())["drctl:env"], *env);

    // Route tables: default routes and two associations each.
    let rts = ec2
        .describe_route_tables()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    assert_eq!(rts.route_tables().len(), 2);
    for rt in rts.route_tables() {
        let t = tags(rt.tags());
        let (target, assoc) = if t["Name"] == name("public-rt") {
            (igw_id.clone(), [subnet("public-1"), subnet("public-2")])
        } else {
            assert_eq!(t["Name"], name("private-rt"));
            (nat_id.clone(), [subnet("private-1"), subnet("private-2")])
        };
        assert_eq!(rt.vpc_id(), Some(vpc_id.as_str()));
        let routes: Vec<_> = rt
            .routes()
            .iter()
            .filter(|r| r.gateway_id() != Some("local"))
            .collect();
        assert_eq!(routes.len(), 1, "{region} {}: one route", t["Name"]);
        assert_eq!(routes[0].destination_cidr_block(), Some("0.0.0.0/0"));
        assert_eq!(
            routes[0].gateway_id().or(routes[0].nat_gateway_id()),
            Some(target.as_str())
        );
        let associated: BTreeSet<String> = rt
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect();
        assert_eq!(associated, assoc.into_iter().collect(), "{}", t["Name"]);
    }

    // Security groups: exactly the rules of section 2.
    let sgs = ec2
        .describe_security_groups()
        .filters(env_filter(env))
        .send()
        .await
        .unwrap();
    assert_eq!(sgs.security_groups().len(), 3);
    let by_name: BTreeMap<&str, _> = sgs
        .security_groups()
        .iter()
        .map(|g| (g.group_name().unwrap(), g))
        .collect();
    let (alb, ec2_sg, rds) = (
        by_name[name("alb-sg").as_str()],
        by_name[name("ec2-sg").as_str()],
        by_name[name("rds-sg").as_str()],
    );
    for g in [alb, ec2_sg, rds] {
        assert_eq!(g.vpc_id(), Some(vpc_id.as_str()));
        assert_eq!(tags(g.tags())["drctl:env"], *env);
    }
    assert_eq!(
        alb.description(),
        Some("Trading ALB: HTTP and HTTPS from the internet")
    );
    assert_eq!(
        rules(alb.ip_permissions()),
        vec![tcp(80, "0.0.0.0/0"), tcp(443, "0.0.0.0/0")]
    );
    assert_eq!(
        rules(ec2_sg.ip_permissions()),
        vec![tcp(80, alb.group_id().unwrap())]
    );
    assert_eq!(
        rules(rds.ip_permissions()),
        vec![tcp(3306, ec2_sg.group_id().unwrap())]
    );
    vpc_id
}

/// Nothing tagged with the env is left in `region`; the NATs of `vpc_id`
/// are all deleted.
async fn check_gone(run: &Run, region: &str, vpc_id: &str) {
    let env = &run.env;
    let ec2 = run.aws.ec2(region);
    let f = || env_filter(env);
    let n = |what: &str, count: usize| assert_eq!(count, 0, "{region}: {what} left");
    n(
        "VPCs",
        ec2.describe_vpcs()
            .filters(f())
            .send()
            .await
            .unwrap()
            .vpcs()
            .len(),
    );
    n(
        "subnets",
        ec2.describe_subnets()
            .filters(f())
            .send()
            .await
            .unwrap()
            .subnets()
            .len(),
    );
    n(
        "internet gateways",
        ec2.describe_internet_gateways()
            .filters(f())
            .send()
            .await
            .unwrap()
            .internet_gateways()
            .len(),
    );
    n(
        "Elastic IPs",
        ec2.describe_addresses()
            .filters(f())
            .send()
            .await
            .unwrap()
            .addresses()
            .len(),
    );
    n(
        "route tables",
        ec2.describe_route_tables()
            .filters(f())
            .send()
            .await
            .unwrap()
            .route_tables()
            .len(),
    );
    n(
        "security groups",
        ec2.describe_security_groups()
            .filters(f())
            .send()
            .await
            .unwrap()
            .security_groups()
            .len(),
    );
    let nats = ec2
        .describe_nat_gateways()
        .filter(filter("vpc-id", vpc_id))
        .send()
        .await
        .unwrap();
    assert!(
        nats.nat_gateways()
            .iter()
            .all(|n| n.state() == Some(&NatGatewayState::Deleted)),
        "{region}: NAT gateways left: {nats:?}"
    );
}

#[tokio::test]
async fn network_and_security_groups_of_both_regions() {
    let env = unique_env("t-net");
    let specs = slice(dev_stack(&env), |a| {
        a.contains("/network/") || a.contains("/security/")
    });
    // Per region: VPC, 4 subnets, IGW + attachment, EIP, NAT, 2 route
    // tables, 4 associations, 3 security groups.
    assert_eq!(
        specs.len(),
        2 * 18,
        "{:#?}",
        specs.iter().map(|s| &s.address).collect::<Vec<_>>()
    );
    let run = Run::new(&env, specs.clone()).await;

    // A look-alike VPC with the same Name tag but no ownership tags: drctl
    // must neither adopt nor destroy it.
    let east = run.aws.ec2("us-east-1");
    let bystander = east
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Vpc)
                .tags(
                    Tag::builder()
                        .key("Name")
                        .value(format!("trading-vpc-{env}"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();

    let plan = run.apply().await;
    assert_eq!(plan.counts().add, 36);
    let mut vpcs = BTreeMap::new();
    for (region, net) in REGIONS {
        vpcs.insert(region, check_region(&run, region, net).await);
    }
    assert!(!vpcs.values().any(|v| v == &bystander));

    // A second plan changes nothing and makes no mutating call.
    let before = run.mutating_calls();
    let plan = run.plan().await.unwrap();
    assert!(!plan.has_changes(), "{:#?}", changed(&plan));
    assert_eq!(run.mutating_calls(), before);

    // With the state lost, every resource is found again (by ownership
    // tags, group name, subnet, gateway) and adopted, none created.
    let lost = Run::new(&env, specs.clone()).await;
    let plan = lost.plan().await.unwrap();
    for c in &plan.changes {
        assert_eq!(c.action, Action::NoOp, "{}: {:?}", c.address, c.fields);
        assert!(c.adopt, "{}", c.address);
    }
    assert!(lost.mutating_calls().is_empty());

    // Drift: an extra ingress rule on the primary ALB SG, the default route
    // of the secondary private route table deleted.
    let id_of = |addr: &str| {
        run.store().state.resources[&drctl_core::model::Address::new(addr)]
            .id
            .clone()
    };
    let alb_sg = id_of("us-east-1/security/alb-sg");
    east.authorize_security_group_ingress()
        .group_id(&alb_sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let west = run.aws.ec2("us-west-2");
    let private_rt = id_of("us-west-2/network/private-rt");
    west.delete_route()
        .route_table_id(&private_rt)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let drift = changed(&plan);
    assert_eq!(
        drift.keys().collect::<Vec<_>>(),
        ["us-east-1/security/alb-sg", "us-west-2/network/private-rt"],
        "{drift:#?}"
    );
    for c in drift.values() {
        assert_eq!(c.action, Action::Update);
        assert!(c.drift, "{}", c.address);
        assert_eq!(c.fields.len(), 1);
        assert!(c.fields[0].drift);
    }
    assert_eq!(
        drift["us-east-1/security/alb-sg"].fields[0].field,
        "ingress"
    );
    assert_eq!(
        drift["us-west-2/network/private-rt"].fields[0].field,
        "routes"
    );
    run.apply().await;
    let after = run.plan().await.unwrap();
    assert!(!after.has_changes(), "{:#?}", changed(&after));
    for (region, net) in REGIONS {
        check_region(&run, region, net).await;
    }

    // Destroy: nothing of the env is left in either region; the look-alike
    // VPC survives.
    let plan = run.destroy().await;
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    assert!(run.store().state.resources.is_empty());
    for (region, _) in REGIONS {
        check_gone(&run, region, &vpcs[region]).await;
    }
    let left = east
        .describe_vpcs()
        .vpc_ids(&bystander)
        .send()
        .await
        .unwrap();
    assert_eq!(left.vpcs().len(), 1, "the look-alike VPC survives destroy");
    east.delete_vpc().vpc_id(&bystander).send().await.unwrap();
}

/// Rule 2 and 6 on one region: a same-named security group without the
/// ownership tags is a clash; an association moves to another route table
/// in place (ReplaceRouteTableAssociation); a subnet CIDR change is a
/// replacement with its reason.
#[tokio::test]
async fn clash_in_place_association_move_and_replacement_reasons() {
    use drctl_core::model::{reference, Address};
    let env = unique_env("t-net1");
    let all = dev_stack(&env);
    let network = slice(all.clone(), |a| a.starts_with("us-east-1/network/"));
    let with_sg = slice(all, |a| {
        a.starts_with("us-east-1/network/") || a == "us-east-1/security/alb-sg"
    });
    let mut run = Run::new(&env, network.clone()).await;
    run.apply().await;
    let ec2 = run.aws.ec2("us-east-1");
    let id_of = |run: &Run, addr: &str| run.store().state.resources[&Address::new(addr)].id.clone();
    let vpc = id_of(&run, "us-east-1/network/vpc");

    // Someone else's group with drctl's name in the VPC: a clash, not adopted.
    let foreign = ec2
        .create_security_group()
        .group_name(format!("trading-alb-sg-{env}"))
        .description("not drctl's")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    run.specs = with_sg;
    let err = run.plan().await.unwrap_err().to_string();
    assert!(
        err.contains("us-east-1/security/alb-sg") && err.contains(&foreign),
        "{err}"
    );
    ec2.delete_security_group()
        .group_id(&foreign)
        .send()
        .await
        .unwrap();
    run.specs = network;

    // Public association 1 moved to the private route table: in place.
    let assoc = Address::new("us-east-1/network/public-rt-assoc-1");
    let private_rt = Address::new("us-east-1/network/private-rt");
    let old_id = id_of(&run, assoc.as_str());
    for s in run.specs.iter_mut().filter(|s| s.address == assoc) {
        s.props
            .insert("route_table_id".into(), reference(&private_rt, "id"));
    }
    let plan = run.plan().await.unwrap();
    let c = plan.change(&assoc).unwrap();
    assert_eq!(c.action, Action::Update, "{c:#?}");
    assert_eq!(c.fields[0].field, "route_table_id");
    assert!(!c.drift);
    run.apply().await;
    let new_id = id_of(&run, assoc.as_str());
    assert_ne!(
        new_id, old_id,
        "ReplaceRouteTableAssociation gives a new id"
    );
    let rt = ec2
        .describe_route_tables()
        .route_table_ids(id_of(&run, private_rt.as_str()))
        .send()
        .await
        .unwrap();
    let subnet = id_of(&run, "us-east-1/network/public-subnet-1");
    assert!(rt.route_tables()[0]
        .associations()
        .iter()
        .any(|a| a.subnet_id() == Some(subnet.as_str())
            && a.route_table_association_id() == Some(new_id.as_str())));
    let before = run.mutating_calls();
    assert!(!run.plan().await.unwrap().has_changes());
    assert_eq!(run.mutating_calls(), before);

    // A subnet CIDR change replaces the subnet, and the plan says why.
    let subnet_addr = Address::new("us-east-1/network/private-subnet-2");
    for s in run.specs.iter_mut().filter(|s| s.address == subnet_addr) {
        s.props.insert("cidr_block".into(), "10.20.13.0/24".into());
    }
    let plan = run.plan().await.unwrap();
    let c = plan.change(&subnet_addr).unwrap();
    assert_eq!(c.action, Action::Replace);
    assert_eq!(
        c.reasons,
        vec!["cidr_block: a subnet's CIDR block cannot change".to_string()]
    );

    run.destroy().await;
    assert!(run.store().state.resources.is_empty());
    check_gone(&run, "us-east-1", &vpc).await;
}
