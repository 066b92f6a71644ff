//! Engine scenarios over the fake cloud: given a stack, run plan/apply/destroy,
//! expect calls and state.

use drctl_core::apply::ApplyReport;
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::{reference, Address, ResourceSpec};
use drctl_core::ordering::DestroyRule;
use drctl_core::plan::{Action, Plan};
use drctl_core::reconcile::{Ctx, Registry};
use drctl_core::state::StateStore;
use drctl_core::testing::{registry, spec, spec_of, FakeCloud};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENV: &str = "test";

/// vpc <- subnet <- nat ; vpc <- sg ; eip (nat needs eip) ; a global role.
fn small_stack() -> Vec<ResourceSpec> {
    let mut subnet = spec("r1/subnet", &[]);
    subnet
        .props
        .insert("vpc_id".into(), reference(&Address::new("r1/vpc"), "id"));
    vec![
        spec("r1/vpc", &[]),
        subnet,
        spec_of("fake-token", "r1/nat", &["r1/subnet", "r1/eip"]),
        spec("r1/eip", &[]),
        spec("r1/sg", &["r1/vpc"]),
        spec("global/role", &[]),
    ]
}

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
    async fn plan(&self, specs: Vec<ResourceSpec>) -> Plan {
        let graph = StackGraph::build(specs).unwrap();
        let cx = Ctx::new(ENV);
        let engine = Engine::new(self.registry.clone(), cx.clone()).parallelism(4);
        engine
            .plan(&graph, &self.store().state, true)
            .await
            .unwrap()
    }
    async fn apply_with(
        &self,
        specs: Vec<ResourceSpec>,
        rules: &[DestroyRule],
        destroy: bool,
    ) -> (Plan, ApplyReport) {
        let graph = StackGraph::build(specs).unwrap();
        let cx = Ctx::new(ENV);
        let store = self.store();
        let engine = Engine::new(self.registry.clone(), cx.clone()).parallelism(4);
        let plan = if destroy {
            engine.plan_destroy(&graph, &store.state).await.unwrap()
        } else {
            engine.plan(&graph, &store.state, true).await.unwrap()
        };
        let engine = Engine::new(self.registry.clone(), cx)
            .parallelism(4)
            .destroy_rules(rules);
        let report = engine
            .apply(&plan, &graph, Arc::new(Mutex::new(store)))
            .await;
        (plan, report)
    }
    async fn apply(&self, specs: Vec<ResourceSpec>) -> (Plan, ApplyReport) {
        self.apply_with(specs, &[], false).await
    }
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.0.clone(), c.action))
        .collect()
}

#[tokio::test]
async fn first_apply_creates_all_and_second_makes_no_mutating_call() {
    let w = World::new();
    let (plan, report) = w.apply(small_stack()).await;
    assert_eq!(plan.counts().add, 6);
    assert!(report.success(), "{report:?}");
    assert_eq!(w.cloud.resources().len(), 6);
    let state = w.store().state;
    assert_eq!(state.resources.len(), 6);
    assert!(state.pending.is_empty());
    // The subnet got the real VPC id.
    let vpc_id = &state.resources[&Address::new("r1/vpc")].id;
    assert_eq!(
        state.resources[&Address::new("r1/subnet")].applied["vpc_id"],
        json!(vpc_id)
    );

    w.cloud.reset_calls();
    let (plan, report) = w.apply(small_stack()).await;
    assert!(!plan.has_changes(), "{:?}", actions(&plan));
    assert!(report.done.is_empty());
    assert_eq!(w.cloud.mutating_calls(), vec![]);
    assert_eq!(w.cloud.calls().len(), 6, "one read per resource");
}

