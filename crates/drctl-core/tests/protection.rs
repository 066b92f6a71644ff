//! Deletion protection over the fake cloud: a plan that would delete or
//! replace a protected resource is refused whole, before any mutating call.

use drctl_core::apply::ApplyReport;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::{reference, Address, ResourceSpec};
use drctl_core::plan::{Action, Plan, PlanError};
use drctl_core::reconcile::{Ctx, Registry};
use drctl_core::state::StateStore;
use drctl_core::testing::{registry, spec, spec_of, FakeCloud};
use serde_json::json;
use std::sync::{Arc, Mutex};

const ENV: &str = "test";

/// vpc <- db (protected kind) <- alarm.
fn stack(protected: bool) -> Vec<ResourceSpec> {
    let mut db = spec_of("fake-protected", "r1/db", &[]);
    db.props
        .insert("vpc_id".into(), reference(&Address::new("r1/vpc"), "id"));
    db.props.insert("protected".into(), json!(protected));
    vec![spec("r1/vpc", &[]), db, spec("r1/alarm", &["r1/db"])]
}

struct World {
    cloud: Arc<FakeCloud>,
    registry: Registry,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let cloud = FakeCloud::new();
        World {
            registry: registry(&cloud),
            cloud,
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn store(&self) -> StateStore {
        StateStore::open(&self.dir.path().join("test.state.json"), ENV).unwrap()
    }
    async fn plan(&self, specs: Vec<ResourceSpec>, destroy: bool) -> Result<Plan, PlanError> {
        let graph = StackGraph::build(specs).unwrap();
        let cx = Ctx::new(ENV);
        let engine = Engine::new(self.registry.clone(), cx.clone()).parallelism(4);
        let state = self.store().state;
        if destroy {
            engine.plan_destroy(&graph, &state).await
        } else {
            engine.plan(&graph, &state, true).await
        }
    }
    async fn execute(&self, specs: Vec<ResourceSpec>, plan: &Plan) -> ApplyReport {
        let graph = StackGraph::build(specs).unwrap();
        let engine = Engine::new(self.registry.clone(), Ctx::new(ENV)).parallelism(4);
        engine
            .apply(plan, &graph, Arc::new(Mutex::new(self.store())))
            .await
    }
    async fn apply(&self, specs: Vec<ResourceSpec>, destroy: bool) -> ApplyReport {
        let plan = self.plan(specs.clone(), destroy).await.unwrap();
        let report = self.execute(specs, &plan).await;
        assert!(report.success(), "{report:?}");
        report
    }
    /// Plans, expects the refusal, and checks that nothing was touched.
    async fn refused(&self, specs: Vec<ResourceSpec>, destroy: bool) -> String {
        let before = self.cloud.resources();
        let state_before = std::fs::read(self.dir.path().join("test.state.json")).unwrap();
        self.cloud.reset_calls();
        let err = self.plan(specs, destroy).await.unwrap_err();
        assert!(matches!(err, PlanError::Protected(_)), "{err}");
        assert_eq!(self.cloud.mutating_calls(), vec![]);
        assert_eq!(self.cloud.resources(), before);
        assert_eq!(
            std::fs::read(self.dir.path().join("test.state.json")).unwrap(),
            state_before
        );
        err.to_string()
    }
}

#[tokio::test]
async fn destroy_of_a_protected_resource_is_refused_before_anything_is_deleted() {
    let w = World::new();
    w.apply(stack(true), false).await;
    let msg = w.refused(stack(true), true).await;
    assert!(msg.contains("r1-db (r1/db) has deletion protection on (protected = true), and this plan would delete it"), "{msg}");
    assert!(
        msg.contains("set protected = false for test and apply, then run this command again"),
        "{msg}"
    );
    assert!(msg.contains("nothing was changed"), "{msg}");
    // The unprotected vpc and alarm are not named.
    assert!(
        !msg.contains("r1/vpc") && !msg.contains("r1/alarm"),
        "{msg}"
    );
}

#[tokio::test]
async fn replacing_or_removing_a_protected_resource_is_refused() {
    let w = World::new();
    w.apply(stack(true), false).await;
    // A replace-on field of the protected resource.
    let mut s = stack(true);
    s[1].props.insert("zone".into(), json!("b"));
    let msg = w.refused(s, false).await;
    assert!(
        msg.contains("this plan would replace it. To replace it:"),
        "{msg}"
    );
    // A replacement upstream of it does not touch it: allowed.
    let mut s = stack(true);
    s[0].props.insert("zone".into(), json!("b"));
    let plan = w.plan(s, false).await.unwrap();
    assert_eq!(
        plan.change(&Address::new("r1/vpc")).unwrap().action,
        Action::Replace
    );
    // Gone from the desired stack: a delete, refused.
    let mut s = stack(true);
    s.truncate(1);
    let msg = w.refused(s, false).await;
    assert!(msg.contains("would delete it"), "{msg}");
}

#[tokio::test]
async fn protection_on_in_the_cloud_alone_still_refuses_and_turning_it_off_unblocks() {
    let w = World::new();
    w.apply(stack(false), false).await;
    // Turned on outside of drctl; the plan file says false.
    w.cloud.tamper("r1/db", "protected", json!(true));
    let msg = w.refused(stack(false), true).await;
    assert!(msg.contains("has deletion protection on"), "{msg}");
    // The way out: apply with protection off (an update), then destroy.
    let plan = w.plan(stack(false), false).await.unwrap();
    assert_eq!(
        plan.change(&Address::new("r1/db")).unwrap().action,
        Action::Update
    );
    w.apply(stack(false), false).await;
    w.apply(stack(false), true).await;
    assert!(w.cloud.resources().is_empty());
}

#[tokio::test]
async fn desired_protection_alone_refuses_a_destroy() {
    let w = World::new();
    w.apply(stack(false), false).await;
    // Not applied yet, but the plan file now asks for protection.
    let msg = w.refused(stack(true), true).await;
    assert!(msg.contains("is to have deletion protection on"), "{msg}");
}

#[tokio::test]
async fn the_executor_refuses_a_plan_that_deletes_a_protected_resource() {
    let w = World::new();
    w.apply(stack(false), false).await;
    // A destroy plan made while unprotected, then protection seen on (a
    // plan made elsewhere, e.g. a saved file): nothing is deleted.
    let mut plan = w.plan(stack(false), true).await.unwrap();
    for c in &mut plan.changes {
        if c.address.as_str() == "r1/db" {
            let prior = c.prior.as_mut().unwrap();
            prior.props.insert("protected".into(), json!(true));
        }
    }
    w.cloud.reset_calls();
    let report = w.execute(stack(false), &plan).await;
    assert!(!report.success());
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].2.contains("r1-db (r1/db)"), "{report:?}");
    assert_eq!(w.cloud.mutating_calls(), vec![]);
    assert_eq!(w.cloud.resources().len(), 3);
}
