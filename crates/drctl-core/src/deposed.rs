//! Create-before-destroy replacements and their deposed objects
//! (Terraform's semantics and names).
//!
//! A replacement planned `create_before_destroy` runs in three steps, each
//! recorded in the state before the call that needs it:
//! 1. *Depose*: the current object moves from `resources` to `deposed`
//!    (with its physical id and a deposed key) and the state is saved.
//! 2. *Create* the new object (the usual write-ahead create; a kind whose
//!    names are unique gets [`alternate_name`]), then the dependents move to
//!    it (their updates or replacements, in the normal build walk).
//! 3. *Delete the deposed object*, after the build walk, once the address
//!    and every dependent of it were done; then forget it.
//!
//! A run killed anywhere leaves the old object named in `deposed`: the next
//! plan reads it by id and shows `- (deposed)`, the next apply finishes the
//! move and deletes it, `destroy` deletes it with everything else.

use crate::apply::{in_task, Event, Executor, Run};
use crate::graph::StackGraph;
use crate::model::{Address, Observed, ResourceSpec};
use crate::ordering::{destroy_waits, Doomed};
use crate::plan::{deposed_node, Action, DeposedChange, Plan, ResourceChange};
use crate::reconcile::alternate_name;
use crate::state::{DeposedObject, Operation, ResourceState, State};
use crate::walk::{walk, NodeResult};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// One deletion of the executor's delete walks: a current object (by its
/// plan change) or a deposed one.
pub(crate) enum Deletion<'p> {
    Current(&'p ResourceChange),
    Deposed(&'p DeposedChange),
}

impl Deletion<'_> {
    pub(crate) fn kind(&self) -> &str {
        match self {
            Deletion::Current(c) => &c.kind,
            Deletion::Deposed(d) => &d.kind,
        }
    }
}

/// The delete-walk nodes of `deletions`, each ordered before what it
/// depends on: before the address's current object *and* its deposed ones.
pub(crate) fn doomed_of(deletions: &BTreeMap<Address, Deletion<'_>>) -> Vec<Doomed> {
    let mut nodes_of: BTreeMap<&Address, Vec<Address>> = BTreeMap::new();
    for (node, d) in deletions {
        let address = match d {
            Deletion::Current(c) => &c.address,
            Deletion::Deposed(d) => &d.address,
        };
        nodes_of.entry(address).or_default().push(node.clone());
    }
    deletions
        .iter()
        .map(|(node, d)| {
            let (kind, region, deps) = match d {
                Deletion::Current(c) => (&c.kind, &c.region, &c.dependencies),
                Deletion::Deposed(d) => (&d.kind, &d.region, &d.dependencies),
            };
            Doomed {
                address: node.clone(),
                kind: kind.clone(),
                region: region.clone(),
                dependencies: deps
                    .iter()
                    .flat_map(|a| nodes_of.get(a).cloned().unwrap_or_default())
                    .collect(),
            }
        })
        .collect()
}

/// The name a create at `address` uses: an unfinished create's (its object
/// may exist under it), else for kinds with unique names the alternate of
/// the newest deposed object's name, else the stack's.
pub(crate) fn create_name(state: &State, address: &Address, name: &str, unique: bool) -> String {
    if let Some(p) = state.pending.get(address) {
        if p.operation == Operation::Create && (p.name == name || p.name == format!("{name}-r")) {
            return p.name.clone();
        }
    }
    match state.deposed.get(address).and_then(|l| l.last()) {
        Some(d) if unique => alternate_name(name, &d.object.name),
        _ => name.to_string(),
    }
}

fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