#[tokio::test]
async fn dependencies_finish_before_dependents_start() {
    let w = World::new();
    w.cloud.set_delay(Duration::from_millis(20));
    let (_, report) = w.apply(small_stack()).await;
    assert!(report.success());
    let calls = w.cloud.calls();
    let create = |a: &str| {
        calls
            .iter()
            .find(|c| c.op == "create" && c.address.0 == a)
            .unwrap()
            .clone()
    };
    for (child, parent) in [
        ("r1/subnet", "r1/vpc"),
        ("r1/nat", "r1/subnet"),
        ("r1/nat", "r1/eip"),
        ("r1/sg", "r1/vpc"),
    ] {
        assert!(
            create(parent).ended.unwrap() <= create(child).started,
            "{parent} before {child}"
        );
    }
    // Independent roots overlapped.
    let (vpc, eip) = (create("r1/vpc"), create("r1/eip"));
    assert!(vpc.started < eip.ended.unwrap() && eip.started < vpc.ended.unwrap());
}

#[tokio::test]
async fn a_failure_stops_its_dependents_and_lets_the_rest_finish() {
    let w = World::new();
    w.cloud.fail("r1/subnet", "create", "InsufficientCapacity");
    let (_, report) = w.apply(small_stack()).await;
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].2.contains("InsufficientCapacity"));
    let skipped: Vec<_> = report.skipped.iter().map(|s| s.0 .0.as_str()).collect();
    assert_eq!(skipped, vec!["r1/nat"]);
    let state = w.store().state;
    for a in ["r1/vpc", "r1/eip", "r1/sg", "global/role"] {
        assert!(
            state.resources.contains_key(&Address::new(a)),
            "{a} recorded"
        );
    }
    // The failed create left its intent; the next run finishes the job.
    w.cloud.clear_faults();
    let (plan, report) = w.apply(small_stack()).await;
    assert_eq!(plan.counts().add, 2);
    assert!(report.success());
    assert_eq!(w.cloud.resources().len(), 6);
}

#[tokio::test]
async fn crash_between_intent_and_result_at_every_step_converges_without_duplicates() {
    let total_mutations = {
        let w = World::new();
        w.apply(small_stack()).await;
        w.cloud.mutations()
    };
    assert_eq!(total_mutations, 6);
    for step in 1..=total_mutations {
        let w = World::new();
        w.cloud.crash_at(step);
        let cloud = w.cloud.clone();
        // The run is killed when the injected crash happens.
        tokio::select! {
            _ = w.apply(small_stack()) => panic!("step {step}: the run should have hung"),
            _ = cloud.crashed.notified() => {}
        }
        // The state on disk is valid and names the interrupted create.
        let state = w.store().state;
        assert!(!state.pending.is_empty(), "step {step}");
        w.cloud.clear_faults();
        let (_, report) = w.apply(small_stack()).await;
        assert!(report.success(), "step {step}: {report:?}");
        for s in small_stack() {
            assert_eq!(
                w.cloud.count_owned(s.address.as_str()),
                1,
                "step {step}: {}",
                s.address
            );
        }
        let state = w.store().state;
        assert!(state.pending.is_empty(), "step {step}");
        assert_eq!(state.resources.len(), 6, "step {step}");
        // And a further run has nothing to do.
        let plan = w.plan(small_stack()).await;
        assert!(!plan.has_changes(), "step {step}: {:?}", actions(&plan));
    }
}

#[tokio::test]
async fn drift_is_shown_and_repaired_and_out_of_band_deletes_are_recreated() {
    let w = World::new();
    w.apply(small_stack()).await;
    w.cloud.tamper("r1/sg", "size", json!(9));
    w.cloud.remove_owned("global/role");
    let plan = w.plan(small_stack()).await;
    let sg = plan.change(&Address::new("r1/sg")).unwrap();
    assert_eq!(sg.action, Action::Update);
    assert!(sg.drift && sg.fields[0].drift);
    assert_eq!(sg.fields[0].before, Some(json!(9)));
    let role = plan.change(&Address::new("global/role")).unwrap();
    assert_eq!(role.action, Action::Create);
    assert!(role.drift);
    let (_, report) = w.apply(small_stack()).await;
    assert!(report.success());
    assert!(!w.plan(small_stack()).await.has_changes());
}

