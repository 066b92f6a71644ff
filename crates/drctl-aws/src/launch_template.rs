//! `launch_template` — placeholder until its reconciler is written.

use crate::Aws;

pub struct LaunchTemplateReconciler {
    pub aws: Aws,
}

impl LaunchTemplateReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(
    LaunchTemplateReconciler,
    drctl_stack::kinds::LAUNCH_TEMPLATE
);
