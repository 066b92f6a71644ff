//! Runs async work over a DAG: a node starts as soon as everything it waits
//! on has succeeded, at most `parallelism` at once. A failure skips the nodes
//! that (transitively) wait on it and lets independent branches finish; a
//! raised stop flag starts nothing new but lets in-flight work finish.
//! Among ready nodes the one with the highest priority starts first (see
//! [`crate::schedule`]); ties, and nodes without one, go in address order.

use crate::model::Address;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How one node of a walk ended.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeResult<T, E = String> {
    /// Its work succeeded, with its result.
    Done(T),
    /// Its work failed, with the error; the nodes waiting on it are skipped.
    Failed(E),
    /// Not started: a node it waits on failed or was skipped, or a stop was
    /// requested.
    Skipped(String),
}

/// Walks `waits` (node -> nodes that must succeed first). Nodes that wait on
/// something outside the map are treated as if that dependency were done.
/// Ready nodes start in address order.
pub async fn walk<T, E, F, Fut>(
    waits: &BTreeMap<Address, BTreeSet<Address>>,
    parallelism: usize,
    stop: Option<Arc<AtomicBool>>,
    work: F,
) -> BTreeMap<Address, NodeResult<T, E>>
where
    F: Fn(Address) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    walk_prioritized(waits, &BTreeMap::new(), parallelism, stop, work).await
}

/// [`walk`], starting the ready node with the highest `priority` first
/// (e.g. [`crate::schedule::remaining_chain`]); a node missing from
/// `priority` counts as 0, ties go in address order.
pub async fn walk_prioritized<T, E, F, Fut>(
    waits: &BTreeMap<Address, BTreeSet<Address>>,
    priority: &BTreeMap<Address, u64>,
    parallelism: usize,
    stop: Option<Arc<AtomicBool>>,
    work: F,
) -> BTreeMap<Address, NodeResult<T, E>>
where
    F: Fn(Address) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let parallelism = parallelism.max(1);
    let mut remaining = within(waits);
    let mut results: BTreeMap<Address, NodeResult<T, E>> = BTreeMap::new();
    let mut in_flight = FuturesUnordered::new();
    loop {
        let stopping = stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        skip_doomed(&mut remaining, &mut results);
        if !stopping {
            let free = parallelism.saturating_sub(in_flight.len());
            for node in ready(&remaining, &results, priority, free) {
                remaining.remove(&node);
                let fut = work(node.clone());
                in_flight.push(async move { (node, fut.await) });
            }
        }
        match in_flight.next().await {
            Some((node, outcome)) => {
                let r = match outcome {
                    Ok(v) => NodeResult::Done(v),
                    Err(e) => NodeResult::Failed(e),
                };
                results.insert(node, r);
            }
            None => {
                // Nothing in flight: either all done, or stopped / stuck.
                for node in std::mem::take(&mut remaining).into_keys() {
                    let why = if stopping {
                        "interrupted before it started".to_string()
                    } else {
                        "waits on a cycle".to_string()
                    };
                    results.insert(node, NodeResult::Skipped(why));
                }
                return results;
            }
        }
    }
}

/// `waits` with the dependencies outside the map dropped (they count as done).
fn within(waits: &BTreeMap<Address, BTreeSet<Address>>) -> BTreeMap<Address, BTreeSet<Address>> {
    waits
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.iter()
                    .filter(|d| waits.contains_key(*d))
                    .cloned()
                    .collect(),
            )
        })
        .collect()
}

/// Moves every node of `remaining` that waits on a failed or skipped node
/// into `results` as skipped (naming that node), until none is left:
/// skipping is transitive.
fn skip_doomed<T, E>(
    remaining: &mut BTreeMap<Address, BTreeSet<Address>>,
    results: &mut BTreeMap<Address, NodeResult<T, E>>,
) {
    loop {
        let doomed: Vec<(Address, String)> = remaining
            .iter()
            .filter_map(|(node, deps)| {
                deps.iter().find_map(|d| match results.get(d) {
                    Some(NodeResult::Failed(_)) => Some((node.clone(), format!("{d} failed"))),
                    Some(NodeResult::Skipped(_)) => {
                        Some((node.clone(), format!("{d} was not done")))
                    }
                    _ => None,
                })
            })
            .collect();
        if doomed.is_empty() {
            break;
        }
        for (node, why) in doomed {
            remaining.remove(&node);
            results.insert(node, NodeResult::Skipped(why));
        }
    }
}

