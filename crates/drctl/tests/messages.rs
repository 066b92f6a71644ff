//! The messages of Terraform's habits and of hints, in cargo's style: given
//! files, run the command, compare the whole output (temp folders redacted
//! as `[DIR]`). No AWS: `--refresh=false` plans from the state alone.

use drctl_core::state::{ResourceState, StateStore};
use drctl_stack::{blueprint, envplan};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const VPC: &str = "us-east-1/network/vpc";
const SUBNET: &str = "us-east-1/network/public-subnet-1";

/// `cfg/plans/dev.toml` and a state at `cfg/dev.json` (not the default
/// place, so hints must carry --plans-dir and --state) recording the
/// primary VPC only.
struct Given {
    dir: tempfile::TempDir,
}

impl Given {
    fn new() -> Given {
        let dir = tempfile::tempdir().unwrap();
        let plans = dir.path().join("cfg/plans");
        std::fs::create_dir_all(&plans).unwrap();
        std::fs::copy(repo().join("plans/dev.toml"), plans.join("dev.toml")).unwrap();
        let plan = envplan::load(&plans, "dev").unwrap();
        let mut store = StateStore::open(&dir.path().join("cfg/dev.json"), "dev").unwrap();
        store.state.account = Some("000000000000".into());
        store.state.lineage = "LINEAGE".into();
        for spec in blueprint::build(&plan, Some("000000000000")) {
            if spec.address.as_str() == VPC {
                store.state.resources.insert(
                    spec.address.clone(),
                    ResourceState {
                        kind: spec.kind.clone(),
                        region: spec.region.clone(),
                        name: spec.name.clone(),
                        id: "vpc-0123456789abcdef0".into(),
                        attrs: Default::default(),
                        applied: spec.props.clone(),
                        dependencies: spec.dependencies(),
                    },
                );
            }
        }
        store.save().unwrap();
        Given { dir }
    }

    /// Runs drctl with `--plans-dir cfg/plans --state cfg/dev.json` and
    /// returns "exit N", stdout and stderr as one text, paths redacted.
    fn run(&self, args: &[&str]) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_drctl"))
            .args(args)
            .args(["--plans-dir", "cfg/plans", "--state", "cfg/dev.json"])
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("GITHUB_STEP_SUMMARY")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let dir = self.dir.path().display().to_string();
        let redact = |b: &[u8]| String::from_utf8_lossy(b).replace(&dir, "[DIR]");
        let mut text = format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            o.status.code().unwrap_or(-1),
            redact(&o.stdout),
            redact(&o.stderr)
        );
        // Backups are named after the time.
        if let Some(i) = text.find("cfg/dev.json.1") {
            let end = text[i..].find(".backup").map(|e| i + e).unwrap_or(i);
            text.replace_range(i + "cfg/dev.json.".len()..end, "[TIME]");
        }
        text
    }
}

#[test]
fn target_plans_the_resource_and_what_it_depends_on() {
    let g = Given::new();
    insta::assert_snapshot!(g.run(&[
        "plan",
        "--env",
        "dev",
        "-refresh=false",
        &format!("-target={SUBNET}")
    ]));
}

#[test]
fn replace_forces_a_replacement_with_its_reason() {
    let g = Given::new();
    insta::assert_snapshot!(g.run(&[
        "plan",
        "--env",
        "dev",
        "-refresh=false",
        &format!("-target={VPC}"),
        &format!("-replace={VPC}")
    ]));
}

#[test]
fn an_unknown_target_is_named() {
    let g = Given::new();
    insta::assert_snapshot!(g.run(&[
        "plan",
        "--env",
        "dev",
        "-refresh=false",
        "-target=us-east-1/network/nope"
    ]));
}

#[test]
fn a_saved_plan_is_shown_as_text_and_json() {
    let g = Given::new();
    let saved = g.run(&[
        "plan",
        "-env",
        "dev",
        "-refresh=false",
        &format!("-target={SUBNET}"),
        "-out=dev.plan",
    ]);
    assert!(saved.starts_with("exit 0"), "{saved}");
    assert!(
        saved.contains("Apply exactly it with: drctl apply dev.plan --plans-dir cfg/plans --state cfg/dev.json\n"),
        "{saved}"
    );
    let shown = g.run(&["show", "dev.plan"]);
    // The same text plan prints, up to the saved-plan line.
    let planned = saved.split("\nSaved the plan").next().unwrap();
    assert!(shown.starts_with(planned), "{shown}\n---\n{planned}");
    let json = g.run(&["show", "dev.plan", "-json"]);
    let doc: serde_json::Value = serde_json::from_str(
        json.split("--- stdout\n")
            .nth(1)
            .unwrap()
            .split("--- stderr")
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc["summary"]["add"], serde_json::json!(1));
    assert_eq!(
        doc["resource_changes"][1]["address"],
        serde_json::json!(SUBNET)
    );
}

