//! IAM: the instance role and its instance profile.

pub mod instance_profile;
pub mod role;

use crate::retry::Wait;

/// IAM is eventually consistent: a role added to an instance profile can
/// take seconds to show in GetInstanceProfile (IAM User Guide,
/// "Troubleshooting IAM": changes are not immediately visible); 2 min, as
/// terraform-provider-aws `PropagationTimeout` (internal/service/iam/wait.go),
/// polled every 2 s.
pub(crate) const PROFILE_VISIBLE: Wait = Wait::secs(120, 2);
