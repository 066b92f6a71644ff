//! Snapshots of the plan as users see it: text (colour and plain), JSON,
//! Markdown. The plan comes from the real planner over the fake cloud, with
//! a create, an in-place update caused by drift, a replacement and a delete;
//! the `*_with_orphans` cases add the three kinds of orphan.

use drctl::render::{self, Style};
use drctl_core::engine::Engine;
use drctl_core::graph::StackGraph;
use drctl_core::model::{reference, Address, ResourceSpec};
use drctl_core::orphans::{Orphan, OrphanReason};
use drctl_core::plan::Plan;
use drctl_core::reconcile::Ctx;
use drctl_core::state::StateStore;
use drctl_core::testing::{registry, spec, FakeCloud};
use serde_json::json;
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
    let cx = Ctx::new("snap");
    // First apply everything.
    let graph = StackGraph::build(stack()).unwrap();
    let store = StateStore::open(&path, "snap").unwrap();
    let engine = Engine::new(reg.clone(), cx.clone()).parallelism(1);
    let plan = engine.plan(&graph, &store.state, true).await.unwrap();
    assert!(engine
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
    let mut plan = engine.plan(&graph, &store.state, true).await.unwrap();
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

/// A plan with no change, with these orphans.
fn empty_plan(orphans: Vec<Orphan>) -> Plan {
    Plan {
        format_version: "1.0".into(),
        env: "dev".into(),
        lineage: "L".into(),
        serial: 3,
        destroy: false,
        changes: vec![],
        forget: vec![],
        warnings: vec![],
        orphans,
        deposed: vec![],
    }
}

#[test]
fn no_change_plan_says_so() {
    let plan = empty_plan(vec![]);
    let text = render::plan_text(&plan, &Style { color: false });
    assert_eq!(text, "No changes. The cloud matches the environment plan (0 resources checked).\nPlan: 0 to add, 0 to change, 0 to destroy.\n");
}

fn orphans() -> Vec<Orphan> {
    vec![
        Orphan {
            arn: "arn:aws:ec2:us-east-1:000000000000:security-group/sg-0stray".into(),
            region: "us-east-1".into(),
            resource_type: "ec2:security-group".into(),
            address: Some("us-east-1/network/stray-sg".into()),
            reason: OrphanReason::UnknownAddress,
        },
        Orphan {
            arn: "arn:aws:ec2:us-east-1:000000000000:vpc/vpc-0second".into(),
            region: "us-east-1".into(),
            resource_type: "ec2:vpc".into(),
            address: Some("us-east-1/network/vpc".into()),
            reason: OrphanReason::Duplicate {
                recorded_id: Some("vpc-0first".into()),
            },
        },
        Orphan {
            arn: "arn:aws:sns:us-west-2:000000000000:hand-made".into(),
            region: "us-west-2".into(),
            resource_type: "sns:topic".into(),
            address: None,
            reason: OrphanReason::NoAddressTag,
        },
    ]
}

async fn plan_with_orphans() -> Plan {
    let (mut plan, _) = sample_plan().await;
    plan.orphans = orphans();
    plan
}

#[tokio::test]
async fn plan_text_plain_with_orphans() {
    let plan = plan_with_orphans().await;
    insta::assert_snapshot!(render::plan_text(&plan, &Style { color: false }));
}

#[tokio::test]
async fn plan_text_colour_with_orphans() {
    let plan = plan_with_orphans().await;
    insta::assert_snapshot!(render::plan_text(&plan, &Style { color: true }));
}

#[tokio::test]
async fn plan_json_document_with_orphans() {
    let plan = plan_with_orphans().await;
    let doc = render::plan_json(&plan);
    assert_eq!(doc["format_version"], "1.0", "adding a field keeps 1.0");
    insta::assert_json_snapshot!(doc["orphans"]);
}

#[tokio::test]
async fn plan_markdown_summary_with_orphans() {
    let plan = plan_with_orphans().await;
    let text = render::plan_text(&plan, &Style { color: false });
    insta::assert_snapshot!(drctl::markdown::summary(&plan, &text));
}

#[test]
fn orphans_alone_are_shown_but_are_no_change() {
    let plan = empty_plan(orphans()[..1].to_vec());
    // Orphans never cause an action, so `--detailed-exitcode` stays 0.
    assert!(!plan.has_changes());
    let text = render::plan_text(&plan, &Style { color: false });
    assert_eq!(
        text,
        "No changes. The cloud matches the environment plan (0 resources checked).

Orphans: resources tagged drctl:env=dev that neither the state nor the plan knows.
drctl will not touch them: delete them, or remove their drctl: tags to keep them.

  ! ec2:security-group (us-east-1) arn:aws:ec2:us-east-1:000000000000:security-group/sg-0stray
      drctl:address = us-east-1/network/stray-sg
      why: no resource of the state or the plan has this address

Plan: 0 to add, 0 to change, 0 to destroy.
"
    );
    let md = drctl::markdown::summary(&plan, &text);
    assert!(md.contains("> [!CAUTION]\n> 1 orphan(s)"), "{md}");
    assert!(md.contains("**No changes.**"), "{md}");
}

/// An ASG whose `size` was changed in the cloud while the plan also changed
/// its `max_size`: some fields drifted, not all.
async fn partly_drifted_plan() -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.state.json");
    let cloud = FakeCloud::new();
    let reg = registry(&cloud);
    let cx = Ctx::new("snap");
    let engine = Engine::new(reg.clone(), cx.clone()).parallelism(1);
    let mut specs = stack();
    specs[2].props.insert("max_size".into(), json!(6));
    let graph = StackGraph::build(specs.clone()).unwrap();
    let store = StateStore::open(&path, "snap").unwrap();
    let plan = engine.plan(&graph, &store.state, true).await.unwrap();
    assert!(engine
        .apply(&plan, &graph, Arc::new(Mutex::new(store)))
        .await
        .success());
    cloud.tamper("us-east-1/compute/asg", "size", json!(9));
    specs[2].props.insert("max_size".into(), json!(2));
    let graph = StackGraph::build(specs).unwrap();
    let store = StateStore::open(&path, "snap").unwrap();
    engine.plan(&graph, &store.state, true).await.unwrap()
}

