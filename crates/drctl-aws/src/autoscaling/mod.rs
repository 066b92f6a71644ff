//! EC2 Auto Scaling: the group and its scaling policy.

pub mod group;
pub mod scaling_policy;
