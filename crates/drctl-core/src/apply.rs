//! Carrying out a plan.
//!
//! Guarantees:
//! - Before every mutating call the state records a pending operation (with
//!   the idempotency token for creates) and is saved; right after the call
//!   the result (physical id first) is saved. A run killed at any point
//!   leaves a state from which the next run converges with no duplicate.
//! - Deletions run first, dependents before dependencies and in the order
//!   of the destroy rules; then creates and updates, dependencies first;
//!   then the deposed objects of create-before-destroy replacements
//!   ([`crate::deposed`]), once what used them has moved.
//! - A failure skips only what depends on it; independent branches finish.
//! - With the stop flag raised nothing new starts; in-flight calls finish and
//!   are recorded.
//!
//! Each resource's work runs in a task of its own (so calls in flight
//! overlap, on every runtime thread), and its state records go through the
//! group commit of `crate::journal`: a record is durable before the call
//! it announces, but one task's fsync never holds up another's calls.

use crate::deposed::{create_name, doomed_of, Deletion};
use crate::graph::StackGraph;
use crate::journal::Journal;
use crate::model::{Address, Observed, Props, ResourceSpec};
use crate::ordering::{destroy_waits, DestroyRule};
use crate::plan::{
    has_unknowns, resolve_spec, Action, Counts, DeposedChange, Plan, ResourceChange,
};
use crate::protection;
use crate::reconcile::{is_alternate_name, Ctx, Reconciler, Registry};
use crate::recover::{self, RESOURCE_RETRY};
use crate::schedule::remaining_chain;
use crate::state::{Operation, PendingOp, ResourceState, StateStore};
use crate::walk::{walk_prioritized, NodeResult};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Progress, for the renderer: what happens to one resource during an
/// apply, in the order it happens (sent on [`Executor::events`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A resource's change started (its write-ahead record is on disk).
    Started {
        /// The resource, or a deposed object's node (`ADDR (deposed KEY)`).
        address: Address,
        /// What is being done to it.
        action: Action,
    },
    /// A resource's change finished, or failed.
    Finished {
        /// The resource, or a deposed object's node.
        address: Address,
        /// What was done to it.
        action: Action,
        /// Wall-clock time from start to finish.
        elapsed: Duration,
        /// `None` on success; else the error as the summary shows it.
        error: Option<String>,
    },
}

/// The outcome of one apply or destroy.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// What finished and is recorded in the state, in finishing order.
    pub done: Vec<(Address, Action)>,
    /// What failed, with the error; the state records what it had started.
    pub failed: Vec<(Address, Action, String)>,
    /// What never started (a dependency failed, or a stop was requested), with why.
    pub skipped: Vec<(Address, Action, String)>,
    /// The `done` deletes (under their node address, `ADDR (deposed KEY)`)
    /// of deposed objects that a create-before-destroy replacement made in
    /// this same run: the second half of that replacement, not a destroy of
    /// their own.
    pub replaced_deposed: BTreeSet<Address>,
}

impl ApplyReport {
    /// Whether everything planned was done: nothing failed, nothing skipped.
    pub fn success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }

    /// What was done, counted as [`Plan::counts`] counts what was planned,
    /// so a summary of a complete apply repeats the plan's figures: a
    /// replacement is one add and one destroy, and the delete of the
    /// deposed object a create-before-destroy replacement left in this run
    /// is that destroy, not another (a new user saw `2 destroyed` after a
    /// plan of `1 to destroy`). A deposed object left by an earlier run is
    /// a destroy of its own.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for (address, action) in &self.done {
            match action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Replace => {
                    c.add += 1;
                    c.destroy += 1
                }
                Action::Delete if !self.replaced_deposed.contains(address) => c.destroy += 1,
                Action::Delete | Action::NoOp => {}
            }
        }
        c
    }
}

