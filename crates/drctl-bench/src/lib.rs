//! The simulation benchmark: drctl's real planner, executor and walker on
//! the real `plans/<env>.toml` graphs, with fake reconcilers that take the
//! real-AWS time of their kind ([`drctl_stack::timings::EXPECTED`]) on a
//! virtual clock (tokio's paused time: a 20-minute RDS create costs no
//! wall time). It answers "how far above the dependency graph's lower bound
//! is drctl", which the emulator (where everything is ready at once) cannot.
//!
//! Figures, in virtual seconds:
//! - makespan: from the executor's start to its end (plan time excluded);
//! - critical path: the heaviest chain of the graph the executor walks
//!   (create order for apply, destroy order with the destroy rules for
//!   destroy): no schedule, however parallel, can beat it;
//! - by-hand: the seed document's procedure: its manual prerequisites one
//!   after another, then the primary CloudFormation stack, then the
//!   secondary one (CloudFormation runs a stack's own graph in parallel).

use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use drctl_core::diff::FieldChange;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::{as_reference, Address, Observed, ReadOutcome, ResourceSpec};
use drctl_core::ordering::{destroy_waits, Doomed};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler, Registry};
use drctl_core::schedule::{critical_path, ExpectedDuration};
use drctl_core::state::{parse_state, Operation, StateStore};
use drctl_core::walk::walk;
use drctl_stack::kinds::{BUCKET, DESTROY_RULES, DYNAMODB_REPLICA, HOSTED_ZONE, SECRET};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The fake cloud: what exists, by address.
#[derive(Default)]
pub struct SimCloud {
    objects: Mutex<BTreeMap<Address, Observed>>,
    /// The state file the executor writes: each create and delete call
    /// checks there that its pending record is on disk first.
    ledger: Mutex<Option<std::path::PathBuf>>,
    checks: Mutex<WriteAhead>,
}

/// What the create and delete calls found on disk when they were made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteAhead {
    /// Calls that found their own pending record (operation and, for a
    /// create, idempotency token) in the state file.
    pub recorded: u64,
    /// Calls that did not, one line each (empty when write-ahead held).
    pub violations: Vec<String>,
}

impl SimCloud {
    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<Address, Observed>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The write-ahead checks made so far (see [`WriteAhead`]).
    pub fn write_ahead(&self) -> WriteAhead {
        self.checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks that the state file records `operation` on `address` (with
    /// `token`, when given) as pending: the record must be durable before
    /// the call it announces.
    fn check_pending(&self, address: &Address, operation: Operation, token: Option<&str>) {
        let Some(path) = self
            .ledger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return;
        };
        let found = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| parse_state(&path, &b).map_err(|e| e.to_string()))
            .map(|st| st.pending.get(address).cloned());
        let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        match found {
            Ok(Some(p)) if p.operation == operation && token.is_none_or(|t| t == p.token) => {
                checks.recorded += 1
            }
            other => checks.violations.push(format!(
                "{address}: {operation:?} called while the state file had {other:?}"
            )),
        }
    }
    pub fn len(&self) -> usize {
        self.objects().len()
    }
    pub fn is_empty(&self) -> bool {
        self.objects().is_empty()
    }
}

/// One kind: create and delete sleep its expected duration (virtual time).
struct SimReconciler {
    kind: &'static str,
    create: Duration,
    delete: Duration,
    cloud: Arc<SimCloud>,
    /// The attributes other specs reference, by address (returned by create).
    attrs: Arc<BTreeMap<Address, BTreeSet<String>>>,
}

