//! Canaries: one item in the primary table and one object in the primary
//! bucket, read back in the secondary to measure replication lag, then
//! deleted (every version of the object, in both buckets).

use super::{cloud_err, is_not_found, Topology};
use crate::Aws;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use drctl_core::drill::{Canary, DrillError};

/// The key prefix of every canary (`drctl-drill-<id>` item, `drctl-drill/<id>.txt` object).
pub const PREFIX: &str = "drctl-drill";

/// The two canaries of drill `id` (nothing is called).
pub fn names(t: &Topology, id: &str) -> Vec<Canary> {
    vec![
        Canary::Dynamodb {
            region: t.primary.clone(),
            replica_region: t.secondary.clone(),
            table: t.table.clone(),
            key: format!("{PREFIX}-{id}"),
        },
        Canary::S3 {
            region: t.primary.clone(),
            bucket: t.bucket.clone(),
            replica_region: t.secondary.clone(),
            replica_bucket: t.replica_bucket.clone(),
            key: format!("{PREFIX}/{id}.txt"),
        },
    ]
}

pub async fn write(aws: &Aws, c: &Canary, body: &str) -> Result<(), DrillError> {
    match c {
        Canary::Dynamodb {
            region, table, key, ..
        } => {
            aws.dynamodb(region)
                .put_item()
                .table_name(table)
                .item("session_id", AttributeValue::S(key.clone()))
                .item("drctl_drill_canary", AttributeValue::S(body.to_string()))
                .send()
                .await
                .map_err(|e| cloud_err("PutItem", e))?;
        }
        Canary::S3 {
            region,
            bucket,
            key,
            ..
        } => {
            aws.s3(region)
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type("text/plain")
                .body(ByteStream::from(body.as_bytes().to_vec()))
                .send()
                .await
                .map_err(|e| cloud_err("PutObject", e))?;
        }
    }
    Ok(())
}

/// Whether the canary can be read in the secondary yet.
pub async fn replicated(aws: &Aws, c: &Canary) -> Result<bool, DrillError> {
    match c {
        Canary::Dynamodb {
            replica_region,
            table,
            key,
            ..
        } => {
            let out = aws
                .dynamodb(replica_region)
                .get_item()
                .table_name(table)
                .key("session_id", AttributeValue::S(key.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| cloud_err("GetItem", e))?;
            Ok(out.item().is_some())
        }
        Canary::S3 {
            replica_region,
            replica_bucket,
            key,
            ..
        } => {
            match aws
                .s3(replica_region)
                .head_object()
                .bucket(replica_bucket)
                .key(key)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
                Err(e) if is_not_found("HeadObject", &e) => Ok(false),
                Err(e) => Err(cloud_err("HeadObject", e)),
            }
        }
    }
}

/// Deletes the canary; one already gone is fine.
pub async fn delete(aws: &Aws, c: &Canary) -> Result<(), DrillError> {
    match c {
        Canary::Dynamodb {
            region, table, key, ..
        } => {
            // Global tables replicate the delete to the replica.
            match aws
                .dynamodb(region)
                .delete_item()
                .table_name(table)
                .key("session_id", AttributeValue::S(key.clone()))
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if is_not_found("DeleteItem", &e) => Ok(()),
                Err(e) => Err(cloud_err("DeleteItem", e)),
            }
        }
        Canary::S3 {
            region,
            bucket,
            replica_region,
            replica_bucket,
            key,
        } => {
            delete_versions(aws, region, bucket, key).await?;
            delete_versions(aws, replica_region, replica_bucket, key).await
        }
    }
}

/// Versioned buckets keep every version: delete them all, and delete markers.
async fn delete_versions(
    aws: &Aws,
    region: &str,
    bucket: &str,
    key: &str,
) -> Result<(), DrillError> {
    let s3 = aws.s3(region);
    let out = match s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if is_not_found("ListObjectVersions", &e) => return Ok(()),
        Err(e) => return Err(cloud_err("ListObjectVersions", e)),
    };
    let versions = out
        .versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .map(|v| v.version_id().map(str::to_string));
    let markers = out
        .delete_markers()
        .iter()
        .filter(|m| m.key() == Some(key))
        .map(|m| m.version_id().map(str::to_string));
    for version in versions.chain(markers) {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version)
            .send()
            .await
            .map_err(|e| cloud_err("DeleteObject", e))?;
    }
    Ok(())
}
