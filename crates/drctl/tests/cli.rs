//! The command line without AWS: given files, run drctl, expect output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn drctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drctl"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .expect("run drctl")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn validate_and_graph_work_from_a_clone_without_aws() {
    let o = drctl(&repo(), &["validate", "--env", "prod-dr"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("plans/prod-dr.toml is valid: 75 resources"),
        "{out}"
    );
    let o = drctl(&repo(), &["graph", "--env", "dev"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(out.starts_with("digraph drctl {"));
    assert!(out.contains("\"us-west-2/network/nat\""));
    assert!(out.contains("\"global/route53/failover-records\""));
}

#[test]
fn every_command_has_clear_help() {
    let o = drctl(&repo(), &["--help"]);
    let (out, _) = text(&o);
    for cmd in [
        "plan",
        "apply",
        "destroy",
        "output",
        "state",
        "graph",
        "validate",
        "force-unlock",
    ] {
        assert!(out.contains(&format!("  {cmd} ")), "{cmd} listed in --help");
        let o = drctl(&repo(), &[cmd, "--help"]);
        let (h, _) = text(&o);
        assert!(o.status.success(), "{cmd} --help");
        assert!(h.contains("Usage: drctl"), "{cmd}: {h}");
    }
    let (h, _) = text(&drctl(&repo(), &["plan", "--help"]));
    for flag in [
        "--detailed-exitcode",
        "--refresh",
        "--out",
        "--json",
        "--markdown",
        "--env",
    ] {
        assert!(h.contains(flag), "plan --help mentions {flag}");
    }
    let (h, _) = text(&drctl(&repo(), &["apply", "--help"]));
    assert!(h.contains("--auto-approve") && h.contains("[PLAN_FILE]"));
}

fn plans_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("plans")).unwrap();
    for (name, body) in files {
        std::fs::write(d.path().join("plans").join(name), body).unwrap();
    }
    d
}

