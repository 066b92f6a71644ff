//! `route_table_association` — placeholder until its reconciler is written.

use crate::Aws;

pub struct RouteTableAssociationReconciler {
    pub aws: Aws,
}

impl RouteTableAssociationReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    RouteTableAssociationReconciler,
    drctl_stack::kinds::ROUTE_TABLE_ASSOCIATION
);
