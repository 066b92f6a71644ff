//! A plan's refresh reads: every resource of the stack and the state, and
//! the deposed objects by their recorded ids.
//!
//! A read resolves its spec's references with what its dependencies' reads
//! found, so the answers follow the graph. Waiting for each level of the
//! graph before starting the next makes a refresh as long as the graph is
//! deep (a dozen levels of calls that could overlap). So every read starts
//! at once (at most `parallelism` in flight) with its references resolved
//! from what the state recorded (a guess), and then, in dependency order,
//! each guess is checked against what the dependencies' reads found: a read
//! whose spec resolves differently is made again with the right values.
//!
//! Guarantee: the outcomes (and the errors, and the plan built from them)
//! are those of reading in dependency order. A read makes no change and its
//! answer depends only on the spec it is given, the state and the cloud, so
//! a read made with the very spec the ordered walk would give is that
//! walk's read. A read whose dependency failed is not used (its error is
//! reported instead), as before. Cost: a guess that misses is one more
//! read, for drift only. On a stack the state describes (a no-change plan)
//! and on one that does not exist yet (every reference unknown either way),
//! every guess holds and nothing is read twice.

use super::{attr_of, recorded_name, resolve_spec, DeposedChange, PlanError, Planner};
use crate::model::{Address, Observed, ReadOutcome, ResourceSpec};
use crate::reconcile::{is_alternate_name, Ctx, ReconcileError};
use crate::state::{Operation, State};
use crate::walk::{walk, NodeResult};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// What each resource's read found, by address.
pub(super) type Seen = BTreeMap<Address, ReadOutcome>;

/// A read made before its dependencies' answers were known: the spec it was
/// made with, and its answer.
type Guess = (ResourceSpec, Result<ReadOutcome, ReconcileError>);

