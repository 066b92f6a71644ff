//! The executor's rule for calls whose outcome is unknown (see
//! `drctl_core::recover`): transient failures the SDK gave up on are retried
//! within a budget, and what a call whose answer was lost made is found and
//! adopted, never made twice. Over the fake cloud, on a paused clock.

use drctl_core::apply::ApplyReport;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::ResourceSpec;
use drctl_core::plan::Plan;
use drctl_core::reconcile::{Ctx, Registry};
use drctl_core::recover::RESOURCE_RETRY;
use drctl_core::state::{Operation, StateStore};
use drctl_core::testing::{registry, spec_of, FakeCloud, LATE_TAGGED, NAMED};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const ENV: &str = "test";
const KINDS: [&str; 4] = ["fake", "fake-token", NAMED, LATE_TAGGED];

struct World {
    cloud: Arc<FakeCloud>,
    registry: Registry,
    state_path: PathBuf,
    _dir: tempfile::TempDir,
}

fn one(kind: &str) -> Vec<ResourceSpec> {
    let mut s = spec_of(kind, "r1/x", &[]);
    if kind == LATE_TAGGED {
        s.props.insert("tagged".into(), json!(true));
    }
    vec![s]
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cloud = FakeCloud::new();
        World {
            registry: registry(&cloud),
            cloud,
            state_path: dir.path().join("test.state.json"),
            _dir: dir,
        }
    }
    fn store(&self) -> StateStore {
        StateStore::open(&self.state_path, ENV).unwrap()
    }
    async fn plan(&self, specs: &[ResourceSpec], destroy: bool) -> Plan {
        let graph = StackGraph::build(specs.to_vec()).unwrap();
        let cx = Ctx::new(ENV);
        let engine = Engine::new(self.registry.clone(), cx.clone()).parallelism(4);
        let state = self.store().state;
        if destroy {
            engine.plan_destroy(&graph, &state).await.unwrap()
        } else {
            engine.plan(&graph, &state, true).await.unwrap()
        }
    }
    async fn run(&self, specs: &[ResourceSpec], plan: &Plan) -> ApplyReport {
        let graph = StackGraph::build(specs.to_vec()).unwrap();
        let engine = Engine::new(self.registry.clone(), Ctx::new(ENV)).parallelism(4);
        engine
            .apply(plan, &graph, Arc::new(Mutex::new(self.store())))
            .await
    }
    async fn apply(&self, specs: &[ResourceSpec], destroy: bool) -> ApplyReport {
        let plan = self.plan(specs, destroy).await;
        self.run(specs, &plan).await
    }
    fn creates(&self) -> usize {
        self.cloud
            .mutating_calls()
            .iter()
            .filter(|(_, op)| *op == "create")
            .count()
    }
    /// One resource of `kind`, recorded in the state, owned, no change left.
    async fn assert_converged(&self, kind: &str, specs: &[ResourceSpec]) {
        assert_eq!(self.cloud.count_kind(kind), 1, "{kind}: one resource");
        assert_eq!(self.cloud.count_owned("r1/x"), 1, "{kind}: it is owned");
        let state = self.store().state;
        let id = &state.resources[&drctl_core::model::Address::new("r1/x")].id;
        assert!(self.cloud.resources().contains_key(id), "{kind}: {id}");
        assert!(state.pending.is_empty(), "{kind}: {:?}", state.pending);
        let again = self.plan(specs, false).await;
        assert!(!again.has_changes(), "{kind}: {:?}", again.changes);
    }
}

#[tokio::test(start_paused = true)]
async fn a_create_refused_transiently_is_made_again() {
    for kind in KINDS {
        let w = World::new();
        let specs = one(kind);
        w.cloud.fail_transiently("r1/x", "create", 2);
        let report = w.apply(&specs, false).await;
        assert!(report.success(), "{kind}: {report:?}");
        assert_eq!(w.creates(), 3, "{kind}");
        w.assert_converged(kind, &specs).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_create_whose_answer_was_lost_is_adopted_not_repeated() {
    for kind in KINDS {
        let w = World::new();
        let specs = one(kind);
        w.cloud.lose_answers("r1/x", "create", 1);
        let report = w.apply(&specs, false).await;
        assert!(report.success(), "{kind}: {report:?}");
        // Found by tags, name or the pending token: no second create, except
        // for the kind found only by id, whose repeat with the same token
        // returns the same resource.
        let expected = if kind == "fake-token" { 2 } else { 1 };
        assert_eq!(w.creates(), expected, "{kind}");
        w.assert_converged(kind, &specs).await;
    }
}

#[tokio::test(start_paused = true)]
async fn already_exists_on_our_own_name_is_adopted_and_on_a_foreign_one_stays_a_clash() {
    // What the SDK's own retry after a lost answer meets: its first attempt
    // made the resource, the second gets AlreadyExists.
    let w = World::new();
    let specs = one(NAMED);
    let plan = w.plan(&specs, false).await;
    let made = w.cloud.insert_owned(NAMED, ENV, "r1/x");
    let report = w.run(&specs, &plan).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(w.store().state.resources.values().next().unwrap().id, made);
    w.assert_converged(NAMED, &specs).await;

    let w = World::new();
    let plan = w.plan(&specs, false).await;
    let foreign = w.cloud.insert_foreign(NAMED, "r1-x");
    let report = w.run(&specs, &plan).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].2.contains("EntityAlreadyExists"),
        "{report:?}"
    );
    assert_eq!(w.cloud.count_kind(NAMED), 1);
    assert!(w.cloud.resources()[&foreign].tags.is_empty(), "left alone");
    assert!(w.store().state.resources.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_lasting_fault_fails_after_the_budget_and_the_next_run_converges() {
    let w = World::new();
    let specs = one(NAMED);
    w.cloud.fail_transiently("r1/x", "create", 1000);
    let report = w.apply(&specs, false).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].2.contains("ServiceUnavailable"),
        "{report:?}"
    );
    assert_eq!(w.creates(), 1 + RESOURCE_RETRY.retries as usize);
    let state = w.store().state;
    assert_eq!(state.pending.len(), 1, "the intent stays recorded");
    assert_eq!(
        state.pending.values().next().unwrap().operation,
        Operation::Create
    );
    w.cloud.clear_faults();
    assert!(w.apply(&specs, false).await.success());
    w.assert_converged(NAMED, &specs).await;
}

