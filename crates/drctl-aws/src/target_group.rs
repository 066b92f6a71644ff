//! `target_group` — placeholder until its reconciler is written.

use crate::Aws;

pub struct TargetGroupReconciler {
    pub aws: Aws,
}

impl TargetGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(TargetGroupReconciler, drctl_stack::kinds::TARGET_GROUP);