#[async_trait]
impl Reconciler for SimReconciler {
    fn kind(&self) -> &'static str {
        self.kind
    }
    async fn read(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        Ok(match self.cloud.objects().get(&spec.address) {
            Some(o) => ReadOutcome::Found(o.clone()),
            None => ReadOutcome::NotFound,
        })
    }
    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        self.cloud
            .check_pending(&spec.address, Operation::Create, Some(token));
        tokio::time::sleep(self.create).await;
        let a = &spec.address;
        let attrs = self
            .attrs
            .get(a)
            .into_iter()
            .flatten()
            .map(|k| (k.clone(), Value::String(format!("sim-{a}-{k}"))))
            .collect();
        let o = Observed {
            id: format!("sim-{a}"),
            props: spec.props.clone(),
            attrs,
        };
        self.cloud.objects().insert(a.clone(), o.clone());
        Ok(o)
    }
    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        Ok(current.updated_to(spec))
    }
    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
    ) -> Result<(), ReconcileError> {
        self.cloud
            .check_pending(&spec.address, Operation::Delete, None);
        tokio::time::sleep(self.delete).await;
        self.cloud.objects().remove(&spec.address);
        Ok(())
    }
}

fn referenced_attrs(v: &Value, out: &mut BTreeMap<Address, BTreeSet<String>>) {
    if let Some((a, attr)) = as_reference(v) {
        out.entry(a).or_default().insert(attr);
        return;
    }
    match v {
        Value::Object(m) => m.values().for_each(|v| referenced_attrs(v, out)),
        Value::Array(a) => a.iter().for_each(|v| referenced_attrs(v, out)),
        _ => {}
    }
}

/// A registry of [`SimReconciler`]s, one per kind of `table`, scheduling by
/// the same table.
pub fn registry(
    cloud: &Arc<SimCloud>,
    specs: &[ResourceSpec],
    table: &'static [ExpectedDuration],
) -> Registry {
    let mut attrs = BTreeMap::new();
    for s in specs {
        for v in s.props.values() {
            referenced_attrs(v, &mut attrs);
        }
    }
    let attrs = Arc::new(attrs);
    let mut r = Registry::new();
    r.set_expected_durations(table);
    for e in table {
        r.register(Arc::new(SimReconciler {
            kind: e.kind,
            create: Duration::from_secs(e.create_secs),
            delete: Duration::from_secs(e.delete_secs),
            cloud: cloud.clone(),
            attrs: attrs.clone(),
        }));
    }
    r
}

/// The stack of `plans_dir/<env>.toml`. With `unprotected`, the database's
/// deletion protection is off (as a user turns it off before destroying).
pub fn load_specs(plans_dir: &Path, env: &str, unprotected: bool) -> Result<Vec<ResourceSpec>> {
    let mut plan = drctl_stack::envplan::load(plans_dir, env).map_err(|e| anyhow!("{e}"))?;
    if unprotected {
        plan.db_deletion_protection = false;
    }
    Ok(drctl_stack::blueprint::build(&plan, Some("123456789012")))
}

fn secs(table: &[ExpectedDuration], kind: &str, delete: bool) -> u64 {
    table
        .iter()
        .find(|e| e.kind == kind)
        .map_or(drctl_core::schedule::DEFAULT_SECS, |e| {
            if delete {
                e.delete_secs
            } else {
                e.create_secs
            }
        })
}

/// One simulated run, in virtual seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figures {
    pub makespan: u64,
    pub critical_path: u64,
    /// State writes the executor made (each one a full save). A figure, not
    /// an invariant: on the paused clock's current-thread runtime
    /// ([`run_paused`]) no task runs while a write does, so each record is a
    /// write of its own (two per create); on the CLI's multi-thread runtime
    /// the group commit joins the records of concurrent tasks into fewer.
    pub state_writes: u64,
}

impl Figures {
    pub fn ratio(&self) -> f64 {
        self.makespan as f64 / self.critical_path.max(1) as f64
    }
}

/// A simulated world: the fake cloud, its registry and a state file.
pub struct World {
    pub cloud: Arc<SimCloud>,
    pub registry: Registry,
    pub graph: StackGraph,
    specs: Vec<ResourceSpec>,
    table: &'static [ExpectedDuration],
    env: String,
    state_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn new(specs: Vec<ResourceSpec>, table: &'static [ExpectedDuration]) -> Result<Self> {
        let cloud = Arc::new(SimCloud::default());
        let registry = registry(&cloud, &specs, table);
        Self::with(cloud, registry, specs, table)
    }

