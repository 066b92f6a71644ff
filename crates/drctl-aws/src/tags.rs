//! Tags: the ones drctl puts in every create call, and ownership checks.

use drctl_core::model::{owned_by, Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::Ctx;
use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

/// `Found` when `tags` carry this env and the spec's address, else a clash
/// that names what is wrong.
pub fn check_owned(
    cx: &Ctx,
    spec: &ResourceSpec,
    id: &str,
    tags: &Tags,
    observed: impl FnOnce() -> Observed,
) -> ReadOutcome {
    if owned_by(tags, &cx.env, &spec.address) {
        return ReadOutcome::Found(observed());
    }
    let detail = match (
        tags.get(drctl_core::model::TAG_ENV),
        tags.get(drctl_core::model::TAG_ADDRESS),
    ) {
        (None, _) => "it has no drctl:env tag".to_string(),
        (Some(e), _) if e != &cx.env => format!("it belongs to env '{e}'"),
        (_, a) => format!(
            "its drctl:address tag is {:?}",
            a.map(String::as_str).unwrap_or("missing")
        ),
    };
    ReadOutcome::Clash {
        id: id.to_string(),
        detail,
    }
}

pub fn ec2_tags(spec: &ResourceSpec) -> Vec<aws_sdk_ec2::types::Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// The `TagSpecifications` entry that tags an EC2 resource in its create call.
pub fn ec2_tag_spec(
    resource_type: aws_sdk_ec2::types::ResourceType,
    spec: &ResourceSpec,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(ec2_tags(spec)))
        .build()
}

pub fn from_ec2(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// EC2 filters that find resources by their ownership tags.
pub fn ec2_owner_filters(cx: &Ctx, spec: &ResourceSpec) -> Vec<aws_sdk_ec2::types::Filter> {
    use aws_sdk_ec2::types::Filter;
    vec![
        Filter::builder()
            .name(format!("tag:{}", drctl_core::model::TAG_ENV))
            .values(&cx.env)
            .build(),
        Filter::builder()
            .name(format!("tag:{}", drctl_core::model::TAG_ADDRESS))
            .values(spec.address.as_str())
            .build(),
    ]
}

/// Several resources answer to one address: an error naming all of them.
/// drctl never picks one; the user removes the extras or fixes the state.
pub fn ambiguous<T>(
    spec: &ResourceSpec,
    many: &[T],
    id: impl Fn(&T) -> Option<String>,
) -> drctl_core::reconcile::ReconcileError {
    drctl_core::reconcile::ReconcileError::Ambiguous {
        address: spec.address.to_string(),
        ids: many.iter().filter_map(id).collect(),
    }
}

/// `drctl import` of any EC2 resource (VPC, subnet, route table, security
/// group, gateway, NAT, address): CreateTags with the spec's tags, ownership
/// tags included. CreateTags overwrites same-named tags and keeps the rest.
pub async fn ec2_import(
    aws: &crate::Aws,
    spec: &ResourceSpec,
    id: &str,
) -> Result<(), drctl_core::reconcile::ReconcileError> {
    aws.ec2(aws.region_of(spec))
        .create_tags()
        .resources(id)
        .set_tags(Some(ec2_tags(spec)))
        .send()
        .await
        .map_err(|e| crate::errors::api_error("ec2:CreateTags", e))?;
    Ok(())
}

/// The prop `read` sets on a resource it recognised as the work of an
/// unfinished create by that create's idempotency token (a Route53
/// `CallerReference`), found before the create could tag it. Such a
/// resource is drctl's own: the diff ([`with_untagged_change`]) shows the
/// ownership tags being added and `update` adds them; `destroy` deletes it.
pub const UNTAGGED: &str = "ownership_tags";

/// Marks `o` as found by its pending create token, without ownership tags.
pub fn mark_untagged(mut o: Observed) -> Observed {
    o.props.insert(
        UNTAGGED.into(),
        serde_json::json!("missing (create interrupted)"),
    );
    o
}

/// `changes` plus, for a resource marked by [`mark_untagged`], the change
/// that adds its ownership tags.
pub fn with_untagged_change(
    mut changes: Vec<drctl_core::diff::FieldChange>,
    observed: &Observed,
) -> Vec<drctl_core::diff::FieldChange> {
    if let Some(before) = observed.props.get(UNTAGGED) {
        changes.push(drctl_core::diff::FieldChange {
            field: UNTAGGED.into(),
            before: Some(before.clone()),
            after: Some(serde_json::json!(format!(
                "{} and {}",
                drctl_core::model::TAG_ENV,
                drctl_core::model::TAG_ADDRESS
            ))),
            replace_reason: None,
            drift: false,
        });
    }
    changes
}

/// Whether an update must add the ownership tags ([`with_untagged_change`]).
pub fn adds_ownership_tags(changes: &[drctl_core::diff::FieldChange]) -> bool {
    changes.iter().any(|c| c.field == UNTAGGED)
}
