//! `bucket` — placeholder until its reconciler is written.

use crate::Aws;

pub struct BucketReconciler {
    pub aws: Aws,
}

impl BucketReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(BucketReconciler, drctl_stack::kinds::BUCKET);
