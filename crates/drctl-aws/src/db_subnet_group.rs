//! `db_subnet_group` — placeholder until its reconciler is written.

use crate::Aws;

pub struct DbSubnetGroupReconciler {
    pub aws: Aws,
}

impl DbSubnetGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(DbSubnetGroupReconciler, drctl_stack::kinds::DB_SUBNET_GROUP);
