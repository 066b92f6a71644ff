//! DynamoDB: the table and its replica in the DR region (global tables
//! version 2019.11.21), one file per kind. Shared here: describe, point-in-time
//! recovery and the tag helpers both kinds call.

pub mod replica;
pub mod table;

use crate::errors::found;
use crate::retry::{call, Policy, Wait};
use crate::tag_index::tags_or;
use crate::tags::Tags;
use crate::Aws;
use aws_sdk_dynamodb::types::{
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, TableDescription, Tag,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_types::error::operation::BuildError;
use drctl_core::model::ResourceSpec;
use drctl_core::reconcile::ReconcileError;

/// A table turns ACTIVE after a create or update within minutes (longer
/// with many GSIs): 20 min (drctl's figure; terraform-provider-aws
/// `aws_dynamodb_table` allows 30 to create: `createTableTimeout` in
/// internal/service/dynamodb/wait.go), polled every 5 s.
pub(crate) const TABLE_ACTIVE: Wait = Wait::secs(20 * 60, 5);
/// A deleted table leaves DescribeTable within minutes: 20 min (drctl's
/// figure; terraform-provider-aws allows 10: `deleteTableTimeout` in
/// internal/service/dynamodb/wait.go).
pub(crate) const TABLE_DELETED: Wait = Wait::secs(20 * 60, 5);
/// Before DeleteTable, its replicas must be gone and the table ACTIVE
/// (AWS refuses otherwise); removing a replica can take long: 60 min
/// (terraform-provider-aws `aws_dynamodb_table` update default,
/// `updateTableTimeoutTotal` in internal/service/dynamodb/wait.go; its
/// replica waits take the larger of that and `replicaUpdateTimeout`, 30).
pub(crate) const REPLICAS_GONE: Wait = Wait::secs(60 * 60, 5);
/// Creating a replica copies the table: it can take long; 60 min, as
/// [`REPLICAS_GONE`], polled every 10 s.
pub(crate) const REPLICA_ACTIVE: Wait = Wait::secs(60 * 60, 10);
/// A removed replica leaves both regions' descriptions: as [`REPLICA_ACTIVE`].
pub(crate) const REPLICA_DELETED: Wait = Wait::secs(60 * 60, 10);

pub(crate) fn build_error(what: &str, e: BuildError) -> ReconcileError {
    ReconcileError::Internal(format!("{what}: {e}"))
}

/// The spec's tags as DynamoDB tags.
pub(crate) fn ddb_tags(spec: &ResourceSpec) -> Result<Vec<Tag>, ReconcileError> {
    spec.tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error("DynamoDB tag", e))
        })
        .collect()
}

/// DescribeTable; `None` when there is no such table.
pub(crate) async fn describe_table(
    ddb: &Client,
    name: &str,
) -> Result<Option<TableDescription>, ReconcileError> {
    let out = found(
        call("dynamodb:DescribeTable", Policy::TRANSIENT, || {
            ddb.describe_table().table_name(name).send()
        })
        .await,
    )?;
    Ok(out.and_then(|o| o.table))
}

/// Ownership tags of a table (or replica): from the env's tag index, else
/// ListTagsOfResource.
pub(crate) async fn owner_tags(
    aws: &Aws,
    env: &str,
    region: &str,
    arn: &str,
) -> Result<Tags, ReconcileError> {
    let ddb = aws.dynamodb(region);
    tags_or(aws, region, env, arn, || async move {
        list_tags(&ddb, arn).await
    })
    .await
}

/// Whether point-in-time recovery is on (a missing table has none).
pub(crate) async fn pitr_enabled(ddb: &Client, name: &str) -> Result<bool, ReconcileError> {
    let out = found(
        call(
            "dynamodb:DescribeContinuousBackups",
            Policy::TRANSIENT,
            || ddb.describe_continuous_backups().table_name(name).send(),
        )
        .await,
    )?;
    Ok(out
        .and_then(|o| o.continuous_backups_description)
        .and_then(|d| d.point_in_time_recovery_description)
        .and_then(|p| p.point_in_time_recovery_status)
        == Some(PointInTimeRecoveryStatus::Enabled))
}

/// [`describe_table`] for reads: the table's and its replica's read share
/// it within a run (see [`ReadCache`](crate::cache::ReadCache)); waits
/// poll with [`describe_table`], never with this.
pub(crate) async fn read_description(
    aws: &Aws,
    region: &str,
    name: &str,
) -> Result<Option<TableDescription>, ReconcileError> {
    let ddb = aws.dynamodb(region);
    aws.cache()
        .get_or_fetch(
            format!("dynamodb:DescribeTable|{region}|{name}"),
            || async move { describe_table(&ddb, name).await },
        )
        .await
}

/// Turns PITR on or off. Right after a table or replica becomes ACTIVE,
/// AWS may still answer ContinuousBackupsUnavailable (classified retryable).
pub(crate) async fn set_pitr(
    ddb: &Client,
    name: &str,
    enabled: bool,
) -> Result<(), ReconcileError> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(enabled)
        .build()
        .map_err(|e| build_error("PointInTimeRecoverySpecification", e))?;
    call(
        "dynamodb:UpdateContinuousBackups",
        Policy::TRANSIENT,
        || {
            ddb.update_continuous_backups()
                .table_name(name)
                .point_in_time_recovery_specification(spec.clone())
                .send()
        },
    )
    .await?;
    Ok(())
}

/// DynamoDB tag writes (table, replica) on the table's ARN in `ddb`'s
/// region: `add` carries the tags to set.
pub(crate) async fn ddb_write_tags(
    ddb: &Client,
    _spec: &ResourceSpec,
    arn: &str,
    add: &ResourceSpec,
    writes: &drctl_core::diff::TagWrites,
) -> Result<(), ReconcileError> {
    if !writes.set.is_empty() {
        crate::tag_call!(
            "dynamodb:TagResource",
            ddb.tag_resource()
                .resource_arn(arn)
                .set_tags(Some(ddb_tags(add)?))
        )?;
    }
    if !writes.delete.is_empty() {
        crate::tag_call!(
            "dynamodb:UntagResource",
            ddb.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(crate::tags::keys(writes)))
        )?;
    }
    Ok(())
}

/// All tags of a table (or replica) ARN.
pub(crate) async fn list_tags(ddb: &Client, arn: &str) -> Result<Tags, ReconcileError> {
    let mut tags = Tags::new();
    let mut next: Option<String> = None;
    loop {
        let req = ddb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next.clone());
        let out = call("dynamodb:ListTagsOfResource", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await?;
        for t in out.tags() {
            tags.insert(t.key().to_string(), t.value().to_string());
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => return Ok(tags),
        }
    }
}
