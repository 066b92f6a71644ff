//! Property test of the shared tag rule ([`drctl_core::diff::TagWrites`],
//! [`drctl_core::diff::tags_change`]): random desired and observed tag maps,
//! both carrying the ownership tags, give exactly the writes that turn one
//! into the other, never touch `aws:` tags, and give none when equal.

use drctl_core::diff::{is_system_tag, is_unmanaged_tag, tags_change, TagWrites, TAGS};
use drctl_core::model::{Address, Observed, ResourceSpec, TAG_ADDRESS, TAG_ENV};
use proptest::prelude::*;
use std::collections::BTreeMap;

const ENV: &str = "dev";
const ADDRESS: &str = "us-east-1/network/vpc";

type Tags = BTreeMap<String, String>;

/// Keys from a small pool so that desired and observed overlap often;
/// some are AWS's own.
fn tags() -> impl Strategy<Value = Tags> {
    prop::collection::btree_map(
        prop_oneof![
            "[A-D]",
            "Name|CostCenter|Owner",
            "aws:[a-c]",
            "drctl:image(-id)?",
            "[a-z:]{1,12}"
        ],
        "[a-c]{0,2}",
        0..8,
    )
    .prop_map(|mut t| {
        t.insert(TAG_ENV.into(), ENV.into());
        t.insert(TAG_ADDRESS.into(), ADDRESS.into());
        t
    })
}

fn spec(tags: &Tags) -> ResourceSpec {
    ResourceSpec {
        address: Address::new(ADDRESS),
        kind: "ec2:vpc".into(),
        region: Some("us-east-1".into()),
        name: "vpc".into(),
        props: Default::default(),
        tags: tags.clone(),
        depends_on: vec![],
    }
}

fn observed(tags: &Tags) -> Observed {
    let mut o = Observed::default();
    o.props.insert(TAGS.into(), serde_json::json!(tags));
    o
}

/// What applying `w` to `tags` leaves.
fn applied(tags: &Tags, w: &TagWrites) -> Tags {
    let mut out = tags.clone();
    out.retain(|k, _| !w.delete.contains(k));
    out.extend(w.set.clone());
    out
}

/// `t` without the tags the diff leaves alone.
fn managed(t: &Tags) -> Tags {
    t.iter()
        .filter(|(k, _)| !is_unmanaged_tag(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

proptest! {
    #[test]
    fn writes_are_exactly_the_difference(desired in tags(), mut have in tags()) {
        // AWS's own tags are never desired (the plan file refuses them).
        let desired: Tags = desired.into_iter().filter(|(k, _)| !is_system_tag(k)).collect();
        // Random observed maps may lack some desired values: fine.
        have.insert(TAG_ENV.into(), ENV.into());
        let w = TagWrites::between(&desired, &have);

        // Exactly: set = desired entries that differ, delete = extra keys.
        for (k, v) in &w.set {
            prop_assert_eq!(desired.get(k), Some(v));
            prop_assert_ne!(have.get(k), Some(v));
        }
        for k in &w.delete {
            prop_assert!(have.contains_key(k) && !desired.contains_key(k));
            prop_assert!(!is_unmanaged_tag(k));
        }
        for (k, v) in desired.iter().filter(|(k, _)| !is_unmanaged_tag(k)) {
            prop_assert!(have.get(k) == Some(v) || w.set.get(k) == Some(v));
        }
        for k in have.keys() {
            prop_assert!(
                desired.contains_key(k) || is_unmanaged_tag(k) || w.delete.contains(k)
            );
        }
        // The result is the desired tags plus AWS's and drctl's own, untouched.
        let after = applied(&have, &w);
        prop_assert_eq!(managed(&after), managed(&desired));
        for (k, v) in have.iter().filter(|(k, _)| is_unmanaged_tag(k)) {
            prop_assert_eq!(after.get(k), Some(v));
        }
        // Ownership tags are never deleted.
        prop_assert!(!w.delete.contains(TAG_ENV) && !w.delete.contains(TAG_ADDRESS));

        // The plan's field change stands for the same writes, and is absent
        // exactly when nothing is to be written.
        let change = tags_change(&spec(&desired), &observed(&have), ENV);
        prop_assert_eq!(change.is_none(), w.is_empty());
        if let Some(c) = change {
            prop_assert_eq!(TagWrites::of_change(&c), w);
        }
    }

    #[test]
    fn equal_tags_need_no_write(t in tags(), system in tags()) {
        let desired: Tags = t.into_iter().filter(|(k, _)| !is_system_tag(k)).collect();
        // The same tags, plus any of AWS's own on the resource.
        let mut have = desired.clone();
        have.extend(system.into_iter().filter(|(k, _)| is_system_tag(k)));
        prop_assert!(TagWrites::between(&desired, &have).is_empty());
        prop_assert!(tags_change(&spec(&desired), &observed(&have), ENV).is_none());
    }

    #[test]
    fn without_ownership_tags_nothing_is_written(desired in tags(), have in tags()) {
        for strip in [TAG_ENV, TAG_ADDRESS] {
            let mut h = have.clone();
            h.remove(strip);
            prop_assert!(tags_change(&spec(&desired), &observed(&h), ENV).is_none());
        }
        let mut other = have.clone();
        other.insert(TAG_ENV.into(), "prod".into());
        prop_assert!(tags_change(&spec(&desired), &observed(&other), ENV).is_none());
    }
}
