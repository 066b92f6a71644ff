//! `instance_profile` — placeholder until its reconciler is written.

use crate::Aws;

pub struct InstanceProfileReconciler {
    pub aws: Aws,
}

impl InstanceProfileReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    InstanceProfileReconciler,
    drctl_stack::kinds::INSTANCE_PROFILE
);
