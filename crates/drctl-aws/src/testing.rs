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