impl Run {
    /// Step 1 of a create-before-destroy replacement: records the current
    /// object of `change` as deposed and saves, before the new one is made.
    /// Does nothing when it is deposed already (a retried run).
    pub(crate) async fn depose(&self, change: &ResourceChange) -> Result<(), String> {
        let Some(prior) = change.prior.as_ref() else {
            return Ok(());
        };
        let address = &change.address;
        self.journal.write(|s| {
            let already = s
                .state
                .deposed
                .get(address)
                .is_some_and(|l| l.iter().any(|d| d.object.id == prior.id));
            if already {
                return Ok(());
            }
            let recorded = s.state.resources.remove(address);
            let object = match recorded {
                Some(r) if r.id == prior.id => r,
                other => ResourceState {
                    kind: change.kind.clone(),
                    region: change.region.clone(),
                    name: other.map_or_else(|| change.name.clone(), |r| r.name),
                    id: prior.id.clone(),
                    attrs: prior.attrs.clone(),
                    applied: prior.props.clone(),
                    dependencies: change.dependencies.clone(),
                },
            };
            // An adopted unfinished create's token is used up.
            crate::apply::finish_pending_create(s, address);
            tracing::info!(%address, id = %object.id, "deposed: the replacement is created first");
            s.state
                .deposed
                .entry(address.clone())
                .or_default()
                .push(DeposedObject {
                    key: new_key(),
                    object,
                    deposed_at: crate::apply::now(),
                });
            Ok(())
        }).await
    }

    /// Deletes one deposed object (exactly its recorded id) and forgets it.
    pub(crate) async fn delete_deposed(&self, d: &DeposedChange) -> Result<(), String> {
        let Some(prior) = d.prior.clone() else {
            return self
                .journal
                .write(|s| {
                    s.state.forget_deposed(&d.address, &d.key);
                    Ok(())
                })
                .await;
        };
        let reconciler = self.registry.get(&d.kind).map_err(|e| e.to_string())?;
        let node = d.node();
        let started = Instant::now();
        self.emit(Event::Started {
            address: node.clone(),
            action: Action::Delete,
        });
        let result = match reconciler.delete(&self.cx, &d.spec(&prior), &prior).await {
            Ok(()) => {
                self.journal
                    .write(|s| {
                        s.state.forget_deposed(&d.address, &d.key);
                        Ok(())
                    })
                    .await
            }
            Err(e) => Err(format!("deposed object {}: {e}", prior.id)),
        };
        self.emit(Event::Finished {
            address: node,
            action: Action::Delete,
            elapsed: started.elapsed(),
            error: result.as_ref().err().cloned(),
        });
        result
    }
}

impl Executor<'_> {
    /// Step 3: after the build walk, deletes the deposed objects this apply
    /// covers (those the plan found, and those it deposed itself) whose
    /// address and dependents were all done (`built_ok`, out of
    /// `built_all`); the others stay recorded for the next run.
    pub(crate) async fn delete_deposed_after_build(
        &self,
        plan: &Plan,
        graph: &StackGraph,
        built_all: &BTreeSet<Address>,
        built_ok: &BTreeSet<Address>,
        run: &Arc<Run>,
    ) -> BTreeMap<Address, NodeResult<(), String>> {
        let Ok(state) = run.journal.read(|s| Ok(s.state.clone())) else {
            return BTreeMap::new();
        };
        let mut deposed: BTreeMap<Address, DeposedChange> =
            plan.deposed.iter().map(|d| (d.node(), d.clone())).collect();
        for c in plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Replace && c.create_before_destroy)
        {
            for d in state.deposed.get(&c.address).into_iter().flatten() {
                let o = &d.object;
                let node = deposed_node(&c.address, &d.key);
                deposed.entry(node).or_insert_with(|| {
                    let mut change = deposed_change(&c.address, d);
                    // What the plan read is fresher than what was recorded.
                    if let Some(p) = c.prior.as_ref().filter(|p| p.id == o.id) {
                        change.prior = Some(p.clone());
                    }
                    change
                });
            }
        }
        if deposed.is_empty() {
            return BTreeMap::new();
        }
        let deletions: BTreeMap<Address, Deletion<'_>> = deposed
            .iter()
            .map(|(n, d)| (n.clone(), Deletion::Deposed(d)))
            .collect();
        // Who must have moved off each address first: itself and its dependents.
        let moved = |address: &Address| -> Result<(), String> {
            let waiting = std::iter::once(address.clone()).chain(
                graph
                    .in_order()
                    .filter(|s| s.dependencies().contains(address))
                    .map(|s| s.address.clone()),
            );
            for a in waiting {
                if built_all.contains(&a) && !built_ok.contains(&a) {
                    return Err(format!(
                        "kept as deposed: {a} did not finish, so what used the old object may still use it"
                    ));
                }
            }
            Ok(())
        };
        let kept: BTreeMap<Address, String> = deposed
            .iter()
            .filter_map(|(n, d)| moved(&d.address).err().map(|why| (n.clone(), why)))
            .collect();
        let waits = destroy_waits(&doomed_of(&deletions), self.rules);
        let mut results = walk(&waits, self.parallelism, Some(self.stop.clone()), |node| {
            let d = deposed[&node].clone();
            let run = run.clone();
            let gate = kept.get(&node).cloned();
            in_task(async move {
                if let Some(why) = gate {
                    return Err(why);
                }
                run.delete_deposed(&d).await
            })
        })
        .await;
        // Kept on purpose: not done, not failed.
        for (node, why) in kept {
            results.insert(node, NodeResult::Skipped(why));
        }
        results
    }
}

