//! `sns_subscription` — placeholder until its reconciler is written.

use crate::Aws;

pub struct SnsSubscriptionReconciler {
    pub aws: Aws,
}

impl SnsSubscriptionReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    SnsSubscriptionReconciler,
    drctl_stack::kinds::SNS_SUBSCRIPTION
);
