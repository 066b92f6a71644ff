//! Which billable lines each kind of resource has, from its properties and
//! the `[usage]` quantities; priced from the table.
//!
//! Arithmetic (all monthly):
//! - always-on: `count × hours_per_month (730) × hourly price`;
//! - RDS Multi-AZ: instance-hours and storage counted twice (primary and
//!   standby), at the single-AZ price;
//! - usage-based: `[usage]` quantity × unit price, marked `usage_based`.
//!
//! Kinds without a charge of their own (VPC, subnets, route tables, internet
//! gateway, security groups, target group, listener, launch template,
//! scaling policy, IAM, DB subnet group, failover alias records, SNS topic)
//! have no line. Not modelled: RDS backups (free up to the DB's storage at
//! 7 days), request charges of S3 and Secrets Manager, KMS, CloudWatch
//! metrics and logs, cross-AZ traffic.

use crate::prices::PriceTable;
use drctl_core::model::{Address, Props};
use drctl_stack::kinds;
use drctl_stack::usage::{Origin, Usage};
use serde::Serialize;
use serde_json::Value;

/// One resource as the cost model sees it: planned (desired) or existing.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub address: Address,
    pub kind: String,
    /// `None` for global resources (IAM, Route53).
    pub region: Option<String>,
    pub props: Props,
}

/// One billable line of a resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// What is billed, e.g. "t3.large instance-hours".
    pub what: String,
    /// Units a month.
    pub quantity: f64,
    pub unit: String,
    /// US dollars per unit; `None` when the table has no price.
    pub unit_usd: Option<f64>,
    /// `quantity × unit_usd`; `None` when unknown.
    pub monthly_usd: Option<f64>,
    /// The quantity comes from `[usage]`, not from the resource.
    pub usage_based: bool,
    /// The `[usage]` quantity is drctl's default, not set in the plan.
    pub usage_default: bool,
    /// The price table line, as `item[/variant]@region`.
    pub price: String,
    /// The price is marked `confirmed` in the table.
    pub confirmed: bool,
}

/// Dollars known, plus how many lines had no price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Money {
    pub usd: f64,
    pub unknown_lines: usize,
}

impl Money {
    pub fn add_line(&mut self, l: &Line) {
        match l.monthly_usd {
            Some(v) => self.usd += v,
            None => self.unknown_lines += 1,
        }
    }
    pub fn add(&mut self, m: Money) {
        self.usd += m.usd;
        self.unknown_lines += m.unknown_lines;
    }
    /// Fully known: every line had a price.
    pub fn known(&self) -> Option<f64> {
        (self.unknown_lines == 0).then_some(self.usd)
    }
}

/// The billable lines of one resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceCost {
    pub address: Address,
    pub kind: String,
    /// AWS region, or "global".
    pub region: String,
    pub lines: Vec<Line>,
}

impl ResourceCost {
    pub fn total(&self) -> Money {
        let mut m = Money::default();
        self.lines.iter().for_each(|l| m.add_line(l));
        m
    }
    /// Split into (baseline, usage-based).
    pub fn split(&self) -> (Money, Money) {
        let (mut base, mut usage) = (Money::default(), Money::default());
        for l in &self.lines {
            if l.usage_based {
                usage.add_line(l)
            } else {
                base.add_line(l)
            }
        }
        (base, usage)
    }
}

/// The monthly cost of a set of resources.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// Billable resources, in input order.
    pub resources: Vec<ResourceCost>,
    /// Resources with no charge of their own.
    pub free: Vec<Address>,
    /// Prices the table lacks (each line shown as unknown).
    pub warnings: Vec<String>,
}

impl Estimate {
    /// Regions in first-seen order ("global" last).
    pub fn regions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.resources {
            if r.region != "global" && !out.contains(&r.region) {
                out.push(r.region.clone());
            }
        }
        if self.resources.iter().any(|r| r.region == "global") {
            out.push("global".into());
        }
        out
    }
    pub fn region_total(&self, region: &str) -> Money {
        let mut m = Money::default();
        self.resources
            .iter()
            .filter(|r| r.region == region)
            .for_each(|r| m.add(r.total()));
        m
    }
    pub fn total(&self) -> Money {
        let mut m = Money::default();
        self.resources.iter().for_each(|r| m.add(r.total()));
        m
    }
    /// Distinct priced lines whose price is not marked confirmed.
    pub fn unconfirmed_prices(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in self.resources.iter().flat_map(|r| &r.lines) {
            if l.unit_usd.is_some() && !l.confirmed && !out.contains(&l.price.as_str()) {
                out.push(&l.price);
            }
        }
        out
    }

    pub fn resource(&self, address: &Address) -> Option<&ResourceCost> {
        self.resources.iter().find(|r| &r.address == address)
    }
}

