//! The stack's outputs (like the template's Outputs), read from the state
//! at the addresses the blueprint exports ([`blueprint::region_outputs`]).

use drctl_core::model::Address;
use drctl_core::state::State;
use drctl_stack::blueprint::{self, Role};
use drctl_stack::envplan::EnvPlan;
use serde_json::{json, Map, Value};

/// `{region: {output: value}}` plus a `global` section.
pub fn collect(state: &State, plan: &EnvPlan) -> Value {
    let get = |a: Address, attr: &str| -> Value {
        match state.resources.get(&a) {
            None => Value::Null,
            Some(r) if attr == "id" => json!(r.id),
            Some(r) if attr == "name" => r.attrs.get("name").cloned().unwrap_or(json!(r.name)),
            Some(r) => r.attrs.get(attr).cloned().unwrap_or(Value::Null),
        }
    };
    let mut regions = Map::new();
    for role in [Role::Primary, Role::Secondary] {
        let mut values = Map::new();
        values.insert("role".into(), json!(role.as_str()));
        for o in blueprint::region_outputs(plan, role) {
            values.insert(o.key.into(), get(o.address, o.attr));
        }
        regions.insert(role.region(plan).to_string(), Value::Object(values));
    }
    json!({
        "env": plan.env,
        "domain_name": plan.domain_name,
        "hosted_zone_id": match &plan.dns {
            drctl_stack::envplan::Dns::ExistingZone(z) => json!(z),
            drctl_stack::envplan::Dns::CreateZone => get(blueprint::zone_address(), "id"),
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
