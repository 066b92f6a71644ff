//! S3: the buckets and their cross-region replication, one file per kind.
//! Shared here: a bucket's ARN and tags (replication names both buckets).

pub mod bucket;
pub mod replication;

use crate::errors::{api_error, found};
use crate::retry::transient;
use crate::tags::Tags;
use aws_sdk_s3::Client;
use drctl_core::reconcile::ReconcileError;

pub(crate) fn bucket_arn(name: &str) -> String {
    format!("arn:aws:s3:::{name}")
}

/// The bucket's tags; none (NoSuchTagSet) is an empty set.
pub(crate) async fn bucket_tags(s3: &Client, name: &str) -> Result<Tags, ReconcileError> {
    let out = found(
        transient("s3:GetBucketTagging", || async {
            s3.get_bucket_tagging()
                .bucket(name)
                .send()
                .await
                .map_err(|e| api_error("s3:GetBucketTagging", e))
        })
        .await,
    )?;
    Ok(out
        .map(|o| {
            o.tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        })
        .unwrap_or_default())
}