#[tokio::test]
async fn replacement_and_removal() {
    let w = World::new();
    w.apply(small_stack()).await;
    let mut stack = small_stack();
    stack[4].props.insert("zone".into(), json!("b")); // r1/sg: forces replacement
    stack.retain(|s| s.address.0 != "global/role");
    let plan = w.plan(stack.clone()).await;
    let sg = plan.change(&Address::new("r1/sg")).unwrap();
    assert_eq!(sg.action, Action::Replace);
    assert_eq!(sg.reasons, vec!["zone: the zone cannot change in place"]);
    assert_eq!(
        plan.change(&Address::new("global/role")).unwrap().action,
        Action::Delete
    );
    let c = plan.counts();
    assert_eq!((c.add, c.change, c.destroy), (1, 0, 2));
    let (_, report) = w.apply(stack.clone()).await;
    assert!(report.success(), "{report:?}");
    assert_eq!(w.cloud.resources().len(), 5);
    assert!(!w.plan(stack).await.has_changes());
}

#[tokio::test]
async fn destroy_runs_in_reverse_plus_the_ordering_rules() {
    let w = World::new();
    w.apply(small_stack()).await;
    w.cloud.set_delay(Duration::from_millis(5));
    w.cloud.reset_calls();
    // The NAT (kind fake-token) must be gone before any `fake` in its region.
    let rules = [DestroyRule {
        first: "fake-token",
        then: "fake",
        prevents: "test rule",
    }];
    let (plan, report) = w.apply_with(small_stack(), &rules, true).await;
    assert_eq!(plan.counts().destroy, 6);
    assert!(report.success(), "{report:?}");
    assert!(w.cloud.resources().is_empty());
    assert!(w.store().state.resources.is_empty());
    let calls = w.cloud.calls();
    let del = |a: &str| {
        calls
            .iter()
            .find(|c| c.op == "delete" && c.address.0 == a)
            .unwrap()
            .clone()
    };
    // Reverse dependencies.
    assert!(del("r1/subnet").ended.unwrap() <= del("r1/vpc").started);
    assert!(del("r1/sg").ended.unwrap() <= del("r1/vpc").started);
    // The rule: eip does not depend on the NAT, yet waits for it.
    assert!(del("r1/nat").ended.unwrap() <= del("r1/eip").started);
    // Other regions are not held back by the rule.
    assert!(del("global/role").started < del("r1/nat").ended.unwrap());
}

#[tokio::test]
async fn destroy_finds_what_a_lost_state_forgot_and_leaves_foreign_resources() {
    let w = World::new();
    w.apply(small_stack()).await;
    std::fs::remove_file(&w.state_path).unwrap();
    let foreign = w.cloud.insert_foreign("fake", "r1-vpc");
    let (plan, report) = w.apply_with(small_stack(), &[], true).await;
    assert!(report.success(), "{report:?}");
    // Everything findable by tags is deleted; the NAT (found only by id) is not knowable.
    assert_eq!(plan.counts().destroy, 5);
    let left: Vec<String> = w.cloud.resources().keys().cloned().collect();
    assert!(
        left.contains(&foreign),
        "the resource without ownership tags survives"
    );
}

#[tokio::test]
async fn a_same_named_foreign_resource_is_a_clash_not_adopted() {
    let w = World::new();
    w.cloud.insert_foreign("fake", "global-role");
    let graph = StackGraph::build(small_stack()).unwrap();
    let cx = Ctx::new(ENV);
    let engine = Engine::new(w.registry.clone(), cx.clone()).parallelism(2);
    let err = engine
        .plan(&graph, &w.store().state, true)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("global/role") && msg.contains("ownership tags"),
        "{msg}"
    );
}

