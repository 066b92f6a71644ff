//! `sns_topic` — placeholder until its reconciler is written.

use crate::Aws;

pub struct SnsTopicReconciler {
    pub aws: Aws,
}

impl SnsTopicReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(SnsTopicReconciler, drctl_stack::kinds::SNS_TOPIC);