/// Applies a plan: write-ahead records, a parallel walk of the graph
/// (creates in dependency order, deletes in reverse and by the destroy
/// rules), failure isolation, a stop flag. Built by
/// [`crate::engine::Engine`]; callers use that.
pub struct Executor<'a> {
    /// The reconcilers by kind.
    pub registry: &'a Registry,
    /// The env and what every call needs to know.
    pub cx: Ctx,
    /// Most changes in flight at once (0 counts as 1).
    pub parallelism: usize,
    /// Destroy-order rules on top of the dependencies (data, per kind pair).
    pub rules: &'a [DestroyRule],
    /// Once set, nothing new starts; calls in flight finish and are recorded.
    pub stop: Arc<AtomicBool>,
    /// Where progress [`Event`]s go; `None`: nowhere.
    pub events: Option<UnboundedSender<Event>>,
}

pub(crate) type Store = Arc<Mutex<StateStore>>;

/// What one resource task needs, owned, so that it runs in a task of its
/// own: the executor's registry, context, stop flag and progress channel,
/// and the state's [`Journal`].
pub(crate) struct Run {
    pub(crate) registry: Registry,
    pub(crate) cx: Ctx,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) events: Option<UnboundedSender<Event>>,
    pub(crate) journal: Journal,
}

/// Runs `work` in a task of its own and waits for it: a panic in it fails
/// its node only. Dropping the wait aborts the task (a dropped apply is a
/// killed run: nothing more of it happens).
pub(crate) async fn in_task(
    work: impl Future<Output = Result<(), String>> + Send + 'static,
) -> Result<(), String> {
    struct AbortOnDrop(tokio::task::JoinHandle<Result<(), String>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(tokio::spawn(work));
    (&mut task.0)
        .await
        .unwrap_or_else(|e| Err(format!("internal error: {e}")))
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn spec_for_delete(change: &ResourceChange) -> ResourceSpec {
    ResourceSpec {
        address: change.address.clone(),
        kind: change.kind.clone(),
        region: change.region.clone(),
        name: change.name.clone(),
        props: change
            .prior
            .as_ref()
            .map(|o| o.props.clone())
            .unwrap_or_default(),
        tags: BTreeMap::new(),
        depends_on: change.dependencies.clone(),
    }
}

/// An unfinished create whose resource was found (and is now updated or
/// deleted) is over: its token is used, so the next create of the address
/// gets a new one (Route53 refuses a `CallerReference` twice, forever).
pub(crate) fn finish_pending_create(s: &mut StateStore, address: &Address) {
    if s.state
        .pending
        .get(address)
        .is_some_and(|p| p.operation == Operation::Create)
    {
        s.state.pending.remove(address);
        *s.state.generations.entry(address.clone()).or_insert(0) += 1;
    }
}

impl Run {
    pub(crate) fn emit(&self, e: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(e);
        }
    }
}

impl Executor<'_> {
    /// Applies `plan` (made from `graph` and the state in `store`).
    pub async fn apply(&self, plan: &Plan, graph: &StackGraph, store: Store) -> ApplyReport {
        let run = Arc::new(Run {
            registry: self.registry.clone(),
            cx: self.cx.clone(),
            stop: self.stop.clone(),
            events: self.events.clone(),
            journal: Journal::new(store.clone()),
        });
        let report = self.apply_with(plan, graph, &run).await;
        tracing::debug!(writes = run.journal.writes(), "apply: state writes");
        report
    }

    /// The three phases in order (deletions, then creates and updates, then
    /// the deposed objects), after the checks that refuse a plan as a whole.
    async fn apply_with(&self, plan: &Plan, graph: &StackGraph, run: &Arc<Run>) -> ApplyReport {
        let mut report = ApplyReport::default();
        if self.refuse_protected(plan, &mut report) {
            return report;
        }
        if let Err(e) = forget(plan, run).await {
            report
                .failed
                .push((Address::new("state"), Action::Delete, e));
            return report;
        }
        let by_address: BTreeMap<&Address, &ResourceChange> =
            plan.changes.iter().map(|c| (&c.address, c)).collect();
        let failed_deletes = self.delete_phase(plan, run, &by_address, &mut report).await;
        let (built_all, built_ok) = self
            .build_phase(graph, run, &by_address, &failed_deletes, &mut report)
            .await;
        if !plan.destroy {
            self.deposed_phase(plan, graph, run, &built_all, &built_ok, &mut report)
                .await;
        }
        report
    }

    /// The planner refuses these; a plan from elsewhere (a saved file) is
    /// checked again against what it saw, before anything is touched: each
    /// delete or replace of a protected resource fails (and is reported),
    /// and then nothing runs. `true` when any did.
    fn refuse_protected(&self, plan: &Plan, report: &mut ApplyReport) -> bool {
        let blocked = plan.changes.iter().filter_map(|c| {
            let p = self.registry.get(&c.kind).ok()?.deletion_protection();
            protection::check(c, None, p, &self.cx.env)
        });
        for b in blocked {
            report
                .failed
                .push((b.address.clone(), b.action, b.to_string()));
        }
        !report.failed.is_empty()
    }

    /// Phase 1: deletions (removed resources, the old half of
    /// destroy-before-create replacements, and for destroy the deposed
    /// objects too), dependents first and by the destroy rules. Returns the
    /// addresses whose deletion failed or never started.
    async fn delete_phase(
        &self,
        plan: &Plan,
        run: &Arc<Run>,
        by_address: &BTreeMap<&Address, &ResourceChange>,
        report: &mut ApplyReport,
    ) -> BTreeSet<Address> {
        let mut deletions: BTreeMap<Address, Deletion<'_>> = plan
            .changes
            .iter()
            .filter(|c| {
                c.action == Action::Delete
                    || (c.action == Action::Replace && !c.create_before_destroy)
            })
            .map(|c| (c.address.clone(), Deletion::Current(c)))
            .collect();
        if plan.destroy {
            for d in &plan.deposed {
                deletions.insert(d.node(), Deletion::Deposed(d));
            }
        }
        let waits = destroy_waits(&doomed_of(&deletions), self.rules);
        // The longest chain of expected durations starts first.
        let priority = remaining_chain(&waits, |a| {
            self.registry.expected_secs(deletions[a].kind(), true)
        });
        let deleted = walk_prioritized(
            &waits,
            &priority,
            self.parallelism,
            Some(self.stop.clone()),
            |address| {
                let run = run.clone();
                enum Owned {
                    Current(ResourceChange),
                    Deposed(DeposedChange),
                }
                let owned = match &deletions[&address] {
                    Deletion::Current(change) => Owned::Current((*change).clone()),
                    Deletion::Deposed(d) => Owned::Deposed((*d).clone()),
                };
                in_task(async move {
                    match owned {
                        Owned::Current(change) => run.delete_one(&change).await,
                        Owned::Deposed(d) => run.delete_deposed(&d).await,
                    }
                })
            },
        )
        .await;
        let mut failed_deletes = BTreeSet::new();
        for (address, r) in deleted {
            let action = by_address
                .get(&address)
                .map_or(Action::Delete, |c| c.action);
            match r {
                NodeResult::Done(()) => {
                    if action == Action::Delete {
                        report.done.push((address, action));
                    }
                }
                NodeResult::Failed(e) => {
                    failed_deletes.insert(address.clone());
                    report.failed.push((address, action, e));
                }
                NodeResult::Skipped(why) => {
                    failed_deletes.insert(address.clone());
                    report.skipped.push((address, action, why));
                }
            }
        }
        failed_deletes
    }

    /// Phase 2: everything in the desired stack, dependencies first; a
    /// replacement whose deletion failed is not built. Returns the nodes
    /// walked and those that succeeded.
    async fn build_phase(
        &self,
        graph: &StackGraph,
        run: &Arc<Run>,
        by_address: &BTreeMap<&Address, &ResourceChange>,
        failed_deletes: &BTreeSet<Address>,
        report: &mut ApplyReport,
    ) -> (BTreeSet<Address>, BTreeSet<Address>) {
        let waits: BTreeMap<Address, BTreeSet<Address>> = graph
            .in_order()
            .filter(|s| {
                by_address
                    .get(&s.address)
                    .is_some_and(|c| c.action != Action::Delete)
            })
            .map(|s| (s.address.clone(), s.dependencies().into_iter().collect()))
            .collect();
        let priority = remaining_chain(&waits, |a| match by_address[a].action {
            Action::NoOp => 0,
            _ => self.registry.expected_secs(&by_address[a].kind, false),
        });
        let built = walk_prioritized(
            &waits,
            &priority,
            self.parallelism,
            Some(self.stop.clone()),
            |address| {
                let change = by_address[&address].clone();
                let spec = graph.get(&address).cloned();
                let run = run.clone();
                let blocked = failed_deletes.contains(&address);
                in_task(async move {
                    if blocked {
                        return Err("its deletion did not complete".to_string());
                    }
                    let spec = spec.ok_or_else(|| format!("{address} is not in the stack"))?;
                    run.build_one(&change, &spec).await
                })
            },
        )
        .await;
        let built_all: BTreeSet<Address> = built.keys().cloned().collect();
        let built_ok: BTreeSet<Address> = built
            .iter()
            .filter(|(_, r)| matches!(r, NodeResult::Done(())))
            .map(|(a, _)| a.clone())
            .collect();
        for (address, r) in built {
            let action = by_address[&address].action;
            match r {
                NodeResult::Done(()) => {
                    if action != Action::NoOp {
                        report.done.push((address, action));
                    }
                }
                NodeResult::Failed(e) => {
                    if !failed_deletes.contains(&address) {
                        report.failed.push((address, action, e))
                    }
                }
                NodeResult::Skipped(why) => report.skipped.push((address, action, why)),
            }
        }
        (built_all, built_ok)
    }

    /// Phase 3: deposed objects whose dependents have moved; a delete of
    /// one this run's replacement made is that replacement's second half
    /// ([`ApplyReport::replaced_deposed`]).
    async fn deposed_phase(
        &self,
        plan: &Plan,
        graph: &StackGraph,
        run: &Arc<Run>,
        built_all: &BTreeSet<Address>,
        built_ok: &BTreeSet<Address>,
        report: &mut ApplyReport,
    ) {
        let gone = self
            .delete_deposed_after_build(plan, graph, built_all, built_ok, run)
            .await;
        let earlier: BTreeSet<Address> = plan.deposed.iter().map(|d| d.node()).collect();
        for (node, r) in gone {
            match r {
                NodeResult::Done(()) => {
                    if !earlier.contains(&node) {
                        report.replaced_deposed.insert(node.clone());
                    }
                    report.done.push((node, Action::Delete))
                }
                NodeResult::Failed(e) => report.failed.push((node, Action::Delete, e)),
                NodeResult::Skipped(why) => report.skipped.push((node, Action::Delete, why)),
            }
        }
    }
}

