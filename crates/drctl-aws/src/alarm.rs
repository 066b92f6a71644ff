//! `alarm` — placeholder until its reconciler is written.

use crate::Aws;

pub struct AlarmReconciler {
    pub aws: Aws,
}

impl AlarmReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(AlarmReconciler, drctl_stack::kinds::ALARM);