/// At most `free` nodes of `remaining` whose dependencies are all done,
/// highest `priority` first (missing counts as 0), ties in address order.
fn ready<T, E>(
    remaining: &BTreeMap<Address, BTreeSet<Address>>,
    results: &BTreeMap<Address, NodeResult<T, E>>,
    priority: &BTreeMap<Address, u64>,
    free: usize,
) -> Vec<Address> {
    let mut ready: Vec<&Address> = remaining
        .iter()
        .filter(|(_, deps)| {
            deps.iter()
                .all(|d| matches!(results.get(d), Some(NodeResult::Done(_))))
        })
        .map(|(n, _)| n)
        .collect();
    // Stable: equal priorities keep the map's address order.
    ready.sort_by_key(|n| std::cmp::Reverse(priority.get(*n).copied().unwrap_or(0)));
    ready.into_iter().take(free).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    use crate::testing::dependencies as graph;

    #[tokio::test]
    async fn independent_nodes_overlap_dependent_ones_never_and_limit_holds() {
        let g = graph(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &["a", "b", "c"])]);
        let log = Arc::new(Mutex::new(Vec::<(String, &str)>::new()));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let res = walk(&g, 2, None, |n| {
            let log = log.clone();
            let running = running.clone();
            let peak = peak.clone();
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                log.lock().unwrap().push((n.0.clone(), "start"));
                tokio::time::sleep(Duration::from_millis(30)).await;
                log.lock().unwrap().push((n.0.clone(), "end"));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(())
            }
        })
        .await;
        assert!(res.values().all(|r| matches!(r, NodeResult::Done(_))));
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "two independent nodes ran at once, never three"
        );
        let log = log.lock().unwrap();
        let pos = |n: &str, e: &str| log.iter().position(|(a, b)| a == n && *b == e).unwrap();
        for dep in ["a", "b", "c"] {
            assert!(pos(dep, "end") < pos("d", "start"));
        }
    }

    /// `a/quick` comes first in address order, but `b/head` carries the
    /// long chain (`c/slow` waits on it): with one slot the scheduler must
    /// start `b/head` first, then `c/slow` before `a/quick`.
    #[tokio::test]
    async fn longest_remaining_chain_starts_first() {
        let g = graph(&[("a/quick", &[]), ("b/head", &[]), ("c/slow", &["b/head"])]);
        let weight = |a: &Address| if a.0 == "c/slow" { 900 } else { 5 };
        let priority = crate::schedule::remaining_chain(&g, weight);
        let order = Arc::new(Mutex::new(Vec::new()));
        for (prio, expected) in [
            (&priority, ["b/head", "c/slow", "a/quick"]),
            (&BTreeMap::new(), ["a/quick", "b/head", "c/slow"]),
        ] {
            order.lock().unwrap().clear();
            walk_prioritized(&g, prio, 1, None, |n| {
                let order = order.clone();
                async move {
                    order.lock().unwrap().push(n.0);
                    Ok::<_, String>(())
                }
            })
            .await;
            assert_eq!(*order.lock().unwrap(), expected);
        }
    }

    #[tokio::test]
    async fn failure_skips_dependents_only() {
        let g = graph(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("x", &[]),
            ("y", &["x"]),
        ]);
        let res = walk(&g, 4, None, |n| async move {
            if n.0 == "a" {
                Err("boom".to_string())
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(res[&Address::new("a")], NodeResult::Failed("boom".into()));
        assert!(matches!(res[&Address::new("b")], NodeResult::Skipped(_)));
        assert!(matches!(res[&Address::new("c")], NodeResult::Skipped(_)));
        assert_eq!(res[&Address::new("y")], NodeResult::Done(()));
    }

    #[tokio::test]
    async fn stop_flag_lets_in_flight_finish_and_starts_nothing_new() {
        let g = graph(&[("a", &[]), ("b", &["a"])]);
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let res = walk(&g, 4, Some(stop), move |n| {
            let s2 = s2.clone();
            async move {
                if n.0 == "a" {
                    s2.store(true, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok::<_, String>(())
            }
        })
        .await;
        assert_eq!(res[&Address::new("a")], NodeResult::Done(()));
        assert!(
            matches!(res[&Address::new("b")], NodeResult::Skipped(ref w) if w.contains("interrupted"))
        );
    }
}
