//! S3: the buckets and their cross-region replication, one file per kind.
//! Shared here: a bucket's ARN and tags (replication names both buckets).

pub mod bucket;
pub mod replication;

use crate::errors::found;
use crate::retry::{call, Policy, Wait};
use crate::tags::Tags;
use aws_sdk_s3::Client;
use drctl_core::reconcile::ReconcileError;

/// DeleteBucket answers BucketNotEmpty while objects arrive (replication
/// lags minutes, S3 User Guide "Replication time"): empty and retry for
/// 10 min (drctl's figure), every 2 s.
pub(crate) const BUCKET_DELETE: Wait = Wait::secs(600, 2);

pub(crate) fn bucket_arn(name: &str) -> String {
    format!("arn:aws:s3:::{name}")
}

/// The bucket's tags; none (NoSuchTagSet) is an empty set.
pub(crate) async fn bucket_tags(s3: &Client, name: &str) -> Result<Tags, ReconcileError> {
    let out = found(
        call("s3:GetBucketTagging", Policy::TRANSIENT, || {
            s3.get_bucket_tagging().bucket(name).send()
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
