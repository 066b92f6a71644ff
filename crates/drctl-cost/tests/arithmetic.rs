//! The cost arithmetic against figures computed by hand from the shipped
//! price table (us-east-1 unless said): 730 hours a month, Multi-AZ
//! doubling, usage-based lines, unknown prices.

use drctl_core::model::{Address, Props};
use drctl_cost::prices::PriceTable;
use drctl_cost::{estimate, Item};
use drctl_stack::kinds;
use drctl_stack::usage::Usage;
use serde_json::{json, Value};

fn item(address: &str, kind: &str, props: Value) -> Item {
    let region = address.split('/').next().unwrap();
    Item {
        address: Address::new(address),
        kind: kind.into(),
        region: (region != "global").then(|| region.to_string()),
        props: match props {
            Value::Object(m) => m,
            _ => Props::new(),
        },
    }
}

fn table() -> PriceTable {
    PriceTable::embedded()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 0.005, "{a} != {b}");
}

/// Monthly dollars of one resource, all lines priced.
fn monthly(items: &[Item], address: &str, usage: &Usage) -> f64 {
    let e = estimate(items, usage, &table());
    let r = e.resource(&Address::new(address)).expect("billable");
    r.total().known().expect("every line priced")
}

#[test]
fn the_shipped_table_is_valid_dated_sourced_and_730_hours() {
    let t = table();
    assert_eq!(t.hours_per_month, 730.0);
    assert!(!t.prices.is_empty());
    for p in &t.prices {
        assert!(p.source.starts_with("https://"), "{p:?}");
        assert_eq!(p.taken.len(), 10, "{p:?}");
        assert!(p.usd > 0.0, "{p:?}");
    }
    // Every per-region item is priced in both supported regions.
    for p in t.prices.iter().filter(|p| p.region == "us-east-1") {
        assert!(
            t.get(&p.item, &p.variant, "us-west-2").is_some(),
            "{} {} has no us-west-2 price",
            p.item,
            p.variant
        );
    }
}

#[test]
fn nat_gateway_is_730_hours_plus_the_gb_it_processes() {
    let items = [item("us-east-1/network/nat", kinds::NAT_GATEWAY, json!({}))];
    // 730 h × $0.045 = $32.85; default 100 GB × $0.045 = $4.50.
    close(
        monthly(&items, "us-east-1/network/nat", &Usage::default()),
        37.35,
    );
    let mut usage = Usage::default();
    usage.all.insert("nat_gb".into(), 1000.0);
    // 32.85 + 1000 × 0.045 = 77.85
    close(monthly(&items, "us-east-1/network/nat", &usage), 77.85);
}

#[test]
fn instances_are_desired_capacity_times_730_hours_of_the_template_type() {
    let items = [
        item(
            "us-east-1/compute/launch-template",
            kinds::LAUNCH_TEMPLATE,
            json!({"instance_type": "t3.large"}),
        ),
        item(
            "us-east-1/compute/asg",
            kinds::AUTOSCALING_GROUP,
            json!({"desired_capacity": 2}),
        ),
    ];
    let e = estimate(&items, &Usage::default(), &table());
    let asg = e.resource(&Address::new("us-east-1/compute/asg")).unwrap();
    // 2 × 730 × $0.0832 = $121.472
    assert_eq!(asg.lines[0].quantity, 1460.0);
    close(asg.lines[0].monthly_usd.unwrap(), 121.47);
    // 2 × 8 GB × $0.08 = $1.28
    close(asg.lines[1].monthly_usd.unwrap(), 1.28);
    // The launch template itself costs nothing.
    assert!(e
        .free
        .contains(&Address::new("us-east-1/compute/launch-template")));
}

#[test]
fn multi_az_doubles_instance_hours_and_storage() {
    let db = |multi: bool| {
        [item(
            "us-east-1/database/db",
            kinds::DB_INSTANCE,
            json!({"instance_class": "db.r6g.large", "allocated_storage": 100, "multi_az": multi}),
        )]
    };
    // Single-AZ: 730 × $0.24 = $175.20; 100 GB × $0.115 = $11.50.
    close(
        monthly(&db(false), "us-east-1/database/db", &Usage::default()),
        186.70,
    );
    // Multi-AZ: 1460 × $0.24 = $350.40; 200 GB-month × $0.115 = $23.00.
    close(
        monthly(&db(true), "us-east-1/database/db", &Usage::default()),
        373.40,
    );
}

