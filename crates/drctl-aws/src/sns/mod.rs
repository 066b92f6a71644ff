//! SNS: the alert topic and its subscription.

pub mod subscription;
pub mod topic;
