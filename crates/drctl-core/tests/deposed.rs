//! Create-before-destroy replacements over the fake cloud: order of calls,
//! a crash at every step then convergence, destroy with a deposed object.
//! The fake cloud refuses to delete what another resource names (like
//! `HealthCheckInUse` / `ResourceInUse`) and a second object with a taken
//! name of a `fake-cbd` kind, so a wrong order fails here as on AWS.

use drctl_core::apply::ApplyReport;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::{reference, Address, ResourceSpec};
use drctl_core::plan::{Action, Plan};
use drctl_core::reconcile::{Ctx, Registry};
use drctl_core::state::StateStore;
use drctl_core::testing::{registry, spec, spec_of, FakeCloud, CONTAINED};
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const ENV: &str = "test";

struct World {
    cloud: Arc<FakeCloud>,
    registry: Registry,
    state_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cloud = FakeCloud::new();
        cloud.check_in_use(true);
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
    fn engine(&self, cx: &Ctx) -> Engine<'static> {
        Engine::new(self.registry.clone(), cx.clone()).parallelism(4)
    }
    async fn plan(&self, specs: Vec<ResourceSpec>) -> Plan {
        let graph = StackGraph::build(specs).unwrap();
        let cx = Ctx::new(ENV);
        self.engine(&cx)
            .plan(&graph, &self.store().state, true)
            .await
            .unwrap()
    }
    async fn run(&self, specs: Vec<ResourceSpec>, destroy: bool) -> (Plan, ApplyReport) {
        let graph = StackGraph::build(specs).unwrap();
        let cx = Ctx::new(ENV);
        let store = self.store();
        let plan = if destroy {
            self.engine(&cx)
                .plan_destroy(&graph, &store.state)
                .await
                .unwrap()
        } else {
            self.engine(&cx)
                .plan(&graph, &store.state, true)
                .await
                .unwrap()
        };
        let engine = Engine::new(self.registry.clone(), cx).parallelism(4);
        let report = engine
            .apply(&plan, &graph, Arc::new(Mutex::new(store)))
            .await;
        (plan, report)
    }
    async fn apply(&self, specs: Vec<ResourceSpec>) -> (Plan, ApplyReport) {
        self.run(specs, false).await
    }
    fn id_of(&self, address: &str) -> String {
        self.store().state.resources[&Address::new(address)]
            .id
            .clone()
    }
    fn ids(&self, kind: &str) -> Vec<String> {
        self.cloud
            .resources()
            .into_iter()
            .filter(|(_, r)| r.kind == kind)
            .map(|(id, _)| id)
            .collect()
    }
}

/// A health check (create-before-destroy, unique name) that failover
/// records point at, like Route53's.
fn checked_records(zone: &str) -> Vec<ResourceSpec> {
    let mut hc = spec_of("fake-cbd", "r1/hc", &[]);
    hc.props.insert("zone".into(), json!(zone));
    let mut records = spec("r1/records", &[]);
    records.props.insert(
        "health_check_id".into(),
        reference(&Address::new("r1/hc"), "id"),
    );
    vec![hc, records]
}

fn mutations(w: &World) -> Vec<(String, &'static str)> {
    w.cloud.mutating_calls()
}

#[tokio::test]
async fn replacement_creates_moves_dependents_then_deletes_the_deposed_object() {
    let w = World::new();
    assert!(w.apply(checked_records("a")).await.1.success());
    let old = w.id_of("r1/hc");
    w.cloud.reset_calls();

    let plan = w.plan(checked_records("b")).await;
    let hc = plan.change(&Address::new("r1/hc")).unwrap();
    assert_eq!(hc.action, Action::Replace);
    assert!(hc.create_before_destroy);
    assert_eq!(
        plan.change(&Address::new("r1/records")).unwrap().action,
        Action::Update
    );
    let (_, report) = w.apply(checked_records("b")).await;
    assert!(report.success(), "{report:?}");
    // The summary repeats the plan's figures: the deposed delete is the
    // replacement's destroy, not a second one.
    assert_eq!(report.counts(), plan.counts());
    assert_eq!((plan.counts().add, plan.counts().destroy), (1, 1));
    assert_eq!(
        mutations(&w),
        vec![
            ("r1/hc".to_string(), "create"),
            ("r1/records".to_string(), "update"),
            ("r1/hc".to_string(), "delete"),
        ]
    );
    let new = w.id_of("r1/hc");
    assert_ne!(new, old);
    assert_eq!(w.ids("fake-cbd"), vec![new.clone()]);
    let state = w.store().state;
    assert!(state.deposed.is_empty() && state.pending.is_empty());
    // The new object took the alternate name (the old one held the name).
    assert_eq!(state.resources[&Address::new("r1/hc")].name, "r1-hc-r");
    assert!(!w.plan(checked_records("b")).await.has_changes());

    // The next replacement goes back to the stack's name.
    let (_, report) = w.apply(checked_records("c")).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(
        w.store().state.resources[&Address::new("r1/hc")].name,
        "r1-hc"
    );
    assert!(!w.plan(checked_records("c")).await.has_changes());
}

