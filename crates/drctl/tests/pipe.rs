//! Output piped into a reader that goes away (`drctl ... | head -1`) stops
//! the printing, never the run: no panic, and the exit code is the work's.

use drctl_core::model::Address;
use drctl_core::state::{ResourceState, StateStore};
use drctl_stack::{blueprint, envplan};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A folder with plans/dev.toml and a state recording the whole dev stack
/// (76 resources: every listing is far larger than a pipe's buffer).
fn applied_dev() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plans")).unwrap();
    std::fs::copy(
        repo().join("plans/dev.toml"),
        dir.path().join("plans/dev.toml"),
    )
    .unwrap();
    let plan = envplan::load(&dir.path().join("plans"), "dev").unwrap();
    let mut store = StateStore::open(&dir.path().join(".drctl/dev.state.json"), "dev").unwrap();
    store.state.account = Some("000000000000".into());
    for (i, spec) in blueprint::build(&plan, Some("000000000000"))
        .into_iter()
        .enumerate()
    {
        store.state.resources.insert(
            spec.address.clone(),
            ResourceState {
                kind: spec.kind.clone(),
                region: spec.region.clone(),
                name: spec.name.clone(),
                id: format!("id-{i:04}-{}", "x".repeat(1000)),
                attrs: Default::default(),
                applied: spec.props.clone(),
                dependencies: spec.dependencies(),
            },
        );
    }
    std::fs::create_dir_all(dir.path().join(".drctl")).unwrap();
    store.save().unwrap();
    dir
}

/// Runs drctl with its stdout read up to the first line, then closed (what
/// `| head -1` does); returns the exit code and stderr.
fn into_head(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    // DRCTL_BIN runs the same test against another build (e.g. an older one).
    let bin = std::env::var("DRCTL_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_drctl").into());
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run drctl");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty(), "drctl {args:?} printed a first line");
    // The reader is gone now: every further write meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_piped_into_head_exits_with_the_work_s_code() {
    let dir = applied_dev();
    let address = Address::new("us-east-1/network/vpc");
    let cases: &[&[&str]] = &[
        &["state", "list", "--env", "dev"],
        &["state", "show", address.as_str(), "--env", "dev"],
        &["output", "--env", "dev", "--json"],
        &["output", "--env", "dev"],
        &["plan", "--env", "dev", "--refresh=false", "--json"],
        &["plan", "--env", "dev", "--refresh=false"],
        &["graph", "--env", "dev"],
        &["--help"],
    ];
    for args in cases {
        for round in 0..25 {
            let (code, err) = into_head(dir.path(), args);
            assert_eq!(
                code,
                Some(0),
                "drctl {args:?} | head -1 (round {round}) exited {code:?}:\n{err}"
            );
            assert!(!err.contains("panicked"), "{args:?}: {err}");
        }
    }
    // A failing command still fails when its output is cut short.
    let (code, err) = into_head(
        dir.path(),
        &[
            "plan",
            "--env",
            "dev",
            "--refresh=false",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        code,
        Some(2),
        "changes present: exit 2 even into head\n{err}"
    );
}