    /// The same world whose executor knows no durations (every weight 0):
    /// ready nodes start in address order, as before critical-path-first.
    pub fn address_order(
        specs: Vec<ResourceSpec>,
        table: &'static [ExpectedDuration],
    ) -> Result<Self> {
        let cloud = Arc::new(SimCloud::default());
        let mut registry = registry(&cloud, &specs, table);
        let zero: Vec<ExpectedDuration> = table
            .iter()
            .map(|e| ExpectedDuration {
                create_secs: 0,
                delete_secs: 0,
                ..*e
            })
            .collect();
        registry.set_expected_durations(Box::leak(zero.into_boxed_slice()));
        Self::with(cloud, registry, specs, table)
    }

    fn with(
        cloud: Arc<SimCloud>,
        registry: Registry,
        specs: Vec<ResourceSpec>,
        table: &'static [ExpectedDuration],
    ) -> Result<Self> {
        let graph = StackGraph::build(specs.clone())?;
        let dir = tempfile::tempdir()?;
        let state_path = dir.path().join("sim.state.json");
        *cloud.ledger.lock().unwrap_or_else(|e| e.into_inner()) = Some(state_path.clone());
        Ok(World {
            cloud,
            registry,
            graph,
            specs,
            table,
            env: "sim".into(),
            state_path,
            _dir: dir,
        })
    }

    fn store(&self) -> Result<StateStore> {
        StateStore::open(&self.state_path, &self.env).context("sim state")
    }

    /// Plans (not timed) and applies (timed) the stack, or its destruction.
    /// Must run on a paused clock ([`run_paused`]).
    pub async fn run(&self, destroy: bool, parallelism: usize) -> Result<Figures> {
        let store = self.store()?;
        let cx = Ctx::new(self.env.clone());
        let engine = Engine::new(self.registry.clone(), cx.clone()).parallelism(parallelism);
        let plan = if destroy {
            engine.plan_destroy(&self.graph, &store.state).await?
        } else {
            engine.plan(&self.graph, &store.state, true).await?
        };
        let serial = store.state.serial;
        let store = Arc::new(Mutex::new(store));
        let engine = Engine::new(self.registry.clone(), cx)
            .parallelism(parallelism)
            .destroy_rules(DESTROY_RULES);
        let started = tokio::time::Instant::now();
        let report = engine.apply(&plan, &self.graph, store.clone()).await;
        let makespan = started.elapsed().as_secs();
        if !report.success() {
            return Err(anyhow!(
                "simulated {} failed: {:?} {:?}",
                if destroy { "destroy" } else { "apply" },
                report.failed,
                report.skipped
            ));
        }
        let serial_after = store.lock().map_err(|_| anyhow!("poisoned"))?.state.serial;
        Ok(Figures {
            makespan,
            critical_path: if destroy {
                self.destroy_critical_path()
            } else {
                self.apply_critical_path()
            },
            state_writes: serial_after - serial,
        })
    }

    /// The heaviest chain of create durations along the dependencies.
    pub fn apply_critical_path(&self) -> u64 {
        let waits = create_waits(&self.specs);
        let kinds = kinds(&self.specs);
        critical_path(&waits, |a| secs(self.table, &kinds[a], false))
    }

    /// The heaviest chain of delete durations in destroy order (dependents
    /// first, plus the destroy rules).
    pub fn destroy_critical_path(&self) -> u64 {
        let doomed: Vec<Doomed> = self
            .specs
            .iter()
            .map(|s| Doomed {
                address: s.address.clone(),
                kind: s.kind.clone(),
                region: s.region.clone(),
                dependencies: s.dependencies(),
            })
            .collect();
        let waits = destroy_waits(&doomed, DESTROY_RULES);
        let kinds = kinds(&self.specs);
        critical_path(&waits, |a| secs(self.table, &kinds[a], true))
    }

