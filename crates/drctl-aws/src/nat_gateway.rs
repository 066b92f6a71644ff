//! `nat_gateway` — placeholder until its reconciler is written.

use crate::Aws;

pub struct NatGatewayReconciler {
    pub aws: Aws,
}

impl NatGatewayReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(NatGatewayReconciler, drctl_stack::kinds::NAT_GATEWAY);
