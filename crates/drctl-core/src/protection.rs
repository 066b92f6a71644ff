//! Deletion protection, checked before anything is deleted.
//!
//! AWS refuses to delete a protected resource (RDS `DeletionProtection`,
//! DynamoDB `DeletionProtectionEnabled`, an ALB's
//! `deletion_protection.enabled`) only when the delete call reaches it: by
//! then a destroy has deleted everything that depended on it. So a kind
//! declares its protection ([`crate::reconcile::Reconciler::deletion_protection`]),
//! and a plan that would delete or replace a resource that has it on (in the
//! cloud) or is meant to have it on (in the desired stack) is refused as a
//! whole, like Terraform's `prevent_destroy`: nothing is deleted.

use crate::model::{Address, Props};
use crate::plan::{Action, ResourceChange};
use serde_json::Value;
use std::fmt;

/// The deletion protection a kind can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletionProtection {
    /// Boolean property, in both the desired and the observed props, that is
    /// `true` while the resource is protected (e.g. `deletion_protection`).
    pub field: &'static str,
    /// What the user does to turn it off, one sentence; `{env}` is replaced
    /// by the env name. E.g. "set db_deletion_protection = false in
    /// plans/{env}.toml and run `drctl apply --env {env}`".
    pub how_to_disable: &'static str,
}

/// One planned delete or replace that protection forbids.
#[derive(Clone, Debug, PartialEq)]
pub struct Blocked {
    /// The protected resource's address.
    pub address: Address,
    /// The resource's name, e.g. `trading-db-dev`.
    pub name: String,
    /// What the plan wanted: [`Action::Delete`] or [`Action::Replace`].
    pub action: Action,
    /// The prop that carries the protection (`deletion_protection`).
    pub field: &'static str,
    /// Protected in the cloud now (else only in the desired stack).
    pub in_cloud: bool,
    /// [`DeletionProtection::how_to_disable`] with the env filled in.
    pub how_to_disable: String,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.action {
            Action::Replace => "replace",
            _ => "delete",
        };
        let whose = if self.in_cloud {
            "has deletion protection on"
        } else {
            "is to have deletion protection on"
        };
        write!(
            f,
            "{} ({}) {whose} ({} = true), and this plan would {what} it. To {what} it: {}, then run this command again.",
            self.name, self.address, self.field, self.how_to_disable
        )
    }
}

fn flag(props: &Props, field: &str) -> bool {
    props.get(field) == Some(&Value::Bool(true))
}

/// Whether `change` (with `desired`, the props drctl wants, or for a
/// removed resource the props it last applied) is a delete or replace of a
/// protected resource.
pub fn check(
    change: &ResourceChange,
    desired: Option<&Props>,
    protection: Option<DeletionProtection>,
    env: &str,
) -> Option<Blocked> {
    let p = protection?;
    if !matches!(change.action, Action::Delete | Action::Replace) {
        return None;
    }
    let in_cloud = change
        .prior
        .as_ref()
        .is_some_and(|o| flag(&o.props, p.field));
    let wanted = desired.is_some_and(|d| flag(d, p.field));
    (in_cloud || wanted).then(|| Blocked {
        address: change.address.clone(),
        name: change.name.clone(),
        action: change.action,
        field: p.field,
        in_cloud,
        how_to_disable: p.how_to_disable.replace("{env}", env),
    })
}