#[test]
fn bad_plans_name_file_key_and_line() {
    let d = plans_dir(&[(
        "qa-1.toml",
        "domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\nmin_size = 3\nmax_size = 2\n",
    )]);
    let o = drctl(d.path(), &["validate", "--env", "qa-1"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("plans/qa-1.toml:5: max_size: must be at least min_size 3 (got 2)"),
        "{err}"
    );
    assert!(err.contains("desired_capacity"), "{err}");

    let o = drctl(d.path(), &["validate", "--env", "missing"]);
    assert!(text(&o).1.contains("plans/missing.toml"));
}

#[test]
fn commands_needing_aws_fail_cleanly_on_bad_input_before_calling_it() {
    let d = plans_dir(&[("qa-1.toml", "min_size = 0\n")]);
    let o = drctl(d.path(), &["plan", "--env", "qa-1"]);
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("plans/qa-1.toml:1: min_size: must be at least 1 (got 0)"),
        "{err}"
    );
    assert!(
        !d.path().join(".drctl/qa-1.state.json").exists(),
        "no state written"
    );
    let o = drctl(d.path(), &["output", "--env", "qa-1"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_corrupt_state_is_reported_and_left_alone() {
    let d = plans_dir(&[("qa-1.toml", "domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\n")]);
    std::fs::create_dir(d.path().join(".drctl")).unwrap();
    let state = d.path().join(".drctl/qa-1.state.json");
    std::fs::write(&state, "{\"format_version\": 1, \"lineage\": ").unwrap();
    let o = drctl(d.path(), &["state", "list", "--env", "qa-1"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("qa-1.state.json is not valid drctl state"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{\"format_version\": 1, \"lineage\": "
    );
}

#[test]
fn a_held_lock_names_its_holder() {
    let d = plans_dir(&[("qa-1.toml", "domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\n")]);
    std::fs::create_dir(d.path().join(".drctl")).unwrap();
    std::fs::write(d.path().join(".drctl/qa-1.state.json.lock"), "{\"pid\": 4242, \"host\": \"ci-runner-7\", \"command\": \"drctl apply\", \"started_at\": \"2026-01-01T00:00:00Z\"}").unwrap();
    let o = drctl(d.path(), &["plan", "--env", "qa-1", "--lock-timeout", "1s"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("state is locked by 'drctl apply' (pid 4242 on ci-runner-7"),
        "{err}"
    );
    assert!(err.contains("drctl force-unlock"), "{err}");
}

#[test]
fn missing_credentials_get_one_clear_sentence() {
    // With no keys the chain ends at the instance metadata service: off
    // (AWS_EC2_METADATA_DISABLED), or, as on a laptop or a CI runner without
    // a role, answering 403 to the token request.
    let imds = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let imds_url = format!("http://{}", imds.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut c in imds.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    for (key, value) in [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_url.as_str()),
    ] {
        let d = plans_dir(&[("qa-1.toml", "domain_name = \"qa.example.com\"\nalert_email = \"qa@example.com\"\ncreate_hosted_zone = true\n")]);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drctl"));
        cmd.args(["plan", "--env", "qa-1", "--endpoint", "http://127.0.0.1:9"])
            .current_dir(d.path())
            .env("HOME", d.path())
            .env(key, value)
            .env("AWS_REGION", "us-east-1");
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_EC2_METADATA_DISABLED",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "RUST_LOG",
        ] {
            if k != key {
                cmd.env_remove(k);
            }
        }
        let o = cmd.output().unwrap();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{key}: {err}");
        assert!(err.contains("no usable AWS credentials"), "{key}: {err}");
        assert!(err.contains("set AWS_PROFILE"), "{key}: {err}");
        assert!(!err.contains("check the id or value given"), "{key}: {err}");
        assert!(err.lines().count() <= 2, "{key}: short: {err}");
        assert!(!d.path().join(".drctl/qa-1.state.json").exists());
    }
}

#[test]
fn cost_prints_the_breakdown_without_aws() {
    let o = drctl(&repo(), &["cost", "--env", "prod-dr"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("Monthly cost of env prod-dr"), "{out}");
    assert!(out.contains("us-east-1/database/db"), "{out}");
    assert!(
        out.contains("db.r6g.large instance-hours (Multi-AZ: primary + standby)"),
        "{out}"
    );
    assert!(out.contains("Total: $"), "{out}");
    let o = drctl(&repo(), &["cost", "--env", "dev", "--json"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["env"], "dev");
    assert_eq!(doc["hours_per_month"], 730.0);
    assert!(doc["total_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn cost_refuses_a_bad_price_table_file_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.toml");
    std::fs::write(
        &prices,
        "format_version = 2\ncurrency = \"USD\"\nhours_per_month = 730.0\n",
    )
    .unwrap();
    let plans = repo().join("plans");
    let o = drctl(
        dir.path(),
        &[
            "cost",
            "--env",
            "dev",
            "--plans-dir",
            plans.to_str().unwrap(),
            "--prices",
            prices.to_str().unwrap(),
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("prices.toml is not valid: format_version 2 is not supported"),
        "{err}"
    );
}

/// Usage errors exit 1 as Terraform's do (2 is `plan -detailed-exitcode`'s
/// "changes present", so CI must not read a typo as changes); help and
/// `--version` exit 0.
#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    for args in [
        &["plna", "--env", "dev"][..],
        &["plan", "--env", "dev", "--no-such-flag"],
        &["plan"],
        &["import", "--env", "dev", "us-east-1/network/vpc"],
        &[],
    ] {
        let o = drctl(&repo(), args);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "drctl {args:?}:\n{out}\n{err}");
        assert!(
            err.contains("Usage:") || err.contains("usage:"),
            "{args:?}: {err}"
        );
    }
    for args in [&["--help"][..], &["plan", "--help"], &["--version"]] {
        let o = drctl(&repo(), args);
        assert_eq!(o.status.code(), Some(0), "drctl {args:?}");
        assert!(!o.stdout.is_empty(), "{args:?}");
    }
}

/// Output that cannot be written (a full disk, here /dev/full) fails the
/// command with one sentence, for every command that prints; a closed pipe
/// does not (tests/pipe.rs).
#[test]
fn output_that_cannot_be_written_fails_the_command() {
    let full = Path::new("/dev/full");
    if !full.exists() {
        panic!("this test needs /dev/full (Linux)");
    }
    for args in [
        &["cost", "--env", "prod-dr"][..],
        &["graph", "--env", "dev"],
        &["validate", "--env", "dev"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_drctl"))
            .args(args)
            .current_dir(repo())
            .env("NO_COLOR", "1")
            .env_remove("AWS_ENDPOINT_URL")
            .stdout(std::fs::OpenOptions::new().write(true).open(full).unwrap())
            .output()
            .unwrap();
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("could not write the output to stdout (No space left on device"),
            "{args:?}: {err}"
        );
    }
}