/// Prices `items`. `usage` gives the usage-based quantities.
pub fn estimate(items: &[Item], usage: &Usage, table: &PriceTable) -> Estimate {
    let mut est = Estimate::default();
    for item in items {
        let mut cx = Cx {
            table,
            usage,
            region: item.region.as_deref().unwrap_or("global"),
            usage_region: item.region.as_deref(),
            lines: Vec::new(),
            warnings: &mut est.warnings,
            address: &item.address,
        };
        lines_of(item, items, &mut cx);
        let lines = cx.lines;
        if lines.is_empty() {
            est.free.push(item.address.clone());
        } else {
            est.resources.push(ResourceCost {
                address: item.address.clone(),
                kind: item.kind.clone(),
                region: item.region.clone().unwrap_or_else(|| "global".into()),
                lines,
            });
        }
    }
    est
}

struct Cx<'a> {
    table: &'a PriceTable,
    usage: &'a Usage,
    region: &'a str,
    usage_region: Option<&'a str>,
    lines: Vec<Line>,
    warnings: &'a mut Vec<String>,
    address: &'a Address,
}

impl Cx<'_> {
    fn hours(&self) -> f64 {
        self.table.hours_per_month
    }

    /// Adds `quantity` units of `item[/variant]` in this resource's region.
    fn line(
        &mut self,
        what: String,
        quantity: f64,
        item: &str,
        variant: &str,
        usage: Option<Origin>,
    ) {
        let price = self.table.get(item, variant, self.region);
        let key = if variant.is_empty() {
            format!("{item}@{}", self.region)
        } else {
            format!("{item}/{variant}@{}", self.region)
        };
        if price.is_none() {
            let w = format!(
                "no price for {key} in the price table ({}): {} \"{what}\" is shown as unknown, not $0",
                self.table.origin, self.address
            );
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        let unit_usd = price.map(|p| p.usd);
        self.lines.push(Line {
            what,
            quantity,
            unit: price
                .map(|p| p.unit.clone())
                .unwrap_or_else(|| "unit".into()),
            unit_usd,
            monthly_usd: unit_usd.map(|u| round4(u * quantity)),
            usage_based: usage.is_some(),
            usage_default: usage == Some(Origin::Default),
            price: key,
            confirmed: price.is_some_and(|p| p.confirmed),
        });
    }

    /// A `[usage]` quantity for this resource's region.
    fn usage(&self, key: &str, per_region: bool) -> (f64, Origin) {
        self.usage
            .get(key, if per_region { self.usage_region } else { None })
    }

    /// A property that is unknown (missing, or known only after apply).
    fn unknown_prop(&mut self, what: &str, prop: &str) {
        let w = format!(
            "{}: {prop} is not known yet, so its {what} cost is unknown",
            self.address
        );
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
        self.lines.push(Line {
            what: what.to_string(),
            quantity: 0.0,
            unit: "unit".into(),
            unit_usd: None,
            monthly_usd: None,
            usage_based: false,
            usage_default: false,
            price: format!("({prop} unknown)"),
            confirmed: false,
        });
    }
}

/// Rounds to 1/10000 of a dollar so that sums print stably.
fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

fn str_prop<'a>(props: &'a Props, key: &str) -> Option<&'a str> {
    props.get(key).and_then(Value::as_str)
}

fn num_prop(props: &Props, key: &str) -> Option<f64> {
    props.get(key).and_then(Value::as_f64)
}

/// Kinds billed as one flat monthly item each: (kind, line, price item).
const FLAT_MONTHLY: &[(&str, &str, &str)] = &[
    (
        kinds::HOSTED_ZONE,
        "hosted zone",
        "route53/hosted-zone-month",
    ),
    (
        kinds::ALARM,
        "standard-resolution alarm",
        "cloudwatch/alarm-month",
    ),
    (kinds::SECRET, "secret", "secretsmanager/secret-month"),
];

