//! `route_table` — placeholder until its reconciler is written.

use crate::Aws;

pub struct RouteTableReconciler {
    pub aws: Aws,
}

impl RouteTableReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(RouteTableReconciler, drctl_stack::kinds::ROUTE_TABLE);