/// Removes the plan's forgotten addresses (`state rm`-like records of
/// resources that are gone) from the state, in one durable write.
async fn forget(plan: &Plan, run: &Run) -> Result<(), String> {
    if plan.forget.is_empty() {
        return Ok(());
    }
    run.journal
        .write(|s| {
            for a in &plan.forget {
                s.state.resources.remove(a);
                s.state.pending.remove(a);
            }
            Ok(())
        })
        .await
}

/// What a resource's state record is made of: the spec as resolved and
/// what the cloud answered. Inserted by [`Run::record`].
type RecordFn<'a> = dyn Fn(&Observed, &ResourceSpec, &mut StateStore) + Sync + 'a;

impl Run {
    /// Write-ahead: records `operation` on `address` as pending, and waits
    /// until that record is on disk, before the call it announces is sent;
    /// returns the idempotency token to send (the pending one's, if a
    /// call was already started). An update or a delete first closes an
    /// interrupted create that the refresh found ([`finish_pending_create`]).
    async fn write_ahead(
        &self,
        address: &Address,
        operation: Operation,
        kind: &str,
        region: &Option<String>,
        name: &str,
    ) -> Result<String, String> {
        self.journal
            .write(|s| {
                let token = s.state.token_for(address);
                if operation != Operation::Create {
                    finish_pending_create(s, address);
                }
                s.state.pending.insert(
                    address.clone(),
                    PendingOp {
                        operation,
                        kind: kind.to_string(),
                        region: region.clone(),
                        name: name.to_string(),
                        token: token.clone(),
                        started_at: now(),
                    },
                );
                Ok(token)
            })
            .await
    }

