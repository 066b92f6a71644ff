//! `security_group` — placeholder until its reconciler is written.

use crate::Aws;

pub struct SecurityGroupReconciler {
    pub aws: Aws,
}

impl SecurityGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(SecurityGroupReconciler, drctl_stack::kinds::SECURITY_GROUP);