#[tokio::test]
async fn destroy_before_create_of_a_used_object_fails_as_on_aws() {
    // The same shape with a kind that destroys first: the fake cloud
    // refuses, as Route53 does with HealthCheckInUse. The check is real.
    let w = World::new();
    let stack = |zone: &str| {
        let mut s = checked_records(zone);
        s[0].kind = "fake".into();
        s
    };
    assert!(w.apply(stack("a")).await.1.success());
    let (plan, report) = w.apply(stack("b")).await;
    assert!(
        !plan
            .change(&Address::new("r1/hc"))
            .unwrap()
            .create_before_destroy
    );
    assert!(!report.success());
    assert!(format!("{:?}", report.failed).contains("ResourceInUse"));
}

#[tokio::test]
async fn a_crash_at_every_step_leaves_the_deposed_object_recorded_and_the_next_apply_finishes() {
    for step in 1..=3 {
        let w = World::new();
        assert!(w.apply(checked_records("a")).await.1.success());
        let old = w.id_of("r1/hc");
        w.cloud.reset_calls();
        w.cloud.crash_at(step);
        let cloud = w.cloud.clone();
        tokio::select! {
            _ = w.apply(checked_records("b")) => panic!("step {step}: the run should have hung"),
            _ = cloud.crashed.notified() => {}
        }
        w.cloud.clear_faults();
        let state = w.store().state;
        let deposed = &state.deposed[&Address::new("r1/hc")];
        assert_eq!(deposed.len(), 1, "step {step}");
        assert_eq!(deposed[0].object.id, old, "step {step}");

        // The next plan shows it; apply finishes the job.
        let plan = w.plan(checked_records("b")).await;
        assert_eq!(plan.deposed.len(), 1, "step {step}: {plan:?}");
        assert_eq!(plan.deposed[0].address, Address::new("r1/hc"));
        // Gone already (the crash hit right after the delete): only forgotten.
        assert_eq!(plan.deposed[0].prior.is_none(), step == 3, "step {step}");
        let (_, report) = w.apply(checked_records("b")).await;
        assert!(report.success(), "step {step}: {report:?}");
        let new = w.id_of("r1/hc");
        assert_eq!(w.ids("fake-cbd"), vec![new.clone()], "step {step}");
        assert_eq!(w.cloud.count_owned("r1/records"), 1, "step {step}");
        let records = w
            .cloud
            .resources()
            .into_values()
            .find(|r| r.kind == "fake")
            .unwrap();
        assert_eq!(records.props["health_check_id"], json!(new), "step {step}");
        let state = w.store().state;
        assert!(state.deposed.is_empty(), "step {step}");
        assert!(state.pending.is_empty(), "step {step}");
        assert!(
            !w.plan(checked_records("b")).await.has_changes(),
            "step {step}"
        );
    }
}

#[tokio::test]
async fn destroy_deletes_deposed_objects_too() {
    let w = World::new();
    assert!(w.apply(checked_records("a")).await.1.success());
    w.cloud.reset_calls();
    // Killed while the records move: old and new health checks both exist.
    w.cloud.crash_at(2);
    let cloud = w.cloud.clone();
    tokio::select! {
        _ = w.apply(checked_records("b")) => panic!("the run should have hung"),
        _ = cloud.crashed.notified() => {}
    }
    w.cloud.clear_faults();
    assert_eq!(w.ids("fake-cbd").len(), 2);
    let (plan, report) = w.run(checked_records("b"), true).await;
    assert_eq!(plan.deposed.len(), 1);
    assert_eq!(plan.counts().destroy, 3);
    assert!(report.success(), "{report:?}");
    assert_eq!(report.counts(), plan.counts());
    assert!(w.cloud.resources().is_empty(), "{:?}", w.cloud.resources());
    let state = w.store().state;
    assert!(state.resources.is_empty() && state.deposed.is_empty());
}