/// What the state records for a deposed object, as its plan entry.
pub fn deposed_change(address: &Address, d: &DeposedObject) -> DeposedChange {
    DeposedChange {
        address: address.clone(),
        key: d.key.clone(),
        kind: d.object.kind.clone(),
        region: d.object.region.clone(),
        name: d.object.name.clone(),
        prior: Some(Observed {
            id: d.object.id.clone(),
            props: d.object.applied.clone(),
            attrs: d.object.attrs.clone(),
        }),
        dependencies: d.object.dependencies.clone(),
    }
}

impl DeposedChange {
    /// The spec a reconciler reads or deletes the deposed object with: the
    /// object's own address, kind, region, name and dependencies, `prior`'s
    /// props (what the cloud has, or what the state recorded), and no tags
    /// (a deposed object is never updated, so nothing is desired of them).
    pub(crate) fn spec(&self, prior: &Observed) -> ResourceSpec {
        ResourceSpec {
            address: self.address.clone(),
            kind: self.kind.clone(),
            region: self.region.clone(),
            name: self.name.clone(),
            props: prior.props.clone(),
            tags: BTreeMap::new(),
            depends_on: self.dependencies.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Props;

    #[test]
    fn a_deposed_objects_spec_is_its_recorded_self_with_the_priors_props_and_no_tags() {
        let address = Address::new("us-east-1/ec2:launch-template/app");
        let recorded = |v: &str| -> Props {
            let mut p = Props::new();
            p.insert("v".into(), v.into());
            p
        };
        let d = DeposedObject {
            key: "0a1b2c3d".into(),
            object: ResourceState {
                kind: "ec2:launch-template".into(),
                region: Some("us-east-1".into()),
                name: "app-lt".into(),
                id: "lt-1".into(),
                attrs: recorded("attr"),
                applied: recorded("applied"),
                dependencies: vec![Address::new("us-east-1/iam:instance-profile/app")],
            },
            deposed_at: "2026-01-01T00:00:00Z".into(),
        };
        let change = deposed_change(&address, &d);
        let read = Observed {
            id: "lt-1".into(),
            props: recorded("read"),
            attrs: Props::default(),
        };
        let spec = change.spec(&read);
        assert_eq!(spec.address, address);
        assert_eq!(spec.kind, "ec2:launch-template");
        assert_eq!(spec.region.as_deref(), Some("us-east-1"));
        assert_eq!(spec.name, "app-lt");
        assert_eq!(
            spec.props,
            recorded("read"),
            "the props given, not the recorded ones"
        );
        assert!(spec.tags.is_empty());
        assert_eq!(spec.depends_on, d.object.dependencies);
        // A plan entry made from the state carries the recorded props.
        assert_eq!(
            change.spec(change.prior.as_ref().unwrap()).props,
            recorded("applied")
        );
    }
}