impl Planner<'_> {
    /// Reads every resource of `specs` (see the module's doc). With
    /// `refresh == false` the state stands in for the cloud.
    pub(super) async fn observe(
        &self,
        specs: &BTreeMap<Address, ResourceSpec>,
        state: &State,
        refresh: bool,
    ) -> Result<Seen, PlanError> {
        if !refresh {
            return Ok(recorded(specs.keys(), state));
        }
        let cx = read_ctx(self.cx, state);
        let guesses = self.read_guessed(specs, state, &cx).await;
        self.read_in_order(specs, state, &cx, guesses).await
    }

    /// Every read at once, with references resolved from the state.
    async fn read_guessed(
        &self,
        specs: &BTreeMap<Address, ResourceSpec>,
        state: &State,
        cx: &Ctx,
    ) -> BTreeMap<Address, Guess> {
        // Dependencies outside `specs` (out of scope) stay unknown, as in
        // the ordered walk, which reads none of them.
        let deps: BTreeSet<Address> = specs
            .values()
            .flat_map(ResourceSpec::dependencies)
            .filter(|d| specs.contains_key(d))
            .collect();
        let recorded = recorded(deps.iter(), state);
        let waits: BTreeMap<Address, BTreeSet<Address>> =
            specs.keys().map(|a| (a.clone(), BTreeSet::new())).collect();
        let results = walk(&waits, self.parallelism, None, |address| {
            let spec = to_read(&specs[&address], state, &recorded);
            async move {
                let outcome = self.read_one(cx, state, &spec).await;
                // Counted here, once per resource (progress shows reads done
                // of the resources to read); a read made again is not.
                self.registry.read_finished();
                Ok::<_, ()>((spec, outcome))
            }
        })
        .await;
        results
            .into_iter()
            .filter_map(|(a, r)| match r {
                NodeResult::Done(g) => Some((a, g)),
                _ => None,
            })
            .collect()
    }

    /// The dependency-ordered walk: each resource's spec resolved from its
    /// dependencies' answers; its guessed read is kept when it was made
    /// with that very spec, else it is read again.
    async fn read_in_order(
        &self,
        specs: &BTreeMap<Address, ResourceSpec>,
        state: &State,
        cx: &Ctx,
        guesses: BTreeMap<Address, Guess>,
    ) -> Result<Seen, PlanError> {
        let waits: BTreeMap<Address, BTreeSet<Address>> = specs
            .iter()
            .map(|(a, s)| (a.clone(), s.dependencies().into_iter().collect()))
            .collect();
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let guesses = Mutex::new(guesses);
        let results = walk(&waits, self.parallelism, None, |address| {
            let seen = seen.clone();
            // (A poisoned lock only costs the guess: the resource is read again.)
            let guess = guesses.lock().ok().and_then(|mut g| g.remove(&address));
            async move {
                let spec = {
                    let seen = seen.lock().map_err(poisoned)?;
                    to_read(&specs[&address], state, &seen)
                };
                let outcome = match guess {
                    Some((guessed, outcome)) if guessed == spec => outcome,
                    _ => {
                        tracing::debug!(%address, "read again: a dependency is not as recorded");
                        self.read_one(cx, state, &spec).await
                    }
                }?;
                seen.lock().map_err(poisoned)?.insert(address, outcome);
                Ok(())
            }
        })
        .await;
        let errors: Vec<(Address, ReconcileError)> = results
            .into_iter()
            .filter_map(|(a, r)| match r {
                NodeResult::Failed(e) => Some((a, e)),
                // A read is skipped only when a parent's read failed; that
                // failure is reported already.
                NodeResult::Done(()) | NodeResult::Skipped(_) => None,
            })
            .collect();
        if !errors.is_empty() {
            return Err(PlanError::Read(errors));
        }
        let seen = std::mem::take(
            &mut *seen
                .lock()
                .map_err(|e| PlanError::Read(vec![(Address::new("-"), poisoned(e))]))?,
        );
        Ok(seen)
    }

    /// One resource's read, by the id the state records (if any).
    async fn read_one(
        &self,
        cx: &Ctx,
        state: &State,
        spec: &ResourceSpec,
    ) -> Result<ReadOutcome, ReconcileError> {
        let address = &spec.address;
        let known_id = state.resources.get(address).map(|r| r.id.as_str());
        let reconciler = self.registry.get(&spec.kind)?;
        tracing::debug!(%address, ?known_id, "read");
        let outcome = crate::recover::read_settled(reconciler.as_ref(), cx, spec, known_id).await?;
        // A deposed object is never the current one, whatever a look-up by
        // name or tags says.
        Ok(match outcome {
            ReadOutcome::Found(o) if cx.is_deposed(address, &o.id) => ReadOutcome::NotFound,
            other => other,
        })
    }

    /// Reads every deposed object of the state in scope by its recorded id:
    /// found (with that very id) it is to be deleted; gone, forgotten. With
    /// `refresh == false` the state stands in for the cloud.
    pub(super) async fn observe_deposed(
        &self,
        state: &State,
        scope: Option<&BTreeSet<Address>>,
        refresh: bool,
    ) -> Result<Vec<DeposedChange>, PlanError> {
        let mut out: BTreeMap<Address, DeposedChange> = BTreeMap::new();
        let in_scope = |a: &Address| scope.is_none_or(|s| s.contains(a));
        for (address, list) in state.deposed.iter().filter(|(a, _)| in_scope(a)) {
            for d in list {
                let change = crate::deposed::deposed_change(address, d);
                out.insert(change.node(), change);
            }
        }
        if !refresh || out.is_empty() {
            return Ok(out.into_values().collect());
        }
        let waits: BTreeMap<Address, BTreeSet<Address>> =
            out.keys().map(|n| (n.clone(), BTreeSet::new())).collect();
        let results = walk(&waits, self.parallelism, None, |node| {
            let d = out[&node].clone();
            async move { self.read_deposed(&d).await }
        })
        .await;
        let mut errors = Vec::new();
        for (node, r) in results {
            match r {
                NodeResult::Done(found) => {
                    if let Some(d) = out.get_mut(&node) {
                        d.prior = found;
                    }
                }
                NodeResult::Failed(e) => errors.push((node, e)),
                NodeResult::Skipped(_) => {}
            }
        }
        if !errors.is_empty() {
            return Err(PlanError::Read(errors));
        }
        Ok(out.into_values().collect())
    }

    /// One deposed object, by its recorded id: `Some` only when that very
    /// object is still there.
    async fn read_deposed(&self, d: &DeposedChange) -> Result<Option<Observed>, ReconcileError> {
        let prior = d.prior.clone().unwrap_or_default();
        let spec = d.spec(&prior);
        let reconciler = self.registry.get(&d.kind)?;
        tracing::debug!(address = %d.address, id = %prior.id, "read deposed");
        match reconciler.read(self.cx, &spec, Some(&prior.id)).await? {
            // Only that very object: a fallback look-up by name or tags may
            // find the new one, which must never be deleted.
            ReadOutcome::Found(o) if o.id == prior.id => Ok(Some(o)),
            _ => Ok(None),
        }
    }
}

