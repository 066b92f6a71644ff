//! `igw_attachment` — placeholder until its reconciler is written.

use crate::Aws;

pub struct IgwAttachmentReconciler {
    pub aws: Aws,
}

impl IgwAttachmentReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

crate::not_implemented!(IgwAttachmentReconciler, drctl_stack::kinds::IGW_ATTACHMENT);
