//! `iam_role` — placeholder until its reconciler is written.

use crate::Aws;

pub struct IamRoleReconciler {
    pub aws: Aws,
}

impl IamRoleReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(IamRoleReconciler, drctl_stack::kinds::IAM_ROLE);