/// vpc <- tg (create-before-destroy kind, its `zone` is the vpc id) <-
/// listener (updated in place to the new tg).
fn network(zone: &str) -> Vec<ResourceSpec> {
    let mut vpc = spec("r1/vpc", &[]);
    vpc.props.insert("zone".into(), json!(zone));
    let mut tg = spec_of("fake-cbd", "r1/tg", &[]);
    tg.props
        .insert("zone".into(), reference(&Address::new("r1/vpc"), "id"));
    let mut listener = spec("r1/listener", &[]);
    listener
        .props
        .insert("target".into(), reference(&Address::new("r1/tg"), "id"));
    vec![vpc, tg, listener]
}

#[tokio::test]
async fn an_upstream_replacement_cascades_in_one_apply_old_objects_last() {
    let w = World::new();
    assert!(w.apply(network("a")).await.1.success());
    w.cloud.reset_calls();
    let plan = w.plan(network("b")).await;
    let action = |a: &str| plan.change(&Address::new(a)).unwrap();
    assert_eq!(action("r1/vpc").action, Action::Replace);
    assert_eq!(action("r1/tg").action, Action::Replace);
    assert_eq!(action("r1/listener").action, Action::Update);
    // The target group's kind creates first; so must the VPC it lives in.
    assert!(action("r1/tg").create_before_destroy);
    assert!(action("r1/vpc").create_before_destroy);
    let (_, report) = w.apply(network("b")).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(report.counts(), plan.counts());
    assert_eq!(
        mutations(&w),
        vec![
            ("r1/vpc".to_string(), "create"),
            ("r1/tg".to_string(), "create"),
            ("r1/listener".to_string(), "update"),
            ("r1/tg".to_string(), "delete"),
            ("r1/vpc".to_string(), "delete"),
        ]
    );
    assert_eq!(w.cloud.resources().len(), 3);
    assert!(!w.plan(network("b")).await.has_changes());
}

#[tokio::test]
async fn a_failed_dependent_keeps_the_deposed_object_for_the_next_run() {
    let w = World::new();
    assert!(w.apply(checked_records("a")).await.1.success());
    w.cloud.fail("r1/records", "update", "throttled for good");
    let (_, report) = w.apply(checked_records("b")).await;
    assert!(!report.success());
    // Not deleted: the records still point at it.
    assert_eq!(w.ids("fake-cbd").len(), 2);
    assert_eq!(w.store().state.deposed.len(), 1);
    assert!(report
        .skipped
        .iter()
        .any(|(a, _, why)| a.as_str().contains("deposed") && why.contains("r1/records")));
    w.cloud.clear_faults();
    let (_, report) = w.apply(checked_records("b")).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(w.ids("fake-cbd").len(), 1);
    assert!(!w.plan(checked_records("b")).await.has_changes());
}

/// vpc (`zone`) <- subnet (a [`CONTAINED`] kind in the vpc, CIDR `cidr`)
/// <- asg (updated in place to the new subnet: the fake cloud refuses to
/// delete a subnet the group still names, like `DependencyViolation` while
/// its instances are in it).
fn subnetted(zone: &str, cidr: &str) -> Vec<ResourceSpec> {
    let mut vpc = spec("r1/vpc", &[]);
    vpc.props.insert("zone".into(), json!(zone));
    let mut subnet = spec_of(CONTAINED, "r1/subnet", &[]);
    subnet
        .props
        .insert("zone".into(), reference(&Address::new("r1/vpc"), "id"));
    subnet.props.insert("cidr".into(), json!(cidr));
    let mut asg = spec("r1/asg", &[]);
    asg.props.insert(
        "subnet_ids".into(),
        json!([reference(&Address::new("r1/subnet"), "id")]),
    );
    vec![vpc, subnet, asg]
}

