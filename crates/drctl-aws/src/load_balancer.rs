//! `load_balancer` — placeholder until its reconciler is written.

use crate::Aws;

pub struct LoadBalancerReconciler {
    pub aws: Aws,
}

impl LoadBalancerReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(LoadBalancerReconciler, drctl_stack::kinds::LOAD_BALANCER);
