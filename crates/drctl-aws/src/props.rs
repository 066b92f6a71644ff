//! Typed access to a spec's properties, with errors that name the field.

use drctl_core::model::ResourceSpec;
use drctl_core::reconcile::ReconcileError;
use serde_json::{json, Value};

fn missing(spec: &ResourceSpec, field: &str, want: &str) -> ReconcileError {
    config(spec, field, format!("property '{field}' must be {want}"))
}

/// The spec's `field` is wrong: `message` (naming the field in the user's
/// terms) is shown after the address.
pub fn config(spec: &ResourceSpec, field: &str, message: impl Into<String>) -> ReconcileError {
    ReconcileError::Config {
        address: spec.address.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

pub fn str<'a>(spec: &'a ResourceSpec, field: &str) -> Result<&'a str, ReconcileError> {
    spec.props
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(spec, field, "a string"))
}

pub fn bool(spec: &ResourceSpec, field: &str) -> Result<bool, ReconcileError> {
    spec.props
        .get(field)
        .and_then(Value::as_bool)
        .ok_or_else(|| missing(spec, field, "true or false"))
}

pub fn i64(spec: &ResourceSpec, field: &str) -> Result<i64, ReconcileError> {
    spec.props
        .get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| missing(spec, field, "a whole number"))
}

pub fn f64(spec: &ResourceSpec, field: &str) -> Result<f64, ReconcileError> {
    spec.props
        .get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| missing(spec, field, "a number"))
}

pub fn strings(spec: &ResourceSpec, field: &str) -> Result<Vec<String>, ReconcileError> {
    spec.props
        .get(field)
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| missing(spec, field, "a list of strings"))
}

pub fn value<'a>(spec: &'a ResourceSpec, field: &str) -> Result<&'a Value, ReconcileError> {
    spec.props
        .get(field)
        .ok_or_else(|| missing(spec, field, "present"))
}

/// Builds a `Props` map from `json!({...})`.
pub fn from_json(v: Value) -> drctl_core::model::Props {
    match v {
        Value::Object(m) => m,
        _ => Default::default(),
    }
}

/// The observed list in the desired order when both hold the same items,
/// sorted otherwise.
pub(crate) fn list_like_desired(desired: Option<&Value>, mut observed: Vec<String>) -> Value {
    observed.sort();
    if let Some(Value::Array(d)) = desired {
        let mut want: Vec<String> = d
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        want.sort();
        if want == observed && want.len() == d.len() {
            return desired.cloned().unwrap_or_default();
        }
    }
    json!(observed)
}
