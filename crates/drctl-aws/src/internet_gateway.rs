//! `internet_gateway` — placeholder until its reconciler is written.

use crate::Aws;

pub struct InternetGatewayReconciler {
    pub aws: Aws,
}

impl InternetGatewayReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    InternetGatewayReconciler,
    drctl_stack::kinds::INTERNET_GATEWAY
);
