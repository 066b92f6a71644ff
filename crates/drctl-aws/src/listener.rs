//! `listener` — placeholder until its reconciler is written.

use crate::Aws;

pub struct ListenerReconciler {
    pub aws: Aws,
}

impl ListenerReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(ListenerReconciler, drctl_stack::kinds::LISTENER);