    async fn delete_one(&self, change: &ResourceChange) -> Result<(), String> {
        let address = &change.address;
        let reconciler = self.registry.get(&change.kind).map_err(|e| e.to_string())?;
        let spec = spec_for_delete(change);
        let Some(prior) = change.prior.clone() else {
            return Ok(());
        };
        let started = Instant::now();
        self.emit(Event::Started {
            address: address.clone(),
            action: Action::Delete,
        });
        self.write_ahead(
            address,
            Operation::Delete,
            &change.kind,
            &change.region,
            &change.name,
        )
        .await?;
        let result = recover::delete(
            reconciler.as_ref(),
            &self.cx,
            &spec,
            &prior,
            RESOURCE_RETRY,
            &self.stop,
        )
        .await;
        let result = match result {
            Ok(()) => {
                self.journal
                    .write(|s| {
                        s.state.resources.remove(address);
                        s.state.pending.remove(address);
                        Ok(())
                    })
                    .await
            }
            Err(e) => Err(e.to_string()),
        };
        self.emit(Event::Finished {
            address: address.clone(),
            action: Action::Delete,
            elapsed: started.elapsed(),
            error: result.as_ref().err().cloned(),
        });
        result
    }

    /// `spec` with its references filled in from the state; an object made
    /// by a create-before-destroy replacement keeps its alternate name.
    fn resolve(&self, address: &Address, spec: &ResourceSpec) -> Result<ResourceSpec, String> {
        self.journal.read(|s| {
            let mut r = resolve_spec(spec, &|dep, attr| s.state.attr(dep, attr));
            if let Some(rec) = s.state.resources.get(address) {
                if is_alternate_name(&spec.name, &rec.name) {
                    r.name = rec.name.clone();
                }
            }
            Ok(r)
        })
    }