/// What the state records for each of `addresses`, as if read: found with
/// its recorded id, props and attributes, or not found.
fn recorded<'a>(addresses: impl Iterator<Item = &'a Address>, state: &State) -> Seen {
    addresses
        .map(|a| {
            let outcome = match state.resources.get(a) {
                Some(r) => ReadOutcome::Found(Observed {
                    id: r.id.clone(),
                    props: r.applied.clone(),
                    attrs: r.attrs.clone(),
                }),
                None => ReadOutcome::NotFound,
            };
            (a.clone(), outcome)
        })
        .collect()
}

/// `spec` as it is read: references resolved from `seen` (unknown where the
/// dependency was not found), under the name the state records when that is
/// the alternate one (a replacement that took it).
fn to_read(spec: &ResourceSpec, state: &State, seen: &Seen) -> ResourceSpec {
    let mut resolved = resolve_spec(spec, &|dep, attr| match seen.get(dep) {
        Some(ReadOutcome::Found(o) | ReadOutcome::Restorable(o)) => attr_of(o, attr),
        _ => None,
    });
    if let Some(name) = recorded_name(state, &spec.address) {
        if is_alternate_name(&spec.name, name) {
            resolved.name = name.to_string();
        }
    }
    resolved
}

/// The context reads run in: `cx` with `state`'s pending create tokens (a
/// read may recognise what an unfinished create made) and deposed ids.
fn read_ctx(cx: &Ctx, state: &State) -> Ctx {
    Ctx {
        pending_creates: Arc::new(
            state
                .pending
                .iter()
                .filter(|(_, p)| p.operation == Operation::Create)
                .map(|(a, p)| (a.clone(), p.token.clone()))
                .collect(),
        ),
        deposed: Arc::new(state.deposed_ids()),
        ..cx.clone()
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> ReconcileError {
    ReconcileError::Internal("internal error: a worker panicked".into())
}

#[cfg(test)]
mod tests {
    use crate::diff::FieldChange;
    use crate::graph::StackGraph;
    use crate::model::{reference, Address, Observed, Props, ReadOutcome, ResourceSpec};
    use crate::plan::{Action, Planner};
    use crate::reconcile::{Ctx, ReconcileError, Reconciler, Registry};
    use crate::state::{ResourceState, State};
    use async_trait::async_trait;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    /// A kind whose read answers from `cloud` (whatever the known id) with
    /// the `parent` prop it was given echoed back, and records each read:
    /// (address, `parent` as given), and how many were in flight at most.
    #[derive(Default)]
    struct Echo {
        cloud: BTreeMap<Address, String>,
        reads: Mutex<Vec<(Address, Value)>>,
        in_flight: Mutex<(usize, usize)>,
    }

    #[async_trait]
    impl Reconciler for Echo {
        fn kind(&self) -> &'static str {
            "echo"
        }
        async fn read(
            &self,
            _cx: &Ctx,
            spec: &ResourceSpec,
            _known_id: Option<&str>,
        ) -> Result<ReadOutcome, ReconcileError> {
            {
                let mut f = self.in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            // Let every other read that can start, start (no clock involved).
            for _ in 0..5 {
                tokio::task::yield_now().await;
            }
            self.in_flight.lock().unwrap().0 -= 1;
            let parent = spec.props.get("parent").cloned().unwrap_or(Value::Null);
            self.reads
                .lock()
                .unwrap()
                .push((spec.address.clone(), parent.clone()));
            Ok(match self.cloud.get(&spec.address) {
                Some(id) => {
                    let mut props = Props::new();
                    props.insert("parent".into(), parent);
                    ReadOutcome::Found(Observed {
                        id: id.clone(),
                        props,
                        attrs: Props::new(),
                    })
                }
                None => ReadOutcome::NotFound,
            })
        }
        async fn create(
            &self,
            _: &Ctx,
            _: &ResourceSpec,
            _: &str,
        ) -> Result<Observed, ReconcileError> {
            unreachable!("plans only")
        }
        async fn update(
            &self,
            _: &Ctx,
            _: &ResourceSpec,
            _: &Observed,
            _: &[FieldChange],
        ) -> Result<Observed, ReconcileError> {
            unreachable!("plans only")
        }
        async fn delete(
            &self,
            _: &Ctx,
            _: &ResourceSpec,
            _: &Observed,
        ) -> Result<(), ReconcileError> {
            unreachable!("plans only")
        }
    }

    /// A chain a <- b <- c, each referring to its parent's id; `b/` and
    /// `c/` have no parent prop of their own beyond the reference.
    fn chain() -> StackGraph {
        let spec = |a: &str, parent: Option<&str>| ResourceSpec {
            address: Address::new(a),
            kind: "echo".into(),
            region: Some("r".into()),
            name: a.into(),
            props: parent
                .map(|p| ("parent".to_string(), reference(&Address::new(p), "id")))
                .into_iter()
                .collect(),
            tags: BTreeMap::new(),
            depends_on: vec![],
        };
        StackGraph::build(vec![
            spec("a", None),
            spec("b", Some("a")),
            spec("c", Some("b")),
        ])
        .unwrap()
    }

    /// The state of a chain applied with ids `<address>-1` (parent props
    /// as they were resolved then).
    fn recorded_chain() -> State {
        let mut state = State::new("t");
        for (a, parent) in [("a", None), ("b", Some("a-1")), ("c", Some("b-1"))] {
            let applied: Props = parent
                .map(|p| ("parent".to_string(), json!(p)))
                .into_iter()
                .collect();
            state.resources.insert(
                Address::new(a),
                ResourceState {
                    kind: "echo".into(),
                    region: Some("r".into()),
                    name: a.into(),
                    id: format!("{a}-1"),
                    attrs: Props::new(),
                    applied,
                    dependencies: vec![],
                },
            );
        }
        state
    }

    async fn plan(echo: Arc<Echo>, state: &State, parallelism: usize) -> crate::plan::Plan {
        let mut registry = Registry::new();
        registry.register(echo);
        let cx = Ctx::new("t");
        let planner = Planner {
            registry: &registry,
            cx: &cx,
            parallelism,
        };
        planner.plan(&chain(), state, true).await.unwrap()
    }

    fn cloud(ids: &[(&str, &str)]) -> Arc<Echo> {
        Arc::new(Echo {
            cloud: ids
                .iter()
                .map(|(a, id)| (Address::new(*a), id.to_string()))
                .collect(),
            ..Echo::default()
        })
    }

    /// A stack the state describes: the three reads of a dependent chain
    /// run at once (the ordered walk ran one at a time), each once, and the
    /// plan is the same at parallelism 1.
    #[tokio::test]
    async fn reads_of_a_recorded_chain_overlap_and_none_is_made_twice() {
        let state = recorded_chain();
        let echo = cloud(&[("a", "a-1"), ("b", "b-1"), ("c", "c-1")]);
        let wide = plan(echo.clone(), &state, 10).await;
        assert_eq!(echo.in_flight.lock().unwrap().1, 3, "all three in flight");
        assert_eq!(echo.reads.lock().unwrap().len(), 3, "each read once");
        assert!(
            wide.changes.iter().all(|c| c.action == Action::NoOp),
            "{wide:?}"
        );
        let one = cloud(&[("a", "a-1"), ("b", "b-1"), ("c", "c-1")]);
        let narrow = plan(one.clone(), &state, 1).await;
        assert_eq!(one.in_flight.lock().unwrap().1, 1);
        assert_eq!(narrow.changes, wide.changes);
    }

    /// Nothing exists and nothing is recorded: every reference is unknown
    /// whether guessed or read, so each resource is read once.
    #[tokio::test]
    async fn reads_of_a_new_stack_are_made_once() {
        let echo = cloud(&[]);
        let p = plan(echo.clone(), &State::new("t"), 10).await;
        assert_eq!(echo.reads.lock().unwrap().len(), 3);
        assert!(
            p.changes.iter().all(|c| c.action == Action::Create),
            "{p:?}"
        );
    }

    /// `a` was replaced outside of drctl (new id): `b`'s guessed read used
    /// the recorded id, so `b` is read again with the id `a`'s read found,
    /// and the plan is the one the ordered walk makes (b's observed parent
    /// is a-2, as it was given; c's guess held, b's id being unchanged).
    #[tokio::test]
    async fn a_guess_the_reads_contradict_is_read_again_with_their_values() {
        let state = recorded_chain();
        let echo = cloud(&[("a", "a-2"), ("b", "b-1"), ("c", "c-1")]);
        let p = plan(echo.clone(), &state, 10).await;
        let reads = echo.reads.lock().unwrap().clone();
        let of = |a: &str| -> Vec<Value> {
            reads
                .iter()
                .filter(|(x, _)| x.as_str() == a)
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert_eq!(of("a"), vec![Value::Null]);
        assert_eq!(
            of("b"),
            vec![json!("a-1"), json!("a-2")],
            "guess, then again"
        );
        assert_eq!(of("c"), vec![json!("b-1")]);
        let b = p.change(&Address::new("b")).unwrap();
        assert_eq!(b.prior.as_ref().unwrap().props["parent"], json!("a-2"));
        assert_eq!(b.action, Action::NoOp, "{b:?}");
        let one = cloud(&[("a", "a-2"), ("b", "b-1"), ("c", "c-1")]);
        assert_eq!(plan(one, &state, 1).await.changes, p.changes);
    }
}
