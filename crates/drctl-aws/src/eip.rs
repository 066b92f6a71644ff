//! `eip` — placeholder until its reconciler is written.

use crate::Aws;

pub struct EipReconciler {
    pub aws: Aws,
}

impl EipReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(EipReconciler, drctl_stack::kinds::EIP);
