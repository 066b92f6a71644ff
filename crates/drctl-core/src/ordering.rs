//! Destroy order: the reverse of create order, plus rules that AWS enforces
//! beyond the dependency graph. The rules are data (see the AWS crate's
//! table); this module only applies them.

use crate::model::Address;
use std::collections::{BTreeMap, BTreeSet};

/// "Every resource of kind `first` must be gone before a resource of kind
/// `then` in the same region is deleted", and the AWS error it prevents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestroyRule {
    /// The kind deleted first (`ec2:nat-gateway`).
    pub first: &'static str,
    /// The kind deleted after every resource of `first` in the region is gone.
    pub then: &'static str,
    /// The AWS error the rule prevents, with a source where there is one.
    pub prevents: &'static str,
}

/// One resource to delete.
#[derive(Clone, Debug)]
pub struct Doomed {
    /// The resource's address (or a deposed object's node name).
    pub address: Address,
    /// Its reconciler kind, which the rules match on.
    pub kind: String,
    /// Its region; rules apply within one region (`None`: global).
    pub region: Option<String>,
    /// What it depends on (it must be deleted before these).
    pub dependencies: Vec<Address>,
}

/// For each doomed resource, the doomed resources that must be gone first.
pub fn destroy_waits(
    doomed: &[Doomed],
    rules: &[DestroyRule],
) -> BTreeMap<Address, BTreeSet<Address>> {
    let present: BTreeSet<&Address> = doomed.iter().map(|d| &d.address).collect();
    let mut waits: BTreeMap<Address, BTreeSet<Address>> = doomed
        .iter()
        .map(|d| (d.address.clone(), BTreeSet::new()))
        .collect();
    for d in doomed {
        // A dependent goes before what it depends on.
        for dep in &d.dependencies {
            if present.contains(dep) {
                if let Some(w) = waits.get_mut(dep) {
                    w.insert(d.address.clone());
                }
            }
        }
    }
    for rule in rules {
        for first in doomed.iter().filter(|d| d.kind == rule.first) {
            for then in doomed
                .iter()
                .filter(|d| d.kind == rule.then && d.region == first.region)
            {
                if let Some(w) = waits.get_mut(&then.address) {
                    w.insert(first.address.clone());
                }
            }
        }
    }
    waits
}

/// The rule that orders `first` before `then`, if any (for messages).
pub fn rule_between<'a>(
    rules: &'a [DestroyRule],
    first: &str,
    then: &str,
) -> Option<&'a DestroyRule> {
    rules.iter().find(|r| r.first == first && r.then == then)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doomed(addr: &str, kind: &str, region: &str, deps: &[&str]) -> Doomed {
        Doomed {
            address: Address::new(addr),
            kind: kind.into(),
            region: Some(region.into()),
            dependencies: deps.iter().map(|d| Address::new(*d)).collect(),
        }
    }

    #[test]
    fn dependents_first_and_rules_only_within_a_region() {
        let rules = [DestroyRule {
            first: "nat",
            then: "eip",
            prevents: "mapped public address",
        }];
        let d = vec![
            doomed("a/eip", "eip", "a", &[]),
            doomed("a/nat", "nat", "a", &["a/subnet"]),
            doomed("a/subnet", "subnet", "a", &[]),
            doomed("b/eip", "eip", "b", &[]),
        ];
        let w = destroy_waits(&d, &rules);
        assert!(w[&Address::new("a/subnet")].contains(&Address::new("a/nat")));
        assert!(w[&Address::new("a/eip")].contains(&Address::new("a/nat")));
        assert!(w[&Address::new("b/eip")].is_empty());
        assert!(rule_between(&rules, "nat", "eip").is_some());
    }
}