    /// The seed's by-hand procedure on the same durations (see [`by_hand_waits`]),
    /// walked with unlimited parallelism inside each CloudFormation stack.
    pub async fn by_hand(&self, primary: &str) -> u64 {
        let waits = by_hand_waits(&self.specs, primary);
        let kinds = kinds(&self.specs);
        let started = tokio::time::Instant::now();
        walk(&waits, usize::MAX, None, |a| {
            let d = Duration::from_secs(secs(self.table, &kinds[&a], false));
            async move {
                tokio::time::sleep(d).await;
                Ok::<_, ()>(())
            }
        })
        .await;
        started.elapsed().as_secs()
    }
}

fn kinds(specs: &[ResourceSpec]) -> BTreeMap<Address, String> {
    specs
        .iter()
        .map(|s| (s.address.clone(), s.kind.clone()))
        .collect()
}

fn create_waits(specs: &[ResourceSpec]) -> BTreeMap<Address, BTreeSet<Address>> {
    specs
        .iter()
        .map(|s| (s.address.clone(), s.dependencies().into_iter().collect()))
        .collect()
}

/// The seed's deployment guide as a graph: (0) its manual prerequisites,
/// one after another: the DB password secret, the hosted zone, the replica
/// bucket in the secondary region; (1) the primary stack (the primary
/// region, the global resources and the global table's replicas, which the
/// template declares); (2) the secondary stack, started once the primary one
/// is complete. A resource that depends on a later phase moves to it (the
/// failover records need both load balancers).
pub fn by_hand_waits(
    specs: &[ResourceSpec],
    primary: &str,
) -> BTreeMap<Address, BTreeSet<Address>> {
    let prerequisite = |s: &ResourceSpec| {
        s.kind == SECRET
            || s.kind == HOSTED_ZONE
            || (s.kind == BUCKET && s.region.as_deref() != Some(primary))
    };
    let graph = match StackGraph::build(specs.to_vec()) {
        Ok(g) => g,
        Err(_) => return create_waits(specs),
    };
    let mut phase: BTreeMap<Address, u8> = BTreeMap::new();
    for s in graph.in_order() {
        let base = if prerequisite(s) {
            0
        } else if s.region.is_none()
            || s.region.as_deref() == Some(primary)
            || s.kind == DYNAMODB_REPLICA
        {
            1
        } else {
            2
        };
        let from_deps = s
            .dependencies()
            .iter()
            .filter_map(|d| phase.get(d))
            .max()
            .copied()
            .unwrap_or(0);
        phase.insert(s.address.clone(), base.max(from_deps));
    }
    let in_phase = |p: u8| -> Vec<Address> {
        phase
            .iter()
            .filter(|(_, q)| **q == p)
            .map(|(a, _)| a.clone())
            .collect()
    };
    let mut waits = create_waits(specs);
    // Prerequisites by hand: one command after another.
    let pre = in_phase(0);
    for pair in pre.windows(2) {
        if let Some(w) = waits.get_mut(&pair[1]) {
            w.insert(pair[0].clone());
        }
    }
    // Each stack starts when the previous step is complete.
    for (before, after) in [(0u8, 1u8), (1, 2)] {
        let done: Vec<Address> = in_phase(before);
        for a in in_phase(after) {
            if let Some(w) = waits.get_mut(&a) {
                w.extend(done.iter().cloned());
            }
        }
    }
    waits
}

/// Runs `f` on a current-thread runtime whose clock is paused: sleeps end
/// as soon as nothing else can run, so simulated minutes cost no wall time.
pub fn run_paused<F: Future>(f: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    Ok(rt.block_on(f))
}

/// The cost of one state write of `world`'s current state through the local
/// file backend (temp file, fsync, rename, `.backup`): `(bytes, mean)` over
/// `n` writes, in real time.
pub fn state_write_cost(world: &World, n: u32) -> Result<(usize, Duration)> {
    let mut store = world.store()?;
    let bytes = drctl_core::state::to_text(&store.state)?.len();
    let started = std::time::Instant::now();
    for _ in 0..n {
        store.save()?;
    }
    Ok((bytes, started.elapsed() / n.max(1)))
}

#[cfg(test)]
mod tests;
