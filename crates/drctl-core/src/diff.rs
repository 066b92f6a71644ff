//! Field-by-field comparison of desired and observed properties.

use crate::model::{contains_unknown, Props};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One property that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
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