/// The cost lines of one resource; kinds absent here cost nothing themselves.
fn lines_of(item: &Item, all: &[Item], cx: &mut Cx) {
    if let Some((_, what, price)) = FLAT_MONTHLY.iter().find(|(k, ..)| *k == item.kind) {
        return cx.line((*what).into(), 1.0, price, "", None);
    }
    let p = &item.props;
    match item.kind.as_str() {
        kinds::NAT_GATEWAY => {
            hourly(cx, "NAT gateway-hours", "vpc/nat-gateway-hour");
            usage_line(cx, "data processed", "nat_gb", true, "vpc/nat-gateway-gb");
        }
        kinds::EIP => hourly(cx, "public IPv4 address-hours", "vpc/public-ipv4-hour"),
        kinds::LOAD_BALANCER => load_balancer(p, cx),
        kinds::AUTOSCALING_GROUP => autoscaling_group(item, all, cx),
        kinds::DB_INSTANCE => db_instance(p, cx),
        kinds::DYNAMODB_TABLE | kinds::DYNAMODB_REPLICA => dynamodb(item, all, cx),
        kinds::BUCKET => usage_line(
            cx,
            "Standard storage",
            "s3_storage_gb",
            false,
            "s3/standard-gb-month",
        ),
        kinds::BUCKET_REPLICATION => bucket_replication(p, cx),
        kinds::HEALTH_CHECK => health_check(p, cx),
        kinds::SNS_SUBSCRIPTION if str_prop(p, "protocol") == Some("email") => usage_line(
            cx,
            "email notifications",
            "sns_email_notifications",
            true,
            "sns/email",
        ),
        _ => {}
    }
}

/// One item for every hour of the month.
fn hourly(cx: &mut Cx, what: &str, item: &str) {
    let h = cx.hours();
    cx.line(what.into(), h, item, "", None);
}

/// A quantity the user estimates in the usage file under `key`, shown as
/// `<what> (usage: <key>)`.
fn usage_line(cx: &mut Cx, what: &str, key: &str, per_region: bool, item: &str) {
    let (q, o) = cx.usage(key, per_region);
    cx.line(format!("{what} (usage: {key})"), q, item, "", Some(o));
}

/// ALB-hours and LCUs; an internet-facing ALB also holds one public IPv4
/// address per subnet (AZ) and sends data out to the internet.
fn load_balancer(p: &Props, cx: &mut Cx) {
    let h = cx.hours();
    hourly(cx, "ALB-hours", "elb/alb-hour");
    let (lcu, o) = cx.usage("alb_lcu", true);
    cx.line(
        "LCU-hours (usage: alb_lcu)".into(),
        lcu * h,
        "elb/alb-lcu-hour",
        "",
        Some(o),
    );
    if str_prop(p, "scheme") == Some("internal") {
        return;
    }
    let ips = p
        .get("subnet_ids")
        .and_then(Value::as_array)
        .map_or(2, |a| a.len());
    cx.line(
        format!("public IPv4 address-hours ({ips} AZs)"),
        ips as f64 * h,
        "vpc/public-ipv4-hour",
        "",
        None,
    );
    usage_line(
        cx,
        "data out to the internet",
        "internet_egress_gb",
        true,
        "transfer/internet-out-gb",
    );
}

/// Instance-hours and gp3 storage, twice for Multi-AZ (primary + standby).
fn db_instance(p: &Props, cx: &mut Cx) {
    let h = cx.hours();
    let multi = p.get("multi_az").and_then(Value::as_bool).unwrap_or(false);
    let copies = if multi { 2.0 } else { 1.0 };
    let deploy = if multi {
        "Multi-AZ: primary + standby"
    } else {
        "single-AZ"
    };
    match str_prop(p, "instance_class") {
        Some(class) => cx.line(
            format!("{class} instance-hours ({deploy})"),
            copies * h,
            "rds/mysql-instance-hour",
            class,
            None,
        ),
        None => cx.unknown_prop("DB instance-hours", "instance_class"),
    }
    match num_prop(p, "allocated_storage") {
        Some(gb) => cx.line(
            format!("{gb} GB gp3 storage ({deploy})"),
            copies * gb,
            "rds/gp3-gb-month",
            "",
            None,
        ),
        None => cx.unknown_prop("DB storage", "allocated_storage"),
    }
}

