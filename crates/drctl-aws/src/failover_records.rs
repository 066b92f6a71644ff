//! `failover_records` — placeholder until its reconciler is written.

use crate::Aws;

pub struct FailoverRecordsReconciler {
    pub aws: Aws,
}

impl FailoverRecordsReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    FailoverRecordsReconciler,
    drctl_stack::kinds::FAILOVER_RECORDS
);