#[tokio::test]
async fn interrupted_apply_finishes_in_flight_work_and_records_it() {
    let w = World::new();
    w.cloud.set_delay(Duration::from_millis(50));
    let graph = StackGraph::build(small_stack()).unwrap();
    let cx = Ctx::new(ENV);
    let store = w.store();
    let engine = Engine::new(w.registry.clone(), cx.clone()).parallelism(4);
    let plan = engine.plan(&graph, &store.state, true).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let engine = Engine::new(w.registry.clone(), cx.clone())
        .parallelism(4)
        .stop_flag(stop.clone());
    let s2 = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        s2.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let report = engine
        .apply(&plan, &graph, Arc::new(Mutex::new(store)))
        .await;
    assert!(!report.skipped.is_empty());
    let state = w.store().state;
    // Whatever was created is in the state; nothing is pending.
    assert_eq!(state.resources.len(), w.cloud.resources().len());
    assert!(state.pending.is_empty());
}

/// Critical-path-first, through the executor: with one slot, address order
/// would create `a/quick` first; the registry's expected durations make
/// `b/head` (on which the 900 s `c/slow` waits) go first. On destroy the
/// slow delete (`b/head`, after its dependent `c/slow`) goes before `a/quick`.
#[tokio::test]
async fn executor_starts_the_longest_chain_first() {
    use drctl_core::schedule::ExpectedDuration;
    use drctl_core::testing::FakeReconciler;
    static EXPECTED: &[ExpectedDuration] = &[
        ExpectedDuration {
            kind: "slow",
            create_secs: 900,
            delete_secs: 5,
            source: "test",
        },
        ExpectedDuration {
            kind: "fake",
            create_secs: 5,
            delete_secs: 600,
            source: "test",
        },
    ];
    let mut w = World::new();
    let mut registry = registry(&w.cloud);
    registry.register(Arc::new(FakeReconciler {
        kind: "slow",
        cloud: w.cloud.clone(),
        find_by_tags: true,
        replace_on: &[],
        protection: None,
        create_before_destroy: false,
        taggable: false,
    }));
    registry.set_expected_durations(EXPECTED);
    w.registry = registry;
    let stack = || {
        vec![
            // `fake-token` has no figure: 1 s either way.
            spec_of("fake-token", "r/a-quick", &[]),
            spec("r/b-head", &[]),
            spec_of("slow", "r/c-slow", &["r/b-head"]),
        ]
    };
    let graph = StackGraph::build(stack()).unwrap();
    for destroy in [false, true] {
        let store = w.store();
        let cx = Ctx::new(ENV);
        let engine = Engine::new(w.registry.clone(), cx.clone()).parallelism(1);
        let plan = if destroy {
            engine.plan_destroy(&graph, &store.state).await.unwrap()
        } else {
            engine.plan(&graph, &store.state, true).await.unwrap()
        };
        w.cloud.reset_calls();
        let report = engine
            .apply(&plan, &graph, Arc::new(Mutex::new(store)))
            .await;
        assert!(report.success(), "{report:?}");
        let order: Vec<String> = w
            .cloud
            .mutating_calls()
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        let expected = if destroy {
            ["r/c-slow", "r/b-head", "r/a-quick"]
        } else {
            ["r/b-head", "r/c-slow", "r/a-quick"]
        };
        assert_eq!(order, expected, "destroy: {destroy}");
    }
}

/// A `fake-tagged` spec with its ownership tags and `extra` tags.
fn tagged(address: &str, extra: &[(&str, &str)]) -> ResourceSpec {
    let mut s = spec_of("fake-tagged", address, &[]);
    s.tags.insert(drctl_core::model::TAG_ENV.into(), ENV.into());
    s.tags
        .insert(drctl_core::model::TAG_ADDRESS.into(), address.into());
    for (k, v) in extra {
        s.tags.insert(k.to_string(), v.to_string());
    }
    s
}