/// Removes ANSI colour sequences.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn text_json_and_markdown_agree_on_drift() {
    let plan = partly_drifted_plan().await;
    let asg = "us-east-1/compute/asg";
    let text = render::plan_text(&plan, &Style { color: false });
    let doc = render::plan_json(&plan);
    let md = drctl::markdown::summary(&plan, &text);

    // JSON: drift, with the drifted field named.
    let change = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == asg)
        .unwrap();
    assert_eq!(change["drift"], json!(true), "{change:#}");
    assert_eq!(change["change"]["drifted_fields"], json!(["size"]));
    assert_eq!(change["actions"], json!(["update"]));
    // Text: in the drift section with that field only, and in the actions.
    let (drift_section, actions) = text
        .split_once("drctl will perform the following actions:")
        .unwrap();
    assert!(
        drift_section.contains(&format!("  # {asg} (us-east-1-compute-asg)\n      ~ size: drctl applied 1, the cloud now has 9\n")),
        "{text}"
    );
    assert!(!drift_section.contains("max_size"), "{text}");
    assert!(actions.contains(&format!("  # {asg} will be updated in place")));
    // Markdown: the same row, marked as drift.
    assert!(
        md.contains(&format!(
            "| `~` | us-east-1 | `{asg}` (drift) | fake | `size`, `max_size` |"
        )),
        "{md}"
    );
    // Colour changes the colours, nothing else: same text, same indentation.
    let colour = render::plan_text(&plan, &Style { color: true });
    assert_ne!(colour, text, "colour output has colours");
    assert_eq!(plain(&colour), text);
}

#[tokio::test]
async fn colour_and_plain_text_have_the_same_layout() {
    let (plan, _) = sample_plan().await;
    let colour = render::plan_text(&plan, &Style { color: true });
    let text = render::plan_text(&plan, &Style { color: false });
    assert_eq!(plain(&colour), text);
}

/// A health-check-like `fake-cbd` object in zone `zone` and records that
/// point at it.
fn checked_records(zone: &str) -> Vec<ResourceSpec> {
    let mut hc = drctl_core::testing::spec_of("fake-cbd", "us-east-1/route53/hc", &[]);
    hc.props.insert("zone".into(), json!(zone));
    let mut records = spec("us-east-1/route53/records", &[]);
    records.props.insert(
        "health_check_id".into(),
        reference(&Address::new("us-east-1/route53/hc"), "id"),
    );
    vec![hc, records]
}

