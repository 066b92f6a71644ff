//! Typed access to a spec's properties, with errors that name the field.
//!
//! Each kind declares its props as a struct beside its reconciler
//! (`#[serde(deny_unknown_fields)]`, one doc line per field) and reads a
//! resolved spec once with [`typed`]; a unit test per kind runs the
//! blueprint's specs through the same struct
//! ([`crate::testing::assert_blueprint_props`]), so a misspelt key fails in
//! `cargo test`, not in an apply.

use drctl_core::model::ResourceSpec;
use drctl_core::reconcile::ReconcileError;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// The spec's props as the kind's typed struct `P`.
///
/// Call it on a *resolved* spec (create, update): an unresolved reference or
/// `(known after apply)` placeholder is an object where `P` wants a string,
/// and fails like any other wrong value.
///
/// # Errors
/// [`ReconcileError::Config`] naming the address and the field's path
/// (`ingress[1].from_port`) with serde's reason: an unknown key, a missing
/// one, or a value of the wrong shape.
pub fn typed<P: DeserializeOwned>(spec: &ResourceSpec) -> Result<P, ReconcileError> {
    let v = Value::Object(spec.props.clone());
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = if field.is_empty() {
            format!("properties: {}", e.inner())
        } else {
            format!("property '{field}': {}", e.inner())
        };
        config(spec, &field, message)
    })
}

/// `P` back as a props map, for an [`drctl_core::model::Observed`] built
/// from the same struct the create used. A struct that does not serialize
/// to an object gives an empty map.
pub fn to_props<P: serde::Serialize>(p: &P) -> drctl_core::model::Props {
    from_json(serde_json::to_value(p).unwrap_or(Value::Null))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rule {
        #[allow(dead_code)]
        from_port: u16,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        ingress: Vec<Rule>,
    }

    fn sample(props: Value) -> Result<Sample, ReconcileError> {
        typed(&crate::testing::spec("us-east-1/x/y", "t:k", "y", props))
    }

    fn field_and_message(e: ReconcileError) -> (String, String) {
        match e {
            ReconcileError::Config { field, message, .. } => (field, message),
            other => panic!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn a_wrong_value_names_its_path() {
        let e = sample(json!({"name": "a", "ingress": [{"from_port": 80}, {"from_port": "http"}]}));
        let (field, message) = field_and_message(e.unwrap_err());
        assert_eq!(field, "ingress[1].from_port");
        assert!(
            message.contains("invalid type: string \"http\""),
            "{message}"
        );
    }

    #[test]
    fn a_misspelt_or_missing_key_is_named() {
        let (_, m) = field_and_message(sample(json!({"name": "a", "ingres": []})).unwrap_err());
        assert!(m.contains("unknown field `ingres`"), "{m}");
        let (_, m) = field_and_message(sample(json!({"ingress": []})).unwrap_err());
        assert!(m.contains("missing field `name`"), "{m}");
    }

    #[test]
    fn an_unresolved_reference_is_refused() {
        let unresolved = drctl_core::model::unknown();
        assert!(sample(json!({"name": unresolved, "ingress": []})).is_err());
        assert!(sample(json!({"name": "a", "ingress": [{"from_port": 443}]})).is_ok());
    }
}