    /// Creates, updates or replaces one resource (a no-op only brings its
    /// state record in step with the cloud).
    async fn build_one(&self, change: &ResourceChange, spec: &ResourceSpec) -> Result<(), String> {
        let address = &change.address;
        let reconciler = self.registry.get(&spec.kind).map_err(|e| e.to_string())?;
        let resolved = self.resolve(address, spec)?;
        // A taggable kind's state records its desired tags with its props.
        let applied_of = |r: &ResourceSpec| {
            if reconciler.taggable() {
                crate::diff::applied_with_tags(&r.props, &r.tags)
            } else {
                r.props.clone()
            }
        };
        let record = |o: &Observed, r: &ResourceSpec, s: &mut StateStore| {
            s.state.resources.insert(
                address.clone(),
                ResourceState {
                    kind: spec.kind.clone(),
                    region: spec.region.clone(),
                    name: r.name.clone(),
                    id: o.id.clone(),
                    attrs: o.attrs.clone(),
                    applied: applied_of(r),
                    dependencies: spec.dependencies(),
                },
            );
        };
        let action = match change.action {
            Action::Replace => Action::Create,
            a => a,
        };
        if action == Action::NoOp || (action == Action::Update && change.prior.is_none()) {
            // Nothing to call; keep the state's record in step with the cloud.
            if let Some(o) = &change.prior {
                let applied = applied_of(&resolved);
                self.keep_in_step(address, o, &applied, &|s| record(o, &resolved, s))
                    .await?;
            }
            return Ok(());
        }
        if has_unknowns(&resolved) {
            return Err("some of its inputs are still unknown".into());
        }
        let started = Instant::now();
        self.emit(Event::Started {
            address: address.clone(),
            action: change.action,
        });
        let result = match action {
            Action::Create => {
                if change.action == Action::Replace && change.create_before_destroy {
                    self.depose(change).await?;
                }
                let mut named = resolved.clone();
                named.name = self.journal.read(|s| {
                    Ok(create_name(
                        &s.state,
                        address,
                        &spec.name,
                        reconciler.name_is_unique(),
                    ))
                })?;
                self.create_one(reconciler.as_ref(), change, &named, &record)
                    .await
            }
            _ => {
                self.update_one(reconciler.as_ref(), change, spec, &resolved, &record)
                    .await
            }
        };
        self.emit(Event::Finished {
            address: address.clone(),
            action: change.action,
            elapsed: started.elapsed(),
            error: result.as_ref().err().cloned(),
        });
        result
    }

