//! `db_instance` — placeholder until its reconciler is written.

use crate::Aws;

pub struct DbInstanceReconciler {
    pub aws: Aws,
}

impl DbInstanceReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(DbInstanceReconciler, drctl_stack::kinds::DB_INSTANCE);
