//! `dynamodb_replica` — placeholder until its reconciler is written.

use crate::Aws;

pub struct DynamodbReplicaReconciler {
    pub aws: Aws,
}

impl DynamodbReplicaReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    DynamodbReplicaReconciler,
    drctl_stack::kinds::DYNAMODB_REPLICA
);