#[tokio::test(start_paused = true)]
async fn updates_are_read_again_not_repeated_and_deletes_are_retried() {
    for kind in KINDS {
        let w = World::new();
        let mut specs = one(kind);
        assert!(w.apply(&specs, false).await.success());
        specs[0].props.insert("size".into(), json!(2));
        w.cloud.reset_calls();
        w.cloud.lose_answers("r1/x", "update", 1);
        let report = w.apply(&specs, false).await;
        assert!(report.success(), "{kind}: {report:?}");
        let updates = w
            .cloud
            .mutating_calls()
            .iter()
            .filter(|(_, op)| *op == "update")
            .count();
        assert_eq!(updates, 1, "{kind}: the re-read showed it done");
        w.assert_converged(kind, &specs).await;

        w.cloud.fail_transiently("r1/x", "delete", 2);
        let report = w.apply(&specs, true).await;
        assert!(report.success(), "{kind}: {report:?}");
        assert_eq!(w.cloud.count_kind(kind), 0, "{kind}");
        assert!(w.store().state.resources.is_empty(), "{kind}");
    }
}

/// A run killed while a create was in flight: the next run finds the
/// resource the abandoned call made, by name, before its tags are visible
/// (AWS tags are eventually consistent; the emulator's SNS CreateTopic tags
/// after it creates). The pending create in the state makes the read look
/// again before calling it a clash, so the next run adopts it; a clash with
/// no create pending is answered at once, and one that does not settle
/// still stands.
#[tokio::test(start_paused = true)]
async fn an_untagged_resource_where_a_create_is_pending_is_read_again_before_it_clashes() {
    use drctl_core::model::{Address, TAG_ADDRESS, TAG_ENV};
    use drctl_core::plan::PlanError;
    use drctl_core::recover::PENDING_CREATE_SETTLE;
    use drctl_core::state::PendingOp;
    use std::time::Duration;

    let specs = one(NAMED);
    let graph = StackGraph::build(specs.clone()).unwrap();
    let address = Address::new("r1/x");
    let plan = |w: &World| {
        let engine = Engine::new(w.registry.clone(), Ctx::new(ENV)).parallelism(4);
        let state = w.store().state;
        let graph = graph.clone();
        async move { engine.plan(&graph, &state, true).await }
    };
    let pending = |w: &World| {
        let mut store = w.store();
        let token = store.state.token_for(&address);
        store.state.pending.insert(
            address.clone(),
            PendingOp {
                operation: Operation::Create,
                kind: NAMED.into(),
                region: Some("r1".into()),
                name: "r1-x".into(),
                token,
                started_at: "2026-11-30T00:00:00Z".into(),
            },
        );
        store.save().unwrap();
    };
    let clashed = |r: Result<Plan, PlanError>| match r {
        Err(PlanError::Clash(c)) => c.len() == 1 && c[0].0 == address,
        other => panic!("expected one clash at r1/x, got {other:?}"),
    };

    // The abandoned call's resource; its tags land 1 s into the next run.
    let w = World::new();
    pending(&w);
    let made = w.cloud.insert_foreign(NAMED, "r1-x");
    let cloud = w.cloud.clone();
    let id = made.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cloud.set_tag(&id, TAG_ENV, ENV);
        cloud.set_tag(&id, TAG_ADDRESS, "r1/x");
    });
    let p = plan(&w).await.expect("adopted, not a clash");
    let report = w.run(&specs, &p).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(w.store().state.resources[&address].id, made);
    assert_eq!(w.creates(), 0, "nothing made twice");
    w.assert_converged(NAMED, &specs).await;

    // Never tagged: after the settle the clash stands, and nothing changed.
    let w = World::new();
    pending(&w);
    let foreign = w.cloud.insert_foreign(NAMED, "r1-x");
    let start = tokio::time::Instant::now();
    assert!(clashed(plan(&w).await));
    let waited = start.elapsed();
    let most: Duration = (0..PENDING_CREATE_SETTLE.retries)
        .map(|a| PENDING_CREATE_SETTLE.initial * 2u32.pow(a))
        .map(|d| d.min(PENDING_CREATE_SETTLE.cap))
        .sum();
    assert!(
        waited >= most / 2 && waited <= most,
        "settled {waited:?} of at most {most:?}"
    );
    assert!(
        w.cloud.tags_of_id(&foreign).unwrap().is_empty(),
        "left alone"
    );

    // No create pending: a clash at once.
    let w = World::new();
    w.cloud.insert_foreign(NAMED, "r1-x");
    let start = tokio::time::Instant::now();
    assert!(clashed(plan(&w).await));
    assert_eq!(start.elapsed(), Duration::ZERO);
}