#[tokio::test]
async fn a_subnet_moving_to_a_new_vpc_is_created_first_and_deleted_after_the_group_moved() {
    let w = World::new();
    assert!(w.apply(subnetted("a", "10.0.1.0/24")).await.1.success());
    w.cloud.reset_calls();
    let next = || subnetted("b", "10.0.1.0/24");
    let plan = w.plan(next()).await;
    let change = |a: &str| plan.change(&Address::new(a)).unwrap().clone();
    assert_eq!(change("r1/subnet").action, Action::Replace);
    // A new VPC: the new subnet cannot conflict with the old one, so it is
    // made first; the VPC it depends on is made first too.
    assert!(change("r1/subnet").create_before_destroy);
    assert!(change("r1/vpc").create_before_destroy);
    assert_eq!(change("r1/asg").action, Action::Update);
    let (_, report) = w.apply(next()).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(
        mutations(&w),
        vec![
            ("r1/vpc".to_string(), "create"),
            ("r1/subnet".to_string(), "create"),
            ("r1/asg".to_string(), "update"),
            ("r1/subnet".to_string(), "delete"),
            ("r1/vpc".to_string(), "delete"),
        ]
    );
    assert_eq!(w.ids(CONTAINED), vec![w.id_of("r1/subnet")]);
    assert!(w.store().state.deposed.is_empty());
    assert!(!w.plan(next()).await.has_changes());
}

#[tokio::test]
async fn a_subnet_staying_in_its_vpc_is_replaced_destroy_first() {
    // The same CIDR block cannot exist twice in one VPC: creating first
    // would fail (InvalidSubnet.Conflict), so the old subnet goes first.
    let w = World::new();
    let stack = |cidr: &str| {
        let mut s = subnetted("a", cidr);
        s.pop(); // no group in it
        s
    };
    assert!(w.apply(stack("10.0.1.0/24")).await.1.success());
    let options = drctl_core::plan::PlanOptions {
        refresh: true,
        replace: vec![Address::new("r1/subnet")],
        ..Default::default()
    };
    let graph = StackGraph::build(stack("10.0.1.0/24")).unwrap();
    let cx = Ctx::new(ENV);
    let plan = w
        .engine(&cx)
        .plan_with(&graph, &w.store().state, &options)
        .await
        .unwrap();
    let subnet = plan.change(&Address::new("r1/subnet")).unwrap();
    assert_eq!(subnet.action, Action::Replace);
    assert!(!subnet.create_before_destroy);
    assert!(
        !plan
            .change(&Address::new("r1/vpc"))
            .unwrap()
            .create_before_destroy
    );
    let engine = Engine::new(w.registry.clone(), cx).parallelism(4);
    let report = engine
        .apply(&plan, &graph, Arc::new(Mutex::new(w.store())))
        .await;
    assert!(report.success(), "{report:?}");
    assert_eq!(w.ids(CONTAINED).len(), 1);
}

#[tokio::test]
async fn a_crash_at_every_step_of_a_vpc_cascade_converges() {
    let next = || subnetted("b", "10.0.1.0/24");
    for step in 1..=5 {
        let w = World::new();
        assert!(w.apply(subnetted("a", "10.0.1.0/24")).await.1.success());
        w.cloud.reset_calls();
        w.cloud.crash_at(step);
        let cloud = w.cloud.clone();
        tokio::select! {
            _ = w.apply(next()) => panic!("step {step}: the run should have hung"),
            _ = cloud.crashed.notified() => {}
        }
        w.cloud.clear_faults();
        let (_, report) = w.apply(next()).await;
        assert!(report.success(), "step {step}: {report:?}");
        // One of each, the group in the new subnet, nothing deposed.
        assert_eq!(w.cloud.resources().len(), 3, "step {step}");
        assert_eq!(w.ids(CONTAINED), vec![w.id_of("r1/subnet")], "step {step}");
        let asg = w
            .cloud
            .resources()
            .into_values()
            .find(|r| r.name == "r1-asg")
            .unwrap();
        assert_eq!(
            asg.props["subnet_ids"],
            json!([w.id_of("r1/subnet")]),
            "step {step}"
        );
        let state = w.store().state;
        assert!(
            state.deposed.is_empty() && state.pending.is_empty(),
            "step {step}"
        );
        assert!(!w.plan(next()).await.has_changes(), "step {step}");
    }
}
