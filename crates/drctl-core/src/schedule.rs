//! Critical-path-first scheduling: among the nodes that are ready, the walker
//! starts the one with the longest remaining chain of expected durations
//! first, so that the slow chains (RDS Multi-AZ, NAT, ALB in both regions)
//! start at once and the quick ones fill the remaining slots.
//!
//! The expected durations are data: one [`ExpectedDuration`] per kind (the
//! stack crate's table, with the public source of each figure), held by the
//! [`Registry`](crate::reconcile::Registry). Without a figure a kind weighs
//! one second, so the priority is then the longest chain in nodes.

use crate::model::Address;
use std::collections::{BTreeMap, BTreeSet};

/// How long one kind takes on real AWS, create and delete, in seconds, and
/// where the figure comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedDuration {
    /// The drctl kind (`ec2:nat-gateway`).
    pub kind: &'static str,
    /// Create until usable by dependents (the reconciler's `wait_ready` done), s.
    pub create_secs: u64,
    /// Delete until gone (what the delete call waits for), s.
    pub delete_secs: u64,
    /// The observed range and its public source.
    pub source: &'static str,
}

/// The weight of a node with no figure, s.
pub const DEFAULT_SECS: u64 = 1;

/// For each node of `waits` (node -> nodes that must finish first), its own
/// weight plus the heaviest chain of nodes that (transitively) wait on it:
/// how long the run lasts at least after the node starts. Nodes on a cycle
/// (which the walker refuses anyway) get their own weight.
pub fn remaining_chain(
    waits: &BTreeMap<Address, BTreeSet<Address>>,
    weight: impl Fn(&Address) -> u64,
) -> BTreeMap<Address, u64> {
    // dependents[d] = nodes that wait on d (inside the map only).
    let mut dependents: BTreeMap<&Address, Vec<&Address>> = BTreeMap::new();
    for (node, deps) in waits {
        for d in deps.iter().filter(|d| waits.contains_key(*d)) {
            dependents.entry(d).or_default().push(node);
        }
    }
    // Kahn's algorithm from the sinks: a node is done once all its
    // dependents are.
    let mut pending: BTreeMap<&Address, usize> = waits
        .keys()
        .map(|n| (n, dependents.get(n).map_or(0, Vec::len)))
        .collect();
    let mut todo: Vec<&Address> = pending
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(a, _)| *a)
        .collect();
    let mut out: BTreeMap<Address, u64> = BTreeMap::new();
    while let Some(node) = todo.pop() {
        let tail = dependents
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|d| out.get(*d))
            .max()
            .copied()
            .unwrap_or(0);
        out.insert(node.clone(), weight(node) + tail);
        for d in waits[node].iter().filter(|d| waits.contains_key(*d)) {
            if let Some(n) = pending.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    todo.push(d);
                }
            }
        }
    }
    for node in waits.keys() {
        if !out.contains_key(node) {
            out.insert(node.clone(), weight(node));
        }
    }
    out
}

/// The critical path of `waits`: the heaviest chain, which no schedule can
/// beat however many nodes run at once (0 for an empty graph).
pub fn critical_path(
    waits: &BTreeMap<Address, BTreeSet<Address>>,
    weight: impl Fn(&Address) -> u64,
) -> u64 {
    remaining_chain(waits, weight)
        .values()
        .max()
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::dependencies as g;

    #[test]
    fn chain_adds_the_heaviest_dependents() {
        // a <- b <- c (10 s) ; a <- d (1 s); e alone.
        let w = g(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("d", &["a"]),
            ("e", &[]),
        ]);
        let weight = |a: &Address| if a.0 == "c" { 10 } else { 1 };
        let r = remaining_chain(&w, weight);
        assert_eq!(r[&Address::new("c")], 10);
        assert_eq!(r[&Address::new("b")], 11);
        assert_eq!(r[&Address::new("a")], 12);
        assert_eq!(r[&Address::new("d")], 1);
        assert_eq!(r[&Address::new("e")], 1);
        assert_eq!(critical_path(&w, weight), 12);
    }

    #[test]
    fn cycles_and_outside_dependencies_do_not_hang() {
        let w = g(&[("a", &["b"]), ("b", &["a"]), ("c", &["zz"])]);
        let r = remaining_chain(&w, |_| 2);
        assert_eq!(r.len(), 3);
        assert_eq!(r[&Address::new("c")], 2);
        assert_eq!(critical_path(&BTreeMap::new(), |_| 1), 0);
    }
}
