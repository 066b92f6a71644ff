//! RDS: the DB subnet group and the DB instance (primary and cross-region
//! replica), one file per kind. Shared here: the tag helpers and
//! [`order_like`] (list props compared in the desired order).

pub mod db_instance;
pub mod db_subnet_group;

use crate::tags::Tags;
use aws_sdk_rds::types::Tag;
use drctl_core::model::ResourceSpec;
use drctl_core::reconcile::ReconcileError;
use serde_json::Value;

use crate::retry::Wait;

/// Multi-AZ instances take tens of minutes to create, modify or delete:
/// 90 min (drctl's figure; terraform-provider-aws `aws_db_instance` allows
/// 40 to create, 80 to update, 60 to delete:
/// internal/service/rds/instance.go, `Timeouts`), polled every 15 s.
pub(crate) const DB_INSTANCE_READY: Wait = Wait::secs(90 * 60, 15);
/// A deleted instance leaves DescribeDBInstances: as [`DB_INSTANCE_READY`].
pub(crate) const DB_INSTANCE_DELETED: Wait = Wait::secs(90 * 60, 15);
/// DeleteDBSubnetGroup is refused (InvalidDBSubnetGroupStateFault) while a
/// DB instance being deleted still uses it: 20 min (drctl's figure), every
/// 10 s.
pub(crate) const DB_SUBNET_GROUP_DELETE: Wait = Wait::secs(1200, 10);

pub(crate) fn from_rds(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// `observed` in the order of `desired` (a JSON list) as far as they share
/// items, then the rest sorted: equal sets compare equal, and a real
/// difference still shows.
pub(crate) fn order_like(mut observed: Vec<String>, desired: Option<&Value>) -> Vec<String> {
    observed.sort();
    let mut out = Vec::with_capacity(observed.len());
    if let Some(want) = desired.and_then(Value::as_array) {
        for w in want.iter().filter_map(Value::as_str) {
            if let Some(i) = observed.iter().position(|o| o == w) {
                out.push(observed.remove(i));
            }
        }
    }
    out.extend(observed);
    out
}

pub(crate) fn rds_tags(spec: &ResourceSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// RDS tag writes (DB instance, DB subnet group) on the resource's ARN:
/// `add` carries the tags to set.
pub(crate) async fn rds_write_tags(
    aws: &crate::Aws,
    spec: &ResourceSpec,
    arn: &str,
    add: &ResourceSpec,
    writes: &drctl_core::diff::TagWrites,
) -> Result<(), ReconcileError> {
    let rds = aws.rds(aws.region_of(spec));
    if !writes.set.is_empty() {
        crate::tag_call!(
            "rds:AddTagsToResource",
            rds.add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(rds_tags(add)))
        )?;
    }
    if !writes.delete.is_empty() {
        crate::tag_call!(
            "rds:RemoveTagsFromResource",
            rds.remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(crate::tags::keys(writes)))
        )?;
    }
    Ok(())
}
