//! `hosted_zone` — placeholder until its reconciler is written.

use crate::Aws;

pub struct HostedZoneReconciler {
    pub aws: Aws,
}

impl HostedZoneReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(HostedZoneReconciler, drctl_stack::kinds::HOSTED_ZONE);
