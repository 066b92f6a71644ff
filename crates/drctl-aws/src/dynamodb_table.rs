//! `dynamodb_table` — placeholder until its reconciler is written.

use crate::Aws;

pub struct DynamodbTableReconciler {
    pub aws: Aws,
}

impl DynamodbTableReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(DynamodbTableReconciler, drctl_stack::kinds::DYNAMODB_TABLE);
