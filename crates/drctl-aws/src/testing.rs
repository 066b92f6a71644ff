//! Test helpers every service's unit tests share.

use crate::{props, Aws};
use aws_smithy_types::error::ErrorMetadata;
use drctl_core::model::{ResourceSpec, TAG_ADDRESS, TAG_ENV};
use std::collections::BTreeMap;

/// An `Aws` for the concurrency slots only (no client is built from it).
pub(crate) fn test_aws() -> Aws {
    Aws::from_config(aws_types::SdkConfig::builder().build(), None)
}

pub(crate) fn err_meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

pub(crate) fn spec(
    address: &str,
    kind: &str,
    name: &str,
    props: serde_json::Value,
) -> ResourceSpec {
    let mut tags = BTreeMap::new();
    tags.insert(TAG_ENV.to_string(), "dev".to_string());
    tags.insert(TAG_ADDRESS.to_string(), address.to_string());
    tags.insert("Name".to_string(), name.to_string());
    ResourceSpec {
        address: drctl_core::model::Address::new(address),
        kind: kind.into(),
        region: None,
        name: name.into(),
        props: props::from_json(props),
        tags,
        depends_on: vec![],
    }
}

/// Every spec of `kind` in the blueprints of the repository's
/// `plans/dev.toml` and `plans/prod-dr.toml`, resolved as the executor would
/// resolve it: each reference becomes the string `<address>.<attr>`
/// (every attribute the blueprint refers to is a string: an id, ARN or name).
pub(crate) fn blueprint_specs(kind: &str) -> Vec<ResourceSpec> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans");
    let mut out = Vec::new();
    for env in ["dev", "prod-dr"] {
        let plan = drctl_stack::envplan::load(&dir, env)
            .unwrap_or_else(|e| panic!("plans/{env}.toml: {e}"));
        for mut spec in drctl_stack::blueprint::build(&plan, Some("123456789012")) {
            if spec.kind != kind {
                continue;
            }
            let lookup = |a: &drctl_core::model::Address, attr: &str| {
                Some(serde_json::Value::String(format!("{a}.{attr}")))
            };
            let resolved =
                drctl_core::model::resolve(&serde_json::Value::Object(spec.props), &lookup);
            spec.props = props::from_json(resolved);
            out.push(spec);
        }
    }
    assert!(
        !out.is_empty(),
        "no spec of kind {kind} in either blueprint"
    );
    out
}

/// Asserts that every blueprint spec of `kind` deserializes into `P` (the
/// kind's typed props): the test each kind's module runs so that a key the
/// blueprint writes and the reconciler does not read (or the reverse) fails
/// here. Returns the typed props, for further assertions.
pub(crate) fn assert_blueprint_props<P: serde::de::DeserializeOwned>(kind: &str) -> Vec<P> {
    blueprint_specs(kind)
        .iter()
        .map(|spec| {
            props::typed::<P>(spec).unwrap_or_else(|e| panic!("{} ({kind}): {e}", spec.address))
        })
        .collect()
}