#[test]
fn usage_lines_take_plan_then_region_values_and_are_marked() {
    let items = [
        item(
            "us-east-1/dynamodb/sessions-table",
            kinds::DYNAMODB_TABLE,
            json!({"point_in_time_recovery": true}),
        ),
        item(
            "us-west-2/dynamodb/sessions-replica",
            kinds::DYNAMODB_REPLICA,
            json!({"point_in_time_recovery": true}),
        ),
    ];
    let mut usage = Usage::default();
    usage.all.insert("dynamodb_write_million".into(), 10.0);
    usage.all.insert("dynamodb_read_million".into(), 40.0);
    usage.regions.insert(
        "us-west-2".into(),
        [("dynamodb_read_million".to_string(), 0.0)].into(),
    );
    let e = estimate(&items, &usage, &table());
    let primary = e
        .resource(&Address::new("us-east-1/dynamodb/sessions-table"))
        .unwrap();
    assert!(primary.lines.iter().all(|l| l.usage_based));
    // Global table: 10 M replicated writes × $0.625 = $6.25 in each region.
    assert_eq!(
        primary.lines[0].price,
        "dynamodb/replicated-write-million@us-east-1"
    );
    close(primary.lines[0].monthly_usd.unwrap(), 6.25);
    assert!(!primary.lines[0].usage_default);
    // 40 M reads × $0.125 = $5.00; storage default 5 GB × $0.25 = $1.25 (default);
    // PITR 5 GB × $0.20 = $1.00.
    close(primary.lines[1].monthly_usd.unwrap(), 5.00);
    assert!(primary.lines[2].usage_default);
    close(primary.total().known().unwrap(), 6.25 + 5.00 + 1.25 + 1.00);
    // The replica: the standby region reads nothing (its override).
    let replica = e
        .resource(&Address::new("us-west-2/dynamodb/sessions-replica"))
        .unwrap();
    close(replica.total().known().unwrap(), 6.25 + 0.0 + 1.25 + 1.00);
    // Baseline vs usage split.
    let (base, used) = replica.split();
    assert_eq!(base.usd, 0.0);
    close(used.usd, 8.50);
}

#[test]
fn alb_has_hours_lcus_two_public_ips_and_egress() {
    let items = [item(
        "us-east-1/compute/alb",
        kinds::LOAD_BALANCER,
        json!({"scheme": "internet-facing", "subnet_ids": ["a", "b"]}),
    )];
    // 730 × 0.0225 = 16.425; 1 LCU × 730 × 0.008 = 5.84;
    // 2 IPs × 730 × 0.005 = 7.30; 100 GB × 0.09 = 9.00.
    close(
        monthly(&items, "us-east-1/compute/alb", &Usage::default()),
        16.425 + 5.84 + 7.30 + 9.00,
    );
}

#[test]
fn a_missing_price_is_unknown_with_a_warning_never_zero() {
    let items = [
        item(
            "eu-south-2/compute/launch-template",
            kinds::LAUNCH_TEMPLATE,
            json!({"instance_type": "t3.large"}),
        ),
        item(
            "eu-south-2/compute/asg",
            kinds::AUTOSCALING_GROUP,
            json!({"desired_capacity": 2}),
        ),
        item(
            "us-east-1/compute/launch-template",
            kinds::LAUNCH_TEMPLATE,
            json!({"instance_type": "m7i.48xlarge"}),
        ),
        item(
            "us-east-1/compute/asg",
            kinds::AUTOSCALING_GROUP,
            json!({"desired_capacity": 1}),
        ),
    ];
    let e = estimate(&items, &Usage::default(), &table());
    for r in &e.resources {
        let total = r.total();
        assert!(total.known().is_none(), "{} must be unknown", r.address);
        assert!(total.unknown_lines > 0);
        assert!(r.lines.iter().any(|l| l.monthly_usd.is_none()));
    }
    assert!(e.region_total("eu-south-2").known().is_none());
    let w = e.warnings.join("\n");
    assert!(w.contains("ec2/instance-hour/t3.large@eu-south-2"), "{w}");
    assert!(
        w.contains("ec2/instance-hour/m7i.48xlarge@us-east-1"),
        "{w}"
    );
    assert!(w.contains("not $0"), "{w}");
}

#[test]
fn a_bad_price_table_is_refused_with_the_reason() {
    let base = "format_version = 1\ncurrency = \"USD\"\nhours_per_month = 730.0\n";
    let line = |usd: &str| {
        format!("[[price]]\nitem = \"x\"\nregion = \"us-east-1\"\nusd = {usd}\nunit = \"u\"\nsource = \"https://a\"\ntaken = \"2026-01-01\"\n")
    };
    let twice = format!("{base}{}{}", line("1.0"), line("2.0"));
    let e = PriceTable::parse(&twice, "t.toml").unwrap_err().to_string();
    assert!(e.contains("t.toml") && e.contains("listed twice"), "{e}");
    let negative = format!("{base}{}", line("-1.0"));
    let e = PriceTable::parse(&negative, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("zero or more"), "{e}");
    let round_trip = PriceTable::parse(&table().to_toml(), "again").unwrap();
    assert_eq!(round_trip.prices, table().prices);
}
