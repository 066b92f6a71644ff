//! `subnet` — placeholder until its reconciler is written.

use crate::Aws;

pub struct SubnetReconciler {
    pub aws: Aws,
}

impl SubnetReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(SubnetReconciler, drctl_stack::kinds::SUBNET);