    /// A no-op's bookkeeping: when the state's record differs from the
    /// cloud's object `o` (or a call was left pending), records it again;
    /// an interrupted create whose resource was found is adopted.
    async fn keep_in_step(
        &self,
        address: &Address,
        o: &Observed,
        applied: &Props,
        record: &(dyn Fn(&mut StateStore) + Sync),
    ) -> Result<(), String> {
        let stale = self.journal.read(|s| {
            Ok(s.state.pending.contains_key(address)
                || s.state
                    .resources
                    .get(address)
                    .is_none_or(|r| r.id != o.id || r.attrs != o.attrs || &r.applied != applied))
        })?;
        if !stale {
            return Ok(());
        }
        self.journal
            .write(|s| {
                if let Some(p) = s.state.pending.remove(address) {
                    if p.operation == Operation::Create {
                        *s.state.generations.entry(address.clone()).or_insert(0) += 1;
                    }
                }
                record(s);
                Ok(())
            })
            .await
    }

    /// Updates one resource in place, write-ahead (the pending record names
    /// `spec`'s kind, region and name; the call gets `resolved`).
    async fn update_one(
        &self,
        reconciler: &dyn Reconciler,
        change: &ResourceChange,
        spec: &ResourceSpec,
        resolved: &ResourceSpec,
        record: &RecordFn<'_>,
    ) -> Result<(), String> {
        let address = &change.address;
        let prior = change.prior.clone().unwrap_or_default();
        self.write_ahead(
            address,
            Operation::Update,
            &spec.kind,
            &spec.region,
            &spec.name,
        )
        .await?;
        let updated = recover::update(
            reconciler,
            &self.cx,
            resolved,
            &prior,
            RESOURCE_RETRY,
            &self.stop,
        )
        .await
        .map_err(|e| e.to_string())?;
        self.write_result(address, &updated, resolved, record, Operation::Update)
            .await
    }

    /// Records what a create or update returned and closes its pending
    /// record, in one durable write; a create also counts a generation of
    /// `address` (its next create sends a new token).
    async fn write_result(
        &self,
        address: &Address,
        o: &Observed,
        resolved: &ResourceSpec,
        record: &RecordFn<'_>,
        operation: Operation,
    ) -> Result<(), String> {
        self.journal
            .write(|s| {
                record(o, resolved, s);
                s.state.pending.remove(address);
                if operation == Operation::Create {
                    *s.state.generations.entry(address.clone()).or_insert(0) += 1;
                }
                Ok(())
            })
            .await
    }

    async fn create_one(
        &self,
        reconciler: &dyn Reconciler,
        change: &ResourceChange,
        resolved: &ResourceSpec,
        record: &RecordFn<'_>,
    ) -> Result<(), String> {
        let address = &change.address;
        // Write-ahead: the token is on disk before the call.
        let token = self
            .write_ahead(
                address,
                Operation::Create,
                &resolved.kind,
                &resolved.region,
                &resolved.name,
            )
            .await?;
        // Look-ups after an unknown outcome must not take a deposed object
        // (same ownership tags) for the one just made.
        let cx = self.journal.read(|s| {
            Ok(Ctx {
                deposed: Arc::new(s.state.deposed_ids()),
                ..self.cx.clone()
            })
        })?;
        let created = recover::create(
            reconciler,
            &cx,
            resolved,
            &token,
            RESOURCE_RETRY,
            &self.stop,
        )
        .await
        .map_err(|e| e.to_string())?;
        self.write_result(address, &created, resolved, record, Operation::Create)
            .await?;
        let ready = reconciler
            .wait_ready(&self.cx, resolved, created.clone())
            .await
            .map_err(|e| e.to_string())?;
        if ready != created {
            self.journal
                .write(|s| {
                    record(&ready, resolved, s);
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }
}
