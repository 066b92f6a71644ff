//! `autoscaling_group` — placeholder until its reconciler is written.

use crate::Aws;

pub struct AutoscalingGroupReconciler {
    pub aws: Aws,
}

impl AutoscalingGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    AutoscalingGroupReconciler,
    drctl_stack::kinds::AUTOSCALING_GROUP
);