#[tokio::test]
async fn tags_are_desired_state_drift_and_plan_changes_are_tag_writes_only() {
    let w = World::new();
    let stack = || vec![tagged("r1/bucket", &[("CostCenter", "ops"), ("Name", "b")])];
    w.apply(stack()).await;
    assert!(!w.plan(stack()).await.has_changes());

    // By hand: a tag removed, one changed, one added, one of AWS's own.
    w.cloud.retag("r1/bucket", |t| {
        t.remove("CostCenter");
        t.insert("Name".into(), "renamed".into());
        t.insert("Owner".into(), "someone".into());
        t.insert("aws:cloudformation:stack-name".into(), "x".into());
    });
    let plan = w.plan(stack()).await;
    let c = plan.change(&Address::new("r1/bucket")).unwrap();
    assert_eq!(c.action, Action::Update);
    assert!(c.drift, "changed outside of drctl: {c:?}");
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].field, "tags");
    w.cloud.reset_calls();
    let (_, report) = w.apply(stack()).await;
    assert!(report.success(), "{report:?}");
    // Only the tag call: the kind's update is not called for tags.
    assert_eq!(
        w.cloud.mutating_calls(),
        vec![("r1/bucket".to_string(), "tag")]
    );
    let tags = w.cloud.tags_of("r1/bucket").unwrap();
    assert_eq!(tags.get("CostCenter").map(String::as_str), Some("ops"));
    assert_eq!(tags.get("Name").map(String::as_str), Some("b"));
    assert!(
        !tags.contains_key("Owner"),
        "a tag added by hand is removed"
    );
    assert!(tags.contains_key("aws:cloudformation:stack-name"));
    assert!(!w.plan(stack()).await.has_changes());

    // A change of the plan's tags: an update, not drift.
    let changed = || {
        vec![tagged(
            "r1/bucket",
            &[("CostCenter", "eng"), ("Team", "dr"), ("Name", "b")],
        )]
    };
    let plan = w.plan(changed()).await;
    let c = plan.change(&Address::new("r1/bucket")).unwrap();
    assert_eq!((c.action, c.drift), (Action::Update, false));
    // -refresh=false sees it too: the state records the applied tags.
    let graph = StackGraph::build(changed()).unwrap();
    let cx = Ctx::new(ENV);
    let engine = Engine::new(w.registry.clone(), cx.clone()).parallelism(4);
    let offline = engine.plan(&graph, &w.store().state, false).await.unwrap();
    assert_eq!(
        offline.change(&Address::new("r1/bucket")).unwrap().action,
        Action::Update
    );
    w.apply(changed()).await;
    let tags = w.cloud.tags_of("r1/bucket").unwrap();
    assert_eq!(tags.get("CostCenter").map(String::as_str), Some("eng"));
    assert_eq!(tags.get("Team").map(String::as_str), Some("dr"));
    assert!(!w.plan(changed()).await.has_changes());
}

#[tokio::test]
async fn a_resource_without_ownership_tags_is_never_retagged() {
    let w = World::new();
    let stack = || vec![tagged("r1/bucket", &[("CostCenter", "ops")])];
    w.apply(stack()).await;
    let id = w.store().state.resources[&Address::new("r1/bucket")]
        .id
        .clone();
    // Someone strips drctl's env tag: the resource is no longer provably ours.
    w.cloud.retag("r1/bucket", |t| {
        t.remove(drctl_core::model::TAG_ENV);
    });
    let graph = StackGraph::build(stack()).unwrap();
    let cx = Ctx::new(ENV);
    let engine = Engine::new(w.registry.clone(), cx.clone()).parallelism(4);
    let err = engine.plan(&graph, &w.store().state, true).await;
    assert!(err.is_err(), "a clash, not a re-tag: {err:?}");
    w.cloud.reset_calls();
    assert_eq!(w.cloud.mutating_calls(), vec![]);
    assert!(w.cloud.resources()[&id].tags.contains_key("CostCenter"));
}
