//! `bucket_replication` — placeholder until its reconciler is written.

use crate::Aws;

pub struct BucketReplicationReconciler {
    pub aws: Aws,
}

impl BucketReplicationReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    BucketReplicationReconciler,
    drctl_stack::kinds::BUCKET_REPLICATION
);
