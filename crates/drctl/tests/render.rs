//! Snapshots of the plan as users see it: text (colour and plain), JSON,
//! Markdown. The plan comes from the real planner over the fake cloud, with
//! a create, an in-place update caused by drift, a replacement and a delete.

use drctl::render::{self, Style};
use drctl_core::apply::Executor;
use drctl_core::graph::StackGraph;
use drctl_core::model::{reference, Address, ResourceSpec};
use drctl_core::plan::{Plan, Planner};
use drctl_core::reconcile::Ctx;
use drctl_core::state::StateStore;
use drctl_core::testing::{registry, spec, FakeCloud};
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

fn stack() -> Vec<ResourceSpec> {
    let mut subnet = spec("us-east-1/network/subnet", &[]);
    subnet.props.insert(
        "vpc_id".into(),
        reference(&Address::new("us-east-1/network/vpc"), "id"),
    );
    vec![
        spec("us-east-1/network/vpc", &[]),
        subnet,
        spec("us-east-1/compute/asg", &[]),
        spec("global/iam/role", &[]),
    ]
}

async fn sample_plan() -> (Plan, Vec<ResourceSpec>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.state.json");
    let cloud = FakeCloud::new();
    let reg = registry(&cloud);
    let cx = Ctx { env: "snap".into() };
    // First apply everything.
    let graph = StackGraph::build(stack()).unwrap();
    let store = StateStore::open(&path, "snap").unwrap();
    let planner = Planner {
        registry: &reg,
        cx: &cx,
        parallelism: 1,
    };
    let plan = planner.plan(&graph, &store.state, true).await.unwrap();
    let exec = Executor {
        registry: &reg,
        cx: cx.clone(),
        parallelism: 1,
        rules: &[],
        stop: Arc::new(AtomicBool::new(false)),
        events: None,
    };
    assert!(exec
        .apply(&plan, &graph, Arc::new(Mutex::new(store)))
        .await
        .success());
    // Then: drift on the ASG, a replacement of the VPC, the role removed, a new table.
    cloud.tamper("us-east-1/compute/asg", "size", json!(9));
    let mut next = stack();
    next[0].props.insert("zone".into(), json!("b"));
    next.retain(|s| s.address.0 != "global/iam/role");
    next.push(spec("us-east-1/dynamodb/table", &[]));
    let graph = StackGraph::build(next.clone()).unwrap();
    let store = StateStore::open(&path, "snap").unwrap();
    let mut plan = planner.plan(&graph, &store.state, true).await.unwrap();
    plan.lineage = "LINEAGE".into();
    (plan, next)
}

#[tokio::test]
async fn plan_text_plain() {
    let (plan, _) = sample_plan().await;
    insta::assert_snapshot!(render::plan_text(&plan, &Style { color: false }));
}

#[tokio::test]
async fn plan_text_colour() {
    let (plan, _) = sample_plan().await;
    insta::assert_snapshot!(render::plan_text(&plan, &Style { color: true }));
}

#[tokio::test]
async fn plan_json_document() {
    let (plan, _) = sample_plan().await;
    let doc = render::plan_json(&plan);
    assert_eq!(doc["format_version"], "1.0");
    insta::assert_json_snapshot!(doc, { ".drctl_version" => "[version]" });
}

#[tokio::test]
async fn plan_markdown_summary() {
    let (plan, _) = sample_plan().await;
    let text = render::plan_text(&plan, &Style { color: false });
    insta::assert_snapshot!(drctl::markdown::summary(&plan, &text));
}

#[test]
fn no_change_plan_says_so() {
    let plan = Plan {
        format_version: "1.0".into(),
        env: "dev".into(),
        lineage: "L".into(),
        serial: 3,
        destroy: false,
        changes: vec![],
        forget: vec![],
        warnings: vec![],
    };
    let text = render::plan_text(&plan, &Style { color: false });
    assert_eq!(text, "No changes. The cloud matches the environment plan (0 resources checked).\nPlan: 0 to add, 0 to change, 0 to destroy.\n");
}
