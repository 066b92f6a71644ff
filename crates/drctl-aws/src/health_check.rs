//! `health_check` — placeholder until its reconciler is written.

use crate::Aws;

pub struct HealthCheckReconciler {
    pub aws: Aws,
}

impl HealthCheckReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(HealthCheckReconciler, drctl_stack::kinds::HEALTH_CHECK);
