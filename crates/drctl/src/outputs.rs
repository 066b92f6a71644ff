//! The stack's outputs (like the template's Outputs), read from the state.

use drctl_core::model::Address;
use drctl_core::state::State;
use drctl_stack::envplan::EnvPlan;
use serde_json::{json, Map, Value};

/// `{region: {output: value}}` plus a `global` section.
pub fn collect(state: &State, plan: &EnvPlan) -> Value {
    let get = |addr: String, attr: &str| -> Value {
        let a = Address::new(addr);
        match state.resources.get(&a) {
            None => Value::Null,
            Some(r) if attr == "id" => json!(r.id),
            Some(r) if attr == "name" => r.attrs.get("name").cloned().unwrap_or(json!(r.name)),
            Some(r) => r.attrs.get(attr).cloned().unwrap_or(Value::Null),
        }
    };
    let mut regions = Map::new();
    for (role, region) in [
        ("primary", &plan.primary_region),
        ("secondary", &plan.secondary_region),
    ] {
        let r = |p: &str| format!("{region}/{p}");
        let (bucket, table) = if role == "primary" {
            ("storage/data-bucket", "dynamodb/sessions-table")
        } else {
            ("storage/replica-bucket", "dynamodb/sessions-replica")
        };
        let table_arn = if role == "primary" {
            get(r(table), "arn")
        } else {
            get(r(table), "id")
        };
        regions.insert(
            region.clone(),
            json!({
                "role": role,
                "vpc_id": get(r("network/vpc"), "id"),
                "alb_arn": get(r("compute/alb"), "id"),
                "alb_dns_name": get(r("compute/alb"), "dns_name"),
                "target_group_arn": get(r("compute/tg"), "id"),
                "asg_name": get(r("compute/asg"), "name"),
                "db_endpoint": get(r("database/db"), "endpoint"),
                "table_name": get(r(table), "name"),
                "table_arn": table_arn,
                "bucket_name": get(r(bucket), "name"),
                "health_check_id": get(format!("global/route53/health-check-{role}"), "id"),
                "sns_topic_arn": get(r("monitoring/alerts-topic"), "id"),
            }),
        );
    }
    json!({
        "env": plan.env,
        "domain_name": plan.domain_name,
        "hosted_zone_id": match &plan.dns {
            drctl_stack::envplan::Dns::ExistingZone(z) => json!(z),
            drctl_stack::envplan::Dns::CreateZone => get("global/route53/zone".into(), "id"),
        },
        "regions": regions,
    })
}

/// Text form: one `region.key = value` line each.
pub fn text(outputs: &Value) -> String {
    let mut out = String::new();
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "(not created)".into(),
        v => v.to_string(),
    };
    for k in ["env", "domain_name", "hosted_zone_id"] {
        out.push_str(&format!("{k} = {}\n", show(&outputs[k])));
    }
    if let Some(regions) = outputs["regions"].as_object() {
        for (region, values) in regions {
            if let Some(values) = values.as_object() {
                for (k, v) in values {
                    out.push_str(&format!("{region}.{k} = {}\n", show(v)));
                }
            }
        }
    }
    out
}

/// Every output's name, as `drctl output NAME` takes it: `env`,
/// `domain_name`, `hosted_zone_id` and `<region>.<key>`.
pub fn names(outputs: &Value) -> Vec<String> {
    let mut out: Vec<String> = ["env", "domain_name", "hosted_zone_id"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(regions) = outputs["regions"].as_object() {
        for (region, values) in regions {
            if let Some(values) = values.as_object() {
                out.extend(values.keys().map(|k| format!("{region}.{k}")));
            }
        }
    }
    out
}

/// One output by name (see [`names`]); a whole region's with `<region>`.
pub fn get<'a>(outputs: &'a Value, name: &str) -> Option<&'a Value> {
    if ["env", "domain_name", "hosted_zone_id"].contains(&name) {
        return outputs.get(name);
    }
    let regions = outputs["regions"].as_object()?;
    if let Some(r) = regions.get(name) {
        return Some(r);
    }
    // Region names hold no '.', so the first one ends the region.
    let (region, key) = name.split_once('.')?;
    regions.get(region)?.get(key)
}
