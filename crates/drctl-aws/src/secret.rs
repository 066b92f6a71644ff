//! `secret` — placeholder until its reconciler is written.

use crate::Aws;

pub struct SecretReconciler {
    pub aws: Aws,
}

impl SecretReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(SecretReconciler, drctl_stack::kinds::SECRET);