/// A run killed after the records moved to a new health check leaves the
/// old one deposed; the next plan (which also replaces the new one,
/// create-before-destroy) shows it as a deletion in text, JSON and
/// Markdown alike, with the same counts.
#[tokio::test]
async fn text_json_and_markdown_agree_on_deposed_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.state.json");
    let cloud = FakeCloud::new();
    cloud.check_in_use(true);
    let reg = registry(&cloud);
    let cx = Ctx::new("snap");
    let engine = Engine::new(reg.clone(), cx.clone()).parallelism(1);
    let run = |zone: &'static str| {
        let (reg, cx, path) = (&reg, &cx, &path);
        async move {
            let graph = StackGraph::build(checked_records(zone)).unwrap();
            let store = StateStore::open(path, "snap").unwrap();
            let plan = Engine::new(reg.clone(), cx.clone())
                .parallelism(1)
                .plan(&graph, &store.state, true)
                .await
                .unwrap();
            let engine = Engine::new(reg.clone(), cx.clone()).parallelism(1);
            engine
                .apply(&plan, &graph, Arc::new(Mutex::new(store)))
                .await
        }
    };
    assert!(run("a").await.success());
    cloud.reset_calls();
    // Killed right after the records moved (call 2), before the old check
    // was deleted.
    cloud.crash_at(2);
    tokio::select! {
        _ = run("b") => panic!("the run should have hung"),
        _ = cloud.crashed.notified() => {}
    }
    cloud.clear_faults();
    let graph = StackGraph::build(checked_records("c")).unwrap();
    let state = StateStore::open(&path, "snap").unwrap().state;
    let plan = engine.plan(&graph, &state, true).await.unwrap();
    assert_eq!(plan.deposed.len(), 1, "{plan:?}");
    let key = plan.deposed[0].key.clone();
    let old_id = plan.deposed[0].prior.as_ref().unwrap().id.clone();
    let deposed = format!("us-east-1/route53/hc (deposed object {key})");

    let text = render::plan_text(&plan, &Style { color: false });
    let doc = render::plan_json(&plan);
    let md = drctl::markdown::summary(&plan, &text);

    // Text: the replacement is +/-, the deposed object a deletion.
    assert!(text.contains("+/- fake-cbd"), "{text}");
    assert!(
        text.contains(&format!("  # {deposed} will be destroyed")),
        "{text}"
    );
    assert!(text.contains(&old_id), "{text}");
    assert!(
        text.contains("Plan: 1 to add, 1 to change, 2 to destroy."),
        "{text}"
    );
    // JSON: the same entries and counts.
    let entries = doc["resource_changes"].as_array().unwrap();
    let entry = entries
        .iter()
        .find(|c| c["deposed"] == json!(key))
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(entry["actions"], json!(["delete"]));
    assert_eq!(entry["physical_id"], json!(old_id));
    let hc = entries
        .iter()
        .find(|c| c["address"] == "us-east-1/route53/hc" && c.get("deposed").is_none())
        .unwrap();
    assert_eq!(hc["actions"], json!(["create", "delete"]));
    assert_eq!(
        doc["summary"],
        json!({"add": 1, "change": 1, "destroy": 2, "import": 0, "forget": 0, "has_changes": true})
    );
    // Markdown: the counts, the warning (both deletions) and the rows.
    assert!(
        md.contains("**1 to add, 1 to change, 2 to destroy**"),
        "{md}"
    );
    assert!(
        md.contains("> 2 resource(s) will be deleted or replaced:"),
        "{md}"
    );
    assert!(md.contains("> - `+/-` `us-east-1/route53/hc`"), "{md}");
    assert!(
        md.contains(&format!(
            "> - `-` `{deposed}` — the old object {old_id} of a replacement"
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!("| `-` | us-east-1 | `{deposed}` | fake-cbd |")),
        "{md}"
    );
    assert!(
        md.contains("| `+/-` | us-east-1 | `us-east-1/route53/hc` | fake-cbd |"),
        "{md}"
    );
}
