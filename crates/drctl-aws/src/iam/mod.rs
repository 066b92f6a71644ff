//! IAM: the instance role and its instance profile.

pub mod instance_profile;
pub mod role;