#[test]
fn output_name_prints_one_bare_value() {
    let g = Given::new();
    insta::assert_snapshot!(g.run(&["output", "--env", "dev", "us-east-1.vpc_id"]));
    insta::assert_snapshot!(g.run(&["output", "--env", "dev", "us-east-1.vpc_id", "-json"]));
    insta::assert_snapshot!(g.run(&["output", "--env", "dev", "us-east-1.alb_dns_name"]));
    insta::assert_snapshot!(g.run(&["output", "--env", "dev", "vpc"]));
}

#[test]
fn state_rm_forgets_with_a_backup_and_names_unknown_addresses() {
    let g = Given::new();
    insta::assert_snapshot!(g.run(&["state", "rm", "--env", "dev", SUBNET]));
    insta::assert_snapshot!(g.run(&["state", "rm", "--env", "dev", VPC]));
    insta::assert_snapshot!(g.run(&["state", "list", "--env", "dev"]));
    let backups: Vec<String> = std::fs::read_dir(g.dir.path().join("cfg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dev.json.1") && n.ends_with(".backup"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = std::fs::read_to_string(g.dir.path().join("cfg").join(&backups[0])).unwrap();
    assert!(backup.contains("vpc-0123456789abcdef0"));
}

#[test]
fn hints_carry_the_plans_dir_and_state_given() {
    let g = Given::new();
    insta::assert_snapshot!(g.run(&["state", "show", SUBNET, "--env", "dev"]));
    std::fs::remove_file(g.dir.path().join("cfg/dev.json")).unwrap();
    insta::assert_snapshot!(g.run(&["output", "--env", "dev"]));
}

#[test]
fn refresh_only_needs_a_refresh() {
    let g = Given::new();
    insta::assert_snapshot!(g.run(&["plan", "--env", "dev", "-refresh-only", "-refresh=false"]));
}

#[test]
fn single_dash_spellings_parse() {
    let g = Given::new();
    let out = g.run(&[
        "plan",
        "-env",
        "dev",
        "-refresh=false",
        "-no-color",
        "-json",
        "-detailed-exitcode",
    ]);
    assert!(out.starts_with("exit 2\n--- stdout\n{"), "{out}");
}

/// A `[tags]` change (a value changed, a key added) on a resource the state
/// records with the old tags: `~ tags`, an in-place update shown key by
/// key, and `-detailed-exitcode` exits 2.
#[test]
fn a_tags_change_is_an_in_place_update_shown_key_by_key() {
    let g = Given::new();
    let state = g.dir.path().join("cfg/dev.json");
    let mut store = StateStore::open(&state, "dev").unwrap();
    let plans = g.dir.path().join("cfg/plans");
    let plan = envplan::load(&plans, "dev").unwrap();
    let vpc = blueprint::build(&plan, Some("000000000000"))
        .into_iter()
        .find(|s| s.address.as_str() == VPC)
        .unwrap();
    store.state.resources.get_mut(&vpc.address).unwrap().applied =
        drctl_core::diff::applied_with_tags(&vpc.props, &vpc.tags);
    store.save().unwrap();
    let file = plans.join("dev.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "CostCenter = \"development\"",
        "CostCenter = \"platform\"\nTeam = \"payments\"",
    );
    std::fs::write(&file, text).unwrap();
    insta::assert_snapshot!(g.run(&[
        "plan",
        "--env",
        "dev",
        "-refresh=false",
        "-detailed-exitcode",
        &format!("-target={VPC}")
    ]));
}

/// `state list` prints each address once, as `terraform state list`: a
/// resource whose delete a killed run left pending says so after its id, and
/// a create in flight has a line of its own (a trial counted 84 lines for 75
/// addresses after a killed destroy).
#[test]
fn state_list_prints_each_address_once_with_its_pending_operation() {
    use drctl_core::model::Address;
    use drctl_core::state::{Operation, PendingOp};
    let g = Given::new();
    let path = g.dir.path().join("cfg/dev.json");
    let mut store = StateStore::open(&path, "dev").unwrap();
    let pending = |operation, name: &str, kind: &str| PendingOp {
        operation,
        kind: kind.into(),
        region: Some("us-east-1".into()),
        name: name.into(),
        token: "tok".into(),
        started_at: "2026-11-30T10:26:36Z".into(),
    };
    store.state.pending.insert(
        Address::new(VPC),
        pending(Operation::Delete, "trading-vpc-dev", "ec2:vpc"),
    );
    store.state.pending.insert(
        Address::new(SUBNET),
        pending(Operation::Create, "subnet", "ec2:subnet"),
    );
    store.save().unwrap();
    assert_eq!(
        g.run(&["state", "list", "--env", "dev"]),
        format!(
            "exit 0\n--- stdout\n\
             {SUBNET}\tec2:subnet\t(pending Create since 2026-11-30T10:26:36Z)\n\
             {VPC}\tec2:vpc\tvpc-0123456789abcdef0\t(pending Delete since 2026-11-30T10:26:36Z)\n\
             --- stderr\n"
        )
    );
}
