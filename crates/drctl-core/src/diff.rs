//! Field-by-field comparison of desired and observed properties.

use crate::model::{contains_unknown, owned_by, Observed, Props, ResourceSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One property that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The prop's key (`cidr_block`), or [`TAGS`] for the shared tags change.
    pub field: String,
    /// What the cloud has (`None`: absent).
    pub before: Option<Value>,
    /// What the plan wants (`None`: absent; an unknown marker when it is only
    /// known after apply).
    pub after: Option<Value>,
    /// Set when the change cannot be made in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_reason: Option<String>,
    /// True when the plan did not change this field since the last apply:
    /// the cloud was changed outside of drctl.
    #[serde(default)]
    pub drift: bool,
}

/// Compares every desired field with the observed one. Fields the cloud has
/// but the plan does not mention are ignored. `replace_on` lists the fields
/// that force replacement, with the reason shown in the plan.
pub fn diff_props(
    desired: &Props,
    observed: &Props,
    replace_on: &[(&str, &str)],
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for (field, want) in desired {
        let have = observed.get(field);
        let same = have == Some(want) && !contains_unknown(want);
        if same || (want.is_null() && have.is_none()) {
            continue;
        }
        let replace_reason = replace_on
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, why)| why.to_string());
        out.push(FieldChange {
            field: field.clone(),
            before: have.cloned(),
            after: Some(want.clone()),
            replace_reason,
            drift: false,
        });
    }
    out
}

/// Marks as drift every change whose desired value equals what was last
/// applied: the plan file did not move, the cloud did.
pub fn mark_drift(changes: &mut [FieldChange], applied: Option<&Props>) {
    let Some(applied) = applied else { return };
    for c in changes {
        if let Some(after) = &c.after {
            c.drift = applied.get(&c.field) == Some(after);
        }
    }
}

/// The field that carries a resource's tags: in `Observed::props` (what a
/// read of a taggable kind found), in the state's `applied` props (the tags
/// last applied) and in the plan's field changes (`~ tags`).
pub const TAGS: &str = "tags";

/// Tags are desired state, with one rule for every taggable kind
/// (Terraform's default, without `ignore_tags`):
/// - apply sets exactly the desired tags: a tag added by hand is removed, a
///   tag removed or changed by hand is put back;
/// - except AWS's own tags (`aws:` prefix, e.g. `aws:cloudformation:*`),
///   which users cannot write or delete: never compared, never touched.
pub fn is_system_tag(key: &str) -> bool {
    key.starts_with("aws:")
}

/// Whether the tag diff leaves `key` alone: AWS's own tags
/// ([`is_system_tag`]) and drctl's own (`drctl:` prefix: the ownership tags,
/// which reads check and which a re-tag never touches, and a kind's
/// bookkeeping such as a launch template's `drctl:image-id`). The plan file
/// cannot set either (`[tags]` refuses both prefixes).
pub fn is_unmanaged_tag(key: &str) -> bool {
    is_system_tag(key) || key.starts_with("drctl:")
}

/// `tags` as the plan compares and shows them: without the ones the diff
/// leaves alone ([`is_unmanaged_tag`]), but with the ownership tags, which
/// are equal on both sides whenever a change is made (see [`tags_change`])
/// and let a `-refresh=false` plan check ownership from the state.
pub fn managed_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tags.iter()
        .filter(|(k, _)| {
            !is_unmanaged_tag(k)
                || k.as_str() == crate::model::TAG_ENV
                || k.as_str() == crate::model::TAG_ADDRESS
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The tag calls that turn one tag set into another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagWrites {
    /// Tags to add or overwrite, key → value.
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    pub delete: BTreeSet<String>,
}

impl TagWrites {
    /// `observed` → `desired`: every desired tag the resource lacks or has
    /// with another value is set; every tag it has that is not desired is
    /// deleted. Unmanaged tags are neither ([`is_unmanaged_tag`]).
    pub fn between(
        desired: &BTreeMap<String, String>,
        observed: &BTreeMap<String, String>,
    ) -> Self {
        let set = desired
            .iter()
            .filter(|(k, v)| !is_unmanaged_tag(k) && observed.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let delete = observed
            .keys()
            .filter(|k| !is_unmanaged_tag(k) && !desired.contains_key(*k))
            .cloned()
            .collect();
        TagWrites { set, delete }
    }

    /// The writes a `tags` field change stands for (`before` absent: none).
    pub fn of_change(change: &FieldChange) -> Self {
        let map = |v: Option<&Value>| -> BTreeMap<String, String> {
            v.and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default()
        };
        Self::between(&map(change.after.as_ref()), &map(change.before.as_ref()))
    }

    /// Whether there is nothing to set and nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }
}

/// The tags a read found, from `observed.props` ([`TAGS`]); `None` when the
/// kind has none or the read did not report them.
pub fn observed_tags(observed: &Observed) -> Option<BTreeMap<String, String>> {
    serde_json::from_value(observed.props.get(TAGS)?.clone()).ok()
}

/// The `tags` change of a resource, or `None` when the tags match.
///
/// Guard: only a resource that carries this env's ownership tags for the
/// spec's address is ever re-tagged (`None` otherwise); the desired tags
/// always carry them, so no write can remove them.
pub fn tags_change(spec: &ResourceSpec, observed: &Observed, env: &str) -> Option<FieldChange> {
    let have = observed_tags(observed)?;
    if !owned_by(&have, env, &spec.address) || !owned_by(&spec.tags, env, &spec.address) {
        return None;
    }
    let (have, want) = (managed_tags(&have), managed_tags(&spec.tags));
    (have != want).then(|| FieldChange {
        field: TAGS.into(),
        before: Some(serde_json::json!(have)),
        after: Some(serde_json::json!(want)),
        replace_reason: None,
        drift: false,
    })
}

/// What the state records as a taggable resource's applied props: the
/// resolved props plus its desired tags under [`TAGS`], so that a tag
/// changed by hand is told apart from one changed in the plan file.
pub fn applied_with_tags(props: &Props, tags: &BTreeMap<String, String>) -> Props {
    let mut out = props.clone();
    out.insert(TAGS.into(), serde_json::json!(managed_tags(tags)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Props {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn reports_changed_and_missing_fields_with_replacement_reasons() {
        let desired = props(json!({"cidr": "10.0.0.0/16", "dns": true, "max": 6}));
        let observed = props(json!({"cidr": "10.9.0.0/16", "dns": true, "extra": 1}));
        let changes = diff_props(
            &desired,
            &observed,
            &[("cidr", "a VPC's CIDR cannot change")],
        );
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].field, "cidr");
        assert_eq!(
            changes[0].replace_reason.as_deref(),
            Some("a VPC's CIDR cannot change")
        );
        assert_eq!(changes[1].field, "max");
        assert_eq!(changes[1].before, None);
    }

    #[test]
    fn unknown_values_always_differ() {
        let desired = props(json!({"vpc": crate::model::unknown()}));
        assert_eq!(
            diff_props(&desired, &props(json!({"vpc": "vpc-1"})), &[]).len(),
            1
        );
    }

    #[test]
    fn drift_is_a_change_the_plan_did_not_ask_for() {
        let desired = props(json!({"max": 6, "min": 3}));
        let observed = props(json!({"max": 9, "min": 2}));
        let applied = props(json!({"max": 6, "min": 2}));
        let mut changes = diff_props(&desired, &observed, &[]);
        mark_drift(&mut changes, Some(&applied));
        assert!(changes[0].drift, "max changed in the cloud");
        assert!(!changes[1].drift, "min changed in the plan");
    }
}
