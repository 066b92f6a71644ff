//! Snapshots of the cost a plan shows: a new `prod-dr` and a new `dev`
//! (everything created), a plan that changes prod-dr's instance type (the
//! difference), and `drctl cost`'s breakdown. Plans are built from the
//! shipped plan files; "before" is what the plan found (`prior`).

use drctl::cost;
use drctl::render::Style;
use drctl_core::model::{Observed, Props, ResourceSpec};
use drctl_core::plan::{Action, Plan, ResourceChange, PLAN_FORMAT_VERSION};
use drctl_cost::{compare, CostChange, PriceTable};
use drctl_stack::envplan::{self, EnvPlan};
use drctl_stack::{blueprint, usage::Usage};
use std::path::{Path, PathBuf};

const PLAIN: Style = Style { color: false };

fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans")
}

fn env_plan(env: &str, edit: impl Fn(String) -> String) -> EnvPlan {
    let path = envplan::plan_path(&plans_dir(), env);
    let text = edit(std::fs::read_to_string(&path).unwrap());
    envplan::parse(&path, &text, env).unwrap()
}

fn change(spec: &ResourceSpec, action: Action, prior: Option<&ResourceSpec>) -> ResourceChange {
    ResourceChange {
        address: spec.address.clone(),
        kind: spec.kind.clone(),
        region: spec.region.clone(),
        name: spec.name.clone(),
        action,
        adopt: false,
        drift: false,
        fields: vec![],
        reasons: vec![],
        prior: prior.map(|p| Observed {
            id: format!("id-of-{}", p.address),
            props: p.props.clone(),
            attrs: Props::new(),
        }),
        dependencies: vec![],
        create_before_destroy: false,
    }
}

/// The plan that takes `before` (what exists) to `after`.
fn plan_between(env: &str, before: &[ResourceSpec], after: &[ResourceSpec]) -> Plan {
    let mut changes = Vec::new();
    for a in after {
        let b = before.iter().find(|b| b.address == a.address);
        let action = match b {
            None => Action::Create,
            Some(b) if b.props == a.props => Action::NoOp,
            Some(_) => Action::Update,
        };
        changes.push(change(a, action, b));
    }
    for b in before
        .iter()
        .filter(|b| !after.iter().any(|a| a.address == b.address))
    {
        changes.push(change(b, Action::Delete, Some(b)));
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        env: env.into(),
        lineage: "snap".into(),
        serial: 1,
        destroy: false,
        changes,
        forget: vec![],
        warnings: vec![],
        orphans: vec![],
        deposed: vec![],
    }
}

fn cost_of(
    env: &str,
    before: &[ResourceSpec],
    after: &[ResourceSpec],
    usage: &Usage,
) -> CostChange {
    let plan = plan_between(env, before, after);
    compare(&plan, after, usage, &PriceTable::embedded())
}

fn new_env(env: &str) -> CostChange {
    let p = env_plan(env, |t| t);
    let after = blueprint::build(&p, Some("123456789012"));
    cost_of(env, &[], &after, &p.usage)
}

#[test]
fn cost_section_of_a_new_prod_dr() {
    let c = new_env("prod-dr");
    insta::assert_snapshot!(cost::plan_section(&c, &PLAIN, true));
}

#[test]
fn cost_section_of_a_new_dev() {
    let c = new_env("dev");
    insta::assert_snapshot!(cost::plan_section(&c, &PLAIN, true));
}

fn instance_type_change() -> CostChange {
    let old = env_plan("prod-dr", |t| t);
    let new = env_plan("prod-dr", |t| {
        t.replace(
            "instance_type = \"t3.large\"",
            "instance_type = \"t3.xlarge\"",
        )
    });
    assert_eq!(new.secondary_instance_type, "t3.xlarge");
    let before = blueprint::build(&old, Some("123456789012"));
    let after = blueprint::build(&new, Some("123456789012"));
    cost_of("prod-dr", &before, &after, &new.usage)
}

#[test]
fn cost_section_of_an_instance_type_change() {
    let c = instance_type_change();
    let text = cost::plan_section(&c, &PLAIN, true);
    // 2 regions × 2 instances × 730 h × ($0.1664 - $0.0832) = $242.94
    assert!(text.contains("Cost: +$242.94/month"), "{text}");
    insta::assert_snapshot!(text);
    // Without -v: regions only.
    let short = cost::plan_section(&c, &PLAIN, false);
    assert!(!short.contains("us-east-1/compute/asg"), "{short}");
    assert!(short.contains("Cost: +$242.94/month"));
}

#[test]
fn cost_json_and_markdown_of_an_instance_type_change() {
    let c = instance_type_change();
    let doc = cost::plan_json(&c);
    assert_eq!(doc["total"]["delta_usd"], serde_json::json!(242.94));
    insta::assert_json_snapshot!(doc);
    insta::assert_snapshot!(cost::markdown(&c));
}

#[test]
fn a_destroy_plan_takes_the_cost_to_zero() {
    let p = env_plan("dev", |t| t);
    let specs = blueprint::build(&p, Some("123456789012"));
    let mut plan = plan_between("dev", &specs, &[]);
    plan.destroy = true;
    let c = compare(&plan, specs.iter(), &p.usage, &PriceTable::embedded());
    assert_eq!(c.total_after().known(), Some(0.0));
    let before = c.total_before().known().unwrap();
    assert!(before > 100.0, "{before}");
    let text = cost::plan_section(&c, &PLAIN, false);
    assert!(
        text.contains(&format!("Cost: -{}/month", cost::usd(before))),
        "{text}"
    );
}

#[test]
fn an_unpriced_instance_type_shows_unknown_not_zero() {
    let p = env_plan("dev", |t| {
        t.replace(
            "instance_type = \"t3.micro\"\n",
            "instance_type = \"c7gn.metal\"\n",
        )
    });
    let after = blueprint::build(&p, Some("123456789012"));
    let c = cost_of("dev", &[], &after, &p.usage);
    let text = cost::plan_section(&c, &PLAIN, true);
    assert!(
        text.contains("Warning: no price for ec2/instance-hour/c7gn.metal@us-east-1"),
        "{text}"
    );
    assert!(text.contains("Cost: unknown"), "{text}");
    assert!(text.contains("+ unknown"), "{text}");
    assert!(!text.contains("Cost: +$"), "{text}");
    assert_eq!(
        cost::plan_json(&c)["total"]["delta_usd"],
        serde_json::Value::Null
    );
}

#[test]
fn drctl_cost_breakdown_of_prod_dr() {
    let p = env_plan("prod-dr", |t| t);
    let specs = blueprint::build(&p, None);
    let table = PriceTable::embedded();
    let e = drctl_cost::estimate(
        &drctl_cost::compare::desired_items(&specs),
        &p.usage,
        &table,
    );
    let text = cost::breakdown_text(
        "prod-dr",
        &e,
        &table.origin,
        e.unconfirmed_prices().len(),
        &PLAIN,
    );
    insta::assert_snapshot!(text);
    let doc = cost::breakdown_json("prod-dr", &e, &table.origin, table.hours_per_month);
    assert_eq!(doc["regions"][0]["region"], "us-east-1");
    assert!(doc["total_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn money_formatting() {
    assert_eq!(cost::usd(1234.5), "$1,234.50");
    assert_eq!(cost::usd(0.004), "$0.00");
    assert_eq!(cost::signed_usd(412.3), "+$412.30");
    assert_eq!(cost::signed_usd(-10.0), "-$10.00");
    assert_eq!(cost::signed_usd(0.001), "$0.00");
    assert_eq!(cost::usd(1_000_000.0), "$1,000,000.00");
}
