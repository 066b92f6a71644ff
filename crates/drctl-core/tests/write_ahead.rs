//! Write-ahead under concurrency: with many resource tasks in flight and
//! their state records grouped into shared writes, the fake cloud checks at
//! every mutating call that the state file on disk already records that
//! call as pending. It fails if a task could send a call before its record
//! is durable (e.g. a write that returned before its group's fsync).

use drctl_core::apply::ApplyReport;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::{Address, ResourceSpec};
use drctl_core::plan::Plan;
use drctl_core::reconcile::{Ctx, Registry};
use drctl_core::state::{parse_state, Operation, StateStore};
use drctl_core::testing::{registry, spec, FakeCloud};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENV: &str = "wal";

/// 24 independent resources and a chain of 8.
fn stack() -> Vec<ResourceSpec> {
    let mut specs: Vec<ResourceSpec> = (0..24).map(|i| spec(&format!("r1/w{i:02}"), &[])).collect();
    for i in 0..8 {
        let dep = (i > 0).then(|| format!("r2/c{}", i - 1));
        let deps: Vec<&str> = dep.iter().map(String::as_str).collect();
        specs.push(spec(&format!("r2/c{i}"), &deps));
    }
    specs
}

/// The operation `op` must be recorded as before it is sent.
fn expected(op: &str) -> Operation {
    match op {
        "create" => Operation::Create,
        "delete" => Operation::Delete,
        _ => Operation::Update, // update, write_tags
    }
}

/// What the state file holds for `address`, judged against the call `op`.
fn check_on_disk(path: &Path, op: &'static str, address: &Address) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{op} {address}: no state file: {e}"))?;
    let state = parse_state(path, &bytes).map_err(|e| e.to_string())?;
    match state.pending.get(address) {
        Some(p) if p.operation == expected(op) => Ok(()),
        other => Err(format!(
            "{op} {address} sent while the durable state (serial {}) records {other:?}",
            state.serial
        )),
    }
}

struct World {
    cloud: Arc<FakeCloud>,
    registry: Registry,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cloud = FakeCloud::new();
        let path = dir.path().join("wal.state.json");
        let p = path.clone();
        cloud.witness(move |op, address| check_on_disk(&p, op, address));
        // Calls take a while, so that many are in flight at once.
        cloud.set_delay(Duration::from_millis(20));
        World {
            registry: registry(&cloud),
            cloud,
            path,
            _dir: dir,
        }
    }

    async fn run(&self, destroy: bool) -> (Plan, ApplyReport, u64) {
        let graph = StackGraph::build(stack()).unwrap();
        let store = StateStore::open(&self.path, ENV).unwrap();
        let serial_before = store.state.serial;
        let cx = Ctx::new(ENV);
        let engine = Engine::new(self.registry.clone(), cx).parallelism(16);
        let plan = if destroy {
            engine.plan_destroy(&graph, &store.state).await.unwrap()
        } else {
            engine.plan(&graph, &store.state, true).await.unwrap()
        };
        let report = engine
            .apply(&plan, &graph, Arc::new(Mutex::new(store)))
            .await;
        let serial = StateStore::open(&self.path, ENV).unwrap().state.serial;
        (plan, report, serial - serial_before)
    }

    /// The most mutating calls that were in flight at one moment.
    fn peak_overlap(&self) -> usize {
        let calls: Vec<_> = self
            .cloud
            .calls()
            .into_iter()
            .filter(|c| c.op != "read")
            .collect();
        calls
            .iter()
            .map(|c| {
                calls
                    .iter()
                    .filter(|o| o.started <= c.started && o.ended.is_none_or(|e| e > c.started))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_call_finds_its_pending_record_on_disk_under_concurrency() {
    let w = World::new();

    // Creates: each records pending, then its result (2 changes each).
    let (plan, report, writes) = w.run(false).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(plan.counts().add, 32);
    assert_eq!(w.cloud.mutations(), 32);
    assert_eq!(w.cloud.objections(), Vec::<String>::new());
    let peak = w.peak_overlap();
    assert!(peak >= 8, "only {peak} creates overlapped");
    assert!(
        writes < 64,
        "{writes} state writes for 64 records: none were grouped"
    );

    // Updates (drift on every resource), then deletes.
    w.cloud.reset_calls();
    for s in stack() {
        w.cloud.tamper(s.address.as_str(), "size", json!(2));
    }
    let (plan, report, _) = w.run(false).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(plan.counts().change, 32);
    assert_eq!(w.cloud.mutations(), 32);
    assert_eq!(w.cloud.objections(), Vec::<String>::new());

    w.cloud.reset_calls();
    let (plan, report, _) = w.run(true).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(plan.counts().destroy, 32);
    assert_eq!(w.cloud.mutations(), 32);
    assert_eq!(w.cloud.objections(), Vec::<String>::new());
    assert!(w.cloud.resources().is_empty());
}
