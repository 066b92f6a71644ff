//! The resource model: what one node of the graph wants to exist.
//!
//! Desired properties are JSON values. A property that depends on another
//! resource (a VPC id, an ARN) is a [`reference()`] to that resource's
//! attribute; the executor resolves it from the state once the other resource
//! exists. Until then it is *unknown* and shown as `(known after apply)`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A stable logical address such as `us-east-1/network/vpc` or
/// `global/iam/ec2-role`. The first segment is the region, or `global`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(pub String);

impl Address {
    /// An address from its text; not checked (the blueprint builds them, the
    /// state stores them as given).
    pub fn new(s: impl Into<String>) -> Self {
        Address(s.into())
    }
    /// The address as written, `<region>/<group>/<name>` or `global/<group>/<name>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Properties of a resource, in the shape its reconciler compares them.
pub type Props = Map<String, Value>;

/// Key of the marker object used for references.
const REF_KEY: &str = "$ref";
const ATTR_KEY: &str = "attr";
const UNKNOWN_KEY: &str = "$unknown";

/// A property value that is another resource's attribute (`id`, `arn`, ...).
pub fn reference(address: &Address, attr: &str) -> Value {
    let mut m = Map::new();
    m.insert(REF_KEY.into(), Value::String(address.0.clone()));
    m.insert(ATTR_KEY.into(), Value::String(attr.into()));
    Value::Object(m)
}

/// The placeholder for a value that only exists after apply.
pub fn unknown() -> Value {
    let mut m = Map::new();
    m.insert(UNKNOWN_KEY.into(), Value::Bool(true));
    Value::Object(m)
}

/// Whether `v` is the [`unknown`] placeholder itself (not whether it holds one
/// deeper down: see [`contains_unknown`]).
pub fn is_unknown(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.contains_key(UNKNOWN_KEY))
}

/// `Some((address, attr))` when `v` is a reference.
pub fn as_reference(v: &Value) -> Option<(Address, String)> {
    let m = v.as_object()?;
    let addr = m.get(REF_KEY)?.as_str()?;
    let attr = m.get(ATTR_KEY)?.as_str()?;
    Some((Address::new(addr), attr.to_string()))
}

/// True when `v` still contains an unknown value anywhere inside it.
pub fn contains_unknown(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key(UNKNOWN_KEY) || m.values().any(contains_unknown),
        Value::Array(a) => a.iter().any(contains_unknown),
        _ => false,
    }
}

/// Replaces every reference in `v` with what `lookup` returns for it
/// (or [`unknown`] when it returns `None`).
pub fn resolve(v: &Value, lookup: &dyn Fn(&Address, &str) -> Option<Value>) -> Value {
    if let Some((addr, attr)) = as_reference(v) {
        return lookup(&addr, &attr).unwrap_or_else(unknown);
    }
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, lookup)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(v, lookup)).collect()),
        other => other.clone(),
    }
}

/// Every address a value refers to.
pub fn references_in(v: &Value, out: &mut Vec<Address>) {
    if let Some((addr, _)) = as_reference(v) {
        out.push(addr);
        return;
    }
    match v {
        Value::Object(m) => m.values().for_each(|v| references_in(v, out)),
        Value::Array(a) => a.iter().for_each(|v| references_in(v, out)),
        _ => {}
    }
}

/// One node of the stack: what drctl wants to exist at `address`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Where the resource sits in the stack: its graph node, its state key, and
    /// the value of its `drctl:address` ownership tag.
    pub address: Address,
    /// The reconciler that owns it, e.g. `ec2:vpc`.
    pub kind: String,
    /// AWS region, or `None` for global services (IAM, Route53).
    pub region: Option<String>,
    /// The deterministic name (or `Name` tag) of the resource.
    pub name: String,
    /// Desired properties (JSON, in the kind's shape), possibly holding
    /// [`reference()`]s to other resources' attributes until resolved.
    pub props: Props,
    /// Tags put on the resource in its create call, ownership tags included.
    pub tags: BTreeMap<String, String>,
    /// Explicit dependencies beyond the references inside `props`.
    pub depends_on: Vec<Address>,
}

impl ResourceSpec {
    /// All dependencies: explicit ones and those implied by references.
    pub fn dependencies(&self) -> Vec<Address> {
        let mut out = self.depends_on.clone();
        for v in self.props.values() {
            references_in(v, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Ownership tag keys. drctl never modifies or deletes a resource whose tags
/// do not carry this env and address.
pub const TAG_ENV: &str = "drctl:env";
/// The second ownership tag: the resource's [`Address`], so that two
/// resources of one env are never taken for each other.
pub const TAG_ADDRESS: &str = "drctl:address";

/// Whether a set of tags marks the resource as owned by `env` at `address`.
pub fn owned_by(tags: &BTreeMap<String, String>, env: &str, address: &Address) -> bool {
    tags.get(TAG_ENV).map(String::as_str) == Some(env)
        && tags.get(TAG_ADDRESS).map(String::as_str) == Some(address.as_str())
}

/// What a reconciler saw in the cloud for one resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Physical id (VPC id, ARN, name...).
    pub id: String,
    /// Properties in the same shape as [`ResourceSpec::props`].
    pub props: Props,
    /// Non-secret attributes other resources need (ARNs, DNS names).
    pub attrs: Props,
}

impl Observed {
    /// What an in-place update leaves: the same id and attributes, with the
    /// desired properties now in force.
    pub fn updated_to(&self, spec: &ResourceSpec) -> Observed {
        Observed {
            id: self.id.clone(),
            props: spec.props.clone(),
            attrs: self.attrs.clone(),
        }
    }
}

/// The result of looking a resource up.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadOutcome {
    /// The resource exists and carries this env's ownership tags for this
    /// address (or, during `drctl import`, may be adopted): what it is now.
    Found(Observed),
    /// Nothing matches: the plan creates it (or, for a destroy, has nothing to do).
    NotFound,
    /// Deleted, but `create` brings this same object back (same id, same
    /// attrs): a secret scheduled for deletion is restored. The plan shows
    /// a create, and its dependents see these attributes as known, so none
    /// shows a change apply will not make.
    Restorable(Observed),
    /// A resource with the name exists but lacks this env's ownership tags:
    /// drctl reports it and never touches it.
    Clash {
        /// The physical id of the resource found.
        id: String,
        /// What its tags say instead (another env's, another address, none), for the message.
        detail: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolve_replaces_references_and_marks_unknowns() {
        let vpc = Address::new("r/network/vpc");
        let igw = Address::new("r/network/igw");
        let v = json!({"vpc": reference(&vpc, "id"), "list": [reference(&igw, "id")]});
        let out = resolve(&v, &|a, attr| {
            (a == &vpc && attr == "id").then(|| json!("vpc-1"))
        });
        assert_eq!(out["vpc"], json!("vpc-1"));
        assert!(is_unknown(&out["list"][0]));
        assert!(contains_unknown(&out));
        let mut refs = vec![];
        references_in(&v, &mut refs);
        assert_eq!(refs.len(), 2);
    }

    #[test]
    fn ownership_needs_both_tags() {
        let a = Address::new("x/y");
        let mut tags = BTreeMap::new();
        tags.insert(TAG_ENV.to_string(), "dev".to_string());
        assert!(!owned_by(&tags, "dev", &a));
        tags.insert(TAG_ADDRESS.to_string(), "x/y".to_string());
        assert!(owned_by(&tags, "dev", &a));
        assert!(!owned_by(&tags, "prod", &a));
    }
}
