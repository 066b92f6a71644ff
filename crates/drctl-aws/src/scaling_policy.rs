//! `scaling_policy` — placeholder until its reconciler is written.

use crate::Aws;

pub struct ScalingPolicyReconciler {
    pub aws: Aws,
}

impl ScalingPolicyReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(ScalingPolicyReconciler, drctl_stack::kinds::SCALING_POLICY);