/// Inter-region transfer of the replicated data, plus Replication Time
/// Control on the same gigabytes when it is on.
fn bucket_replication(p: &Props, cx: &mut Cx) {
    let (gb, o) = cx.usage("s3_replicated_gb", false);
    cx.line(
        "replication to the other region (usage: s3_replicated_gb)".into(),
        gb,
        "transfer/inter-region-gb",
        "",
        Some(o),
    );
    if num_prop(p, "replication_time_minutes").is_some() {
        cx.line(
            "Replication Time Control (usage: s3_replicated_gb)".into(),
            gb,
            "s3/rtc-gb",
            "",
            Some(o),
        );
    }
}

/// A health check on an AWS endpoint, plus one option fee each for HTTPS,
/// string matching and the fast (10 s) interval.
fn health_check(p: &Props, cx: &mut Cx) {
    cx.line(
        "health check (AWS endpoint)".into(),
        1.0,
        "route53/health-check-aws-month",
        "",
        None,
    );
    let kind = str_prop(p, "type").unwrap_or_default();
    let options: Vec<&str> = [
        (kind.starts_with("HTTPS"), "HTTPS"),
        (kind.ends_with("STR_MATCH"), "string matching"),
        (
            num_prop(p, "request_interval") == Some(10.0),
            "fast interval",
        ),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if !options.is_empty() {
        cx.line(
            format!("health check options ({})", options.join(", ")),
            options.len() as f64,
            "route53/health-check-option-month",
            "",
            None,
        );
    }
}

/// Instances: desired capacity × the instance type of the launch template in
/// the same region, 730 hours; each with an 8 GiB gp3 root volume (the
/// Amazon Linux 2023 AMI's).
fn autoscaling_group(item: &Item, all: &[Item], cx: &mut Cx) {
    /// Root volume of the default AMI (Amazon Linux 2023), GiB.
    const ROOT_VOLUME_GB: f64 = 8.0;
    let Some(n) = num_prop(&item.props, "desired_capacity") else {
        return cx.unknown_prop("instance-hours", "desired_capacity");
    };
    let template = all
        .iter()
        .find(|i| i.kind == kinds::LAUNCH_TEMPLATE && i.region == item.region);
    let h = cx.hours();
    match template.and_then(|t| str_prop(&t.props, "instance_type")) {
        Some(t) => cx.line(
            format!("{n} × {t} instance-hours"),
            n * h,
            "ec2/instance-hour",
            t,
            None,
        ),
        None => cx.unknown_prop("instance-hours", "the launch template's instance_type"),
    }
    cx.line(
        format!("{n} × {ROOT_VOLUME_GB} GB gp3 root volumes"),
        n * ROOT_VOLUME_GB,
        "ebs/gp3-gb-month",
        "",
        None,
    );
}

/// The sessions table and its replica: reads in the region, every write
/// once per replica (replicated writes when the table is global), storage
/// and PITR backups of the whole table in each region.
fn dynamodb(item: &Item, all: &[Item], cx: &mut Cx) {
    let global = item.kind == kinds::DYNAMODB_REPLICA
        || all.iter().any(|i| i.kind == kinds::DYNAMODB_REPLICA);
    let (w, wo) = cx.usage("dynamodb_write_million", false);
    if global {
        cx.line(
            "replicated writes (usage: dynamodb_write_million)".into(),
            w,
            "dynamodb/replicated-write-million",
            "",
            Some(wo),
        );
    } else {
        cx.line(
            "writes (usage: dynamodb_write_million)".into(),
            w,
            "dynamodb/write-million",
            "",
            Some(wo),
        );
    }
    let (r, ro) = cx.usage("dynamodb_read_million", true);
    cx.line(
        "reads (usage: dynamodb_read_million)".into(),
        r,
        "dynamodb/read-million",
        "",
        Some(ro),
    );
    let (gb, go) = cx.usage("dynamodb_storage_gb", false);
    cx.line(
        "storage (usage: dynamodb_storage_gb)".into(),
        gb,
        "dynamodb/storage-gb-month",
        "",
        Some(go),
    );
    if item
        .props
        .get("point_in_time_recovery")
        .and_then(Value::as_bool)
        == Some(true)
    {
        cx.line(
            "point-in-time recovery (usage: dynamodb_storage_gb)".into(),
            gb,
            "dynamodb/pitr-gb-month",
            "",
            Some(go),
        );
    }
}
